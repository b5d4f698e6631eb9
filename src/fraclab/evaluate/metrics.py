"""Binary classification metrics shared by every evaluation stage.

Small pure functions: arrays in, numbers or arrays out. Inputs are validated here, at the
boundary, so a stage that feeds in NaN probabilities or a label of 2 gets a ``ValueError``
naming the problem instead of a silently wrong number. Every metric scikit-learn has is
computed by scikit-learn; only the expected calibration error, the reliability table and
specificity are written by hand. The one exception is inside bootstrap loops
(:func:`_resampled_metrics`, :func:`_rank_auroc`): there scikit-learn's per-call input
checks cost ~6 ms for the nine metrics, 6 s per 1,000 resamples, against ~0.2 ms for the
same sums in numpy; tests hold those kernels to scikit-learn's values on random data.

Conventions used throughout:

* ``y_true`` holds the labels 0 (no fracture) and 1 (fracture); bools and floats equal to
  0.0 / 1.0 are accepted.
* ``y_prob`` holds the predicted probability of class 1, finite and within [0, 1].
* ``y_score`` (curves, AUROC) may be any finite real score, e.g. a logit.
* A sample is predicted positive when ``y_prob >= threshold``.
* AUROC and average precision are undefined when ``y_true`` holds a single class; the
  functions that need them raise ``ValueError("only one class present ...")`` rather than
  returning NaN, so an undefined number can never reach a report.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import expit
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    brier_score_loss,
    confusion_matrix,
    log_loss,
    precision_recall_curve,
    precision_recall_fscore_support,
    roc_auc_score,
    roc_curve,
)

__all__ = [
    "METRIC_DIRECTION",
    "METRIC_NAMES",
    "auroc",
    "average_precision",
    "binary_metrics",
    "expected_calibration_error",
    "log_loss_value",
    "pr_points",
    "reliability_table",
    "roc_points",
    "sigmoid",
    "specificity",
    "summarize",
]

BinStrategy = Literal["uniform", "quantile"]

#: The nine metrics of :func:`binary_metrics`, in the fixed order reports and tables use.
METRIC_NAMES: tuple[str, ...] = (
    "auroc",
    "average_precision",
    "brier",
    "accuracy",
    "precision",
    "recall",
    "specificity",
    "f1",
    "ece",
)

#: Which direction is better for each metric ("higher" or "lower"), including ``log_loss``
#: (not one of the nine, see :func:`log_loss_value`). Read-only.
METRIC_DIRECTION: Mapping[str, Literal["higher", "lower"]] = MappingProxyType(
    {
        "auroc": "higher",
        "average_precision": "higher",
        "brier": "lower",
        "accuracy": "higher",
        "precision": "higher",
        "recall": "higher",
        "specificity": "higher",
        "f1": "higher",
        "ece": "lower",
        "log_loss": "lower",
    }
)

_STRATEGIES = ("uniform", "quantile")


# --------------------------------------------------------------------------------------------
# Validation at the boundary
# --------------------------------------------------------------------------------------------


def _as_1d(values: ArrayLike, name: str) -> np.ndarray:
    array = np.asarray(values)
    if array.ndim != 1:
        raise ValueError(f"{name} must be 1-D, got an array of shape {array.shape}")
    if array.size == 0:
        raise ValueError(f"{name} is empty")
    return array


def _check_labels(y_true: ArrayLike, name: str = "y_true") -> NDArray[np.int64]:
    """Return ``y_true`` as an int64 array of 0/1, or raise ``ValueError``."""
    y = _as_1d(y_true, name)
    if y.dtype.kind not in "biuf":
        raise ValueError(f"{name} must hold the numeric labels 0 and 1, got dtype {y.dtype}")
    if y.dtype.kind == "f" and np.isnan(y).any():
        raise ValueError(f"{name} contains NaN; labels must be 0 or 1")
    bad = ~np.isin(y, (0, 1))
    if bad.any():
        shown = np.unique(y[bad])[:5].tolist()
        raise ValueError(f"{name} must contain only the labels 0 and 1, got also {shown}")
    return y.astype(np.int64)


def _check_scores(y_score: ArrayLike, name: str, *, probability: bool) -> NDArray[np.float64]:
    """Return ``y_score`` as a finite float64 array (within [0, 1] if ``probability``)."""
    s = _as_1d(y_score, name)
    if s.dtype.kind not in "biuf":
        raise ValueError(f"{name} must be numeric, got dtype {s.dtype}")
    s = s.astype(np.float64)
    if np.isnan(s).any():
        raise ValueError(f"{name} contains NaN ({int(np.isnan(s).sum())} of {s.size} values)")
    if not np.isfinite(s).all():
        raise ValueError(f"{name} contains infinite values")
    if probability and (s.min() < 0.0 or s.max() > 1.0):
        raise ValueError(
            f"{name} must lie in [0, 1], got values from {s.min():.6g} to {s.max():.6g}"
        )
    return s


def _check_pair(
    y_true: ArrayLike, y_score: ArrayLike, score_name: str, *, probability: bool
) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    y = _check_labels(y_true)
    s = _check_scores(y_score, score_name, probability=probability)
    if y.shape != s.shape:
        raise ValueError(
            f"y_true and {score_name} have different lengths: {y.size} != {s.size}"
        )
    return y, s


def _require_both_classes(y: NDArray[np.int64], what: str) -> None:
    # scikit-learn only warns and returns NaN here; a NaN in a metrics file is a silent bug.
    if y.min() == y.max():
        raise ValueError(
            f"only one class present in y_true (all {int(y[0])}, n={y.size}): {what} is "
            "undefined; it needs at least one positive and one negative sample"
        )


def _check_binning(n_bins: int, strategy: str) -> None:
    if isinstance(n_bins, bool) or not isinstance(n_bins, int | np.integer) or n_bins < 1:
        raise ValueError(f"n_bins must be a positive integer, got {n_bins!r}")
    if strategy not in _STRATEGIES:
        raise ValueError(f"strategy must be one of {_STRATEGIES}, got {strategy!r}")


def _check_threshold(threshold: float) -> float:
    t = float(threshold)
    if not 0.0 <= t <= 1.0:  # also rejects NaN
        raise ValueError(f"threshold must lie in [0, 1], got {threshold!r}")
    return t


# --------------------------------------------------------------------------------------------
# Elementary metrics
# --------------------------------------------------------------------------------------------


def sigmoid(logits: ArrayLike) -> NDArray[np.float64]:
    """Logistic function ``1 / (1 + exp(-x))``, numerically stable for any float.

    Parameters
    ----------
    logits : array-like
        Real-valued scores of any shape.

    Returns
    -------
    ndarray of float64, same shape as ``logits``
        Probabilities in [0, 1]; large ``|x|`` saturates to 0.0 or 1.0 without overflow
        warnings (this is :func:`scipy.special.expit`). NaN stays NaN.
    """
    return expit(np.asarray(logits, dtype=np.float64))


def auroc(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Area under the ROC curve (:func:`sklearn.metrics.roc_auc_score`).

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1.
    y_score : array-like of shape (n_samples,)
        Finite scores, higher meaning more likely positive; need not be probabilities.

    Returns
    -------
    float
        AUROC in [0, 1]. Ties in ``y_score`` count one half.

    Raises
    ------
    ValueError
        Invalid input, or only one class present in ``y_true``.
    """
    y, s = _check_pair(y_true, y_score, "y_score", probability=False)
    _require_both_classes(y, "AUROC")
    return float(roc_auc_score(y, s))


