"""Importer for FracAtlas (Abedeen et al., Scientific Data 2023).

Layout (``data.path`` is the ``FracAtlas`` folder or the folder holding it)::

    dataset.csv                                     image_id, hand, leg, hip, shoulder, mixed,
                                                    ..., fractured, ...
    images/Fractured/*.jpg, images/Non_fractured/*.jpg
    Annotations/COCO JSON/COCO_fracture_masks.json  boxes (the YOLO files have broken polygons)
    Utilities/Fracture Split/{train,valid,test}.csv column image_id; fractured images only

The label is ``fractured``; the site is the one of hand/leg/hip/shoulder that is set ("mixed"
for several). FracAtlas has no patient ids, so each image is its own group (prepare merges
byte-identical copies, a known quirk). Images in no split file, i.e. all negatives, are shipped
``UNASSIGNED``: prepare splits them by group with the shares of the official positive split,
seeded, so every split keeps the dataset's prevalence.
"""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path

from fraclab.data.formats.common import BadRows, inside, parse_flag, read_table, require
from fraclab.data.labels import Box, LabelError, parse_label_line
from fraclab.data.records import SPLITS, UNASSIGNED, DatasetError, ImageRecord, ImportedDataset

FOLDER = "FracAtlas"
SITES = ("hand", "leg", "hip", "shoulder")
REQUIRED = ("image_id", *SITES, "mixed", "fractured")
IMAGE_FOLDERS = {1: "images/Fractured", 0: "images/Non_fractured"}
COCO = Path("Annotations") / "COCO JSON" / "COCO_fracture_masks.json"
SPLIT_FOLDER = Path("Utilities") / "Fracture Split"
IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".dcm"}


def fracatlas_root(root: Path) -> Path:
    """The dataset folder: ``root/FracAtlas`` when it exists, else ``root`` itself."""
    return root / FOLDER if (root / FOLDER).is_dir() else root


def is_fracatlas(root: Path) -> bool:
    """True when ``root`` (or ``root/FracAtlas``) has ``dataset.csv`` and ``images/Fractured``."""
    base = fracatlas_root(root)
    return (base / "dataset.csv").is_file() and (base / IMAGE_FOLDERS[1]).is_dir()


def site_of(row: dict[str, str], where: str) -> str:
    """The anatomical site from the hand/leg/hip/shoulder/mixed flags ("" when none is set)."""
    set_sites = [s for s in SITES if parse_flag(row[s], f"{where} column {s}")]
    if parse_flag(row["mixed"], f"{where} column mixed") or len(set_sites) > 1:
        return "mixed"
    return set_sites[0] if set_sites else ""


def coco_boxes(path: Path, bad: BadRows) -> dict[str, list[Box]]:
    """Boxes per image file name from a COCO JSON file (one class: fracture).

    Raises
    ------
    DatasetError
        The file is missing or not COCO JSON; under ``on_bad: error`` also an annotation
        with an unknown image id or a box outside its image.
    """
    require(path, "COCO annotation file")
    try:
        coco = json.loads(path.read_text(encoding="utf-8"))
        images = {im["id"]: (im["file_name"], float(im["width"]), float(im["height"]))
                  for im in coco["images"]}
        annotations = list(coco["annotations"])
    except (ValueError, KeyError, TypeError) as err:
        raise DatasetError(f"{path}: not a COCO file with images (id, file_name, width, "
                           f"height) and annotations ({type(err).__name__}: {err})") from None
    boxes: dict[str, list[Box]] = defaultdict(list)
    for number, ann in enumerate(annotations):
        where = f"annotation {ann.get('id', number)}" if isinstance(ann, dict) else number
        if not isinstance(ann, dict) or ann.get("image_id") not in images:
            bad(path, f"{where}: image_id not in the file's images")
            continue
        name, width, height = images[ann["image_id"]]
        try:
            x, y, w, h = (float(v) for v in ann["bbox"])
            line = f"0 {(x + w / 2) / width} {(y + h / 2) / height} {w / width} {h / height}"
            boxes[Path(name).name].append(parse_label_line(line, 1))
        except (KeyError, TypeError, ValueError, ZeroDivisionError, LabelError) as err:
            bad(path, f"{where} ({name}): bad bbox ({err})")
    return boxes


