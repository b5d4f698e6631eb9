"""The curves behind the figures, read from the stages' plot files.

Each loader returns plain arrays keyed by backbone or YOLO size; the figures and the
combined ``dvc plots`` files are drawn from these and nothing else.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fraclab.study.facts import Facts, ReportInputError, numbers, read_table

Curve = dict[str, np.ndarray]  # column name -> values

#: classify-cv's curve files and the columns each figure uses.
CLASSIFY_CURVES = {"roc_oof": ("fpr", "tpr"), "roc_test": ("fpr", "tpr"),
                   "pr_oof": ("recall", "precision"), "pr_test": ("recall", "precision")}
THRESHOLD_METRICS = ("sensitivity", "specificity", "precision", "f1")
RELIABILITY_COLUMNS = ("mean_predicted", "observed_fraction", "count")


def _columns(path: Path, columns: tuple[str, ...], delimiter: str = ",") -> Curve:
    table = read_table(path, delimiter)
    return {c: numbers(table, c, path) for c in columns}


def classify_curves(facts: Facts) -> dict[str, dict[str, Curve]]:
    """Per backbone: ROC and PR points of the pooled out-of-fold and test predictions."""
    return {b: {name: _columns(facts.path("plots", "classify", b, f"{name}.csv"), cols)
                for name, cols in CLASSIFY_CURVES.items()} for b in facts.backbones}


def training_curves(facts: Facts) -> dict[str, dict[str, dict[str, Curve]]]:
    """Per backbone and fold model (``r<R>_f<K>``): DVCLive's train and val loss per epoch."""
    out: dict[str, dict[str, dict[str, Curve]]] = {}
    for b in facts.backbones:
        live = facts.path("plots", "classify", b, "live")
        # classify-cv's whole live/ folder is one DVC output, removed before each run, so
        # every folder in it belongs to the current run.
        runs = sorted(p.name for p in live.iterdir() if p.is_dir()) if live.is_dir() else []
        if not runs:
            raise ReportInputError(f"{live}: no training curves; rerun classify-cv")
        out[b] = {run: {split: _columns(live / run / "plots" / "metrics" / f"{split}_loss.tsv",
                                        ("step", f"{split}_loss"), "\t")
                        for split in ("train", "val")} for run in runs}
    return out


def reliability(facts: Facts) -> dict[str, dict[tuple[str, str], Curve]]:
    """Per backbone and (split, before|after): the reliability-diagram points."""
    return {b: {(split, when): _columns(
        facts.path("plots", "calibrate", b, "reliability", f"{split}_{when}.csv"),
        RELIABILITY_COLUMNS) for split in ("oof", "test") for when in ("before", "after")}
        for b in facts.backbones}


def threshold_curves(facts: Facts) -> dict[str, dict[str, Curve]]:
    """Per backbone and metric: the metric against the threshold (pooled out-of-fold)."""
    return {b: {m: _columns(facts.path("plots", "threshold", b, "curves", f"{m}.csv"),
                            ("threshold", m)) for m in THRESHOLD_METRICS}
            for b in facts.backbones}


def detect_epochs(facts: Facts) -> dict[str, Curve]:
    """Per trained YOLO size: validation mAP@0.5 and mAP@0.5:0.95 per epoch."""
    return {s: _columns(facts.path("plots", "detect", s, "val_map.csv"),
                        ("epoch", "map50", "map50_95")) for s in facts.detect_ran}


def detect_samples(facts: Facts, size: str, limit: int = 6) -> list[Path]:
    """The first ``limit`` drawn test images of ``size`` (the detect stage chose them)."""
    folder = facts.path("plots", "detect", size, "test_images")
    return sorted(folder.glob("*.png"))[:limit] if folder.is_dir() else []


def explain_samples(facts: Facts, backbone: str, limit: int = 6) -> list[Path]:
    """The first ``limit`` heat maps the explain stage drew for ``backbone``."""
    folder = facts.path("plots", "explain", backbone, "heatmaps")
    return sorted(folder.glob("*.png"))[:limit] if folder.is_dir() else []


def external_curves(facts: Facts, name: str) -> tuple[dict[str, Curve], dict[str, Curve]]:
    """The external stage's ROC and reliability points, per series (internal, external)."""
    out = []
    for file, columns in (("roc.csv", ("fpr", "tpr")),
                          ("reliability.csv", RELIABILITY_COLUMNS)):
        path = facts.path("plots", "external", name, file)
        table = read_table(path)
        series = np.array(table.get("series", []))
        values = {c: numbers(table, c, path) for c in columns}
        out.append({s: {c: v[series == s] for c, v in values.items()}
                    for s in dict.fromkeys(series.tolist())})
    return out[0], out[1]
