"""The importer boundary: every dataset format yields the same canonical records.

To add a format, write ``is_<format>(root) -> bool`` and
``read_<format>(root, on_bad) -> ImportedDataset`` and register them in ``FORMATS``.
``auto`` picks the first format whose marker files are present.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

from fraclab.data.records import DatasetError, ImportedDataset
from fraclab.data.yolo import is_yolo_export, read_yolo_export


class Importer(NamedTuple):
    detect: Callable[[Path], bool]
    read: Callable[[Path, str], ImportedDataset]


FORMATS: dict[str, Importer] = {
    "yolo": Importer(is_yolo_export, read_yolo_export),
}


def detect_format(root: Path) -> str:
    """Name of the first registered format whose marker files exist under ``root``."""
    for name, importer in FORMATS.items():
        if importer.detect(root):
            return name
    raise DatasetError(
        f"{root}: cannot tell the dataset format (looked for: "
        f"{', '.join(FORMATS)}); set data.format in params.yaml"
    )


def import_dataset(root: Path, fmt: str = "auto", on_bad: str = "error") -> ImportedDataset:
    """Import the dataset at ``root`` in format ``fmt`` (or detect it with ``"auto"``)."""
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder does not exist")
    if fmt == "auto":
        fmt = detect_format(root)
    if fmt not in FORMATS:
        raise DatasetError(f"unknown data.format {fmt!r}; valid: auto, {', '.join(FORMATS)}")
    return FORMATS[fmt].read(root, on_bad)
