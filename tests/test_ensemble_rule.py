"""The deployed ensemble rule: its threshold hits its target on an ensemble's scores (a
simulation with a known ground truth), where the median of single-model thresholds does not;
the pseudo-ensemble's arithmetic; intervals that refit the threshold on every resample."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from fraclab.evaluate.bootstrap import grouped_bootstrap_ci, grouped_bootstrap_refit
from fraclab.evaluate.thresholds import (
    choose_ensemble_threshold,
    choose_threshold,
    ensemble_decision,
    operating_point,
    pseudo_ensemble_scores,
)

REPEATS, FOLDS = 2, 3


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-z))


def simulated_study(rng: np.random.Generator, n_dev: int = 600, n_test: int = 2000,
                    noise: float = 1.0) -> tuple[float, float]:
    """One CV study of REPEATS x FOLDS fold models that share one signal and add their own
    error; returns the test sensitivity at a 0.90 target of (today's rule: the median of the
    fold models' inner-validation thresholds, the ensemble rule)."""
    def draw(n: int) -> tuple[np.ndarray, np.ndarray]:
        y = (rng.random(n) < 0.35).astype(int)
        return y, rng.normal(np.where(y == 1, 1.2, -1.2), 1.0)

    dev_y, dev_s = draw(n_dev)
    test_y, test_s = draw(n_test)
    oof = np.empty((n_dev, REPEATS))
    fold_thresholds, test_members = [], []
    for repeat in range(REPEATS):
        fold_of = rng.permutation(np.arange(n_dev) % FOLDS)
        for fold in range(FOLDS):
            dev_p = _sigmoid(dev_s + rng.normal(0, noise, n_dev))
            held = fold_of == fold
            oof[held, repeat] = dev_p[held]
            inner = rng.choice(np.flatnonzero(~held), n_dev // 6, replace=False)
            fold_thresholds.append(choose_threshold(dev_y[inner], dev_p[inner], "sens", 0.9))
            test_members.append(_sigmoid(test_s + rng.normal(0, noise, n_test)))
    test_p = np.mean(test_members, axis=0)

    def sensitivity(threshold: float) -> float:
        return float(ensemble_decision(test_p[test_y == 1], threshold).mean())

    rule = choose_ensemble_threshold(dev_y, oof, REPEATS * FOLDS, "sens", 0.9)
    return sensitivity(float(np.median(fold_thresholds))), sensitivity(rule)


def test_the_ensemble_rule_hits_its_sensitivity_target_and_the_fold_median_does_not():
    rng = np.random.default_rng(0)
    runs = np.array([simulated_study(rng) for _ in range(60)])
    mean, se = runs.mean(axis=0), runs.std(axis=0, ddof=1) / np.sqrt(len(runs))
    old, new = mean
    assert abs(new - 0.90) < 3 * se[1] + 0.005, (new, se[1])
    assert old > 0.93 and old - 0.90 > 10 * se[0], (old, se[0])


def test_with_members_that_agree_the_pseudo_ensemble_is_their_mean():
    y = np.array([0, 0, 0, 1, 1, 1])
    p = np.array([[0.1, 0.1], [0.2, 0.2], [0.4, 0.4], [0.5, 0.5], [0.7, 0.7], [0.9, 0.9]])
    np.testing.assert_allclose(pseudo_ensemble_scores(y, p, 6), p[:, 0])


def test_the_pseudo_ensemble_has_the_variance_an_m_member_mean_would_have():
    rng = np.random.default_rng(1)
    y = (rng.random(4000) < 0.4).astype(int)
    shared = np.where(y == 1, 0.65, 0.35) + rng.normal(0, 0.08, y.size)
    p = np.clip(shared[:, None] + rng.normal(0, 0.1, (y.size, 2)), 0, 1)
    scores = pseudo_ensemble_scores(y, p, 6)
    for c in (0, 1):
        rows = y == c
        between = p[rows].var(axis=1, ddof=1).mean()
        expected = p[rows].mean(axis=1).var(ddof=1) - between / 2 + between / 6
        assert scores[rows].var(ddof=1) == pytest.approx(expected, rel=1e-6)
        assert scores[rows].mean() == pytest.approx(p[rows].mean(), abs=1e-12)
        # Its spread is that of a 6-member mean of the simulated members (0.08^2 + 0.1^2/6).
        assert scores[rows].var(ddof=1) == pytest.approx(0.08**2 + 0.1**2 / 6, rel=0.1)


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, (12, 2), elements=st.floats(0, 1)),
       st.integers(2, 12))
