"""The `calibrate` stage for one backbone: nested calibration of every fold model.

For each fold model (repeat r, fold k) of ``classify-cv`` the calibration map is fitted on
that model's own inner-validation logits, then applied to its out-of-fold logits and to its
test logits. Temperature scaling fits ``T`` and an intercept (see
:mod:`fraclab.evaluate.calibration`). The outer fold and the test set never take part in
a fit, so the calibrated out-of-fold predictions are an honest estimate of calibration on new
patients. The test
probability of an image is the mean of the fold models' calibrated probabilities.

Reads ``artifacts/classify/<backbone>/{inner_val,oof,test}.csv`` and the manifest (test
labels, groups); writes, each file atomically,

- ``artifacts/calibrate/<backbone>/``: ``inner_val.csv``, ``oof.csv``, ``test.csv`` (the
  input rows plus ``prob``, the calibrated probability) and ``test_ensemble.csv``
  (image_id, prob_uncalibrated, prob);
- ``metrics/calibrate/<backbone>.json``: the fitted map per fold model (T, or Platt's slope
  and intercept) with mean and SD, and AUROC, Brier, ECE and log loss before and after
  calibration for the pooled out-of-fold and the test-ensemble predictions; each fold model
  alone on the test set (``test_fold_models``: classify-cv's nine metrics, uncalibrated, at
  0.5, mean and SD over fold models, like for like with its per-fold figures); where the
  manifest names anatomical sites, per site (``subgroups``) n, prevalence, AUROC with a
  grouped bootstrap interval, Brier score and mean predicted minus prevalence, after
  calibration;
- ``plots/calibrate/<backbone>/``: ``reliability/<split>_<before|after>.csv`` (the
  reliability-diagram points) and ``reliability.png``.
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
    predictions_text,
    read_predictions,
)
from fraclab.calibrate.plots import write_reliability_plots
from fraclab.evaluate.calibration import Calibration, calibration_summary, fit_calibration
from fraclab.evaluate.metrics import METRIC_NAMES, binary_metrics, sigmoid, summarize
from fraclab.evaluate.subgroups import subgroup_metrics
from fraclab.io import atomic_write_json, atomic_write_text, table_text
from fraclab.params import CalibrateParams

#: The fewest images of each class a site needs for an AUROC interval.
SUBGROUP_MIN_PER_CLASS = 5


def fit_fold_models(inner: Predictions, method: str) -> dict[Model, Calibration]:
    """One calibration per fold model, each fitted on that model's inner-validation rows."""
    fitted = {}
    for model in inner.models():
        rows = inner.of_model(model)
        try:
            fitted[model] = fit_calibration(inner.label[rows], inner.logit[rows], method)
        except ValueError as err:
            raise PredictionFileError(f"{inner.path}: repeat {model[0]} fold {model[1]}: "
                                      f"{err}") from None
    return fitted


def apply_fold_models(pred: Predictions, fitted: dict[Model, Calibration]) -> Predictions:
    """``pred`` with ``prob``: each row calibrated by the map of the model that predicted it."""
    prob = np.empty_like(pred.logit)
    for model in pred.models():
        rows = pred.of_model(model)
        prob[rows] = fitted[model].probabilities(pred.logit[rows])
    return pred.with_prob(prob)


def calibrate_tables(inner: Predictions, oof: Predictions, test: Predictions,
                     method: str) -> tuple[dict[Model, Calibration], Predictions, Predictions,
                                           Predictions]:
    """Fit on ``inner`` per fold model; return the fits and the three calibrated tables.

    Only ``inner``'s labels are read: ``oof`` and ``test`` labels (if any) never reach a fit.
    """
    check_same_models(inner, oof, test)
    fitted = fit_fold_models(inner, method)
    return (fitted, *(apply_fold_models(t, fitted) for t in (inner, oof, test)))


def _map_summary(fitted: dict[Model, Calibration], method: str) -> dict:
    if method == "platt":
        parts = {"slope": {m: c.slope for m, c in fitted.items()},
                 "intercept": {m: c.intercept for m, c in fitted.items()}}
    else:
        parts = {"temperature": {m: c.temperature for m, c in fitted.items()},
                 "intercept": {m: c.intercept for m, c in fitted.items()}}
    return {name: {**summarize(list(values.values())),
                   "per_fold": {model_key(m): v for m, v in values.items()}}
            for name, values in parts.items()}


