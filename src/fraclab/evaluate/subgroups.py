"""Discrimination and calibration per subgroup (e.g. anatomical site), with grouped CIs.

A classifier that is good on average can fail on one anatomical site; TRIPOD+AI asks for
performance per relevant subgroup. :func:`subgroup_metrics` reports, for each value of a
subgroup label, its size and prevalence, AUROC with a grouped (patient) bootstrap interval,
Brier score and calibration-in-the-large. A subgroup with fewer than ``min_per_class``
images of either class gets its numbers but no interval (a percentile interval from a
handful of cases would look more certain than it is); one with a single class has no AUROC.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from fraclab.evaluate.bootstrap import grouped_bootstrap_ci
from fraclab.evaluate.metrics import _check_pair, _rank_auroc, auroc

__all__ = ["subgroup_metrics"]


def subgroup_metrics(y_true: ArrayLike, y_prob: ArrayLike, groups: ArrayLike,
                     subgroup: ArrayLike, *, n_boot: int = 1000, seed: int = 0,
                     min_per_class: int = 5) -> dict[str, dict]:
    """Per subgroup value (sorted; ``""`` is skipped as "unknown"): the metrics below.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1.
    y_prob : array-like of shape (n_samples,)
        Predicted probabilities in [0, 1].
    groups : array-like of shape (n_samples,)
        Patient (cluster) of every image, resampled by the bootstrap.
    subgroup : array-like of shape (n_samples,)
        The subgroup label of every image (e.g. ``"wrist"``).
    n_boot, seed
        As in :func:`~fraclab.evaluate.bootstrap.grouped_bootstrap_ci`.
    min_per_class : int, default=5
        The fewest images of each class for an AUROC interval.

    Returns
    -------
    dict of str to dict
        ``n``, ``groups``, ``fractured``, ``prevalence``, ``mean_predicted``,
        ``mean_minus_prevalence``, ``brier``, and ``auroc``: ``{"value", "ci_low",
        "ci_high"}`` (the interval ``None`` when the subgroup is too small; the whole entry
        ``None`` with a single class).
    """
    y, p = _check_pair(y_true, y_prob, "y_prob", probability=True)
    g, s = np.asarray(groups), np.asarray(subgroup).astype(str)
    if g.shape != y.shape or s.shape != y.shape:
        raise ValueError(f"groups and subgroup must have y_true's length {y.size}, got "
                         f"{g.size} and {s.size}")
    out: dict[str, dict] = {}
    for value in sorted(set(s.tolist()) - {""}):
        rows = s == value
        yv, pv, gv = y[rows], p[rows], g[rows]
        n_pos = int(yv.sum())
        entry = {"n": int(rows.sum()), "groups": len(set(gv.tolist())), "fractured": n_pos,
                 "prevalence": float(yv.mean()), "mean_predicted": float(pv.mean()),
                 "mean_minus_prevalence": float(pv.mean() - yv.mean()),
                 "brier": float(np.mean((pv - yv) ** 2)), "auroc": None}
        if 0 < n_pos < yv.size:
            if min(n_pos, yv.size - n_pos) >= min_per_class:
                # The rank AUROC skips scikit-learn's input checks on every resample; the
                # point value is scikit-learn's.
                ci = grouped_bootstrap_ci(_rank_auroc, yv, pv, gv, n_boot=n_boot, seed=seed)
                ci["value"] = auroc(yv, pv)
                entry["auroc"] = {k: ci[k] for k in ("value", "ci_low", "ci_high")}
            else:
                entry["auroc"] = {"value": auroc(yv, pv), "ci_low": None, "ci_high": None}
        out[value] = entry
    return out
