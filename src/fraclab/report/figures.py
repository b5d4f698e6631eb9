"""The report's figures, drawn with matplotlib from the curves in :mod:`plotdata`.

Every function takes arrays (and the numbers for the legends, from the metrics files) and
returns PNG bytes. Every axis is labelled with its quantity and unit, every line is in a
legend, and every figure has a title that says what data it shows.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display: the stage runs headless

import matplotlib.pyplot as plt
import numpy as np

from fraclab.io import png_bytes
from fraclab.report.plotdata import Curve

SPLIT_NAMES = {"oof": "pooled out-of-fold", "test": "test (fold ensemble)",
               "val": "validation"}


def _colour(k: int) -> str:
    return f"C{k % 10}"


def roc_pr(curves: dict[str, dict[str, Curve]], legends: dict[str, dict[str, str]],
           prevalence: dict[str, float]) -> bytes:
    """2 x 2: ROC and PR of every backbone, out-of-fold (left) and test (right).

    ``legends[backbone]["roc_oof"]`` (and ``pr_oof``, ``roc_test``, ``pr_test``) is the
    legend text (AUROC or AP with its CI); ``prevalence[split]`` is the fractured share, the
    precision of a classifier that guesses.
    """
    fig, axes = plt.subplots(2, 2, figsize=(11, 9.5), constrained_layout=True)
    for column, split in enumerate(("oof", "test")):
        roc, pr = axes[0, column], axes[1, column]
        roc.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
        pr.axhline(prevalence[split], color="grey", linestyle=":", linewidth=1,
                   label=f"chance (prevalence {prevalence[split]:.2f})")
        for k, (backbone, c) in enumerate(curves.items()):
            roc.plot(c[f"roc_{split}"]["fpr"], c[f"roc_{split}"]["tpr"], color=_colour(k),
                     label=f"{backbone}: {legends[backbone][f'roc_{split}']}",
                     drawstyle="steps-post")
            # scikit-learn's order (recall falling) with steps-post, as its own display draws.
            pr.plot(c[f"pr_{split}"]["recall"], c[f"pr_{split}"]["precision"],
                    color=_colour(k), label=f"{backbone}: {legends[backbone][f'pr_{split}']}",
                    drawstyle="steps-post")
        roc.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false-positive rate (1 - specificity)",
                ylabel="true-positive rate (sensitivity)", title=f"ROC, {SPLIT_NAMES[split]}")
        pr.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="recall (sensitivity)",
               ylabel="precision (positive predictive value)",
               title=f"Precision-recall, {SPLIT_NAMES[split]}")
        roc.legend(loc="lower right", fontsize=8, title="AUROC (95 % CI)", title_fontsize=8)
        pr.legend(loc="lower left", fontsize=8, title="average precision (95 % CI)",
                  title_fontsize=8)
        for ax in (roc, pr):
            ax.grid(alpha=0.3)
    return png_bytes(fig)


def training(curves: dict[str, dict[str, dict[str, Curve]]]) -> bytes:
    """One panel per backbone: training (dashed) and inner-validation (solid) loss per
    epoch, one colour per fold model."""
    n = len(curves)
    fig, axes = plt.subplots(1, n, figsize=(5 * n, 4), squeeze=False, sharey=True,
                             constrained_layout=True)
    from matplotlib.lines import Line2D
    from matplotlib.ticker import MaxNLocator

    for ax, (backbone, runs) in zip(axes[0], curves.items(), strict=True):
        for k, (run, splits) in enumerate(runs.items()):
            for split, style in (("train", "--"), ("val", "-")):
                c = splits[split]
                ax.plot(c["step"] + 1, c[f"{split}_loss"], style, color=_colour(k),
                        marker="o", markersize=3, label=run if split == "val" else None)
        # Colour says which fold model, line style which loss: one legend entry each.
        handles, _ = ax.get_legend_handles_labels()
        handles += [Line2D([], [], color="black", linestyle="--", label="training"),
                    Line2D([], [], color="black", linestyle="-", label="inner validation")]
        ax.legend(handles=handles, fontsize=7, ncol=2, title="fold model (r = repeat, "
                  "f = fold) / loss", title_fontsize=7)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set(xlabel="epoch", title=f"{backbone}: loss per fold model")
        ax.grid(alpha=0.3)
    axes[0, 0].set_ylabel("binary cross-entropy per image (nats)")
    return png_bytes(fig)


def reliability(points: dict[str, dict[tuple[str, str], Curve]], ece: dict[str, dict]) -> bytes:
    """Rows: backbones; columns: out-of-fold, test. Observed fraction fractured against
    mean predicted probability per bin, before and after calibration, over the diagonal.

    ``ece[backbone][(split, when)]`` is the ECE for the legend.
    """
    rows = len(points)
    fig, axes = plt.subplots(rows, 2, figsize=(10, 4.2 * rows), squeeze=False,
                             constrained_layout=True)
    for r, (backbone, tables) in enumerate(points.items()):
        for column, split in enumerate(("oof", "test")):
            ax = axes[r, column]
            ax.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1,
                    label="perfect calibration")
            for when, style in (("before", "o--"), ("after", "s-")):
                t = tables[split, when]
                ax.plot(t["mean_predicted"], t["observed_fraction"], style,
                        label=f"{when} (ECE {ece[backbone][split, when]:.3f})")
            ax.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability in bin",
                   ylabel="observed fraction fractured in bin",
                   title=f"{backbone}, {SPLIT_NAMES[split]}")
            ax.grid(alpha=0.3)
            ax.legend(loc="upper left", fontsize=8)
    return png_bytes(fig)


def thresholds(curves: dict[str, dict[str, Curve]],
               chosen: dict[str, dict[str, float]]) -> bytes:
    """One panel per backbone: sensitivity, specificity, precision and F1 against the
    threshold (pooled out-of-fold); dotted lines at the test threshold of each criterion."""
    n = len(curves)
    fig, axes = plt.subplots(1, n, figsize=(5.5 * n, 4.3), squeeze=False, sharey=True,
                             constrained_layout=True)
    for ax, (backbone, metrics) in zip(axes[0], curves.items(), strict=True):
        for k, (name, c) in enumerate(metrics.items()):
            ax.plot(c["threshold"], c[name], color=_colour(k), label=name,
                    drawstyle="steps-pre")
        for k, (label, value) in enumerate(chosen[backbone].items()):
            ax.axvline(value, color=_colour(k + len(metrics)), linestyle=":", linewidth=1.2,
                       label=f"{label} threshold {value:.2f}")
        ax.set(xlim=(0, 1), ylim=(0, 1.02), title=backbone,
               xlabel="threshold on calibrated probability (positive if p >= threshold)")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower left")
    axes[0, 0].set_ylabel("metric value (fraction)")
    fig.suptitle("Operating characteristics against the threshold, pooled out-of-fold")
    return png_bytes(fig)


def detect_ap(per_class: dict[str, dict[str, dict[str, float | None]]]) -> bytes:
    """AP@0.5 per class: one panel per split (val, test), one bar per YOLO size.

    ``per_class[size][split][class]`` is the AP, None where the split has no box of it
    (drawn as a gap, labelled "no boxes").
    """
    sizes = list(per_class)
    classes = sorted({c for s in per_class.values() for d in s.values() for c in d})
    fig, axes = plt.subplots(1, 2, figsize=(max(8.0, 1.3 * len(classes) * 2), 4.3),
                             sharey=True, constrained_layout=True)
    width = 0.8 / max(1, len(sizes))
    x = np.arange(len(classes))
    for ax, split in zip(axes, ("val", "test"), strict=True):
        for k, size in enumerate(sizes):
            values = [per_class[size][split].get(c) for c in classes]
            heights = [np.nan if v is None else v for v in values]
            ax.bar(x + (k - (len(sizes) - 1) / 2) * width, heights, width,
                   color=_colour(k), label=f"YOLOv8{size}")
        missing = [c for c in classes
                   if all(per_class[s][split].get(c) is None for s in sizes)]
        for c in missing:
            ax.text(classes.index(c), 0.02, "no boxes", rotation=90, ha="center",
                    va="bottom", fontsize=8, color="grey")
        ax.set_xticks(x, classes, rotation=30, ha="right")
        ax.set(ylim=(0, 1), xlabel="box class",
               title=f"AP@0.5 per class, {'validation' if split == 'val' else 'test'} split")
        ax.grid(axis="y", alpha=0.3)
        ax.legend(fontsize=8)
    axes[0].set_ylabel("average precision at IoU 0.5")
    return png_bytes(fig)


def detect_training(epochs: dict[str, Curve]) -> bytes:
    """Validation mAP@0.5 (dashed) and mAP@0.5:0.95 (solid) per epoch, one colour per size."""
    fig, ax = plt.subplots(figsize=(7.5, 4.3), constrained_layout=True)
    for k, (size, c) in enumerate(epochs.items()):
        ax.plot(c["epoch"], c["map50"], "--", color=_colour(k), label=f"YOLOv8{size} mAP@0.5")
        ax.plot(c["epoch"], c["map50_95"], "-", color=_colour(k),
                label=f"YOLOv8{size} mAP@0.5:0.95")
    from matplotlib.ticker import MaxNLocator

    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set(xlabel="epoch", ylabel="mean average precision (validation split)", ylim=(0, 1),
           title="Detector training: validation mAP per epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    return png_bytes(fig)


def samples(images: list[Path], title: str,
            key: str = "green: true box and class; red: predicted box, class and confidence"
            ) -> bytes:
    """Drawn test images (a stage's) in a grid, with the colour key in the title."""
    from PIL import Image

    columns = min(3, len(images))
    rows = -(-len(images) // columns)
    # At least 8 inches wide so the colour key in the title fits over a single image.
    fig, axes = plt.subplots(rows, columns, figsize=(max(8.0, 4 * columns), 4.3 * rows),
                             squeeze=False, constrained_layout=True)
    for ax in axes.flat:
        ax.axis("off")
    for ax, path in zip(axes.flat, images, strict=False):
        with Image.open(path) as image:
            ax.imshow(np.asarray(image.convert("RGB")))
        ax.set_title(path.stem, fontsize=8)
    fig.suptitle(f"{title}\n{key}", fontsize=10)
    return png_bytes(fig)


def sanity_curves(curves: dict[str, list[tuple[str, float]]], limit: float) -> bytes:
    """Rank correlation of each backbone's Grad-CAM with its trained model's as blocks are
    re-initialised from the output down, and the pass line."""
    fig, ax = plt.subplots(figsize=(6.4, 3.6), constrained_layout=True)
    for backbone, curve in curves.items():
        ax.plot(range(len(curve)), [v for _, v in curve], marker="o", label=backbone)
    longest = max(curves.values(), key=len)
    ax.set_xticks(range(len(longest)), [f"+{n}" for n, _ in longest], rotation=30,
                  fontsize=8)
    ax.axhline(limit, color="grey", linestyle="--", linewidth=1,
               label=f"pass: below {limit:g} when all are random")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.set_ylim(-1, 1)
    ax.set_xlabel("blocks re-initialised (cumulative, output first)")
    ax.set_ylabel("Spearman vs trained maps")
    ax.legend(fontsize=8)
    return png_bytes(fig)


def external_curves(roc: dict[str, Curve], reliability: dict[str, Curve],
                    legends: dict[str, str], name: str) -> bytes:
    """ROC (left) and reliability (right) of the bundle on the internal test set and on
    the external dataset ``name``; ``legends[series]`` holds each series' AUROC / ECE text."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.8), constrained_layout=True)
    left.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1, label="chance")
    right.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1,
               label="perfect calibration")
    for k, series in enumerate(roc):
        left.plot(roc[series]["fpr"], roc[series]["tpr"], color=_colour(k),
                  drawstyle="steps-post", label=f"{series}: {legends[series]}")
        r = reliability[series]
        right.plot(r["mean_predicted"], r["observed_fraction"], "o-", color=_colour(k),
                   label=series)
    left.set(xlim=(0, 1), ylim=(0, 1.01), xlabel="false-positive rate (1 - specificity)",
             ylabel="true-positive rate (sensitivity)",
             title=f"ROC, internal test set and {name}")
    right.set(xlim=(0, 1), ylim=(0, 1), xlabel="mean predicted probability in bin",
              ylabel="observed fraction fractured in bin",
              title=f"Reliability, internal test set and {name}")
    left.legend(loc="lower right", fontsize=8)
    right.legend(loc="upper left", fontsize=8)
    for ax in (left, right):
        ax.grid(alpha=0.3)
    return png_bytes(fig)
