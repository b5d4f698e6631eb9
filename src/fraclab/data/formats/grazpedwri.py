"""Importer for GRAZPEDWRI-DX (Nagy et al., Scientific Data 2022), paediatric wrist X-rays.

Layout (``data.path`` is the folder holding all of it)::

    dataset.csv                             filestem, patient_id, study_number, ...,
                                            fracture_visible, ...  (flags are 1.0 or blank)
    images_part1/*.png .. images_part4/*.png 8- or 16-bit grayscale
    folder_structure/yolov5/labels/<filestem>.txt   YOLO boxes, 9 classes (CLASS_NAMES)

The label is ``fracture_visible``; the group is ``patient_id``. The dataset ships no split:
every image is ``UNASSIGNED`` and prepare splits by patient 70/20/10 (the usual split),
stratified by label and seeded. The detector learns ``data.classes`` (default: fracture).
"""

from __future__ import annotations

from pathlib import Path

from fraclab.data.formats.common import BadRows, parse_flag, read_table, require
from fraclab.data.labels import LabelError, read_label_file
from fraclab.data.records import UNASSIGNED, DatasetError, ImageRecord, ImportedDataset

CLASS_NAMES = ("boneanomaly", "bonelesion", "foreignbody", "fracture", "metal",
               "periostealreaction", "pronatorsign", "softtissue", "text")
REQUIRED = ("filestem", "patient_id", "fracture_visible")
LABELS = Path("folder_structure") / "yolov5" / "labels"
SPLIT_FRACTIONS = {"train": 0.7, "valid": 0.2, "test": 0.1}
IMAGE_SUFFIXES = {".png", ".dcm"}


def is_grazpedwri(root: Path) -> bool:
    """True when ``root`` has ``dataset.csv`` and at least one ``images_part*`` folder."""
    return (root / "dataset.csv").is_file() and any(
        p.is_dir() for p in root.glob("images_part*"))


def image_index(root: Path, bad: BadRows) -> dict[str, Path]:
    """File stem -> image path over every ``images_part*`` folder."""
    index: dict[str, Path] = {}
    for folder in sorted(p for p in root.glob("images_part*") if p.is_dir()):
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            if path.stem in index:
                bad(path, f"file stem also used by {index[path.stem]}")
                continue
            index[path.stem] = path
    return index


def read_grazpedwri(root: Path, on_bad: str = "error") -> ImportedDataset:
    """Read GRAZPEDWRI-DX into canonical records (see the module docstring for the layout).

    Raises
    ------
    DatasetError
        A missing marker file or column, or a file stem listed twice; under
        ``on_bad: error`` also an image listed but missing, an image not listed, a label
        file without an image, a bad label line, or a row without a patient id.
    """
    csv_path = require(root / "dataset.csv", "GRAZPEDWRI-DX dataset.csv")
    label_dir = require(root / LABELS, "YOLO label folder")
    bad = BadRows(on_bad)
    rows = read_table(csv_path, REQUIRED)
    images = image_index(root, bad)
    records: list[ImageRecord] = []
    listed: set[str] = set()
    for number, row in enumerate(rows, start=2):
        stem, patient = row["filestem"], row["patient_id"]
        if stem in listed:
            raise DatasetError(f"{csv_path}: line {number}: filestem {stem} is listed twice")
        listed.add(stem)
        label = parse_flag(row["fracture_visible"],
                           f"{csv_path}: line {number} column fracture_visible")
        if not patient:
            bad(csv_path, f"line {number}: {stem} has no patient_id")
            continue
        path = images.get(stem)
        if path is None:
            bad(csv_path, f"line {number}: image {stem} is listed but missing on disk "
                          f"(looked in images_part*/)")
            continue
        label_path = label_dir / f"{stem}.txt"
        try:
            boxes = read_label_file(label_path, len(CLASS_NAMES))
        except (LabelError, UnicodeDecodeError) as err:
            bad(label_path, str(err))
            continue
        records.append(ImageRecord(path.relative_to(root).as_posix(), path, UNASSIGNED,
                                   f"patient_{patient}", boxes, label=label, site="wrist"))
    for stem in sorted(set(images) - listed):
        bad(images[stem], "image is not listed in dataset.csv")
    for path in sorted(label_dir.glob("*.txt")):
        if path.stem not in images and path.stem not in listed:  # listed: reported above
            bad(path, "label file refers to an image that is not on disk")
    if not records:
        raise DatasetError(f"{csv_path}: no images")
    return ImportedDataset(format="grazpedwri", root=root, class_names=CLASS_NAMES,
                           records=records, group_source="patient_id (dataset.csv)",
                           skipped=bad.skipped, default_classes=("fracture",),
                           split_fractions=dict(SPLIT_FRACTIONS))
