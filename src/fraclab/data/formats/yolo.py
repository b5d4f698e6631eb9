"""Importer for YOLOv8 exports in Roboflow's layout (and the synthetic default dataset).

Layout: ``data.yaml`` (``names``, split paths such as ``train: ../train/images``) and
``<split>/images/*`` beside ``<split>/labels/<stem>.txt``. An optional ``meta.csv`` with
``file_name`` and ``patient_id`` columns (written by ``fraclab synth``) supplies patient ids,
and its ``site`` column, if any, the anatomical site.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

import yaml

from fraclab.data.formats.common import IMAGE_SUFFIXES, source_stem
from fraclab.data.labels import LabelError, read_label_file
from fraclab.data.records import SPLITS, BadFile, DatasetError, ImageRecord, ImportedDataset

_YAML_SPLIT_KEYS = {"train": "train", "valid": "val", "test": "test"}


def is_yolo_export(root: Path) -> bool:
    """True when ``root`` looks like a YOLO export (it has a ``data.yaml``)."""
    return (root / "data.yaml").is_file()


def read_class_names(yaml_path: Path) -> tuple[str, ...]:
    """Class names from a YOLO ``data.yaml`` (a list, or a mapping from id to name)."""
    try:
        spec = yaml.safe_load(yaml_path.read_text())
    except yaml.YAMLError as err:
        raise DatasetError(f"{yaml_path}: not valid YAML ({err})") from None
    names = spec.get("names") if isinstance(spec, dict) else None
    if isinstance(names, dict):
        if set(names) != set(range(len(names))):
            raise DatasetError(f"{yaml_path}: names keys must be 0..{len(names) - 1}")
        names = [names[i] for i in range(len(names))]
    if not names or not isinstance(names, list):
        raise DatasetError(f"{yaml_path}: no class `names` list")
    declared = spec.get("nc")
    if declared is not None and declared != len(names):
        raise DatasetError(f"{yaml_path}: nc is {declared!r} but {len(names)} names are listed")
    return tuple(str(n) for n in names)


def _split_image_dir(root: Path, spec: dict, split: str) -> Path | None:
    """Resolve a split's image folder as Ultralytics and Roboflow exports write it.

    Raises
    ------
    DatasetError
        ``data.yaml`` names a folder for the split that is not inside ``root``.
    """
    key = _YAML_SPLIT_KEYS[split]
    entry = spec.get(key)
    candidates = []
    if isinstance(entry, str):
        candidates += [root / entry, root / re.sub(r"^(\.\./)+", "", entry)]
    candidates.append(root / split / "images")
    found = next((c for c in candidates if c.is_dir()), None)
    if found is not None and not found.resolve().is_relative_to(root.resolve()):
        raise DatasetError(f"{root / 'data.yaml'}: `{key}: {entry}` points outside the dataset "
                           f"folder ({found.resolve()}); keep every split inside {root}")
    if found is None and isinstance(entry, str):
        raise DatasetError(f"{root / 'data.yaml'}: `{key}: {entry}` is not a folder inside "
                           f"{root} (looked for {', '.join(str(c) for c in candidates)})")
    return found


def _meta(root: Path) -> tuple[dict[str, str], dict[str, str]]:
    """Patient id and anatomical site (when the file has a ``site`` column) per file name,
    from the optional ``meta.csv``."""
    meta = root / "meta.csv"
    if not meta.is_file():
        return {}, {}
    with meta.open(newline="") as f:
        rows = list(csv.DictReader(f))
    if rows and not {"file_name", "patient_id"} <= set(rows[0]):
        raise DatasetError(f"{meta}: needs columns file_name and patient_id")
    sites = {row["file_name"]: row["site"].strip() for row in rows} \
        if rows and "site" in rows[0] else {}
    return {row["file_name"]: row["patient_id"] for row in rows}, sites


def read_yolo_export(root: Path, on_bad: str = "error") -> ImportedDataset:
    """Read every image and label of a YOLO export into canonical records.

    Parameters
    ----------
    root : Path
        Dataset folder holding ``data.yaml``.
    on_bad : {"error", "skip"}
        What to do with an unreadable label file: raise, or record it in ``skipped``.
        (Images are decoded, and checked, later by the prepare stage.)

    Raises
    ------
    DatasetError
        Missing or malformed ``data.yaml``, a bad label line (with file and line number)
        when ``on_bad="error"``, or no images at all.
    """
    yaml_path = root / "data.yaml"
    if not yaml_path.is_file():
        raise DatasetError(f"{root}: no data.yaml, so this is not a YOLO export")
    class_names = read_class_names(yaml_path)
    spec = yaml.safe_load(yaml_path.read_text())
    patients, sites = _meta(root)
    records: list[ImageRecord] = []
    skipped: list[BadFile] = []
    for split in SPLITS:
        image_dir = _split_image_dir(root, spec, split)
        if image_dir is None:
            continue
        label_dir = image_dir.parent / "labels"
        if not label_dir.is_dir():
            # A missing label file is a negative, but a missing folder is a copy without its
            # labels: read as all negatives, it would train on nothing.
            raise DatasetError(f"{image_dir}: no labels/ folder beside it ({label_dir}); if "
                               "every image of this split really has no fracture, create it "
                               "empty")
        for image_path in sorted(image_dir.iterdir()):
            if image_path.suffix.lower() not in IMAGE_SUFFIXES:
                continue
            label_path = label_dir / f"{image_path.stem}.txt"
            try:
                boxes = read_label_file(label_path, len(class_names))
            except (LabelError, UnicodeDecodeError) as err:
                problem = f"{label_path}: {err}"
                if on_bad == "error":
                    raise DatasetError(problem) from None
                skipped.append(BadFile(str(label_path), str(err)))
                continue
            image_id = image_path.relative_to(root).as_posix()
            group = patients.get(image_path.name) or source_stem(image_path.name)
            records.append(ImageRecord(image_id, image_path, split, group, boxes,
                                       site=sites.get(image_path.name, "")))
    if not records:
        raise DatasetError(f"{root}: no images found under any of {', '.join(SPLITS)}")
    return ImportedDataset(
        format="yolo",
        root=root,
        class_names=class_names,
        records=records,
        group_source="patient_id (meta.csv)" if patients else "source file stem",
        skipped=skipped,
    )
