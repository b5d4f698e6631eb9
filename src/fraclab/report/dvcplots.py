"""Combined plot files behind ``dvc.yaml``'s top-level ``plots:`` (``plots/report/``).

DVC's top-level plots cannot loop over ``classify.backbones`` or ``detect.sizes``, and
naming the default backbones in ``dvc.yaml`` would show stale files after an experiment
with fewer of them. So the report writes one long-format CSV per view with a ``series``
column (backbone or model) and ``dvc.yaml`` draws each with the custom template
``.dvc/plots/fraclab_series.json`` (colour = series, dash = revision): ``dvc plots diff``
then overlays experiments curve by curve.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fraclab.io import atomic_directory, table_text
from fraclab.report import figures, plotdata
from fraclab.study.facts import Facts
from fraclab.study.summary import best_size, localisation_status, sentence

Entry = tuple[dict[str, str], plotdata.Curve]  # labels (series, run, ...), curve


def _long(entries: list[Entry], columns: tuple[str, ...]) -> bytes:
    """One CSV: the label columns (``series`` first), ``point`` (drawing order), ``columns``."""
    labels = list(entries[0][0]) if entries else ["series"]
    out: dict[str, list] = {**{k: [] for k in labels}, "point": [], **{c: [] for c in columns}}
    for names, curve in entries:
        n = len(curve[columns[0]])
        for key in labels:
            out[key] += [names[key]] * n
        out["point"] += list(range(n))
        for c in columns:
            out[c] += curve[c].tolist()
    return table_text(out).encode()


def _series(curves: dict[str, plotdata.Curve]) -> list[Entry]:
    return [({"series": name}, curve) for name, curve in curves.items()]


def on_grid(curve: plotdata.Curve, metric: str, points: int = 101) -> plotdata.Curve:
    """A threshold curve read at ``points`` evenly spaced thresholds in [0, 1], exactly.

    The stage's curve has one point per observed probability (thousands on real data);
    a fixed grid keeps the combined file small and lets ``dvc plots diff`` line revisions
    up. At threshold t the positives are ``p >= t``, the same set as at the smallest curve
    threshold >= t, so its value is exact. Grid points above the largest probability
    (nothing positive, precision undefined) are left out, as the stage's curve leaves them.
    """
    order = np.argsort(curve["threshold"], kind="stable")
    t, v = curve["threshold"][order], curve[metric][order]
    grid = np.linspace(0.0, 1.0, points)
    grid = grid[grid <= t[-1]]
    at = np.searchsorted(t, grid, side="left")
    return {"threshold": grid, metric: v[at]}


def _placeholder_png(text: str) -> bytes:
    import matplotlib.pyplot as plt

    from fraclab.io import png_bytes

    fig, ax = plt.subplots(figsize=(6, 1.5))
    ax.axis("off")
    ax.text(0.5, 0.5, text, ha="center", va="center", wrap=True)
    return png_bytes(fig)


def plot_files(facts: Facts) -> dict[str, bytes]:
    """File name -> content of every file in ``plots/report/``."""
    files: dict[str, bytes] = {}
    curves = plotdata.classify_curves(facts)
    for split in ("oof", "test"):
        files[f"roc_{split}.csv"] = _long(
            _series({b: c[f"roc_{split}"] for b, c in curves.items()}), ("fpr", "tpr"))
        files[f"pr_{split}.csv"] = _long(
            _series({b: c[f"pr_{split}"] for b, c in curves.items()}), ("recall", "precision"))
    rel = plotdata.reliability(facts)
    for split in ("oof", "test"):
        files[f"reliability_{split}.csv"] = _long(
            _series({f"{b} {when}": t[split, when] for b, t in rel.items()
                     for when in ("before", "after")}), ("mean_predicted", "observed_fraction"))
    thresholds = plotdata.threshold_curves(facts)
    for metric in plotdata.THRESHOLD_METRICS:
        files[f"threshold_{metric}.csv"] = _long(
            _series({b: on_grid(c[metric], metric) for b, c in thresholds.items()}),
            ("threshold", metric))
    training = plotdata.training_curves(facts)
    for split in ("train", "val"):
        # One line per fold model: the `run` column keeps them apart within a backbone.
        files[f"classify_{split}_loss.csv"] = _long(
            [({"series": b, "run": run},
              {"epoch": c[split]["step"] + 1, f"{split}_loss": c[split][f"{split}_loss"]})
             for b, runs in training.items() for run, c in runs.items()],
            ("epoch", f"{split}_loss"))
    files["detect_val_map.csv"] = _long(
        _series({f"YOLOv8{s}": c for s, c in plotdata.detect_epochs(facts).items()}),
        ("epoch", "map50", "map50_95"))
    rows: dict[str, list] = {"label": [], "ap50": []}
    for s, m in facts.detect_ran.items():
        for split in ("val", "test"):
            for name, v in m[split]["per_class"].items():
                if v.get("map50") is not None:
                    rows["label"].append(f"{name} · YOLOv8{s} · {split}")
                    rows["ap50"].append(v["map50"])
    files["detect_ap50.csv"] = table_text(rows).encode()
    size = best_size(facts)
    images = plotdata.detect_samples(facts, size) if size else []
    files["detect_samples.png"] = (
        figures.samples(images, f"YOLOv8{size} on test images") if images else
        _placeholder_png(sentence(localisation_status(facts) or
                                  f"YOLOv8{size} drew no test image with a box")))
    return files


def write_plot_files(facts: Facts, plots_dir: Path) -> None:
    """Replace ``plots_dir`` with :func:`plot_files` (atomically, as one folder)."""
    files = plot_files(facts)
    with atomic_directory(plots_dir) as tmp:
        for name, content in files.items():
            (tmp / name).write_bytes(content)