def average_precision(y_true: ArrayLike, y_score: ArrayLike) -> float:
    """Average precision (:func:`sklearn.metrics.average_precision_score`).

    The step-wise area under the precision-recall curve, without interpolation.

    Raises
    ------
    ValueError
        Invalid input, or only one class present in ``y_true`` (with no positive it is
        undefined; with no negative it is trivially 1 and says nothing about the model).
    """
    y, s = _check_pair(y_true, y_score, "y_score", probability=False)
    _require_both_classes(y, "average precision")
    return float(average_precision_score(y, s))


def specificity(y_true: ArrayLike, y_pred: ArrayLike, *, zero_division: float = 0.0) -> float:
    """True-negative rate ``TN / (TN + FP)``: the recall of class 0.

    Parameters
    ----------
    y_true, y_pred : array-like of shape (n_samples,)
        True and predicted labels, 0/1.
    zero_division : float, default=0.0
        Returned when ``y_true`` has no negative sample (``TN + FP == 0``); 0.0 matches the
        ``zero_division=0`` used for precision and recall.

    Returns
    -------
    float
    """
    y = _check_labels(y_true)
    pred = _check_labels(y_pred, "y_pred")
    if y.shape != pred.shape:
        raise ValueError(f"y_true and y_pred have different lengths: {y.size} != {pred.size}")
    return _specificity(y, pred, zero_division)


