"""``artifacts/prepared/manifest.csv``, its writer and its reader: one row
per image with its index in ``images.npy``, split, group, label, true boxes (YOLO-normalised
``[class, cx, cy, w, h]``), the original width and height, and the site where known.
"""

from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from fraclab.data.images import DecodedImage
    from fraclab.data.records import ImageRecord


class ArtifactError(ValueError):
    """A hand-off file is missing or malformed; the message names it."""


@dataclasses.dataclass(frozen=True)
class ManifestImage:
    index: int  # row of images.npy
    image_id: str
    source_path: str
    split: str
    group: str
    label: int
    boxes: tuple[tuple[float, float, float, float], ...]  # (x1, y1, x2, y2) original pixels
    width: int
    height: int
    site: str
    sha1: str  # of the file's bytes


def _pixel_boxes(cell: str, width: int, height: int) -> tuple:
    boxes = []
    for _cls, cx, cy, w, h in json.loads(cell):
        boxes.append(((cx - w / 2) * width, (cy - h / 2) * height,
                      (cx + w / 2) * width, (cy + h / 2) * height))
    return tuple(boxes)


def read_manifest(path: Path) -> list[ManifestImage]:
    """Every row of a prepared manifest, boxes in the original image's pixels."""
    if not path.is_file():
        raise ArtifactError(f"{path}: not found; run `dvc repro prepare`")
    images = []
    with path.open(newline="") as handle:
        for line, row in enumerate(csv.DictReader(handle), start=2):
            try:
                width, height = int(row["width"]), int(row["height"])
                images.append(ManifestImage(
                    index=int(row["index"]), image_id=row["image_id"],
                    source_path=row["source_path"], split=row["split"], group=row["group"],
                    label=int(row["label"]), boxes=_pixel_boxes(row["boxes"], width, height),
                    width=width, height=height, site=row.get("site") or "",
                    sha1=row["sha1"]))
            except (KeyError, ValueError, TypeError) as err:
                raise ArtifactError(f"{path}: line {line}: {err!r}") from None
    return images


def indices(images: list[ManifestImage]) -> np.ndarray:
    """The images.npy rows of ``images``, in their order."""
    return np.array([i.index for i in images], dtype=np.intp)


MANIFEST_COLUMNS = ("index", "image_id", "source_path", "split", "shipped_split", "group",
                    "label", "boxes", "classes", "width", "height", "sha1")


def manifest_csv(records: list[ImageRecord], splits: list[str], decoded: list[DecodedImage],
                 class_names: tuple[str, ...]) -> str:
    """The manifest as CSV text: MANIFEST_COLUMNS, then ``site`` if any record has one and
    ``spacing_row_mm``/``spacing_col_mm`` if any DICOM header gave a pixel spacing (datasets
    without them keep the base columns, byte for byte)."""
    with_site = any(r.site for r in records)
    with_spacing = any(d.spacing_mm for d in decoded)
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS + ("site",) * with_site
                    + ("spacing_row_mm", "spacing_col_mm") * with_spacing)
    for index, (r, split, d) in enumerate(zip(records, splits, decoded, strict=True)):
        boxes = [[b.cls, round(b.cx, 6), round(b.cy, 6), round(b.w, 6), round(b.h, 6)]
                 for b in r.boxes]
        classes = ";".join(sorted({class_names[b.cls] for b in r.boxes}))
        row = [index, r.image_id, r.path.as_posix(), split, r.split, r.group,
               r.fractured, json.dumps(boxes), classes, d.width, d.height, d.sha1]
        if with_site:
            row.append(r.site)
        if with_spacing:
            row += [f"{v:.6g}" for v in d.spacing_mm] if d.spacing_mm else ["", ""]
        writer.writerow(row)
    return buffer.getvalue()
