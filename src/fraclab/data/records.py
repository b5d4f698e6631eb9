"""The canonical records every importer yields, whatever the dataset's own format."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from fraclab.data.labels import Box

SPLITS = ("train", "valid", "test")


class DatasetError(ValueError):
    """A dataset that cannot be imported; the message names the file and the problem."""


@dataclass(frozen=True)
class ImageRecord:
    """One image as the pipeline sees it.

    ``image_id`` is the image's path relative to the dataset root (unique and traceable);
    ``split`` is the split the dataset ships it in; ``group`` is the unit that must never
    straddle two splits or a training part and its scored fold (a patient, or the source
    X-ray of augmented copies).
    """

    image_id: str
    path: Path
    split: str
    group: str
    boxes: tuple[Box, ...]

    @property
    def fractured(self) -> int:
        """Classification label: 1 when the image has at least one fracture box."""
        return int(bool(self.boxes))


@dataclass(frozen=True)
class BadFile:
    """A file skipped under ``on_bad: skip``, with the reason it could not be read."""

    path: str
    problem: str


@dataclass
class ImportedDataset:
    """What an importer returns: class names, records, skipped files and provenance."""

    format: str
    root: Path
    class_names: tuple[str, ...]
    records: list[ImageRecord]
    group_source: str
    skipped: list[BadFile] = field(default_factory=list)