def _specificity(y: np.ndarray, pred: np.ndarray, zero_division: float = 0.0) -> float:
    # labels=[0, 1] keeps the matrix 2x2 even when a class is absent from both arrays.
    tn, fp, _, _ = confusion_matrix(y, pred, labels=[0, 1]).ravel()
    negatives = tn + fp
    return float(tn / negatives) if negatives else float(zero_division)


def log_loss_value(y_true: ArrayLike, y_prob: ArrayLike) -> float:
    """Mean negative log-likelihood (:func:`sklearn.metrics.log_loss`), natural log.

    Kept out of :func:`binary_metrics` so the nine report columns stay fixed. Probabilities
    of exactly 0 or 1 are clipped by scikit-learn to ``[eps, 1 - eps]`` (float64 machine
    epsilon), so a confidently wrong prediction costs about 36 nats instead of infinity.
    Unlike AUROC it is defined for a single-class ``y_true``.
    """
    y, p = _check_pair(y_true, y_prob, "y_prob", probability=True)
    return float(log_loss(y, p, labels=[0, 1]))


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------


def _bin_edges(p: NDArray[np.float64], n_bins: int, strategy: str) -> NDArray[np.float64]:
    if strategy == "uniform":
        return np.linspace(0.0, 1.0, n_bins + 1)
    # Tied probabilities (e.g. a saturated sigmoid giving many exact 0.0) produce repeated
    # quantiles; merging them leaves fewer, non-empty-width bins instead of empty ones.
    edges = np.unique(np.quantile(p, np.linspace(0.0, 1.0, n_bins + 1)))
    if edges.size == 1:  # every probability equal: one degenerate bin [p, p]
        edges = np.repeat(edges, 2)
    return edges


def _reliability_table(
    y: NDArray[np.int64], p: NDArray[np.float64], n_bins: int, strategy: str
) -> dict[str, np.ndarray]:
    edges = _bin_edges(p, n_bins, strategy)
    n_edges_bins = edges.size - 1
    # side="right" makes bins left-closed [lo, hi); the clip puts p == edges[-1] (1.0 for
    # uniform bins, max(p) for quantile bins) into the last bin, which is therefore closed.
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_edges_bins - 1)
    count = np.bincount(idx, minlength=n_edges_bins)
    sum_p = np.bincount(idx, weights=p, minlength=n_edges_bins)
    sum_y = np.bincount(idx, weights=y, minlength=n_edges_bins)
    keep = count > 0
    return {
        "bin": np.flatnonzero(keep),
        "lower": edges[:-1][keep],
        "upper": edges[1:][keep],
        "mean_predicted": sum_p[keep] / count[keep],
        "observed_fraction": sum_y[keep] / count[keep],
        "count": count[keep],
    }


def reliability_table(
    y_true: ArrayLike, y_prob: ArrayLike, n_bins: int = 10, strategy: BinStrategy = "uniform"
) -> dict[str, np.ndarray]:
    """Per-bin calibration summary: the data behind a reliability diagram and the ECE.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of class 1, finite and in [0, 1].
    n_bins : int, default=10
        Number of bins requested (an upper bound for ``quantile``, see Notes).
    strategy : {"uniform", "quantile"}, default="uniform"
        How the bin edges are placed, see Notes.

    Returns
    -------
    dict of str to ndarray, one entry per non-empty bin, ordered by bin
        ``bin`` (int, index among all bins, empty ones included, so gaps show empty bins),
        ``lower`` and ``upper`` (bin edges), ``mean_predicted`` (mean ``y_prob`` in the bin),
        ``observed_fraction`` (fraction of label 1 in the bin), ``count`` (int, samples in
        the bin; the counts sum to ``n_samples``).

    Notes
    -----
    Edges:

    ``uniform``
        ``np.linspace(0, 1, n_bins + 1)``.
    ``quantile``
        ``np.unique(np.quantile(y_prob, np.linspace(0, 1, n_bins + 1)))`` (numpy's default
        linear interpolation). Repeated quantiles caused by tied probabilities are merged,
        so there may be fewer than ``n_bins`` bins; ties never straddle an edge, so bins
        hold roughly, not exactly, equal counts. If all probabilities are equal there is a
        single bin ``[p, p]``.

    Bins are left-closed, ``lower <= p < upper``, except the last, which also holds
    ``p == upper`` (so a probability of exactly 1.0 falls in the last uniform bin). Note that
    :func:`sklearn.calibration.calibration_curve` closes its bins on the right instead; the
    two differ only for probabilities lying exactly on an interior edge. Edges are the float64
    values named above, so a decimal probability can sit a rounding error below a nominal
    edge: ``np.linspace(0, 1, 6)[3]`` is 0.6000000000000001, which puts 0.6 in bin 2.
    """
    _check_binning(n_bins, strategy)
    y, p = _check_pair(y_true, y_prob, "y_prob", probability=True)
    return _reliability_table(y, p, n_bins, strategy)


