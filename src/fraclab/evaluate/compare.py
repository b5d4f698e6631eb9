"""Comparing two classifiers scored on the same cases: DeLong's test and a paired bootstrap.

Both answer "is model A's AUROC different from model B's?" when A and B predicted the *same*
images, so their errors are correlated and two separate confidence intervals would be the
wrong comparison.

* :func:`delong_test`: DeLong, DeLong & Clarke-Pearson (1988), with the fast midrank
  algorithm of Sun & Xu (2014, IEEE Signal Processing Letters 21(11):1389-1393). It treats
  images as independent, which is exact when every group holds one image.
* :func:`clustered_delong_test`: the same test for images clustered in patients, with
  Obuchowski's (1997, Biometrics 53(2):567-578) variance: the placements are summed per
  cluster, so a patient's views count as one correlated unit, not as independent evidence.
* :func:`paired_auroc_bootstrap`: a percentile interval for AUROC(A) - AUROC(B) that
  resamples *groups* (patients), the same draws for both models, so it respects both the
  pairing and the clustering of images within patients.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.stats import norm

from fraclab.evaluate.bootstrap import (
    _check_bootstrap_args,
    _check_groups,
    _group_resamples,
    _percentile_interval,
    _too_many_skipped,
)
from fraclab.evaluate.metrics import (
    _auroc_rows,
    _check_labels,
    _check_scores,
    _midranks,
    _require_both_classes,
)

__all__ = ["clustered_delong_test", "delong_covariance", "delong_test",
           "paired_auroc_bootstrap"]


def _check_paired(y_true: ArrayLike, scores: tuple[ArrayLike, ...]
                  ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
    y = _check_labels(y_true)
    rows = [_check_scores(x, f"scores[{k}]", probability=False) for k, x in enumerate(scores)]
    for k, row in enumerate(rows):
        if row.size != y.size:
            raise ValueError(f"y_true and scores[{k}] have different lengths: {y.size} != "
                             f"{row.size}")
    return y, np.vstack(rows)


def _placements(y: NDArray[np.int64], s: NDArray[np.float64]) -> NDArray[np.float64]:
    """Per score row and image, its DeLong placement: for a positive the share of negatives
    below it (V10), for a negative the share of positives above it (V01), ties 1/2.

    The midrank of a positive among all scores minus its midrank among the positives counts
    the negatives below it (Sun & Xu 2014); likewise for the negatives.
    """
    pos, neg = y == 1, y == 0
    m, n = int(pos.sum()), int(neg.sum())
    rank_all = _midranks(s)
    out = np.empty_like(s)
    out[:, pos] = (rank_all[:, pos] - _midranks(s[:, pos])) / n
    out[:, neg] = 1.0 - (rank_all[:, neg] - _midranks(s[:, neg])) / m
    return out


def _delong(y: NDArray[np.int64], s: NDArray[np.float64]
            ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    # Sun & Xu (2014), Algorithm 2, for k score rows at once (see _placements).
    placements = _placements(y, s)
    # C order, so that each row's mean sums in the same order as the rows it was built from.
    v10 = np.ascontiguousarray(placements[:, y == 1])
    v01 = np.ascontiguousarray(placements[:, y == 0])
    m, n = v10.shape[1], v01.shape[1]
    aucs = v10.mean(axis=1)
    # S = S10 / m + S01 / n with the sample covariances (ddof = 1) of the placements.
    cov = np.atleast_2d(np.cov(v10)) / m + np.atleast_2d(np.cov(v01)) / n
    return aucs, cov


def delong_covariance(y_true: ArrayLike, *scores: ArrayLike
                      ) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """AUROCs of one or more score sets on the same cases and DeLong's covariance matrix.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1; at least two positives and two negatives (each covariance has ``ddof=1``).
    *scores : array-like of shape (n_samples,)
        One or more finite score sets (logits or probabilities) for the same samples.

    Returns
    -------
    aucs : ndarray of shape (k,)
        The AUROCs, identical to :func:`sklearn.metrics.roc_auc_score` (ties count 1/2).
    covariance : ndarray of shape (k, k)
        DeLong's estimate ``S10 / m + S01 / n`` (m positives, n negatives).

    Raises
    ------
    ValueError
        Invalid input, no score set, or fewer than two samples of a class.
    """
    if not scores:
        raise ValueError("need at least one score set")
    y, s = _check_paired(y_true, scores)
    _require_both_classes(y, "AUROC")
    n_pos = int(y.sum())
    if min(n_pos, y.size - n_pos) < 2:
        raise ValueError(f"DeLong's variance needs at least two samples of each class, got "
                         f"{n_pos} positive and {y.size - n_pos} negative")
    return _delong(y, s)


def delong_test(y_true: ArrayLike, score_a: ArrayLike, score_b: ArrayLike) -> dict[str, float]:
    """DeLong's two-sided test of AUROC(A) = AUROC(B) for paired scores.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1; at least two of each class.
    score_a, score_b : array-like of shape (n_samples,)
        Finite scores of models A and B for the same samples, in the same order.

    Returns
    -------
    dict of str to float
        ``auroc_a``, ``auroc_b``, ``difference`` (A - B), ``se`` (its standard error,
        ``sqrt(var_a + var_b - 2 cov)``), ``z`` (``difference / se``), ``p_value``
        (two-sided, normal), and ``ci_low``, ``ci_high`` (the 95 % Wald interval
        ``difference -+ 1.959964 se``).

    Raises
    ------
    ValueError
        As :func:`delong_covariance`, or a zero standard error with a non-zero difference
        (e.g. one model separates the classes perfectly and the other has constant
        placements): the statistic is then undefined, not infinite.

    Notes
    -----
    When both the difference and its standard error are zero (e.g. identical scores) the
    test is reported as ``z = 0``, ``p = 1``, as pROC does.
    """
    aucs, cov = delong_covariance(y_true, score_a, score_b)
    return _wald(aucs, cov, "DeLong's standard error")


def _wald(aucs: NDArray[np.float64], cov: NDArray[np.float64], what: str) -> dict[str, float]:
    """The two-sided normal test and 95 % interval of ``aucs[0] - aucs[1]``."""
    difference = float(aucs[0] - aucs[1])
    variance = float(cov[0, 0] + cov[1, 1] - 2.0 * cov[0, 1])
    se = math.sqrt(max(variance, 0.0))  # rounding can leave -1e-18 for identical scores
    if se == 0.0:
        if difference != 0.0:
            raise ValueError(f"{what} is 0 but the AUROCs differ by {difference:.6g}: the "
                             "test is undefined on these scores")
        z, p_value = 0.0, 1.0
    else:
        z = difference / se
        p_value = float(2.0 * norm.sf(abs(z)))
    half = float(norm.ppf(0.975)) * se
    return {"auroc_a": float(aucs[0]), "auroc_b": float(aucs[1]), "difference": difference,
            "se": se, "z": z, "p_value": p_value, "ci_low": difference - half,
            "ci_high": difference + half}


def clustered_delong_test(y_true: ArrayLike, score_a: ArrayLike, score_b: ArrayLike,
                          groups: ArrayLike) -> dict[str, float]:
    """DeLong's paired test of AUROC(A) = AUROC(B) for images clustered in groups.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1.
    score_a, score_b : array-like of shape (n_samples,)
        Finite scores of models A and B for the same samples, in the same order.
    groups : array-like of shape (n_samples,)
        Cluster (patient) of every image; at least two clusters.

    Returns
    -------
    dict of str to float
        As :func:`delong_test`, plus ``n_clusters``.

    Notes
    -----
    Obuchowski (1997): with ``I`` clusters, ``M`` positive and ``N`` negative images, and per
    cluster ``i`` its ``m_i`` positives and ``n_i`` negatives, let ``V10_i`` and ``V01_i``
    be the sums of its positives' and negatives' placements and ``e_i = V10_i - m_i A``,
    ``f_i = V01_i - n_i A`` for a model with AUROC ``A``. Then for models ``a`` and ``b``

        cov(a, b) = I / (I - 1) * (sum e_a e_b / M^2 + sum f_a f_b / N^2
                                   + sum (e_a f_b + f_a e_b) / (M N)).

    The variance of the difference is ``cov(a, a) + cov(b, b) - 2 cov(a, b)``. Repeating
    every image k times within its cluster leaves it unchanged; with one image per cluster
    it equals DeLong's variance up to the factor ``I / (I - 1)`` against ``1 / (m - 1)``.
    """
    y, s = _check_paired(y_true, (score_a, score_b))
    _require_both_classes(y, "AUROC")
    codes = _check_groups(groups, y.size)
    n_clusters = int(codes.max()) + 1
    if n_clusters < 2:
        raise ValueError("the clustered DeLong variance needs at least two groups")
    placements = _placements(y, s)
    m, n = int(y.sum()), int(y.size - y.sum())
    aucs = np.ascontiguousarray(placements[:, y == 1]).mean(axis=1)  # as _delong sums them
    pos = (y == 1).astype(np.float64)
    m_i, n_i = np.bincount(codes, pos, n_clusters), np.bincount(codes, 1 - pos, n_clusters)
    e = np.vstack([np.bincount(codes, row * pos, n_clusters) for row in placements]) \
        - np.outer(aucs, m_i)
    f = np.vstack([np.bincount(codes, row * (1 - pos), n_clusters) for row in placements]) \
        - np.outer(aucs, n_i)
    cov = n_clusters / (n_clusters - 1) * (e @ e.T / m**2 + f @ f.T / n**2
                                           + (e @ f.T + f @ e.T) / (m * n))
    return {**_wald(aucs, cov, "the clustered DeLong standard error"),
            "n_clusters": n_clusters}


def paired_auroc_bootstrap(
    y_true: ArrayLike,
    score_a: ArrayLike,
    score_b: ArrayLike,
    groups: ArrayLike,
    *,
    n_boot: int = 1000,
    alpha: float = 0.05,
    seed: int = 0,
) -> dict[str, float | int]:
    """Percentile interval of AUROC(A) - AUROC(B) by a paired, grouped bootstrap.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1; both classes present.
    score_a, score_b : array-like of shape (n_samples,)
        Finite scores of models A and B for the same samples.
    groups : array-like of shape (n_samples,)
        Group (patient) of every sample.
    n_boot, alpha, seed
        As in :func:`fraclab.evaluate.bootstrap.grouped_bootstrap_ci`; the resamples are
        drawn exactly as there (same seed, same groups: same resamples).

    Returns
    -------
    dict
        ``difference`` (A - B on the full data), ``ci_low``, ``ci_high`` (floats) and
        ``n_boot_used`` (resamples holding both classes; the others are skipped).

    Raises
    ------
    ValueError
        Invalid input or arguments, a single class, or more than half of the resamples
        holding a single class.
    """
    _check_bootstrap_args(n_boot, alpha, seed)
    y, s = _check_paired(y_true, (score_a, score_b))
    _require_both_classes(y, "AUROC")
    codes = _check_groups(groups, y.size)
    full = _auroc_rows(y, s)
    differences = []
    for idx in _group_resamples(codes, n_boot, seed):
        yb = y[idx]
        if yb.min() == yb.max():
            continue
        a, b = _auroc_rows(yb, s[:, idx])
        differences.append(a - b)
    skipped = n_boot - len(differences)
    if 2 * skipped > n_boot:
        raise _too_many_skipped(skipped, n_boot, "resamples holding a single class")
    low, high = _percentile_interval(np.asarray(differences), alpha)
    return {"difference": float(full[0] - full[1]), "ci_low": float(low),
            "ci_high": float(high), "n_boot_used": len(differences)}
