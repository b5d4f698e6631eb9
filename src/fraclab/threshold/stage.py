"""The `threshold` stage for one backbone: nested operating points per fold model, and the
deployed ensemble's operating points.

For each fold model and each criterion of ``threshold.criteria`` the threshold is chosen on
that model's *calibrated inner-validation* predictions and applied once to its out-of-fold
predictions; the outer fold never helps to choose. Sensitivity, specificity, precision, F1
and accuracy are then summarised over the fold models (mean and SD over folds x repeats),
together with the spread of the chosen thresholds; beside them, each fold model's own
threshold on its own test predictions (mean and SD over fold models).

The deployed rule (:func:`fraclab.evaluate.thresholds.ensemble_decision`) thresholds the
ensemble probability (mean of the fold models' calibrated probabilities). Its threshold is
chosen on the development set's out-of-fold predictions, made to have an ensemble's spread
(:func:`~fraclab.evaluate.thresholds.choose_ensemble_threshold`; it needs ``classify.repeats
>= 2``, otherwise the median of the fold thresholds stands in and the metrics say so). The
test set scores exactly that rule; its grouped bootstrap intervals resample the development
images as well, so they carry the threshold's own variability.

Reads ``artifacts/calibrate/<backbone>/{inner_val,oof,test}.csv`` and the manifest; writes
``metrics/threshold/<backbone>.json`` and ``plots/threshold/<backbone>/``:
``curves/<metric>.csv`` (each metric against threshold on the pooled out-of-fold
predictions), ``curves.png`` and ``operating_points.csv`` (one row per criterion).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from fraclab.artifacts.predictions import (
    Manifest,
    Model,
    PredictionFileError,
    Predictions,
    check_same_models,
    ensemble,
    model_key,
    read_predictions,
)
from fraclab.evaluate.bootstrap import grouped_bootstrap_refit
from fraclab.evaluate.metrics import summarize
from fraclab.evaluate.thresholds import (
    OPERATING_METRICS,
    choose_ensemble_threshold,
    choose_threshold,
    criterion_label,
    operating_point,
    operating_point_intervals,
    threshold_curve,
)
from fraclab.io import (
    atomic_write_bytes,
    atomic_write_json,
    atomic_write_text,
    png_bytes,
    table_text,
)
from fraclab.params import ThresholdParams

CURVE_METRICS = ("sensitivity", "specificity", "precision", "f1")


def choose_fold_thresholds(inner: Predictions, cfg: ThresholdParams
                           ) -> dict[str, dict[Model, float]]:
    """Per criterion label, the threshold of each fold model on its own inner-val rows."""
    chosen: dict[str, dict[Model, float]] = {}
    for criterion in cfg.criteria:
        target = cfg.target(criterion)
        per_model = chosen[criterion_label(criterion, target)] = {}
        for model in inner.models():
            rows = inner.of_model(model)
            try:
                per_model[model] = choose_threshold(inner.label[rows], inner.prob[rows],
                                                    criterion, target)
            except ValueError as err:
                raise PredictionFileError(f"{inner.path}: repeat {model[0]} fold {model[1]}, "
                                          f"criterion {criterion}: {err}") from None
    return chosen


def score_out_of_fold(oof: Predictions, thresholds: dict[Model, float]
                      ) -> dict[str, list[float]]:
    """Each fold model's threshold applied once to its out-of-fold rows: metric -> values."""
    values: dict[str, list[float]] = {name: [] for name in OPERATING_METRICS}
    for model, threshold in sorted(thresholds.items()):
        rows = oof.of_model(model)
        try:
            point = operating_point(oof.label[rows], oof.prob[rows], threshold)
        except ValueError as err:
            raise PredictionFileError(f"{oof.path}: repeat {model[0]} fold {model[1]}: "
                                      f"{err}") from None
        for name in OPERATING_METRICS:
            values[name].append(point[name])
    return values