def _ece_from_table(table: Mapping[str, np.ndarray]) -> float:
    count = table["count"]
    gap = np.abs(table["mean_predicted"] - table["observed_fraction"])
    # Weight by integer counts and divide once: each term is <= its count, so rounding can
    # never push the result above 1 (summing count / n fractions can reach 1 + 2e-16).
    return float(np.sum(count * gap) / count.sum())


def expected_calibration_error(
    y_true: ArrayLike, y_prob: ArrayLike, n_bins: int = 10, strategy: BinStrategy = "uniform"
) -> float:
    r"""Expected calibration error (ECE) over the bins of :func:`reliability_table`.

    .. math::
        \mathrm{ECE} = \sum_{b\,:\,n_b > 0} \frac{n_b}{n}
        \left| \bar{p}_b - \bar{y}_b \right|

    where ``n_b`` is the number of samples in bin ``b``, ``p̄_b`` their mean predicted
    probability and ``ȳ_b`` their fraction of positives. It is computed from
    :func:`reliability_table`, so the table and the number can never disagree; see there for
    the exact binning.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of class 1, finite and in [0, 1].
    n_bins : int, default=10
    strategy : {"uniform", "quantile"}, default="uniform"

    Returns
    -------
    float
        ECE in [0, 1]; 0 when, in every bin, the mean prediction equals the observed
        fraction. Defined for a single-class ``y_true``.
    """
    return _ece_from_table(reliability_table(y_true, y_prob, n_bins, strategy))


# --------------------------------------------------------------------------------------------
# All nine at once
# --------------------------------------------------------------------------------------------


def _midranks(s: NDArray[np.float64]) -> NDArray[np.float64]:
    """Row-wise 1-based midranks (ties share the mean of their ranks): Sun & Xu, Algorithm 1.

    Sort once, mark where each run of equal values starts and ends, give every element of
    a run the mean of the run's first and last rank, and scatter back: O(n log n) per row,
    vectorised over rows, no Python loop.
    """
    k, n = s.shape
    order = np.argsort(s, axis=1, kind="stable")
    ordered = np.take_along_axis(s, order, axis=1)
    starts = np.ones((k, n), dtype=bool)
    starts[:, 1:] = ordered[:, 1:] != ordered[:, :-1]
    ends = np.ones((k, n), dtype=bool)
    ends[:, :-1] = starts[:, 1:]
    column = np.broadcast_to(np.arange(n), (k, n))
    run_rank = (column[starts] + column[ends]) / 2.0 + 1.0  # one value per run, row-major
    ranks = np.empty((k, n))
    np.put_along_axis(ranks, order, run_rank[np.cumsum(starts) - 1].reshape(k, n), axis=1)
    return ranks


def _auroc_rows(y: NDArray[np.int64], s: NDArray[np.float64]) -> NDArray[np.float64]:
    # Mann-Whitney AUROC of each row of s from midranks: (rank sum of positives - m(m+1)/2)
    # / mn, which is the trapezoidal ROC area scikit-learn computes, ties counting one half.
    m = int(y.sum())
    n = y.size - m
    return (_midranks(s)[:, y == 1].sum(axis=1) - m * (m + 1) / 2.0) / (m * n)