def official_splits(base: Path, bad: BadRows) -> dict[str, str]:
    """Split of each image named in ``Utilities/Fracture Split/*.csv`` (empty when absent)."""
    split_of: dict[str, str] = {}
    for split in SPLITS:
        path = base / SPLIT_FOLDER / f"{split}.csv"
        if not path.is_file():
            continue
        for row in read_table(path, ["image_id"]):
            name = Path(row["image_id"]).name
            if name in split_of and split_of[name] != split:
                bad(path, f"{name} is also in {split_of[name]}.csv")
                continue
            split_of[name] = split
    return split_of


def read_fracatlas(root: Path, on_bad: str = "error") -> ImportedDataset:
    """Read FracAtlas into canonical records (see the module docstring for the layout).

    Raises
    ------
    DatasetError
        A missing marker file or column; under ``on_bad: error`` also an image listed but
        missing, an image on disk but not listed, a box on a non-fractured image or for an
        unknown image, a split file naming a non-fractured or unknown image.
    """
    base = fracatlas_root(root)
    csv_path = require(base / "dataset.csv", "FracAtlas dataset.csv")
    for folder in IMAGE_FOLDERS.values():
        require(base / folder, "image folder")
    bad = BadRows(on_bad)
    rows = read_table(csv_path, REQUIRED)
    boxes = coco_boxes(base / COCO, bad)
    split_of = official_splits(base, bad)

    records: list[ImageRecord] = []
    listed: set[Path] = set()
    for number, row in enumerate(rows, start=2):
        where = f"{csv_path}: line {number}"
        name = row["image_id"] if Path(row["image_id"]).suffix else f"{row['image_id']}.jpg"
        fractured = parse_flag(row["fractured"], f"{where} column fractured")
        path = inside(base / IMAGE_FOLDERS[fractured], name, csv_path)
        if path in listed:
            raise DatasetError(f"{where}: image_id {name} is listed twice")
        listed.add(path)
        # Take its boxes and split entry first: a missing image is one problem, not three.
        image_boxes = tuple(boxes.pop(path.name, ()))
        split = split_of.pop(path.name, UNASSIGNED)
        if not path.is_file():
            bad(csv_path, f"line {number}: image {name} is listed but missing on disk "
                          f"(expected {path})")
            continue
        if image_boxes and not fractured:
            bad(base / COCO, f"{name} has boxes but dataset.csv marks it not fractured")
            continue
        if split != UNASSIGNED and not fractured:
            bad(base / SPLIT_FOLDER, f"{name} is in {split}.csv but is not fractured "
                                     f"(the split files list fractured images only)")
            split = UNASSIGNED
        records.append(ImageRecord(path.relative_to(base).as_posix(), path, split, path.stem,
                                   image_boxes, label=fractured,
                                   site=site_of(row, where)))
    for name in sorted(boxes):
        bad(base / COCO, f"boxes for {name}, which dataset.csv does not list")
    for name in sorted(split_of):
        bad(base / SPLIT_FOLDER, f"{name} is in a split file but not in dataset.csv")
    for folder in IMAGE_FOLDERS.values():
        for path in sorted((base / folder).iterdir()):
            if path.suffix.lower() in IMAGE_SUFFIXES and path not in listed:
                bad(path, "image is not listed in dataset.csv")
    if not records:
        raise DatasetError(f"{csv_path}: no images")
    return ImportedDataset(format="fracatlas", root=base, class_names=("fracture",),
                           records=records, group_source="image (FracAtlas has no patient ids)",
                           skipped=bad.skipped)
