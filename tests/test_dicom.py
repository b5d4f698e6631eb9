"""DICOM decoding (window, MONOCHROME1, bit depth, spacing, compression) and DICOM in datasets."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from format_fixtures import build_class_folders, dicom_ramp, write_dicom
from PIL import Image
from pydicom.uid import JPEG2000Lossless, RLELossless

from fraclab.data.dicom import read_dicom, scale_to_uint8
from fraclab.data.images import decode_image
from fraclab.data.records import DatasetError, ImageError
from fraclab.params import DataParams
from fraclab.prepare.stage import prepare_dataset


def test_monochrome2_12_bit_is_scaled_min_to_max(tmp_path):
    ramp = dicom_ramp()
    got = read_dicom(write_dicom(tmp_path / "a.dcm", ramp))
    assert got.pixels.dtype == np.uint8 and got.pixels.shape == ramp.shape
    np.testing.assert_array_equal(got.pixels, scale_to_uint8(ramp))
    assert got.pixels.min() == 0 and got.pixels.max() == 255
    assert (np.diff(got.pixels.astype(int), axis=1) >= 0).all()  # the ramp stays a ramp


def test_monochrome1_is_inverted(tmp_path):
    ramp = dicom_ramp()
    mono2 = read_dicom(write_dicom(tmp_path / "2.dcm", ramp)).pixels
    mono1 = read_dicom(write_dicom(tmp_path / "1.dcm", ramp, photometric="MONOCHROME1")).pixels
    np.testing.assert_array_equal(mono1, 255 - mono2)


def test_16_bit_full_range(tmp_path):
    ramp = dicom_ramp(top=65535)
    got = read_dicom(write_dicom(tmp_path / "a.dcm", ramp, bits_stored=16)).pixels
    np.testing.assert_array_equal(got, scale_to_uint8(ramp))


def _window_expectation(values: np.ndarray, center: float, width: float) -> np.ndarray:
    """DICOM PS3.3 C.11.2.1.2 linear window, then 0..255 (written out independently)."""
    low, high = center - 0.5 - (width - 1) / 2, center - 0.5 + (width - 1) / 2
    out = np.clip((values - (center - 0.5)) / (width - 1) + 0.5, 0, 1)
    out[values <= low], out[values > high] = 0, 1
    return out


@pytest.mark.parametrize("rescale", [None, (2.0, -1000.0)])
def test_window_is_applied_before_8_bit(tmp_path, rescale):
    ramp = dicom_ramp()
    slope, intercept = rescale or (1.0, 0.0)
    center, width = 2048 * slope + intercept, 1024 * slope  # same window on stored values
    got = read_dicom(write_dicom(tmp_path / "w.dcm", ramp, window=(center, width),
                                 rescale=rescale)).pixels.astype(int)
    want = _window_expectation(ramp * slope + intercept, center, width) * 255
    assert np.abs(got - want).max() <= 1
    assert (got[ramp < 1500] == 0).all() and (got[ramp > 2600] == 255).all()
    assert 0 < got[(ramp > 1700) & (ramp < 2400)].min() < 255


def test_pixel_spacing_falls_back_to_imager_spacing(tmp_path):
    ramp = dicom_ramp()
    assert read_dicom(write_dicom(tmp_path / "a.dcm", ramp)).spacing_mm == (0.15, 0.2)
    imager = write_dicom(tmp_path / "b.dcm", ramp, spacing=(0.1, 0.1),
                         spacing_tag="ImagerPixelSpacing")
    assert read_dicom(imager).spacing_mm == (0.1, 0.1)
    assert read_dicom(write_dicom(tmp_path / "c.dcm", ramp, spacing=None)).spacing_mm is None


@pytest.mark.parametrize("syntax", [RLELossless, JPEG2000Lossless], ids=["rle", "jpeg2000"])
def test_compressed_decodes_like_uncompressed(tmp_path, syntax):
    ramp = dicom_ramp()
    plain = read_dicom(write_dicom(tmp_path / "plain.dcm", ramp)).pixels
    packed = write_dicom(tmp_path / "packed.dcm", ramp, syntax=syntax)
    np.testing.assert_array_equal(read_dicom(packed).pixels, plain)


def test_undecodable_transfer_syntax_names_it(tmp_path):
    from pydicom import dcmread
    from pydicom.encaps import encapsulate

    path = write_dicom(tmp_path / "mpeg.dcm", dicom_ramp())
    ds = dcmread(path)
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.100"  # MPEG2: no decoder exists
    ds.PixelData = encapsulate([b"\x00" * 64])
    ds["PixelData"].VR = "OB"
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageError, match=r"mpeg\.dcm: cannot decode pixel data with "
                       r"transfer syntax MPEG2.*1\.2\.840\.10008\.1\.2\.4\.100.*pylibjpeg"):
        read_dicom(path)


@pytest.mark.parametrize(("cut", "problem"), [
    (None, "not a DICOM file"),
    (300, "DICOM file has no pixel data \\(truncated"),
    (-500, "cannot decode pixel data"),
], ids=["text", "truncated-header", "truncated-pixels"])
def test_unreadable_dicom_names_the_file(tmp_path, cut, problem):
    path = tmp_path / "bad.dcm"
    if cut is None:
        path.write_bytes(b"not a dicom at all" * 20)
    else:
        data = write_dicom(tmp_path / "good.dcm", dicom_ramp()).read_bytes()
        path.write_bytes(data[:cut])
    with pytest.raises(ImageError, match=rf"bad\.dcm: {problem}"):
        decode_image(path, 32)


def test_dicom_without_pixels_and_multiframe(tmp_path):
    from pydicom import dcmread

    path = write_dicom(tmp_path / "a.dcm", dicom_ramp())
    ds = dcmread(path)
    ds.NumberOfFrames = 2
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageError, match="2 frames"):
        read_dicom(path)
    del ds.PixelData
    ds.save_as(path, enforce_file_format=True)
    with pytest.raises(ImageError, match="no pixel data"):
        read_dicom(path)


def _class_folders_with_dicom(tmp_path):
    root, _ = build_class_folders(tmp_path / "folders", splits=())
    for k in range(4):
        write_dicom(root / ("Fractured" if k % 2 else "Not_Fractured") / f"scan{k}.dcm",
                    dicom_ramp(top=1000 + 500 * k), photometric="MONOCHROME1" if k else
                    "MONOCHROME2", spacing=(0.1 + k / 100, 0.1))
    return root


def test_dicom_in_a_dataset_records_spacing(tmp_path):
    root = _class_folders_with_dicom(tmp_path)
    out = tmp_path / "out"
    prepare_dataset(DataParams(path=str(root), image_size=32), 0, out, workers=1,
                    log=lambda _: None)
    rows = {r["image_id"]: r for r in csv.DictReader((out / "manifest.csv").open())}
    assert rows["Fractured/scan1.dcm"]["spacing_row_mm"] == "0.11"
    assert rows["Fractured/scan1.dcm"]["spacing_col_mm"] == "0.1"
    assert all(r["spacing_row_mm"] == "" for k, r in rows.items() if not k.endswith(".dcm"))
    index = int(rows["Not_Fractured/scan0.dcm"]["index"])
    array = np.load(out / "images.npy")
    want = decode_image(root / "Not_Fractured/scan0.dcm", 32).pixels
    np.testing.assert_array_equal(array[index], want)
    assert (rows["Not_Fractured/scan0.dcm"]["width"], rows["Not_Fractured/scan0.dcm"]["height"]
            ) == ("48", "40")


def test_unreadable_dicom_in_a_dataset_errors_or_is_skipped(tmp_path):
    root = _class_folders_with_dicom(tmp_path)
    (root / "Fractured" / "scan1.dcm").write_bytes(b"\x00" * 200)
    params = DataParams(path=str(root), image_size=32)
    with pytest.raises(DatasetError, match=r"Fractured/scan1\.dcm: not a DICOM file"):
        prepare_dataset(params, 0, tmp_path / "out", workers=1, log=lambda _: None)
    audit = prepare_dataset(DataParams(path=str(root), image_size=32, on_bad="skip"), 0,
                            tmp_path / "out", workers=1, log=lambda _: None)
    assert audit["skipped"] == 1 and "scan1.dcm: not a DICOM file" in audit["skipped_files"][0]


def test_dicom_in_a_yolo_export_becomes_a_png_in_the_yolo_view(tmp_path):
    root = tmp_path / "export"
    root.mkdir()
    (root / "data.yaml").write_text("names: [fracture]\n")
    for split in ("train", "valid", "test"):
        for k in range(4):
            stem = f"{split}{k}"
            write_dicom(root / split / "images" / f"{stem}.dcm", dicom_ramp(top=800 + 100 * k))
            (root / split / "labels").mkdir(parents=True, exist_ok=True)
            (root / split / "labels" / f"{stem}.txt").write_text(
                "0 0.5 0.5 0.2 0.2\n" if k % 2 else "")
    out = tmp_path / "out"
    prepare_dataset(DataParams(path=str(root), image_size=32), 0, out, workers=1,
                    log=lambda _: None)
    png = out / "yolo" / "train" / "images" / "train1.png"
    assert png.is_file() and not png.is_symlink()
    with Image.open(png) as image:
        assert image.mode == "L" and image.size == (48, 40)
        np.testing.assert_array_equal(np.asarray(image),
                                      read_dicom(root / "train/images/train1.dcm").pixels)
    assert (out / "yolo" / "train" / "labels" / "train1.txt").read_text().startswith("0 ")
    assert json.loads((out / "prepared.json").read_text())["has_boxes"] is True
