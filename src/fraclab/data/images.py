"""Decoding radiographs once into fixed-size grayscale arrays for classification."""

from __future__ import annotations

import hashlib
import io
from concurrent.futures import ProcessPoolExecutor
from functools import partial
from pathlib import Path
from typing import NamedTuple

import numpy as np
from PIL import Image, UnidentifiedImageError

from fraclab.data.dicom import is_dicom, read_dicom
from fraclab.data.records import ImageError


class DecodedImage(NamedTuple):
    pixels: np.ndarray  # (size, size) uint8, letterboxed
    width: int  # original width in pixels
    height: int
    sha1: str  # hash of the file's bytes: finds exact duplicates across splits
    phash: str = ""  # perceptual hash (hex): finds re-encoded copies (see neardup.py)
    spacing_mm: tuple[float, float] | None = None  # (row, column), from a DICOM header
    # True when the 8-bit grayscale is not the file's own pixels (DICOM, 16-bit PNG): the
    # YOLO view then gets a converted PNG instead of a symlink.
    converted: bool = False

HIGH_BIT_MODES = ("I;16", "I;16B", "I;16L", "I", "F")


def to_uint8_gray(image: Image.Image) -> Image.Image:
    """Grayscale 8-bit version of any PIL image; 16-bit and float data are min-max scaled."""
    if image.mode in HIGH_BIT_MODES:
        values = np.asarray(image, dtype=np.float32)
        low, high = float(values.min()), float(values.max())
        scale = 255.0 / (high - low) if high > low else 0.0
        return Image.fromarray(((values - low) * scale).round().astype(np.uint8), mode="L")
    return image if image.mode == "L" else image.convert("L")


def letterbox(image: Image.Image, size: int) -> np.ndarray:
    """Resize so the longer side is ``size`` (aspect kept) and pad to square with black."""
    width, height = image.size
    scale = size / max(width, height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    resized = image.resize((new_w, new_h), Image.Resampling.BILINEAR, reducing_gap=2.0)
    canvas = np.zeros((size, size), dtype=np.uint8)
    top, left = (size - new_h) // 2, (size - new_w) // 2
    canvas[top:top + new_h, left:left + new_w] = np.asarray(resized, dtype=np.uint8)
    return canvas


def full_resolution_gray(path: Path) -> Image.Image:
    """The whole image as 8-bit grayscale (DICOM windowed; 16-bit scaled), for the YOLO view.

    Raises
    ------
    ImageError
        As :func:`decode_image`.
    """
    path = Path(path)
    data = _read(path)
    if is_dicom(path, data[:132]):  # recognised by content too: DICOM files often have no suffix
        return Image.fromarray(read_dicom(path).pixels, mode="L")
    return _gray(data, path, None).image


# JPEGs are decoded at a reduced scale for small `size`; the perceptual hash is always taken
# from a decode at least this large, so near-duplicate results do not change with image_size.
HASH_INPUT_SIDE = 128


class _Gray(NamedTuple):
    image: Image.Image  # 8-bit grayscale
    width: int  # the file's own size
    height: int
    jpeg: bool
    converted: bool  # 16-bit or float pixels scaled to 8 bits


def _gray(data: bytes, path: Path, draft_side: int | None) -> _Gray:
    """The 8-bit grayscale of a non-DICOM file's bytes; a JPEG is decoded at the smallest
    reduced scale still covering ``draft_side`` (if given)."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            jpeg, converted = image.format == "JPEG", image.mode in HIGH_BIT_MODES
            if draft_side is not None:
                # JPEG decodes at a reduced scale directly: far faster than decode + resize.
                image.draft("L", (draft_side, draft_side))
            image.load()
            gray = to_uint8_gray(image)
    except UnidentifiedImageError:
        # Pillow's own message embeds the BytesIO's memory address: not reproducible.
        raise ImageError(path, "cannot decode image (not a recognised image format)") from None
    except Image.DecompressionBombError as err:
        raise ImageError(path, f"implausibly large image header ({err})") from None
    except (OSError, SyntaxError, ValueError) as err:
        raise ImageError(path, f"cannot decode image ({err})") from None
    if width < 1 or height < 1:
        raise ImageError(path, "image has no pixels")
    return _Gray(gray, width, height, jpeg, converted)


def _read(path: Path) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ImageError(path, f"cannot decode image ({err})") from None


def decode_image(path: Path, size: int) -> DecodedImage:
    """Read, verify and letterbox one image file (any format PIL reads, or DICOM).

    Raises
    ------
    ImageError
        The file is missing, not an image, truncated or otherwise corrupt; the message
        names the file.
    """
    data = _read(path)
    if is_dicom(Path(path), data[:132]):
        dicom = read_dicom(Path(path))
        gray = Image.fromarray(dicom.pixels, mode="L")
        return DecodedImage(letterbox(gray, size), gray.width, gray.height,
                            hashlib.sha1(data).hexdigest(), perceptual_hash(gray),
                            dicom.spacing_mm, converted=True)
    decoded = _gray(data, path, size)
    hashed = decoded.image
    if decoded.jpeg and size < HASH_INPUT_SIDE:
        # The hash must not depend on data.image_size: hash a copy drafted at a fixed size.
        hashed = _gray(data, path, HASH_INPUT_SIDE).image
    return DecodedImage(letterbox(decoded.image, size), decoded.width, decoded.height,
                        hashlib.sha1(data).hexdigest(), perceptual_hash(hashed),
                        converted=decoded.converted)


def decode_views(path: Path, size: int, full: bool = True
                 ) -> tuple[np.ndarray, np.ndarray | None, int, int]:
    """From one read of the file: the classifier's letterboxed input, exactly as
    :func:`decode_image` makes it, and (``full``) the whole image as 8-bit grayscale, the
    detector's view (as :func:`full_resolution_gray`); then the width and height.

    Each file is decoded once, except a JPEG that training decoded at a reduced scale: its
    full-size view is a second decode. No hash is computed.

    Raises
    ------
    ImageError
        As :func:`decode_image`.
    """
    data = _read(path)
    if is_dicom(Path(path), data[:132]):
        gray = Image.fromarray(read_dicom(Path(path)).pixels, mode="L")
        return (letterbox(gray, size), np.asarray(gray) if full else None, gray.width,
                gray.height)
    decoded = _gray(data, path, size)
    whole = None
    if full:
        drafted = decoded.image.size != (decoded.width, decoded.height)
        whole = np.asarray(_gray(data, path, None).image if drafted else decoded.image)
    return letterbox(decoded.image, size), whole, decoded.width, decoded.height


def _decode_or_error(path: Path, size: int) -> DecodedImage | ImageError:
    try:
        return decode_image(path, size)
    except ImageError as err:
        return err


def decode_all(paths: list[Path], size: int, workers: int) -> list[DecodedImage | ImageError]:
    """Decode images in parallel; a failure comes back as its error, in order."""
    decode = partial(_decode_or_error, size=size)
    if workers <= 1 or len(paths) < 64:
        return [decode(p) for p in paths]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(decode, paths, chunksize=32))


HASH_SIZE = 16  # pHash grid side: HASH_SIZE**2 bits


def perceptual_hash(image: Image.Image) -> str:
    """The image's 256-bit DCT perceptual hash as 64 hex digits (imagehash.phash)."""
    import imagehash

    return str(imagehash.phash(image, hash_size=HASH_SIZE))