def score_fold_models_on_test(test: Predictions, labels: np.ndarray,
                              thresholds: dict[Model, float]) -> dict[str, list[float]]:
    """Each fold model's threshold applied to its own test predictions (``labels`` aligned
    with ``test``'s rows): metric -> one value per fold model, as out of fold."""
    values: dict[str, list[float]] = {name: [] for name in OPERATING_METRICS}
    for model, threshold in sorted(thresholds.items()):
        rows = test.of_model(model)
        point = operating_point(labels[rows], test.prob[rows], threshold)
        for name in OPERATING_METRICS:
            values[name].append(point[name])
    return values


def members_by_image(oof: Predictions) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Out-of-fold predictions as one row per image: sorted ids, labels, and the calibrated
    probability of each repeat (shape ``(n_images, n_repeats)``), or a clear error when an
    image is not predicted exactly once per repeat."""
    ids, position = np.unique(oof.image_id, return_inverse=True)
    repeats = np.unique(oof.repeat)
    column = np.searchsorted(repeats, oof.repeat)
    counts = np.zeros((ids.size, repeats.size), dtype=np.int64)
    np.add.at(counts, (position, column), 1)
    if (counts != 1).any():
        bad = int(np.flatnonzero((counts != 1).any(axis=1))[0])
        raise PredictionFileError(f"{oof.path}: image {ids[bad]!r} is predicted "
                                  f"{counts[bad].tolist()} times in repeats "
                                  f"{repeats.tolist()}, expected once in each")
    probs = np.empty(counts.shape)
    probs[position, column] = oof.prob
    labels = np.empty(ids.size, dtype=np.int64)
    labels[position] = oof.label
    return ids, labels, probs


def ensemble_test_point(dev_y: np.ndarray, dev_probs: np.ndarray, dev_groups: np.ndarray,
                        test_y: np.ndarray, test_p: np.ndarray, test_groups: np.ndarray,
                        n_members: int, criterion: str, target: float | None, n_boot: int,
                        seed: int) -> dict:
    """The ensemble rule at ``criterion``: its threshold (chosen on the development images'
    out-of-fold probabilities ``dev_probs``) and the test metrics at it, with intervals over
    resamples of both sets."""
    def fit(rows: np.ndarray) -> float:
        return choose_ensemble_threshold(dev_y[rows], dev_probs[rows], n_members, criterion,
                                         target)

    def score(rows: np.ndarray, threshold: float) -> dict[str, float]:
        return {"threshold": threshold,
                **operating_point(test_y[rows], test_p[rows], threshold)}

    point = grouped_bootstrap_refit(fit, score, dev_groups, test_groups, n_boot=n_boot,
                                    seed=seed)
    threshold = point.pop("threshold")
    return {"threshold": threshold["value"],
            "threshold_ci": {"ci_low": threshold["ci_low"], "ci_high": threshold["ci_high"]},
            **point}


def run_threshold(backbone: str, cfg: ThresholdParams, seed: int, calibrate_dir: Path,
                  manifest_path: Path, metrics_path: Path, plots_dir: Path,
                  log: Callable[[str], None] = print) -> dict:
    """Choose, apply and score every criterion for ``backbone``; write every output."""
    inner = read_predictions(calibrate_dir / "inner_val.csv", label=True, prob=True)
    oof = read_predictions(calibrate_dir / "oof.csv", label=True, prob=True)
    test = read_predictions(calibrate_dir / "test.csv", label=False, prob=True)
    check_same_models(inner, oof, test)
    manifest = Manifest.load(manifest_path)
    test_ids, test_p = ensemble(test, test.prob)
    test_y, test_groups = manifest.lookup(test_ids, test.path)
    test_y_of, _ = manifest.lookup(test.image_id, test.path)
    dev_ids, dev_y, dev_probs = members_by_image(oof)
    _, dev_groups = manifest.lookup(dev_ids, oof.path)
    n_members = len(test.models())
    from_oof = dev_probs.shape[1] >= 2

    metrics: dict = {"backbone": backbone, "seed": seed, "ensemble_rule": {
        "score": "mean of the fold models' calibrated probabilities",
        "decision": "score >= the operating point's test threshold",
        "members": n_members,
        "threshold_from": ("out-of-fold predictions scaled to the ensemble's spread"
                           if from_oof else
                           "median of the fold thresholds (classify.repeats = 1: the spread "
                           "between models is not measurable; sensitivity and specificity "
                           "targets are overshot)"),
        "intervals": ("resample development and test groups" if from_oof else
                      "resample test groups at a fixed threshold")}}
    table: dict[str, list] = {"criterion": [], "threshold": [], "threshold_sd": []}
    chosen = choose_fold_thresholds(inner, cfg)
    for criterion, (label, per_model) in zip(cfg.criteria, chosen.items(), strict=True):
        thresholds = [per_model[m] for m in sorted(per_model)]
        oof_values = score_out_of_fold(oof, per_model)
        # Like for like with out-of-fold: each fold model alone on test, at its own threshold.
        single = score_fold_models_on_test(test, test_y_of, per_model)
        median = float(np.median(thresholds))
        if from_oof:
            point = ensemble_test_point(dev_y, dev_probs, dev_groups, test_y, test_p,
                                       test_groups, n_members, criterion, cfg.target(criterion),
                                       cfg.n_boot, seed)
        else:
            point = {"threshold": median,
                     **operating_point_intervals(test_y, test_p, test_groups, median,
                                                 n_boot=cfg.n_boot, seed=seed)}
        test_threshold = point["threshold"]
        test_point = {name: point[name] for name in OPERATING_METRICS}
        metrics[label] = {
            "threshold": {**summarize(thresholds), "median": median,
                          "per_fold": {model_key(m): per_model[m] for m in sorted(per_model)}},
            "oof": {name: summarize(v) for name, v in oof_values.items()},
            "test": point,
            "test_fold_models": {name: summarize(v) for name, v in single.items()},
        }
        table["criterion"].append(label)
        table["threshold"].append(test_threshold)
        table["threshold_sd"].append(metrics[label]["threshold"]["sd"])
        for name in OPERATING_METRICS:
            for key, value in (("oof_mean", metrics[label]["oof"][name]["mean"]),
                               ("oof_sd", metrics[label]["oof"][name]["sd"]),
                               ("test", test_point[name]["value"]),
                               ("test_ci_low", test_point[name]["ci_low"]),
                               ("test_ci_high", test_point[name]["ci_high"])):
                table.setdefault(f"{name}_{key}", []).append(value)
        log(f"{backbone} {label}: threshold {test_threshold:.3f} "
            f"(fold SD {metrics[label]['threshold']['sd']:.3f}); out-of-fold sensitivity "
            f"{metrics[label]['oof']['sensitivity']['mean']:.3f}, specificity "
            f"{metrics[label]['oof']['specificity']['mean']:.3f}")

    curve = threshold_curve(oof.label, oof.prob)
    for name in CURVE_METRICS:
        atomic_write_text(plots_dir / "curves" / f"{name}.csv",
                          table_text({"threshold": curve["threshold"], name: curve[name]}))
    atomic_write_text(plots_dir / "operating_points.csv", table_text(table))
    atomic_write_bytes(plots_dir / "curves.png",
                       _curves_png(curve, dict(zip(table["criterion"], table["threshold"],
                                                   strict=True)), backbone))
    atomic_write_json(metrics_path, metrics)
    return metrics


def _curves_png(curve: dict[str, np.ndarray], chosen: dict[str, float], backbone: str) -> bytes:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5), constrained_layout=True)
    for name in CURVE_METRICS:
        ax.plot(curve["threshold"], curve[name], label=name, drawstyle="steps-pre")
    for k, (label, threshold) in enumerate(chosen.items()):
        ax.axvline(threshold, color=f"C{k + len(CURVE_METRICS)}", linestyle=":", linewidth=1)
        ax.annotate(label, (threshold, 1.0 - 0.06 * k), fontsize=8, rotation=0,
                    xytext=(2, 0), textcoords="offset points")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("threshold (calibrated probability; predicted positive when p >= threshold)")
    ax.set_title(f"{backbone}: pooled out-of-fold; dotted: test thresholds per criterion")
    ax.legend(loc="lower left", fontsize=8)
    return png_bytes(fig)
