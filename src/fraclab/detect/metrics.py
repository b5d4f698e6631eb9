"""Ultralytics' own validator on a split, its mean PR curve, and per-epoch curves from its log.

Nothing here recomputes a metric: :func:`validate` runs ``YOLO(best).val``, and
:func:`fraclab.evaluate.detection.split_metrics` copies what its ``DetMetrics`` holds.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from fraclab.models import offline

offline.configure()  # must precede the first `import ultralytics`

from ultralytics import YOLO  # noqa: E402

offline.restore_pil_open()  # a corrupt image stays PIL's clear error


def validate(weights: Path, data_yaml: Path, split: str, imgsz: int, batch: int, device: str,
             run_dir: Path):
    """Ultralytics' validator on one split of ``data_yaml`` (returns its ``DetMetrics``)."""
    return YOLO(str(weights)).val(data=str(data_yaml), split=split, imgsz=imgsz, batch=batch,
                                  device=device, project=str(run_dir), name=f"val_{split}",
                                  exist_ok=True, plots=False, verbose=False)


def pr_curve(metrics, points: int = 101) -> list[tuple[float, float]]:
    """The mean precision-recall curve at IoU 0.5 over the classes present, on ``points`` recalls.

    Ultralytics keeps one interpolated precision per class on a 1,000-point recall grid.
    """
    box = metrics.box
    if not len(box.ap_class_index):
        return []
    recall = np.asarray(box.px)
    precision = np.asarray(box.prec_values).mean(axis=0)
    keep = np.linspace(0, len(recall) - 1, points).round().astype(int)
    return [(float(recall[i]), float(precision[i])) for i in keep]


# Ultralytics' results.csv columns -> our names.
EPOCH_COLUMNS = {
    "epoch": "epoch",
    "train/box_loss": "train_box_loss", "train/cls_loss": "train_cls_loss",
    "train/dfl_loss": "train_dfl_loss",
    "val/box_loss": "val_box_loss", "val/cls_loss": "val_cls_loss", "val/dfl_loss": "val_dfl_loss",
    "metrics/precision(B)": "val_precision", "metrics/recall(B)": "val_recall",
    "metrics/mAP50(B)": "val_map50", "metrics/mAP50-95(B)": "val_map50_95",
}


def epoch_log(results_csv: Path) -> list[dict[str, float]]:
    """One dict per trained epoch from Ultralytics' ``results.csv`` (our column names)."""
    with results_csv.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return [{ours: float(row[theirs].strip()) for theirs, ours in EPOCH_COLUMNS.items()
             if theirs in row} for row in rows]
