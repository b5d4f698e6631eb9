"""Importer for MURA v1.1 (Rajpurkar et al.), musculoskeletal radiographs without boxes.

Layout (``data.path`` is ``MURA-v1.1`` or the folder holding it)::

    MURA-v1.1/train_image_paths.csv     one image path a row, no header, e.g.
                                        MURA-v1.1/train/XR_WRIST/patient00001/study1_positive/image1.png
    MURA-v1.1/train_labeled_studies.csv study folder, label (0/1); no header
    MURA-v1.1/valid_image_paths.csv, MURA-v1.1/valid_labeled_studies.csv

The label belongs to the study (an image takes its folder's label; MURA's label is
"abnormal", which includes fractures), the group is the patient (``patientNNNNN`` in the
path), the site is the body part (``XR_WRIST`` -> ``wrist``). The test split is carved from
train by patient, as for any dataset without one. There are no boxes, so the dataset is
marked ``has_boxes=False`` and the detector is not trained.
"""

from __future__ import annotations

import re
from pathlib import Path

from fraclab.data.formats.common import BadRows, inside, read_headerless, require
from fraclab.data.records import DatasetError, ImageRecord, ImportedDataset

FOLDER = "MURA-v1.1"
SHIPPED = ("train", "valid")
_PATIENT = re.compile(r"^patient\d+$")
_SITE = re.compile(r"^XR_([A-Z]+)$")


def mura_root(root: Path) -> Path:
    """The folder holding the CSV files: ``root/MURA-v1.1`` when it exists, else ``root``."""
    return root / FOLDER if (root / FOLDER).is_dir() else root


def is_mura(root: Path) -> bool:
    """True when ``root`` (or ``root/MURA-v1.1``) has ``train_image_paths.csv``."""
    return (mura_root(root) / "train_image_paths.csv").is_file()


def relative_to_base(base: Path, listed: str, source: Path) -> str:
    """A CSV path relative to ``base``: MURA writes it from ``base``'s parent, with a
    leading ``MURA-v1.1/``; inside() then refuses anything that escapes ``base``."""
    parts = listed.replace("\\", "/").strip("/").split("/")
    if parts and parts[0] == base.name:
        parts = parts[1:]
    relative = "/".join(parts)
    inside(base, relative, source)
    return relative


def study_labels(base: Path, split: str) -> dict[str, int]:
    """Study folder (relative to ``base``) -> label, from ``<split>_labeled_studies.csv``."""
    path = base / f"{split}_labeled_studies.csv"
    labels = {}
    for number, (study, label) in enumerate(read_headerless(path, 2), start=1):
        if label not in ("0", "1"):
            raise DatasetError(f"{path}: line {number}: label {label!r} is not 0 or 1")
        labels[relative_to_base(base, study, path)] = int(label)
    return labels


def read_mura(root: Path, on_bad: str = "error") -> ImportedDataset:
    """Read MURA v1.1 into canonical records (see the module docstring for the layout).

    Raises
    ------
    DatasetError
        Missing CSV files, a path escaping the dataset folder, a label other than 0/1;
        under ``on_bad: error`` also an image missing on disk, an image whose study has no
        label, or a path without a ``patientNNNNN`` folder.
    """
    base = mura_root(root)
    require(base / "train_image_paths.csv", "MURA train_image_paths.csv")
    bad = BadRows(on_bad)
    records: list[ImageRecord] = []
    for split in SHIPPED:
        paths_csv = base / f"{split}_image_paths.csv"
        if split != "train" and not paths_csv.is_file():
            continue
        labels = study_labels(base, split)
        for number, (listed,) in enumerate(read_headerless(paths_csv, 1), start=1):
            relative = relative_to_base(base, listed, paths_csv)
            path = base / relative
            parts = Path(relative).parts
            patient = next((p for p in parts if _PATIENT.match(p)), None)
            study = Path(relative).parent.as_posix()
            if not path.is_file():
                bad(paths_csv, f"line {number}: image {listed} is listed but missing on disk")
            elif patient is None:
                bad(paths_csv, f"line {number}: {listed} has no patientNNNNN folder")
            elif study not in labels:
                bad(paths_csv, f"line {number}: study {study} of {listed} has no label in "
                               f"{split}_labeled_studies.csv")
            else:
                site = next((m.group(1).lower() for p in parts if (m := _SITE.match(p))), "")
                records.append(ImageRecord(relative, path, split, patient, (),
                                           label=labels[study], site=site))
    if not records:
        raise DatasetError(f"{base}: no images listed in *_image_paths.csv")
    return ImportedDataset(format="mura", root=base, class_names=("abnormal",),
                           records=records, group_source="patient (from the image path)",
                           skipped=bad.skipped, has_boxes=False)
