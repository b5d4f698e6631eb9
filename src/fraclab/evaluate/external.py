"""A fixed model scored on data it never saw: discrimination, calibration, operating points.

External validation (TRIPOD+AI items 23-25; Steyerberg, *Clinical Prediction Models*, ch. 17
and 19) asks whether a model's probabilities keep their meaning on another population. Nothing
here refits the model: the probabilities and thresholds are the model's own, and the
logistic recalibration (:func:`calibration_slope_intercept`) is *reported*, not applied.

- :func:`validation_metrics`: size, prevalence, calibration-in-the-large, AUROC, average
  precision, Brier and ECE with grouped bootstrap intervals, the calibration slope and
  intercept with theirs, and every operating point at its fixed threshold;
- :func:`recalibration_gain`: what a Platt map fitted on one seeded half of the external data
  would change on the other half (an explicit, labelled variant, never the headline).

Intervals resample groups (patients) of the scored data only: the model and its thresholds
are fixed, so they are constants, not estimates, here.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit, logit

from fraclab.evaluate.bootstrap import bootstrap_metrics, grouped_bootstrap_ci
from fraclab.evaluate.calibration import fit_platt
from fraclab.evaluate.metrics import BinStrategy, _check_pair, _require_both_classes
from fraclab.evaluate.thresholds import operating_point_intervals

__all__ = ["DISCRIMINATION", "calibration_slope_intercept", "logits_of", "recalibration_gain",
           "validation_metrics"]

#: The probability metrics reported side by side (a subset of ``METRIC_NAMES``).
DISCRIMINATION = ("auroc", "average_precision", "brier", "ece")
# Probabilities are clipped this far from 0 and 1 before the logit: a saturated sigmoid
# (float64 gives exactly 1.0 above a logit of ~37) would otherwise be an infinite logit.
_EPS = 1e-12


def logits_of(y_prob: ArrayLike) -> NDArray[np.float64]:
    """``logit(p)`` with ``p`` clipped to ``[1e-12, 1 - 1e-12]`` (finite for every input)."""
    return logit(np.clip(np.asarray(y_prob, dtype=np.float64), _EPS, 1 - _EPS))


def calibration_slope_intercept(y_true: ArrayLike, y_prob: ArrayLike) -> dict[str, float]:
    """Logistic recalibration ``P(y=1) = sigmoid(a + b * logit(p))``, fitted by maximum
    likelihood (scikit-learn, no penalty): the calibration slope ``b`` (1 when the model's
    spread of risks is right, below 1 when its predictions are too extreme) and intercept
    ``a`` (Cox 1958).

    Raises
    ------
    ValueError
        Invalid input, or a single class in ``y_true``.
    """
    from sklearn.linear_model import LogisticRegression

    y, p = _check_pair(y_true, y_prob, "y_prob", probability=True)
    _require_both_classes(y, "the calibration slope")
    fit = LogisticRegression(C=np.inf, solver="lbfgs", max_iter=1000, tol=1e-10)
    fit.fit(logits_of(p)[:, None], y)
    return {"slope": float(fit.coef_[0, 0]), "intercept": float(fit.intercept_[0])}


def _interval(ci: Mapping[str, float]) -> dict[str, float]:
    return {k: float(ci[k]) for k in ("value", "ci_low", "ci_high")}


def validation_metrics(y_true: ArrayLike, y_prob: ArrayLike, groups: ArrayLike,
                       thresholds: Mapping[str, float], *, n_boot: int = 1000, seed: int = 0,
                       n_bins: int = 10, strategy: BinStrategy = "uniform") -> dict:
    """Everything the external-validation table shows for one scored set.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1; both classes must be present.
    y_prob : array-like of shape (n_samples,)
        The model's (calibrated) probability of a fracture.
    groups : array-like of shape (n_samples,)
        Patient of every image: the unit the bootstrap resamples.
    thresholds : mapping of str to float
        Operating point name -> the model's fixed threshold (positive when ``p >=`` it).
    n_boot, seed
        As in :func:`~fraclab.evaluate.bootstrap.grouped_bootstrap_ci`; every interval uses
        the same seed, hence the same resamples.
    n_bins, strategy
        ECE binning, as in :func:`~fraclab.evaluate.metrics.binary_metrics`.

    Returns
    -------
    dict
        ``n``, ``groups``, ``fractured``, ``prevalence``, ``mean_predicted``,
        ``mean_minus_prevalence`` (calibration-in-the-large); ``auroc``,
        ``average_precision``, ``brier``, ``ece``, ``calibration_slope`` and
        ``calibration_intercept``, each ``{"value", "ci_low", "ci_high"}``; and
        ``operating_points``: name -> ``{"threshold", "sensitivity", "specificity",
        "precision", "f1", "accuracy"}`` (the metrics with intervals).
    """
    y, p = _check_pair(y_true, y_prob, "y_prob", probability=True)
    g = np.asarray(groups)
    if g.shape != y.shape:
        raise ValueError(f"groups must have y_true's length {y.size}, got {g.size}")
    scores = bootstrap_metrics(y, p, g, n_boot=n_boot, seed=seed, n_bins=n_bins,
                               strategy=strategy)
    out: dict = {"n": int(y.size), "groups": len(set(g.tolist())), "fractured": int(y.sum()),
                 "prevalence": float(y.mean()), "mean_predicted": float(p.mean()),
                 "mean_minus_prevalence": float(p.mean() - y.mean())}
    out.update({name: _interval(scores[name]) for name in DISCRIMINATION})
    for key in ("slope", "intercept"):
        def fitted(yb: np.ndarray, pb: np.ndarray, key: str = key) -> float:
            return calibration_slope_intercept(yb, pb)[key]

        out[f"calibration_{key}"] = _interval(
            grouped_bootstrap_ci(fitted, y, p, g, n_boot=n_boot, seed=seed))
    out["operating_points"] = {
        name: {"threshold": float(t),
               **{m: _interval(ci) for m, ci in
                  operating_point_intervals(y, p, g, float(t), n_boot=n_boot,
                                            seed=seed).items()}}
        for name, t in thresholds.items()}
    return out


def recalibration_gain(y_true: ArrayLike, y_prob: ArrayLike, groups: ArrayLike,
                       fit_rows: ArrayLike, *, n_boot: int = 1000, seed: int = 0,
                       n_bins: int = 10, strategy: BinStrategy = "uniform") -> dict:
    """A Platt map (:func:`~fraclab.evaluate.calibration.fit_platt`) on the model's logits,
    fitted on the rows where ``fit_rows`` is true and scored on the others, against the
    model's own probabilities on those same other rows.

    Returns
    -------
    dict
        ``fitted_on`` and ``scored_on`` (image counts), ``slope`` and ``intercept`` of the
        map, and ``before`` / ``after``: AUROC, average precision, Brier and ECE with
        intervals on the scored rows (AUROC cannot change: the map is monotone).
    """
    y, p = _check_pair(y_true, y_prob, "y_prob", probability=True)
    g = np.asarray(groups)
    fit = np.asarray(fit_rows, dtype=bool)
    if fit.shape != y.shape or g.shape != y.shape:
        raise ValueError("groups and fit_rows must have y_true's length")
    score = ~fit
    if len(set(g[fit].tolist()) & set(g[score].tolist())):
        raise ValueError("a group is in both the fitting and the scoring rows")
    slope, intercept = fit_platt(y[fit], logits_of(p[fit]))
    after = expit(slope * logits_of(p[score]) + intercept)
    kwargs = dict(n_boot=n_boot, seed=seed, n_bins=n_bins, strategy=strategy)
    before_scores = bootstrap_metrics(y[score], p[score], g[score], **kwargs)
    after_scores = bootstrap_metrics(y[score], after, g[score], **kwargs)
    return {"fitted_on": int(fit.sum()), "scored_on": int(score.sum()),
            "slope": slope, "intercept": intercept,
            "before": {m: _interval(before_scores[m]) for m in DISCRIMINATION},
            "after": {m: _interval(after_scores[m]) for m in DISCRIMINATION}}
