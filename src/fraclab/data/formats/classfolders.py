"""Importer for image-classification folders: one folder per label, optionally per split.

Layout (``data.path`` is ``root``)::

    root/[train|val|test/]<fractured folder>/**/*.png|jpg|dcm
    root/[train|val|test/]<not-fractured folder>/**/*.png|jpg|dcm

Folder names are matched against ``data.positive_folders`` and ``data.negative_folders``
after ``normalise_folder`` (case, spaces, ``-`` and ``_`` ignored), so ``Fractured``,
``not_fractured``, ``Non-Fractured`` and ``normal`` work by default. Split folders are
``train``, ``val``/``valid``/``validation`` and ``test``; without them everything is train and
prepare carves valid and test by group. The group is the source file stem (Roboflow's
augmented copies share it). There are no boxes.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from fraclab.data.formats.common import IMAGE_SUFFIXES, source_stem
from fraclab.data.records import DatasetError, ImageRecord, ImportedDataset
from fraclab.params import DEFAULT_NEGATIVE_FOLDERS, DEFAULT_POSITIVE_FOLDERS, normalise_folder

SPLIT_FOLDERS = {"train": "train", "val": "valid", "valid": "valid", "validation": "valid",
                 "test": "test"}


def _subfolders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def label_folders(root: Path, positive: Sequence[str], negative: Sequence[str]
                  ) -> list[tuple[str, int, Path]]:
    """Every (split, label, folder) under ``root``.

    Raises
    ------
    DatasetError
        A folder that is neither a split nor a label name (the message says which params
        map it), split folders beside label folders, or no label folder at all.
    """
    names = {normalise_folder(n): 1 for n in positive}
    names.update({normalise_folder(n): 0 for n in negative})
    top = _subfolders(root)
    splits = [p for p in top if p.name.lower() in SPLIT_FOLDERS]
    containers = [(SPLIT_FOLDERS[p.name.lower()], p) for p in splits] if splits else [
        ("train", root)]
    found = []
    for split, container in containers:
        for folder in _subfolders(container):
            if container == root and folder in splits:
                continue
            label = names.get(normalise_folder(folder.name))
            if label is None:
                where = "beside split folders" if splits and container == root else "a folder"
                raise DatasetError(
                    f"{folder}: {where} that is neither a split (train, val, test) nor a "
                    f"label; add its name to data.positive_folders or data.negative_folders")
            found.append((split, label, folder))
    if not found:
        raise DatasetError(f"{root}: no class folders found")
    return found


def is_class_folders(root: Path) -> bool:
    """True when ``root`` (or its split folders) holds a fractured and a not-fractured folder
    under the default names."""
    try:
        labels = {label for _, label, _ in label_folders(
            root, DEFAULT_POSITIVE_FOLDERS, DEFAULT_NEGATIVE_FOLDERS)}
    except DatasetError:
        return False
    return labels == {0, 1}


def read_class_folders(root: Path, positive: Sequence[str] = DEFAULT_POSITIVE_FOLDERS,
                       negative: Sequence[str] = DEFAULT_NEGATIVE_FOLDERS) -> ImportedDataset:
    """Read class folders into canonical records (labels from folders, no boxes).

    Raises
    ------
    DatasetError
        See :func:`label_folders`; also no images, or an image directly under a split or
        the root (outside any label folder).
    """
    folders = label_folders(root, positive, negative)
    records: list[ImageRecord] = []
    for split, label, folder in folders:
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file():
                records.append(ImageRecord(path.relative_to(root).as_posix(), path, split,
                                           source_stem(path.name), (), label=label))
    containers = {root} | {folder.parent for _, _, folder in folders}
    for container in sorted(containers):
        for path in sorted(container.iterdir()):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                raise DatasetError(f"{path}: image outside any label folder")
    if not records:
        raise DatasetError(f"{root}: no images in the class folders")
    return ImportedDataset(format="classfolders", root=root, class_names=("fractured",),
                           records=records, group_source="source file stem",
                           skipped=[], has_boxes=False)
