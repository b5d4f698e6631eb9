"""The canonical records every importer yields, whatever the dataset's own format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fraclab.data.labels import Box

SPLITS = ("train", "valid", "test")
# Shipped without a split (FracAtlas negatives, GRAZPEDWRI-DX): `prepare` assigns one by group.
UNASSIGNED = "unassigned"


class DatasetError(ValueError):
    """A dataset that cannot be imported; the message names the file and the problem."""


@dataclass(frozen=True)
class ImageRecord:
    """One image as the pipeline sees it.

    ``image_id`` is the image's path relative to the dataset root (unique and traceable);
    ``split`` is the split the dataset ships it in; ``group`` is the unit that must never
    straddle two splits or a training part and its scored fold (a patient, or the source
    X-ray of augmented copies). ``label`` is the dataset's own image-level label where it has
    one (a CSV flag, a study label, a class folder); ``None`` means "derive it from the boxes".
    ``site`` is the anatomical region where the dataset names one (``""`` otherwise).
    """

    image_id: str
    path: Path
    split: str
    group: str
    boxes: tuple[Box, ...]
    label: int | None = None
    site: str = ""

    @property
    def fractured(self) -> int:
        """Classification label: the dataset's own label, else 1 when the image has a box."""
        return int(bool(self.boxes)) if self.label is None else self.label


@dataclass(frozen=True)
class BadFile:
    """A file skipped under ``on_bad: skip``, with the reason it could not be read."""

    path: str
    problem: str


@dataclass
class ImportedDataset:
    """What an importer returns: class names, records, skipped files and provenance.

    ``has_boxes`` is False for datasets without localisation (MURA, class folders): the
    detector cannot be trained on them. ``default_classes`` are the box classes the detector
    learns when ``data.classes`` is empty (``None``: all of them). ``split_fractions`` are the
    train/valid/test shares for records shipped ``UNASSIGNED`` (``None``: the shares of the
    records that do have a split, else ``data.test_fraction``/``val_fraction``).
    """

    format: str
    root: Path
    class_names: tuple[str, ...]
    records: list[ImageRecord]
    group_source: str
    skipped: list[BadFile] = field(default_factory=list)
    has_boxes: bool = True
    default_classes: tuple[str, ...] | None = None
    split_fractions: dict[str, float] | None = None


class ImageError(ValueError):
    """An image file that cannot be decoded (corrupt, truncated or not an image)."""

    def __init__(self, path: Path, problem: str) -> None:
        super().__init__(f"{path}: {problem}")
        self.path, self.problem = path, problem
