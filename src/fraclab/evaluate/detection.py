"""Numbers from Ultralytics' own validator as JSON-ready dicts.

:func:`split_metrics` copies what a ``DetMetrics`` holds (precision and recall at the max-F1
confidence, AP@0.5 and AP@0.5:0.95, per class and their means over the classes present);
nothing here recomputes a metric.
"""

from __future__ import annotations

import numpy as np

METRIC_KEYS = ("precision", "recall", "map50", "map50_95")


def split_metrics(metrics) -> dict:
    """Overall and per-class (by name) precision, recall, mAP@0.5, mAP@0.5:0.95 of one split.

    Classes without a box in the split have ``boxes: 0`` and null metrics (Ultralytics leaves
    them out of its means, and so does this summary).
    """
    box = metrics.box
    names = metrics.names
    boxes_per_class = (np.asarray(metrics.nt_per_class) if metrics.nt_per_class is not None
                       else np.zeros(len(names), dtype=int))
    per_class = {names[k]: {"boxes": int(boxes_per_class[k]), **dict.fromkeys(METRIC_KEYS)}
                 for k in sorted(names)}
    for i, k in enumerate(box.ap_class_index):
        precision, recall, ap50, ap = box.class_result(i)
        per_class[names[int(k)]].update(precision=float(precision), recall=float(recall),
                                        map50=float(ap50), map50_95=float(ap))
    return {
        "precision": float(box.mp), "recall": float(box.mr),
        "map50": float(box.map50), "map50_95": float(box.map),
        "boxes": int(boxes_per_class.sum()),
        "per_class": per_class,
    }