def _rank_auroc(y: NDArray[np.int64], s: NDArray[np.float64]) -> float:
    """AUROC of already validated arrays, for bootstrap loops: equal to
    :func:`sklearn.metrics.roc_auc_score` up to float rounding.

    Raises ``ValueError`` when ``y`` holds a single class (a resample the bootstrap skips).
    """
    _require_both_classes(y, "AUROC")
    return float(_auroc_rows(y, s[np.newaxis])[0])


def _average_precision_sorted(y: NDArray[np.int64], s: NDArray[np.float64]) -> float:
    # sklearn's average_precision_score: sum over distinct thresholds, from the highest, of
    # (recall gained) x precision, ties in s forming one threshold.
    order = np.argsort(s, kind="mergesort")[::-1]
    ordered = s[order]
    last = np.r_[np.flatnonzero(np.diff(ordered)), y.size - 1]
    tps = np.cumsum(y[order])[last]
    precision = tps / (last + 1)
    recall = tps / tps[-1]
    return float(np.sum(np.diff(recall, prepend=0.0) * precision))


def _operating_point(y: NDArray[np.int64], p: NDArray[np.float64],
                     threshold: float) -> dict[str, float]:
    # The confusion-count rates at p >= threshold, shared by the threshold stage's operating
    # points and the bootstrap's resamples; y must hold both classes.
    pred = p >= threshold
    tp = int(np.count_nonzero(pred & (y == 1)))
    fp = int(np.count_nonzero(pred & (y == 0)))
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    # zero_division = 0 for precision and F1, as scikit-learn and binary_metrics do.
    return {
        "sensitivity": tp / n_pos,
        "specificity": (n_neg - fp) / n_neg,
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "f1": 2 * tp / (tp + fp + n_pos),
        "accuracy": (tp + n_neg - fp) / y.size,
    }


def _resampled_metrics(
    y: NDArray[np.int64], p: NDArray[np.float64], threshold: float, n_bins: int, strategy: str
) -> dict[str, float]:
    """:func:`_binary_metrics` in numpy, for bootstrap resamples of validated arrays holding
    both classes: the same nine values up to float rounding (the counts and rates exactly)."""
    rates = _operating_point(y, p, threshold)
    values = {
        "auroc": _auroc_rows(y, p[np.newaxis])[0],
        "average_precision": _average_precision_sorted(y, p),
        "brier": np.mean((y - p) ** 2),
        "accuracy": rates["accuracy"],
        "precision": rates["precision"],
        "recall": rates["sensitivity"],
        "specificity": rates["specificity"],
        "f1": rates["f1"],
        "ece": _ece_from_table(_reliability_table(y, p, n_bins, strategy)),
    }
    return {name: float(values[name]) for name in METRIC_NAMES}


def _binary_metrics(
    y: NDArray[np.int64], p: NDArray[np.float64], threshold: float, n_bins: int, strategy: str
) -> dict[str, float]:
    # Unchecked core, shared with the bootstrap: inputs valid and both classes present.
    pred = (p >= threshold).astype(np.int64)
    precision, recall, f1, _ = precision_recall_fscore_support(
        y, pred, average="binary", pos_label=1, zero_division=0
    )
    values = {
        "auroc": roc_auc_score(y, p),
        "average_precision": average_precision_score(y, p),
        "brier": brier_score_loss(y, p, pos_label=1),
        "accuracy": accuracy_score(y, pred),
        "precision": precision,
        "recall": recall,
        "specificity": _specificity(y, pred),
        "f1": f1,
        "ece": _ece_from_table(_reliability_table(y, p, n_bins, strategy)),
    }
    return {name: float(values[name]) for name in METRIC_NAMES}


