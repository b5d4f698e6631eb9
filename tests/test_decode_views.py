"""``decode_views``: the classifier's input and the detector's view from one read of a file,
each equal to what ``decode_image`` and ``full_resolution_gray`` make separately."""

from __future__ import annotations

import numpy as np
import pytest
from format_fixtures import dicom_ramp, write_dicom
from PIL import Image

from fraclab.data.images import decode_image, decode_views, full_resolution_gray
from fraclab.data.records import ImageError


def _photo(width: int = 300, height: int = 200) -> np.ndarray:
    y, x = np.mgrid[0:height, 0:width]
    return ((x * 3 + y * 5 + (x * y) % 17) % 256).astype(np.uint8)


def _write(tmp_path, kind: str):
    suffix = {"dicom": "dcm", "jpeg": "jpg"}.get(kind, "png")
    path = tmp_path / f"image.{suffix}"
    if kind == "png":
        Image.fromarray(_photo(), mode="L").save(path)
    elif kind == "png16":
        Image.fromarray(_photo().astype(np.uint16) * 200).save(path)
    elif kind == "rgb":
        Image.fromarray(np.dstack([_photo()] * 3)).save(path)
    elif kind == "jpeg":
        Image.fromarray(_photo(), mode="L").save(path, quality=90)
    else:
        write_dicom(path, dicom_ramp())
    return path


@pytest.mark.parametrize("kind", ["png", "png16", "rgb", "jpeg", "dicom"])
@pytest.mark.parametrize("size", [64, 224])
def test_both_views_equal_the_separate_decodes(tmp_path, kind, size):
    path = _write(tmp_path, kind)
    pixels, whole, width, height = decode_views(path, size)
    expected = decode_image(path, size)
    np.testing.assert_array_equal(pixels, expected.pixels)
    np.testing.assert_array_equal(whole, np.asarray(full_resolution_gray(path)))
    assert (width, height) == (expected.width, expected.height) == whole.shape[::-1]


def test_without_the_full_view_nothing_else_is_kept(tmp_path):
    pixels, whole, _, _ = decode_views(_write(tmp_path, "png"), 64, full=False)
    assert whole is None and pixels.shape == (64, 64)


def test_a_broken_file_is_an_error_naming_it(tmp_path):
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 20)
    with pytest.raises(ImageError, match=r"broken\.png"):
        decode_views(path, 64)
    with pytest.raises(ImageError, match=r"missing\.png"):
        decode_views(tmp_path / "missing.png", 64)
