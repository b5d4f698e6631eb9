"""YOLO label lines: parsing, validation and polygon-to-box conversion.

A YOLO label file holds one object per line, either a box ``cls cx cy w h`` or a polygon
``cls x1 y1 x2 y2 ... xn yn`` (n >= 3), all coordinates normalised to [0, 1]. An empty file
means the image has no object, which for fracture data means "no fracture".
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

# Exports round coordinates and a few land a hair outside [0, 1] after float32 round trips;
# anything further out is a real error.
COORD_TOLERANCE = 1e-6


class LabelError(ValueError):
    """A label line or file that cannot be read as YOLO boxes or polygons."""


@dataclass(frozen=True)
class Box:
    """An axis-aligned box in normalised YOLO form (centre x, centre y, width, height)."""

    cls: int
    cx: float
    cy: float
    w: float
    h: float

    def to_line(self) -> str:
        """The box as a YOLO label line with six decimals."""
        return f"{self.cls} {self.cx:.6f} {self.cy:.6f} {self.w:.6f} {self.h:.6f}"


def polygon_to_box(cls: int, xy: list[float]) -> Box:
    """The smallest box enclosing a polygon given as flat ``[x1, y1, ..., xn, yn]``."""
    xs, ys = xy[0::2], xy[1::2]
    x0, x1, y0, y1 = min(xs), max(xs), min(ys), max(ys)
    return Box(cls, (x0 + x1) / 2, (y0 + y1) / 2, x1 - x0, y1 - y0)


def parse_label_line(line: str, n_classes: int) -> Box:
    """Parse one YOLO box or polygon line into a box.

    Parameters
    ----------
    line : str
        ``cls cx cy w h`` (5 values) or ``cls x1 y1 ... xn yn`` (an odd count >= 7).
    n_classes : int
        Number of class names; the class id must lie in ``[0, n_classes)``.

    Returns
    -------
    Box
        The box itself, or the polygon's enclosing box.

    Raises
    ------
    LabelError
        Non-numeric values, a wrong number of values, a class id outside the names, a
        coordinate outside [0, 1], or a box with zero or negative size.
    """
    fields = line.split()
    if len(fields) != 5 and (len(fields) < 7 or len(fields) % 2 == 0):
        raise LabelError(
            f"expected 5 values (cls cx cy w h) or an odd count >= 7 (cls x1 y1 ... xn yn), "
            f"got {len(fields)}"
        )
    try:
        cls_value = float(fields[0])
        coords = [float(f) for f in fields[1:]]
    except ValueError as err:
        raise LabelError(f"non-numeric value: {err}") from None
    if not cls_value.is_integer():
        raise LabelError(f"class id {fields[0]!r} is not an integer")
    cls = int(cls_value)
    if not 0 <= cls < n_classes:
        raise LabelError(f"class id {cls} not in names (0..{n_classes - 1})")
    bad = [c for c in coords if not math.isfinite(c)
           or c < -COORD_TOLERANCE or c > 1 + COORD_TOLERANCE]
    if bad:
        raise LabelError(f"coordinate {bad[0]!r} outside [0, 1]")
    coords = [min(max(c, 0.0), 1.0) for c in coords]
    if len(fields) == 5:
        box = Box(cls, *coords)
        half_w, half_h = box.w / 2, box.h / 2
        if (box.cx - half_w < -COORD_TOLERANCE or box.cx + half_w > 1 + COORD_TOLERANCE
                or box.cy - half_h < -COORD_TOLERANCE or box.cy + half_h > 1 + COORD_TOLERANCE):
            raise LabelError("box extends outside the image")
    else:
        box = polygon_to_box(cls, coords)
    if box.w <= 0 or box.h <= 0:
        raise LabelError("box has zero width or height")
    return box


def parse_label_text(text: str, n_classes: int) -> list[Box]:
    """Parse a whole label file; blank lines are ignored, an empty file gives no boxes.

    Raises
    ------
    LabelError
        For the first bad line, with its 1-based line number in the message.
    """
    boxes = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            boxes.append(parse_label_line(line, n_classes))
        except LabelError as err:
            raise LabelError(f"line {number}: {err}") from None
    return boxes


def read_label_file(path: Path, n_classes: int) -> tuple[Box, ...]:
    """The boxes of a YOLO label file; no file means an image without boxes (a negative).

    Raises
    ------
    LabelError
        For the first bad line (see `parse_label_text`).
    UnicodeDecodeError
        When the file is not text.
    """
    # utf-8-sig: Windows editors save label files with a byte-order mark.
    text = path.read_text(encoding="utf-8-sig") if path.is_file() else ""
    return tuple(parse_label_text(text, n_classes))
