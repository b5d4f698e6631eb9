"""DeLong's test against a slow direct implementation and a hand-worked example; the paired
grouped bootstrap against its documented resampling and in a coverage simulation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import norm, rankdata
from sklearn.metrics import roc_auc_score

from fraclab.evaluate.compare import (
    clustered_delong_test,
    delong_covariance,
    delong_test,
    paired_auroc_bootstrap,
)
from fraclab.evaluate.metrics import _midranks

PROPERTY = settings(max_examples=60, deadline=None)


def slow_delong(y: np.ndarray, *scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """DeLong et al. (1988) straight from the definition: every (positive, negative) pair.

    psi(x, y) = 1 if x > y, 1/2 if x = y, else 0. V10_i is the mean psi of positive i over
    all negatives, V01_j that of negative j over all positives; S10, S01 their sample
    covariance matrices (ddof 1) across score sets; covariance = S10 / m + S01 / n.
    """
    v10, v01 = [], []
    for s in scores:
        pos, neg = s[y == 1], s[y == 0]
        psi = np.array([[1.0 if a > b else 0.5 if a == b else 0.0 for b in neg] for a in pos])
        v10.append(psi.mean(axis=1))
        v01.append(psi.mean(axis=0))
    v10, v01 = np.array(v10), np.array(v01)
    m, n = v10.shape[1], v01.shape[1]
    aucs = v10.mean(axis=1)
    s10 = (v10 - aucs[:, None]) @ (v10 - aucs[:, None]).T / (m - 1)
    s01 = (v01 - aucs[:, None]) @ (v01 - aucs[:, None]).T / (n - 1)
    return aucs, s10 / m + s01 / n


@PROPERTY
@given(rows=st.integers(1, 3).flatmap(lambda k: st.lists(
    st.lists(st.integers(0, 5), min_size=k, max_size=k), min_size=1, max_size=25)))
def test_midranks_equal_scipy_average_ranks(rows):
    s = np.array(rows, dtype=float).T  # (k, n), small integers: many ties
    np.testing.assert_array_equal(_midranks(s), rankdata(s, axis=1))


cases = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 6), st.integers(0, 6)),
                 min_size=4, max_size=30)


@PROPERTY
@given(data=cases)
def test_fast_delong_equals_the_slow_direct_implementation(data):
    y = np.array([d[0] for d in data])
    if y.sum() < 2 or (1 - y).sum() < 2:
        y[:4] = [0, 0, 1, 1]
    a = np.array([d[1] for d in data], dtype=float)  # small integers: many ties
    b = np.array([d[2] for d in data], dtype=float)
    aucs, cov = delong_covariance(y, a, b)
    slow_aucs, slow_cov = slow_delong(y, a, b)
    np.testing.assert_allclose(aucs, slow_aucs, rtol=0, atol=1e-12)
    np.testing.assert_allclose(cov, slow_cov, rtol=0, atol=1e-12)
    assert aucs == pytest.approx([roc_auc_score(y, a), roc_auc_score(y, b)], abs=1e-12)
    variance = slow_cov[0, 0] + slow_cov[1, 1] - 2 * slow_cov[0, 1]
    if variance > 1e-12:
        z = (slow_aucs[0] - slow_aucs[1]) / np.sqrt(variance)
        assert delong_test(y, a, b)["p_value"] == pytest.approx(2 * norm.sf(abs(z)), abs=1e-9)


def test_delong_hand_worked_example():
    # Positives first. A: positives .8 .6, negatives .7 .2; B: positives .9 .05, negatives
    # .4 .1. Placements (share of the other class beaten, ties 1/2):
    #   A: V10 = [1, 1/2], V01 = [1/2, 1] -> AUROC 3/4
    #   B: V10 = [1, 0],   V01 = [1/2, 1/2] -> AUROC 1/2
    # S10 (ddof 1) = [[1/8, 1/4], [1/4, 1/2]], S01 = [[1/8, 0], [0, 0]], m = n = 2:
    # S = (S10 + S01) / 2 = [[1/8, 1/8], [1/8, 1/4]]; Var(A - B) = 1/8 + 1/4 - 2/8 = 1/8.
    # z = (1/4) / sqrt(1/8) = 1/sqrt(2); p = 2 (1 - Phi(0.70711)) = 0.47950.
    y = np.array([1, 1, 0, 0])
    a = np.array([0.8, 0.6, 0.7, 0.2])
    b = np.array([0.9, 0.05, 0.4, 0.1])
    aucs, cov = delong_covariance(y, a, b)
    np.testing.assert_allclose(aucs, [0.75, 0.5], atol=1e-15)
    np.testing.assert_allclose(cov, [[1 / 8, 1 / 8], [1 / 8, 1 / 4]], atol=1e-15)
    result = delong_test(y, a, b)
    assert result["difference"] == pytest.approx(0.25, abs=1e-15)
    assert result["se"] == pytest.approx(np.sqrt(1 / 8), abs=1e-15)
    assert result["z"] == pytest.approx(1 / np.sqrt(2), abs=1e-12)
    assert result["p_value"] == pytest.approx(0.4795001221869535, abs=1e-12)
    assert result["ci_low"] == pytest.approx(0.25 - 1.959963984540054 * np.sqrt(1 / 8))


def test_identical_scores_give_z_zero_and_p_one():
    y = np.array([0, 1, 0, 1, 1, 0])
    s = np.array([0.1, 0.4, 0.35, 0.8, 0.2, 0.5])
    result = delong_test(y, s, s)
    assert (result["difference"], result["z"], result["p_value"]) == (0.0, 0.0, 1.0)


def test_zero_standard_error_with_a_difference_is_an_error():
    y = np.array([1, 1, 0, 0])
    perfect = np.array([0.9, 0.8, 0.2, 0.1])  # every placement is 1
    constant = np.array([0.5, 0.5, 0.5, 0.5])  # every placement is 1/2
    with pytest.raises(ValueError, match="standard error is 0"):
        delong_test(y, perfect, constant)


def test_delong_needs_two_of_each_class_and_equal_lengths():
    with pytest.raises(ValueError, match="two samples of each class"):
        delong_test([1, 0, 0], [0.1, 0.2, 0.3], [0.3, 0.2, 0.1])
    with pytest.raises(ValueError, match="only one class"):
        delong_test([1, 1, 1, 1], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="different lengths"):
        delong_test([1, 1, 0, 0], [0.1, 0.2, 0.3, 0.4], [0.1, 0.2, 0.3])
    with pytest.raises(ValueError, match="NaN"):
        delong_test([1, 1, 0, 0], [0.1, 0.2, 0.3, np.nan], [0.1, 0.2, 0.3, 0.4])


# --------------------------------------------------------------------------------------------
# Paired grouped bootstrap
# --------------------------------------------------------------------------------------------


def test_bootstrap_follows_the_documented_resampling():
    # Singleton groups labelled 0..n-1: the ordinary paired percentile bootstrap, rebuilt
    # here from the scheme in fraclab.evaluate.bootstrap with scikit-learn's AUROC.
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 60)
    a, b = y + rng.normal(0, 1, 60), y + rng.normal(0, 1.5, 60)
    result = paired_auroc_bootstrap(y, a, b, np.arange(60), n_boot=200, seed=7)
    draws = np.random.default_rng(7)
    diffs = []
    for _ in range(200):
        idx = draws.integers(0, 60, size=60)
        if y[idx].min() < y[idx].max():
            diffs.append(roc_auc_score(y[idx], a[idx]) - roc_auc_score(y[idx], b[idx]))
    assert result["n_boot_used"] == len(diffs)
    assert result["difference"] == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))
    assert result["ci_low"] == pytest.approx(np.quantile(diffs, 0.025), abs=1e-12)
    assert result["ci_high"] == pytest.approx(np.quantile(diffs, 0.975), abs=1e-12)


def _clustered(rng: np.random.Generator, n_groups: int, per_group: int
               ) -> tuple[np.ndarray, ...]:
    """Patients of one label each, images sharing a strong patient effect per model.

    Each model's score is ``mu * y + patient effect + image noise`` with total variance 2,
    so its image-level AUROC (positive and negative always from different patients) is
    ``Phi(mu / 2)``. The image noise is shared between the models: they are paired.
    """
    y = np.repeat(rng.integers(0, 2, n_groups), per_group)
    groups = np.repeat(np.arange(n_groups), per_group)
    shared = rng.normal(0, np.sqrt(0.5), y.size)
    a = 1.2 * y + rng.normal(0, 1, n_groups)[groups] + shared + rng.normal(0, np.sqrt(0.5),
                                                                            y.size)
    b = 0.6 * y + rng.normal(0, 1, n_groups)[groups] + shared + rng.normal(0, np.sqrt(0.5),
                                                                            y.size)
    return y, a, b, groups


def test_bootstrap_interval_covers_the_true_difference_at_its_nominal_rate():
    truth = norm.cdf(1.2 / 2) - norm.cdf(0.6 / 2)
    rng = np.random.default_rng(2024)
    covered = {"grouped": 0, "images": 0}
    n_sim = 150
    for _ in range(n_sim):
        y, a, b, groups = _clustered(rng, n_groups=40, per_group=4)
        seed = int(rng.integers(2**31))
        for name, g in (("grouped", groups), ("images", np.arange(y.size))):
            r = paired_auroc_bootstrap(y, a, b, g, n_boot=100, alpha=0.1, seed=seed)
            covered[name] += r["ci_low"] <= truth <= r["ci_high"]
    # Nominal 90 %. With 150 simulations the binomial SD of the rate is 2.4 points; the
    # percentile bootstrap of a small sample runs a little short, hence the lower bound.
    assert 0.80 <= covered["grouped"] / n_sim <= 0.96
    # The check has teeth: resampling images instead of patients ignores the clustering and
    # covers far less often.
    assert covered["images"] / n_sim < 0.75


def test_bootstrap_errors():
    y = np.array([0, 1, 0, 1])
    s = np.array([0.1, 0.2, 0.3, 0.4])
    with pytest.raises(ValueError, match="only one class"):
        paired_auroc_bootstrap([1, 1, 1, 1], s, s, [0, 0, 1, 1])
    with pytest.raises(ValueError, match="groups"):
        paired_auroc_bootstrap(y, s, s, [0, 1])
    with pytest.raises(ValueError, match="more than half"):
        # Two groups, each of one class: every other resample holds a single class.
        paired_auroc_bootstrap(y, s, s, [0, 1, 0, 1], n_boot=200)


def slow_clustered_delong(y: np.ndarray, a: np.ndarray, b: np.ndarray,
                          groups: np.ndarray) -> float:
    """Obuchowski (1997) from the definition, with a loop over clusters: the variance of
    AUROC(a) - AUROC(b)."""
    clusters = sorted(set(groups.tolist()))
    big_i, m, n = len(clusters), int(y.sum()), int((1 - y).sum())
    e, f = [], []
    for s in (a, b):
        pos, neg = s[y == 1], s[y == 0]
        auc = np.mean([[1.0 if p > q else 0.5 if p == q else 0.0 for q in neg] for p in pos])
        es, fs = [], []
        for c in clusters:
            own_pos = s[(groups == c) & (y == 1)]
            own_neg = s[(groups == c) & (y == 0)]
            v10 = sum(np.mean([1.0 if p > q else 0.5 if p == q else 0.0 for q in neg])
                      for p in own_pos)
            v01 = sum(np.mean([1.0 if p > q else 0.5 if p == q else 0.0 for p in pos])
                      for q in own_neg)
            es.append(v10 - own_pos.size * auc)
            fs.append(v01 - own_neg.size * auc)
        e.append(np.array(es))
        f.append(np.array(fs))

    def cov(j: int, k: int) -> float:
        return big_i / (big_i - 1) * (e[j] @ e[k] / m**2 + f[j] @ f[k] / n**2
                                      + (e[j] @ f[k] + f[j] @ e[k]) / (m * n))

    return cov(0, 0) + cov(1, 1) - 2 * cov(0, 1)


@PROPERTY
@given(st.integers(0, 10_000))
def test_clustered_delong_equals_the_slow_definition(seed):
    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 8, 30)
    y = (rng.random(30) < 0.5).astype(int)
    y[:2] = [0, 1]
    a = np.round(y + rng.normal(0, 1, 30), 1)  # rounding makes ties
    b = np.round(0.5 * y + rng.normal(0, 1, 30), 1)
    if len(set(groups.tolist())) < 2:
        return
    result = clustered_delong_test(y, a, b, groups)
    assert result["se"] ** 2 == pytest.approx(slow_clustered_delong(y, a, b, groups),
                                              rel=1e-9, abs=1e-15)
    assert result["difference"] == pytest.approx(roc_auc_score(y, a) - roc_auc_score(y, b))


def test_repeating_every_image_within_its_patient_leaves_the_clustered_variance_alone():
    rng = np.random.default_rng(4)
    y = (rng.random(120) < 0.4).astype(int)
    a, b = y + rng.normal(0, 1, 120), 0.6 * y + rng.normal(0, 1, 120)
    patients = np.arange(120)
    once = clustered_delong_test(y, a, b, patients)
    thrice = clustered_delong_test(np.tile(y, 3), np.tile(a, 3), np.tile(b, 3),
                                   np.tile(patients, 3))
    naive = delong_test(np.tile(y, 3), np.tile(a, 3), np.tile(b, 3))
    assert thrice["se"] == pytest.approx(once["se"], rel=1e-12)
    assert naive["se"] < 0.6 * once["se"]  # treating the copies as evidence: too narrow
    # One image per patient: DeLong's variance up to its ddof factors.
    plain = delong_test(y, a, b)
    assert once["se"] == pytest.approx(plain["se"], rel=0.02)
    assert once["p_value"] == pytest.approx(plain["p_value"], rel=0.1, abs=0.01)


def test_clustered_delong_needs_two_groups_and_both_classes():
    with pytest.raises(ValueError, match="two groups"):
        clustered_delong_test([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], [0.2, 0.7, 0.1, 0.9],
                              ["p", "p", "p", "p"])
    with pytest.raises(ValueError, match="class"):
        clustered_delong_test([1, 1], [0.1, 0.9], [0.2, 0.7], ["p", "q"])