def fold_model_metrics(pred: Predictions, labels: np.ndarray, n_bins: int) -> dict:
    """Every :data:`METRIC_NAMES` metric of each fold model on its own rows of ``pred``
    (``labels`` aligned with them; uncalibrated probabilities, threshold 0.5), summarised
    over the fold models (mean, SD, ...)."""
    values: dict[str, list[float]] = {name: [] for name in METRIC_NAMES}
    for model in pred.models():
        rows = pred.of_model(model)
        for name, value in binary_metrics(labels[rows], sigmoid(pred.logit[rows]),
                                          n_bins=n_bins).items():
            values[name].append(value)
    return {name: summarize(v) for name, v in values.items()}


def run_calibrate(backbone: str, cfg: CalibrateParams, classify_dir: Path,
                  manifest_path: Path, out_dir: Path, metrics_path: Path, plots_dir: Path,
                  log: Callable[[str], None] = print, seed: int = 0) -> dict:
    """Calibrate every fold model of ``backbone`` and write every output."""
    inner = read_predictions(classify_dir / "inner_val.csv", label=True)
    oof = read_predictions(classify_dir / "oof.csv", label=True)
    test = read_predictions(classify_dir / "test.csv", label=False)
    manifest = Manifest.load(manifest_path)
    fitted, inner_c, oof_c, test_c = calibrate_tables(inner, oof, test, cfg.method)

    test_ids, test_before = ensemble(test_c, sigmoid(test_c.logit))
    _, test_after = ensemble(test_c, test_c.prob)
    test_y, test_groups = manifest.lookup(test_ids, test.path)
    sets = {
        "oof_pooled": (oof_c.label, sigmoid(oof_c.logit), oof_c.prob),
        "test_ensemble": (test_y, test_before, test_after),
    }
    metrics: dict = {"backbone": backbone, "method": cfg.method, "n_bins": cfg.n_bins,
                     "binning": cfg.binning, "fold_models": len(fitted),
                     **_map_summary(fitted, cfg.method)}
    for name, (y, before, after) in sets.items():
        metrics[name] = {
            "before": calibration_summary(y, before, cfg.n_bins, cfg.binning),
            "after": calibration_summary(y, after, cfg.n_bins, cfg.binning),
        }
        # Calibration-in-the-large: mean predicted probability minus the observed rate.
        for when, prob in (("before", before), ("after", after)):
            metrics[name][when]["mean_minus_prevalence"] = float(np.mean(prob) - np.mean(y))

    # Like for like with classify-cv's per-fold (out-of-fold) figures: each fold model alone
    # on the test set, uncalibrated, at 0.5; the ensemble's test figures average six models.
    test_y_rows, _ = manifest.lookup(test_c.image_id, test.path)
    metrics["test_fold_models"] = fold_model_metrics(test_c, test_y_rows, cfg.n_bins)

    if manifest.site:
        # Per anatomical site, on the calibrated probabilities: where the classifier fails.
        _, oof_groups = manifest.lookup(oof_c.image_id, oof.path)
        metrics["subgroups"] = {"by": "site", "min_per_class_for_ci": SUBGROUP_MIN_PER_CLASS}
        for name, ids, y, prob, groups in (
                ("oof_pooled", oof_c.image_id, oof_c.label, oof_c.prob, oof_groups),
                ("test_ensemble", test_ids, test_y, test_after, test_groups)):
            metrics["subgroups"][name] = subgroup_metrics(
                y, prob, groups, manifest.sites(ids), n_boot=cfg.n_boot, seed=seed,
                min_per_class=SUBGROUP_MIN_PER_CLASS)

    for name, table in (("inner_val", inner_c), ("oof", oof_c), ("test", test_c)):
        atomic_write_text(out_dir / f"{name}.csv", predictions_text(table))
    atomic_write_text(out_dir / "test_ensemble.csv", table_text(
        {"image_id": test_ids, "prob_uncalibrated": test_before, "prob": test_after}))
    write_reliability_plots({"oof": sets["oof_pooled"], "test": sets["test_ensemble"]},
                            cfg.n_bins, cfg.binning, plots_dir,
                            title=f"{backbone}: {cfg.method} calibration")
    atomic_write_json(metrics_path, metrics)
    if "temperature" in metrics:
        t = metrics["temperature"]
        log(f"{backbone}: T = {t['mean']:.3f} +- {t['sd']:.3f} over {t['n']} fold models")
    for name in sets:
        before, after = metrics[name]["before"], metrics[name]["after"]
        log(f"  {name}: ECE {before['ece']:.4f} -> {after['ece']:.4f}, log loss "
            f"{before['log_loss']:.4f} -> {after['log_loss']:.4f}")
    return metrics
