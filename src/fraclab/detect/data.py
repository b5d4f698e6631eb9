"""The YOLO dataset view `prepare` wrote, checked before any training, and a private copy of it.

Ultralytics writes ``labels.cache`` beside every label folder it reads. Training reads a private
view (real folders of per-file symlinks, built in the run's temporary folder) so those files
land there, never inside ``artifacts/prepared/`` (another stage's DVC output).
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import yaml

SPLITS = ("train", "val", "test")  # Ultralytics' keys in data.yaml


class DetectDataError(ValueError):
    """The prepared YOLO view cannot be used for detection (bad input, found before training)."""


@dataclass(frozen=True)
class SplitSummary:
    """One split of the YOLO view: its image and label files and how many boxes it holds."""

    images: tuple[Path, ...]
    labels: tuple[Path, ...]  # same stems as ``images``; a missing label file means no boxes
    boxes: int


@dataclass(frozen=True)
class YoloView:
    """The checked view: class names and the three splits."""

    root: Path
    names: tuple[str, ...]
    splits: dict[str, SplitSummary]


def skip_reason(prepared_dir: Path) -> str | None:
    """Why localisation is impossible for this dataset (it has no boxes), or None.

    Reads ``prepared.json`` defensively: only an explicit ``has_boxes: false`` (or no YOLO view
    at all, which `prepare` writes whenever there are boxes) means "skip"; everything else is
    checked by :func:`load_view`, where a dataset that should have boxes but has none in train
    is an error, not a skip.
    """
    info_path = prepared_dir / "prepared.json"
    info = json.loads(info_path.read_text()) if info_path.is_file() else {}
    if isinstance(info, dict) and info.get("has_boxes") is False:
        return (f"{info_path}: has_boxes is false (dataset format "
                f"{info.get('format', 'unknown')!r} has image-level labels only, no boxes)")
    view = prepared_dir / "yolo"
    if not (view / "data.yaml").is_file():
        note = next(iter(sorted(view.glob("*.txt"))), None) if view.is_dir() else None
        why = note.read_text().strip() if note else "no YOLO view (yolo/data.yaml) was written"
        if not info_path.is_file():
            raise DetectDataError(f"{prepared_dir}: neither prepared.json nor yolo/data.yaml; "
                                  "run `fraclab prepare` (or `dvc repro prepare`) first")
        return f"{view}: {why}"
    return None


def _count_boxes(label: Path) -> int:
    if not label.is_file():
        return 0
    return sum(1 for line in label.read_text().splitlines() if line.strip())


def load_view(root: Path) -> YoloView:
    """Read ``root/data.yaml`` and check every split before training.

    Raises DetectDataError for a missing split, a split without images, a train split without
    boxes (a detector learns from positives) or val without boxes (early stopping and mAP need
    them).
    """
    data_yaml = root / "data.yaml"
    try:
        spec = yaml.safe_load(data_yaml.read_text())
    except (OSError, yaml.YAMLError) as err:
        raise DetectDataError(f"{data_yaml}: cannot read ({err})") from None
    names = spec.get("names") if isinstance(spec, dict) else None
    if isinstance(names, dict):
        names = [names[k] for k in sorted(names)]
    if not names:
        raise DetectDataError(f"{data_yaml}: no class names")
    splits = {}
    for split in SPLITS:
        if not spec.get(split):
            raise DetectDataError(f"{data_yaml}: no `{split}` split; detection trains on train, "
                                  "stops early on val and reports test")
        folder = root / spec[split]
        images = tuple(sorted(p for p in folder.glob("*") if not p.name.startswith(".")))
        if not images:
            raise DetectDataError(f"{folder}: the {split} split has no images")
        labels_dir = folder.parent / "labels"
        labels = tuple(labels_dir / f"{p.stem}.txt" for p in images)
        splits[split] = SplitSummary(images, labels, sum(_count_boxes(p) for p in labels))
    for split, why in (("train", "the detector learns from positives"),
                       ("val", "early stopping and mAP need positives")):
        if splits[split].boxes == 0:
            raise DetectDataError(f"{root}: the {split} split has {len(splits[split].images)} "
                                  f"images but no boxes; {why}")
    return YoloView(root=root, names=tuple(str(n) for n in names), splits=splits)


def private_view(view: YoloView, out: Path) -> Path:
    """Write a view of the same files under ``out`` (symlinks); return its ``data.yaml``.

    Folders are real so Ultralytics' ``labels.cache`` files are written here, and the symlinks
    point at resolved targets so the view works from any folder.
    """
    spec = {"path": str(out.resolve()), "names": dict(enumerate(view.names))}
    for split, summary in view.splits.items():
        images, labels = out / split / "images", out / split / "labels"
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        for image, label in zip(summary.images, summary.labels, strict=True):
            os.symlink(image.resolve(), images / image.name)
            if label.is_file():
                os.symlink(label.resolve(), labels / label.name)
        spec[split] = f"{split}/images"
    data_yaml = out / "data.yaml"
    data_yaml.write_text(yaml.safe_dump(spec, sort_keys=False))
    return data_yaml
