"""DICOM radiographs (``.dcm``) to 8-bit grayscale, via pydicom.

Order of operations, as the standard defines them: stored values -> modality LUT (rescale
slope/intercept) -> VOI LUT or window centre/width (the first one the file lists) -> the
result's min..max scaled to 0..255 -> MONOCHROME1 inverted (so bone is bright, as in
MONOCHROME2). 12- and 16-bit data thus become 8-bit after the window, not before.

Compressed transfer syntaxes (JPEG, JPEG-LS, JPEG 2000, HTJ2K, RLE) decode through the
pylibjpeg plugins installed with fraclab; anything else fails with an error that names the
transfer syntax.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np

from fraclab.data.records import ImageError

DECODER_HINT = ("fraclab installs pydicom with pylibjpeg, pylibjpeg-libjpeg and "
                "pylibjpeg-openjpeg; other codecs need another pydicom decoder plugin "
                "(e.g. python-gdcm)")


class DicomPixels(NamedTuple):
    pixels: np.ndarray  # (H, W) uint8, windowed, MONOCHROME2 polarity
    spacing_mm: tuple[float, float] | None  # (row, column) spacing from the header, if any


def is_dicom(path: Path, head: bytes = b"") -> bool:
    """True for a ``.dcm`` file, or one with the ``DICM`` marker after the 128-byte preamble."""
    return path.suffix.lower() == ".dcm" or head[128:132] == b"DICM"


def _spacing(ds) -> tuple[float, float] | None:
    # PixelSpacing is calibrated to the patient; projection radiographs (DX/CR) often carry
    # only ImagerPixelSpacing, measured at the detector. Either is better than none.
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2:
            try:
                row, col = float(value[0]), float(value[1])
            except (TypeError, ValueError):
                continue
            if row > 0 and col > 0:
                return row, col
    return None


def scale_to_uint8(values: np.ndarray) -> np.ndarray:
    """Linearly map an array's min..max to 0..255 (a constant array becomes zeros)."""
    values = values.astype(np.float64)
    low, high = float(values.min()), float(values.max())
    if high <= low:
        return np.zeros(values.shape, dtype=np.uint8)
    return ((values - low) * (255.0 / (high - low))).round().astype(np.uint8)


def read_dicom(path: Path) -> DicomPixels:
    """Decode one single-frame DICOM radiograph to windowed 8-bit grayscale.

    Raises
    ------
    ImageError
        Not a DICOM file, no pixel data, several frames, or a transfer syntax no installed
        plugin can decode (the message names it and the plugins).
    """
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    try:
        ds = pydicom.dcmread(path)
    except InvalidDicomError:
        raise ImageError(path, "not a DICOM file (no DICM marker after the preamble)") from None
    except Exception as err:  # pydicom raises many types for truncated or garbled headers
        raise ImageError(path, f"cannot read DICOM header ({type(err).__name__}: {err})") from None
    if "PixelData" not in ds:
        raise ImageError(path, "DICOM file has no pixel data (truncated, or not an image)")
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    if frames != 1:
        raise ImageError(path, f"DICOM file has {frames} frames; expected one radiograph")
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    try:
        raw = ds.pixel_array
    except Exception as err:  # plugin, codec and size errors all mean "cannot decode"
        name = f"{syntax.name} ({syntax})" if syntax is not None else "unknown"
        raise ImageError(path, f"cannot decode pixel data with transfer syntax {name}: {err}; "
                               f"{DECODER_HINT}") from None
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2")).upper()
    if raw.ndim == 3:
        # Colour (pydicom returns RGB): ITU-R 601 luma, as PIL's convert("L") computes it.
        values = raw[..., :3].astype(np.float64) @ np.array([0.299, 0.587, 0.114])
    elif raw.ndim == 2:
        values = apply_voi_lut(apply_modality_lut(raw, ds), ds)
    else:
        raise ImageError(path, f"unexpected pixel array shape {raw.shape}")
    if min(values.shape[:2]) < 1:
        raise ImageError(path, "image has no pixels")
    pixels = scale_to_uint8(values)
    if photometric == "MONOCHROME1":
        pixels = 255 - pixels
    return DicomPixels(pixels, _spacing(ds))
