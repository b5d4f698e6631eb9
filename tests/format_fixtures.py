"""Tiny datasets in exactly the documented layouts of each format, built in a temp folder.

Every image is distinct noise (so no two are near-duplicates by accident) unless a builder
copies one on purpose. Builders return the folder to point ``data.path`` at and the facts a
test checks against, computed here independently of the importers.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import numpy as np
from PIL import Image

GRAZ_CLASSES = ("boneanomaly", "bonelesion", "foreignbody", "fracture", "metal",
                "periostealreaction", "pronatorsign", "softtissue", "text")


def noise_image(seed: int, size: tuple[int, int] = (48, 40), bits: int = 8) -> Image.Image:
    """Smooth random blobs (pHash-distinct per seed) as 8-bit "L" or 16-bit "I;16"."""
    rng = np.random.default_rng(seed)
    coarse = rng.random((6, 6))
    image = Image.fromarray((coarse * 255).astype(np.uint8), mode="L").resize(
        size, Image.Resampling.BICUBIC)
    pixels = np.asarray(image, dtype=np.float64) / 255
    pixels += rng.normal(0, 0.02, pixels.shape)
    pixels = np.clip(pixels, 0, 1)
    if bits == 16:
        return Image.fromarray((pixels * 4095).astype(np.uint16))  # 12-bit data, 16-bit PNG
    return Image.fromarray((pixels * 255).astype(np.uint8), mode="L")


def save(image: Image.Image, path: Path, fmt: str | None = None) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    image.save(path, fmt)
    return path


def write_csv(path: Path, header: list[str] | None, rows: list[list]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        if header:
            writer.writerow(header)
        writer.writerows(rows)
    return path


# --- FracAtlas ---------------------------------------------------------------------------

FRACATLAS_COLUMNS = ["image_id", "hand", "leg", "hip", "shoulder", "mixed", "hardware",
                     "multiscan", "fractured", "fracture_count", "frontal", "lateral", "oblique"]
FRACATLAS_SITES = ("hand", "leg", "hip", "shoulder")


def build_fracatlas(parent: Path, n_pos: int = 10, n_neg: int = 14) -> tuple[Path, dict]:
    """``parent/FracAtlas`` with positives split 6/2/2 by the official split files, one
    negative a byte copy of another (the dataset's known duplicate quirk), one "mixed" site."""
    root = parent / "FracAtlas"
    rows, coco_images, annotations, expected = [], [], [], {}
    split_rows: dict[str, list[list[str]]] = {"train": [], "valid": [], "test": []}
    for k in range(n_pos + n_neg):
        name = f"IMG{k:07d}.jpg"
        fractured = int(k < n_pos)
        folder = "Fractured" if fractured else "Non_fractured"
        site = FRACATLAS_SITES[k % 4]
        flags = [int(site == s) for s in FRACATLAS_SITES]
        mixed = int(k == 1)
        if mixed:
            flags = [1, 1, 0, 0]
        width, height = 60, 50
        path = root / "images" / folder / name
        if k == n_pos + n_neg - 1:  # an identical image appearing twice
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes((root / "images" / folder / f"IMG{k - 1:07d}.jpg").read_bytes())
        else:
            save(noise_image(k, (width, height)), path, "JPEG")
        rows.append([name, *flags, mixed, 0, 0, fractured, fractured, 1, 0, 0])
        coco_images.append({"id": k, "file_name": name, "width": width, "height": height})
        boxes = []
        if fractured:
            for b in range(1 + (k == 0)):  # image 0 has two fractures
                bbox = [10.0 + b * 20, 12.0, 15.0, 10.0]
                annotations.append({"id": len(annotations), "image_id": k, "category_id": 1,
                                    "bbox": bbox, "segmentation": [[0, 0, 1, 1, 2, 2]],
                                    "area": 150.0, "iscrowd": 0})
                boxes.append(bbox)
            split = "train" if k < 6 else "valid" if k < 8 else "test"
            split_rows[split].append([name])
        expected[f"images/{folder}/{name}"] = {
            "label": fractured, "boxes": boxes, "site": "mixed" if mixed else site,
            "split": split if fractured else None}
    write_csv(root / "dataset.csv", FRACATLAS_COLUMNS, rows)
    coco = {"images": coco_images, "annotations": annotations,
            "categories": [{"id": 1, "name": "fractured"}]}
    coco_path = root / "Annotations" / "COCO JSON" / "COCO_fracture_masks.json"
    coco_path.parent.mkdir(parents=True)
    coco_path.write_text(json.dumps(coco))
    # The other annotation formats exist in the real dataset; the importer ignores them.
    (root / "Annotations" / "YOLO").mkdir()
    (root / "Annotations" / "YOLO" / "IMG0000000.txt").write_text("0 0.1 0.1 0.2\n")  # broken
    (root / "Annotations" / "PASCAL VOC").mkdir()
    for split, names in split_rows.items():
        write_csv(root / "Utilities" / "Fracture Split" / f"{split}.csv", ["image_id"], names)
    return root, expected


# --- GRAZPEDWRI-DX -------------------------------------------------------------------------

GRAZ_COLUMNS = ["filestem", "patient_id", "patient_sex", "patient_age", "study_number",
                "timehash", "laterality", "projection", "ao_classification", "fracture_visible",
                "metal", "initial_exam", "diagnosis_uncertain"]


def build_grazpedwri(root: Path, n_patients: int = 14) -> tuple[Path, dict]:
    """Two images a patient over images_part1..4, every other one 16-bit; fractured patients
    have fracture boxes (class 3); every image has a text box (class 8)."""
    labels_dir = root / "folder_structure" / "yolov5" / "labels"
    labels_dir.mkdir(parents=True)
    rows, expected = [], {}
    for patient in range(n_patients):
        fractured = patient % 2
        for study in range(2):
            k = patient * 2 + study
            stem = f"{patient:04d}_{1000 + k}_0{study + 1}_PA"
            part = root / f"images_part{k % 4 + 1}"
            save(noise_image(100 + k, (40, 48), bits=16 if k % 2 else 8), part / f"{stem}.png")
            lines = ["8 0.1 0.1 0.05 0.05"]
            if fractured:
                lines.append("3 0.5 0.6 0.2 0.1")
            (labels_dir / f"{stem}.txt").write_text("\n".join(lines) + "\n")
            rows.append([stem, str(patient), "M", "10.5", str(study + 1), "abc", "L", "pa", "",
                         "1.0" if fractured else "", "", "1.0", ""])
            expected[f"{part.name}/{stem}.png"] = {
                "label": fractured, "patient": str(patient), "bits": 16 if k % 2 else 8,
                "fracture_boxes": fractured}
    write_csv(root / "dataset.csv", GRAZ_COLUMNS, rows)
    return root, expected


# --- MURA v1.1 ------------------------------------------------------------------------------


def build_mura(parent: Path, n_train: int = 12, n_valid: int = 6) -> tuple[Path, dict]:
    """``parent/MURA-v1.1`` with one or two studies a patient (wrist or elbow), two images a
    study; a patient's second study has the opposite label of the first."""
    base = parent / "MURA-v1.1"
    expected = {}
    seed = 300
    for split, n_patients, first in (("train", n_train, 1), ("valid", n_valid, 1 + n_train)):
        paths, studies = [], []
        for p in range(first, first + n_patients):
            body = ("XR_WRIST", "XR_ELBOW")[p % 2]
            for s in range(1 + p % 2):
                label = (p + s) % 2
                study = f"{split}/{body}/patient{p:05d}/study{s + 1}_" + (
                    "positive" if label else "negative")
                studies.append([f"MURA-v1.1/{study}/", label])
                for i in range(2):
                    seed += 1
                    rel = f"{study}/image{i + 1}.png"
                    save(noise_image(seed), base / rel)
                    paths.append([f"MURA-v1.1/{rel}"])
                    expected[rel] = {"label": label, "patient": f"patient{p:05d}",
                                     "site": body[3:].lower(), "split": split}
        write_csv(base / f"{split}_image_paths.csv", None, paths)
        write_csv(base / f"{split}_labeled_studies.csv", None, studies)
    return base, expected


# --- class folders --------------------------------------------------------------------------


def build_class_folders(root: Path, splits: tuple[str, ...] = ("train", "val", "test"),
                        names: tuple[str, str] = ("Fractured", "Not_Fractured"),
                        per_class: dict[str, int] | None = None) -> tuple[Path, dict]:
    """``root/<split>/<name>/*.png|jpg`` (or ``root/<name>/`` when ``splits`` is empty)."""
    per_class = per_class or {"train": 8, "val": 3, "test": 3, "": 10}
    expected = {}
    seed = 500
    for split in splits or ("",):
        for label, name in ((1, names[0]), (0, names[1])):
            for k in range(per_class[split]):
                seed += 1
                suffix = "png" if k % 2 else "jpg"
                rel = "/".join(p for p in (split, name, f"img{seed}.{suffix}") if p)
                save(noise_image(seed), root / rel, "PNG" if suffix == "png" else "JPEG")
                expected[rel] = {"label": label, "split": {"val": "valid"}.get(split, split)}
    return root, expected


def png_bytes(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


# --- DICOM ----------------------------------------------------------------------------------


def write_dicom(path: Path, pixels: np.ndarray, *, photometric: str = "MONOCHROME2",
                bits_stored: int = 12, window: tuple[float, float] | None = None,
                spacing: tuple[float, float] | None = (0.15, 0.2),
                spacing_tag: str = "PixelSpacing", syntax: str | None = None,
                rescale: tuple[float, float] | None = None) -> Path:
    """A single-frame DX DICOM file from a uint16 array, optionally compressed with
    ``syntax`` (any transfer syntax pydicom can encode here: RLE, JPEG 2000 lossless)."""
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import ExplicitVRLittleEndian, generate_uid

    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = "1.2.840.10008.5.1.4.1.1.1.1"  # Digital X-Ray, presentation
    meta.MediaStorageSOPInstanceUID = generate_uid()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds = Dataset()
    ds.file_meta = meta
    ds.SOPClassUID = meta.MediaStorageSOPClassUID
    ds.SOPInstanceUID = meta.MediaStorageSOPInstanceUID
    ds.Modality = "DX"
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit = 16, bits_stored, bits_stored - 1
    ds.PixelRepresentation = 0
    ds.PixelData = pixels.astype("<u2").tobytes()
    if spacing is not None:
        setattr(ds, spacing_tag, [f"{spacing[0]:g}", f"{spacing[1]:g}"])
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if rescale is not None:
        ds.RescaleSlope, ds.RescaleIntercept = rescale
    if syntax is not None:
        ds.compress(syntax, pixels.astype(np.uint16))
    path.parent.mkdir(parents=True, exist_ok=True)
    ds.save_as(path, enforce_file_format=True)
    return path


def dicom_ramp(rows: int = 40, cols: int = 48, top: int = 4095) -> np.ndarray:
    """A horizontal ramp 0..top (uint16) with a per-row offset so no two rows are equal."""
    ramp = np.linspace(0, top, cols)[None, :].repeat(rows, 0)
    ramp = ramp * (0.5 + 0.5 * np.arange(rows)[:, None] / rows)
    return ramp.round().astype(np.uint16)
