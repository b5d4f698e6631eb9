"""Readers of the files stages hand each other, for the stages that came later.

``artifacts/prepared/manifest.csv`` (written by ``fraclab.data.views.manifest_csv``): one row
per image with its index in ``images.npy``, split, group, label, true boxes (YOLO-normalised
``[class, cx, cy, w, h]``), the original width and height, and the site where known.
"""

from __future__ import annotations

import csv
import dataclasses
import json
from pathlib import Path

import numpy as np


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


def read_probabilities(path: Path, column: str = "prob") -> dict[str, float]:
    """``image_id -> column`` of a predictions CSV (e.g. calibrate's test_ensemble.csv)."""
    if not path.is_file():
        raise ArtifactError(f"{path}: not found; run `dvc repro`")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and column not in rows[0]:
        raise ArtifactError(f"{path}: no column {column!r}")
    return {r["image_id"]: float(r[column]) for r in rows}


def indices(images: list[ManifestImage]) -> np.ndarray:
    """The images.npy rows of ``images``, in their order."""
    return np.array([i.index for i in images], dtype=np.intp)
