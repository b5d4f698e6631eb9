"""The importer boundary: every dataset format yields the same canonical records.

To add a format, write a module with ``is_<format>(root) -> bool`` (its marker files) and
``read_<format>(root, ...) -> ImportedDataset``, and register both in ``FORMATS``.
``auto`` picks the first format whose marker files are present, in ``FORMATS`` order (the
most specific markers first; class folders, which only have folder names, last).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from fraclab.data.formats.classfolders import is_class_folders, read_class_folders
from fraclab.data.formats.fracatlas import is_fracatlas, read_fracatlas
from fraclab.data.formats.grazpedwri import is_grazpedwri, read_grazpedwri
from fraclab.data.formats.mura import is_mura, read_mura
from fraclab.data.formats.yolo import is_yolo_export, read_yolo_export
from fraclab.data.records import DatasetError, ImportedDataset
from fraclab.params import DataParams


class Importer(NamedTuple):
    detect: Callable[[Path], bool]
    read: Callable[[Path, DataParams], ImportedDataset]
    layout: str  # the marker files, for error messages and the README


FORMATS: dict[str, Importer] = {
    "yolo": Importer(is_yolo_export, lambda root, p: read_yolo_export(root, p.on_bad),
                     "data.yaml"),
    "fracatlas": Importer(is_fracatlas, lambda root, p: read_fracatlas(root, p.on_bad),
                          "[FracAtlas/]dataset.csv + images/Fractured/"),
    "grazpedwri": Importer(is_grazpedwri, lambda root, p: read_grazpedwri(root, p.on_bad),
                           "dataset.csv + images_part*/"),
    "mura": Importer(is_mura, lambda root, p: read_mura(root, p.on_bad),
                     "[MURA-v1.1/]train_image_paths.csv"),
    "classfolders": Importer(
        is_class_folders,
        lambda root, p: read_class_folders(root, p.positive_folders, p.negative_folders),
        "[train|val|test/]<fractured>/ + <not fractured>/"),
}


def detect_format(root: Path) -> str:
    """Name of the first registered format whose marker files exist under ``root``."""
    for name, importer in FORMATS.items():
        if importer.detect(root):
            return name
    raise DatasetError(
        f"{root}: cannot tell the dataset format (looked for: "
        f"{'; '.join(f'{n}: {i.layout}' for n, i in FORMATS.items())}); "
        f"set data.format in params.yaml"
    )


def import_dataset(root: Path, fmt: str = "auto", on_bad: str = "error",
                   params: DataParams | None = None) -> ImportedDataset:
    """Import the dataset at ``root`` in format ``fmt`` (or detect it with ``"auto"``).

    ``params`` supplies format options (class-folder names); ``fmt`` and ``on_bad`` win.

    Raises
    ------
    DatasetError
        Missing folder, unknown or undetectable format, anything the importer rejects, or
        two records with one image id.
    """
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset folder does not exist")
    if fmt == "auto":
        fmt = detect_format(root)
    if fmt not in FORMATS:
        raise DatasetError(f"unknown data.format {fmt!r}; valid: auto, {', '.join(FORMATS)}")
    options = replace(params or DataParams(), path=str(root), format=fmt, on_bad=on_bad)
    dataset = FORMATS[fmt].read(root, options)
    twice = [i for i, n in Counter(r.image_id for r in dataset.records).items() if n > 1]
    if twice:
        raise DatasetError(f"{dataset.root}: image {twice[0]} is listed more than once")
    return dataset
