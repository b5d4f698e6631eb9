"""Decision thresholds: choosing an operating point, and the metrics at a threshold.

A sample is predicted positive when ``y_prob >= threshold`` (as everywhere in
:mod:`fraclab.evaluate`). The criteria of :func:`choose_threshold`:

``youden``
    Maximise Youden's J = sensitivity + specificity - 1.
``f1``
    Maximise F1 = 2 TP / (2 TP + FP + FN).
``sens``
    The highest threshold whose sensitivity is >= ``target`` (the most specific operating
    point that still finds that share of fractures).
``spec``
    The lowest threshold whose specificity is >= ``target`` (the most sensitive operating
    point that keeps that share of normals negative).
``fixed``
    ``target`` itself (the conventional 0.5 as a reference); nothing is learnt from the data.

Candidates and ties, fixed so that results are reproducible and hand-checkable:

* The candidates are the distinct values of ``y_prob`` (each predicts positive that value
  and everything above it) plus one "nothing positive" threshold, the next float above
  ``max(y_prob)``. A chosen threshold is therefore always an observed probability, the
  lowest one predicted positive, or that "nothing positive" value.
* Where several candidates reach the same best value of J or F1, the **highest** threshold
  wins (fewest positive calls). J and F1 are compared exactly, as integer cross-products of
  the confusion counts, so rounding can never decide a tie.

The ensemble's threshold
------------------------
The deployed classifier averages the calibrated probabilities of ``M`` fold models. That mean
is narrower than any single model's probability (the models' own errors partly cancel), so a
threshold chosen on single-model predictions overshoots a sensitivity or specificity target
when applied to it (6 models at a 0.90 sensitivity target reach ~0.95). No development image
has an honest ``M``-model mean (each model but one per repeat trained on it), but each has
one honest prediction per CV repeat. :func:`pseudo_ensemble_scores` builds from those R
predictions scores distributed like an ``M``-model mean, and
:func:`choose_ensemble_threshold` chooses on them; :func:`ensemble_decision` is the rule,
used alike by the test evaluation and by inference.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from fraclab.evaluate.bootstrap import grouped_bootstrap_ci
from fraclab.evaluate.metrics import _check_pair, _operating_point, _require_both_classes

__all__ = [
    "CRITERIA",
    "OPERATING_METRICS",
    "choose_ensemble_threshold",
    "choose_threshold",
    "criterion_label",
    "ensemble_decision",
    "operating_point",
    "operating_point_intervals",
    "pseudo_ensemble_scores",
    "threshold_curve",
]

Criterion = Literal["youden", "f1", "sens", "spec", "fixed"]
CRITERIA: tuple[str, ...] = ("youden", "f1", "sens", "spec", "fixed")

#: The metrics of :func:`operating_point`, in report order.
OPERATING_METRICS: tuple[str, ...] = ("sensitivity", "specificity", "precision", "f1",
                                      "accuracy")


def criterion_label(criterion: Criterion, target: float | None = None) -> str:
    """A short key for reports and metrics files: ``youden``, ``f1``, ``sens90``, ``spec95``,
    ``fixed50``; the number is ``100 * target`` with any ``.`` written as ``_`` (DVC reads
    dots in metric keys as nesting)."""
    if criterion in ("youden", "f1"):
        return criterion
    if criterion not in CRITERIA or target is None:
        raise ValueError(f"criterion {criterion!r} needs a target and must be one of {CRITERIA}")
    return f"{criterion}{round(100 * target, 6):g}".replace(".", "_")


def _counts(y: NDArray[np.int64], p: NDArray[np.float64]) -> tuple[np.ndarray, ...]:
    """Candidate thresholds (decreasing) and TP, FP at each, for ``p >= threshold``."""
    order = np.argsort(-p, kind="stable")
    p_sorted, y_sorted = p[order], y[order]
    # The last position of each run of equal probabilities: ties enter together.
    last = np.flatnonzero(np.r_[p_sorted[1:] != p_sorted[:-1], True])
    tp = np.cumsum(y_sorted)[last]
    fp = (last + 1) - tp
    thresholds = np.r_[np.nextafter(p_sorted[0], np.inf), p_sorted[last]]
    return thresholds, np.r_[0, tp], np.r_[0, fp]


def _check_target(target: float, name: str, low_open: bool = True) -> float:
    t = float(target)
    if not ((0.0 < t) if low_open else (0.0 <= t)) or not t <= 1.0:  # also rejects NaN
        interval = "(0, 1]" if low_open else "[0, 1]"
        raise ValueError(f"{name} must lie in {interval}, got {target!r}")
    return t


def choose_threshold(
    y_true: ArrayLike,
    y_prob: ArrayLike,
    criterion: Criterion,
    target: float | None = None,
) -> float:
    """The threshold that ``criterion`` picks on one (inner-validation) set.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1; both classes must be present (except for ``fixed``).
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities, finite and in [0, 1].
    criterion : {"youden", "f1", "sens", "spec", "fixed"}
        See the module docstring.
    target : float
        For ``sens`` and ``spec`` the required sensitivity or specificity, in (0, 1]; for
        ``fixed`` the threshold, in [0, 1]; ignored (must be None) for ``youden`` and ``f1``.

    Returns
    -------
    float
        The chosen threshold: an observed probability, or the next float above the largest
        one ("nothing positive"; only ``spec`` can choose it, when even the single most
        confident prediction would break the specificity target, or ``youden`` when no
        threshold beats J = 0).

    Raises
    ------
    ValueError
        Invalid input; an unknown criterion or a bad / missing target; a single class in
        ``y_true`` for a criterion that learns from the data (sensitivity or specificity
        would be undefined: no silent NaN and no arbitrary fallback).
    """
    if criterion not in CRITERIA:
        raise ValueError(f"criterion must be one of {CRITERIA}, got {criterion!r}")
    needs_target = criterion in ("sens", "spec", "fixed")
    if needs_target and target is None:
        raise ValueError(f"criterion {criterion!r} needs a target")
    if not needs_target and target is not None:
        raise ValueError(f"criterion {criterion!r} takes no target, got {target!r}")
    y, p = _check_pair(y_true, y_prob, "y_prob", probability=True)
    if criterion == "fixed":
        return _check_target(target, "the fixed threshold", low_open=False)
    _require_both_classes(y, f"the {criterion!r} threshold")
    thresholds, tp, fp = _counts(y, p)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if criterion == "youden":
        # J * P * N = TP * N - FP * P: exact integers, so equal J values tie exactly.
        best = int(np.argmax(tp * n_neg - fp * n_pos))  # first maximum = highest threshold
    elif criterion == "f1":
        # F1 = 2 TP / (TP + FP + P); compare a/b > c/d as a*d > c*b, exactly, in Python ints.
        best = 0
        for k in range(1, thresholds.size):
            if int(tp[k]) * (int(tp[best]) + int(fp[best]) + n_pos) > \
                    int(tp[best]) * (int(tp[k]) + int(fp[k]) + n_pos):
                best = k
    elif criterion == "sens":
        goal = _check_target(target, "the sensitivity target")
        # TP / P >= goal, decided on the correctly rounded quotient: a rational that equals
        # the decimal target (e.g. 9/10 vs 0.9) rounds to the same double, so it counts.
        best = int(np.flatnonzero(tp / n_pos >= goal)[0])  # TP grows as thresholds fall
    else:
        goal = _check_target(target, "the specificity target")
        best = int(np.flatnonzero((n_neg - fp) / n_neg >= goal)[-1])  # lowest that holds
    return float(thresholds[best])


def operating_point(y_true: ArrayLike, y_prob: ArrayLike, threshold: float) -> dict[str, float]:
    """Sensitivity, specificity, precision, F1 and accuracy at ``y_prob >= threshold``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1; both classes must be present.
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities, finite and in [0, 1].
    threshold : float
        Any finite real (a "nothing positive" threshold may exceed 1).

    Returns
    -------
    dict of str to float, keyed and ordered as ``OPERATING_METRICS``
        Precision is 0.0 when nothing is predicted positive (``zero_division=0``, as
        :func:`~fraclab.evaluate.metrics.binary_metrics`), and then F1 is 0.0 too.

    Raises
    ------
    ValueError
        Invalid input, a non-finite threshold, or a single class in ``y_true``.
    """
    y, p = _check_pair(y_true, y_prob, "y_prob", probability=True)
    t = float(threshold)
    if not np.isfinite(t):
        raise ValueError(f"threshold must be finite, got {threshold!r}")
    _require_both_classes(y, "sensitivity / specificity")
    return _operating_point(y, p, t)


def operating_point_intervals(y_true: ArrayLike, y_prob: ArrayLike, groups: ArrayLike,
                              threshold: float, *, n_boot: int = 1000, seed: int = 0
                              ) -> dict[str, dict[str, float]]:
    """:func:`operating_point` at a fixed ``threshold``, each metric with its grouped
    bootstrap interval (:func:`~fraclab.evaluate.bootstrap.grouped_bootstrap_ci`).

    One bootstrap per metric with the same seed: every metric sees the same resamples, so
    the intervals describe the same replications. Keyed as ``OPERATING_METRICS``.
    """
    out = {}
    for name in OPERATING_METRICS:
        def metric(yb: np.ndarray, pb: np.ndarray, name: str = name) -> float:
            return operating_point(yb, pb, threshold)[name]

        out[name] = grouped_bootstrap_ci(metric, y_true, y_prob, groups, n_boot=n_boot,
                                         seed=seed)
    return out


def threshold_curve(y_true: ArrayLike, y_prob: ArrayLike) -> dict[str, NDArray[np.float64]]:
    """Sensitivity, specificity, precision and F1 at every distinct probability.

    Returns
    -------
    dict of str to ndarray, all the same length
        ``threshold`` (the distinct values of ``y_prob``, increasing), ``sensitivity``,
        ``specificity``, ``precision`` and ``f1`` at ``y_prob >= threshold``. Every point
        predicts at least one positive, so precision is always defined.

    Raises
    ------
    ValueError
        Invalid input, or a single class in ``y_true``.
    """
    y, p = _check_pair(y_true, y_prob, "y_prob", probability=True)
    _require_both_classes(y, "the threshold curve")
    thresholds, tp, fp = (a[1:][::-1] for a in _counts(y, p))  # drop "nothing positive"
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    return {
        "threshold": thresholds.astype(np.float64),
        "sensitivity": tp / n_pos,
        "specificity": (n_neg - fp) / n_neg,
        "precision": tp / (tp + fp),
        "f1": 2 * tp / (tp + fp + n_pos),
    }



def pseudo_ensemble_scores(y_true: ArrayLike, member_probs: ArrayLike,
                           n_members: int) -> NDArray[np.float64]:
    """Per image, a score distributed like the mean of ``n_members`` fold models.

    Parameters
    ----------
    y_true : array-like of shape (n_images,)
        Labels 0/1.
    member_probs : array-like of shape (n_images, n_repeats)
        For every image ``n_repeats >= 2`` calibrated probabilities, each from a model that
        never trained on it (its out-of-fold prediction in each CV repeat).
    n_members : int
        The size of the deployed ensemble (folds x repeats), ``>= n_repeats``.

    Returns
    -------
    ndarray of shape (n_images,)
        Scores in [0, 1], in image order.

    Notes
    -----
    The members are taken as exchangeable: a member's probability is a shared part plus its
    own error of variance ``s2``, uncorrelated between members. ``s2`` is the mean, over
    the images of one class, of the variance between that image's ``R`` predictions; the
    mean of ``R`` members then has variance ``v + s2 / R`` and that of ``M`` members
    ``v + s2 / M``. Within each class, the ``R``-member means are scaled about their class
    mean to the ``M``-member variance (their order, and so every rank metric, is unchanged).
    Exact for a location-scale family; with fewer than two images in a class nothing is
    scaled there.
    """
    y = np.asarray(y_true)
    p = np.asarray(member_probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != y.shape[0] or p.shape[1] < 2:
        raise ValueError(f"member_probs must have shape (n_images, n_repeats >= 2) matching "
                         f"y_true's {y.shape[0]} images, got {p.shape}")
    if not np.isfinite(p).all() or p.min() < 0 or p.max() > 1:
        raise ValueError("member_probs must be finite probabilities in [0, 1]")
    if not np.isin(y, (0, 1)).all():
        raise ValueError("y_true must hold labels 0 and 1 only")
    n_repeats = p.shape[1]
    if isinstance(n_members, bool) or not isinstance(n_members, int | np.integer) \
            or n_members < n_repeats:
        raise ValueError(f"n_members must be an integer >= n_repeats ({n_repeats}), "
                         f"got {n_members!r}")
    mean = p.mean(axis=1)
    out = mean.copy()
    for c in (0, 1):
        rows = y == c
        if rows.sum() < 2:
            continue
        m = mean[rows]
        between = p[rows].var(axis=1, ddof=1).mean()
        spread = m.var(ddof=1)
        if spread > 0:
            goal = max(spread - between / n_repeats + between / n_members, 0.0)
            out[rows] = m.mean() + np.sqrt(goal / spread) * (m - m.mean())
    return np.clip(out, 0.0, 1.0)


def choose_ensemble_threshold(y_true: ArrayLike, member_probs: ArrayLike, n_members: int,
                              criterion: Criterion, target: float | None = None) -> float:
    """The threshold ``criterion`` picks for an ``n_members``-model mean probability.

    :func:`choose_threshold` on :func:`pseudo_ensemble_scores`; arguments and errors as
    there. Choose it on development images only (their out-of-fold predictions): the set it
    is then scored on must not have helped to build it.
    """
    return choose_threshold(y_true, pseudo_ensemble_scores(y_true, member_probs, n_members),
                            criterion, target)


def ensemble_decision(ensemble_prob: ArrayLike, threshold: float) -> NDArray[np.bool_]:
    """The deployed rule: positive where the fold models' mean calibrated probability is
    ``>= threshold`` (the operating point's :func:`choose_ensemble_threshold`)."""
    return np.asarray(ensemble_prob, dtype=np.float64) >= float(threshold)