def test_the_pseudo_ensemble_keeps_each_class_order_and_stays_a_probability(p, members):
    y = np.array([0, 1] * 6)
    scores = pseudo_ensemble_scores(y, p, members)
    assert ((scores >= 0) & (scores <= 1)).all()
    for c in (0, 1):
        mean = p[y == c].mean(axis=1)
        s = scores[y == c]
        order = np.argsort(mean, kind="stable")
        assert (np.diff(s[order]) >= -1e-12).all()


@pytest.mark.parametrize(("y", "p", "members", "message"), [
    ([0, 1], [[0.1], [0.9]], 6, "n_repeats >= 2"),
    ([0, 1, 1], [[0.1, 0.2], [0.9, 0.8]], 6, "matching"),
    ([0, 1], [[0.1, 0.2], [0.9, np.nan]], 6, "finite probabilities"),
    ([0, 1], [[0.1, 0.2], [0.9, 1.2]], 6, "finite probabilities"),
    ([0, 2], [[0.1, 0.2], [0.9, 0.8]], 6, "labels 0 and 1"),
    ([0, 1], [[0.1, 0.2], [0.9, 0.8]], 1, "n_members"),
])
def test_bad_pseudo_ensemble_input_is_an_error(y, p, members, message):
    with pytest.raises(ValueError, match=message):
        pseudo_ensemble_scores(np.array(y), np.array(p), members)


def test_a_refit_that_fits_nothing_gives_the_fixed_threshold_interval():
    rng = np.random.default_rng(2)
    y = (rng.random(300) < 0.4).astype(int)
    p = np.clip(0.5 * y + rng.normal(0.25, 0.2, 300), 0, 1)
    groups = np.repeat(np.arange(100), 3)

    def sensitivity(yb: np.ndarray, pb: np.ndarray) -> float:
        return operating_point(yb, pb, 0.4)["sensitivity"]

    fixed = grouped_bootstrap_ci(sensitivity, y, p, groups, n_boot=200, seed=5)
    refit = grouped_bootstrap_refit(
        lambda rows: 0.4, lambda rows, t: {"sensitivity": sensitivity(y[rows], p[rows])},
        np.arange(50), groups, n_boot=200, seed=5)["sensitivity"]
    assert refit == pytest.approx(fixed)


def test_refitting_the_threshold_widens_the_interval():
    rng = np.random.default_rng(3)
    dev_y = (rng.random(120) < 0.4).astype(int)
    dev_p = np.clip(0.3 * dev_y + rng.normal(0.35, 0.2, (120, 2)).T, 0, 1).T
    test_y = (rng.random(2000) < 0.4).astype(int)
    test_p = np.clip(0.3 * test_y + rng.normal(0.35, 0.17, 2000), 0, 1)
    groups = np.arange(2000)

    def fit(rows: np.ndarray) -> float:
        return choose_ensemble_threshold(dev_y[rows], dev_p[rows], 6, "sens", 0.9)

    def score(rows: np.ndarray, t: float) -> dict[str, float]:
        return {"sensitivity": operating_point(test_y[rows], test_p[rows], t)["sensitivity"]}

    refit = grouped_bootstrap_refit(fit, score, np.arange(120), groups, n_boot=300, seed=0)
    t = fit(np.arange(120))
    fixed = grouped_bootstrap_ci(lambda yb, pb: operating_point(yb, pb, t)["sensitivity"],
                                 test_y, test_p, groups, n_boot=300, seed=0)
    assert refit["sensitivity"]["value"] == fixed["value"]
    width = refit["sensitivity"]["ci_high"] - refit["sensitivity"]["ci_low"]
    assert width > 2 * (fixed["ci_high"] - fixed["ci_low"])


def test_a_refit_undefined_on_most_resamples_is_an_error():
    def fit(rows: np.ndarray) -> float:
        if len(set(rows.tolist())) < 3:  # 6 of 27 resamples of 3 groups draw all three
            raise ValueError("a group is missing")
        return 0.5

    with pytest.raises(ValueError, match="undefined on"):
        grouped_bootstrap_refit(fit, lambda rows, t: {"x": 1.0}, np.arange(3),
                                np.arange(10), n_boot=400, seed=0)