def binary_metrics(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    threshold: float = 0.5,
    n_bins: int = 10,
    strategy: BinStrategy = "uniform",
) -> dict[str, float]:
    """The nine report metrics of a binary classifier, keyed and ordered as ``METRIC_NAMES``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1; both classes must be present.
    y_prob : array-like of shape (n_samples,)
        Predicted probability of class 1, finite and in [0, 1].
    threshold : float, default=0.5
        A sample is predicted positive when ``y_prob >= threshold``; must be in [0, 1].
        Used by accuracy, precision, recall, specificity and F1 only.
    n_bins, strategy
        Binning of the ECE, see :func:`reliability_table`.

    Returns
    -------
    dict of str to float
        ``auroc`` (roc_auc_score), ``average_precision`` (average_precision_score),
        ``brier`` (brier_score_loss: mean squared error of ``y_prob``), ``accuracy``,
        ``precision``, ``recall``, ``f1`` (``zero_division=0``: 0.0 when there is no
        predicted positive), ``specificity`` (``TN / (TN + FP)``) and ``ece``.

    Raises
    ------
    ValueError
        Arrays not 1-D, empty or of different lengths; labels other than 0/1; probabilities
        NaN, infinite or outside [0, 1]; a bad threshold or binning; or only one class
        present in ``y_true`` (AUROC and average precision would be undefined).
    """
    _check_binning(n_bins, strategy)
    t = _check_threshold(threshold)
    y, p = _check_pair(y_true, y_prob, "y_prob", probability=True)
    _require_both_classes(y, "AUROC / average precision")
    return _binary_metrics(y, p, t, n_bins, strategy)


# --------------------------------------------------------------------------------------------
# Summaries and curves
# --------------------------------------------------------------------------------------------


def summarize(values: Sequence[float] | ArrayLike) -> dict[str, float | int]:
    """Mean, sample standard deviation, range and count of repeated measurements.

    Meant for a metric over seeds or folds.

    Returns
    -------
    dict
        ``mean``, ``sd`` (``ddof=1``; 0.0 for a single value, where it is undefined),
        ``min``, ``max`` (floats) and ``n`` (int).

    Raises
    ------
    ValueError
        No values, not 1-D, or a NaN / infinite value.
    """
    v = _check_scores(values, "values", probability=False)
    return {
        "mean": float(v.mean()),
        "sd": float(v.std(ddof=1)) if v.size > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
        "n": int(v.size),
    }


def _no_positive_threshold(s: NDArray[np.float64]) -> float:
    # A finite stand-in for scikit-learn's +inf "predict nothing positive" threshold: 1.0 for
    # probabilities below 1, otherwise the next float above the top score, so ``s >= t``
    # still selects no sample.
    return float(max(1.0, np.nextafter(s.max(), np.inf)))


def roc_points(y_true: ArrayLike, y_score: ArrayLike) -> dict[str, NDArray[np.float64]]:
    """ROC curve points (:func:`sklearn.metrics.roc_curve`), ready for a DVC plot CSV.

    scikit-learn's defaults are kept, including ``drop_intermediate=True`` (collinear points
    are dropped; the curve and its area are unchanged). Thresholds decrease along the curve.

    Returns
    -------
    dict of str to ndarray, all the same length
        ``fpr``, ``tpr`` and ``threshold``. The first threshold, ``+inf`` in scikit-learn
        (the point (0, 0): nothing predicted positive), is replaced by a finite value that
        still predicts nothing positive: 1.0 when every score is below 1, else the next
        float above the largest score.

    Raises
    ------
    ValueError
        Invalid input, or only one class present in ``y_true``.
    """
    y, s = _check_pair(y_true, y_score, "y_score", probability=False)
    _require_both_classes(y, "the ROC curve")
    fpr, tpr, threshold = roc_curve(y, s)
    threshold = threshold.astype(np.float64)
    threshold[~np.isfinite(threshold)] = _no_positive_threshold(s)
    return {"fpr": fpr, "tpr": tpr, "threshold": threshold}


def pr_points(y_true: ArrayLike, y_score: ArrayLike) -> dict[str, NDArray[np.float64]]:
    """Precision-recall curve points (:func:`sklearn.metrics.precision_recall_curve`).

    Returns
    -------
    dict of str to ndarray, all the same length
        ``precision``, ``recall`` and ``threshold``, in scikit-learn's order (threshold
        increasing, recall decreasing). scikit-learn returns one threshold fewer than
        points: its last point, precision 1 and recall 0, has none. It is padded with the
        same finite "nothing predicted positive" value as :func:`roc_points` (1.0 when every
        score is below 1, else the next float above the largest score).

    Raises
    ------
    ValueError
        Invalid input, or only one class present in ``y_true``.
    """
    y, s = _check_pair(y_true, y_score, "y_score", probability=False)
    _require_both_classes(y, "the precision-recall curve")
    precision, recall, threshold = precision_recall_curve(y, s)
    threshold = np.append(threshold.astype(np.float64), _no_positive_threshold(s))
    return {"precision": precision, "recall": recall, "threshold": threshold}
