"""Metrics, calibration and grouped bootstrap: checked against scikit-learn or by hand."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.calibration import calibration_curve
from sklearn.metrics import (
    accuracy_score,
    auc,
    average_precision_score,
    brier_score_loss,
    f1_score,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from fraclab.evaluate import (
    METRIC_DIRECTION,
    METRIC_NAMES,
    auroc,
    average_precision,
    binary_metrics,
    bootstrap_metrics,
    expected_calibration_error,
    grouped_bootstrap_ci,
    log_loss_value,
    pr_points,
    reliability_table,
    roc_points,
    sigmoid,
    specificity,
    summarize,
)
from fraclab.evaluate import bootstrap as bootstrap_module
from fraclab.evaluate.bootstrap import _check_groups, _group_resamples
from fraclab.evaluate.metrics import _binary_metrics, _rank_auroc, _resampled_metrics

PROPERTY = settings(max_examples=60, deadline=None)


def _example(n: int = 120, seed: int = 3) -> tuple[np.ndarray, np.ndarray]:
    """Balanced labels with informative but imperfect probabilities."""
    rng = np.random.default_rng(seed)
    y = np.tile([0, 1], n // 2)
    p = sigmoid(1.5 * (2 * y - 1) + rng.normal(0.0, 1.5, n))
    return y, p


# --------------------------------------------------------------------------------------------
# Point metrics
# --------------------------------------------------------------------------------------------


def test_metric_names_and_directions() -> None:
    assert METRIC_NAMES == ("auroc", "average_precision", "brier", "accuracy", "precision",
                            "recall", "specificity", "f1", "ece")
    assert set(METRIC_DIRECTION) == {*METRIC_NAMES, "log_loss"}
    lower = {name for name, d in METRIC_DIRECTION.items() if d == "lower"}
    assert lower == {"brier", "ece", "log_loss"}
    assert set(METRIC_DIRECTION.values()) == {"higher", "lower"}


def test_binary_metrics_match_sklearn() -> None:
    y, p = _example()
    pred = (p >= 0.4).astype(int)
    got = binary_metrics(y, p, threshold=0.4)
    assert tuple(got) == METRIC_NAMES
    assert all(type(v) is float for v in got.values())
    assert got["auroc"] == pytest.approx(roc_auc_score(y, p))
    assert got["average_precision"] == pytest.approx(average_precision_score(y, p))
    assert got["brier"] == pytest.approx(brier_score_loss(y, p))
    assert got["brier"] == pytest.approx(np.mean((p - y) ** 2))
    assert got["accuracy"] == pytest.approx(accuracy_score(y, pred))
    assert got["precision"] == pytest.approx(precision_score(y, pred))
    assert got["recall"] == pytest.approx(recall_score(y, pred))
    assert got["f1"] == pytest.approx(f1_score(y, pred))
    assert got["specificity"] == pytest.approx(recall_score(1 - y, 1 - pred))
    assert got["ece"] == pytest.approx(expected_calibration_error(y, p))
    assert got["auroc"] == pytest.approx(auroc(y, p))
    assert got["average_precision"] == pytest.approx(average_precision(y, p))


def test_threshold_counts_from_hand_made_confusion_matrix() -> None:
    y = np.array([0, 0, 0, 0, 1, 1, 1])
    p = np.array([0.1, 0.2, 0.3, 0.5, 0.4, 0.5, 0.9])
    # Predicted positive is p >= 0.5, so the two 0.5s count as positive:
    # negatives 0.1, 0.2, 0.3 -> TN = 3, 0.5 -> FP = 1; positives 0.4 -> FN = 1, 0.5, 0.9 -> TP = 2.
    got = binary_metrics(y, p, threshold=0.5)
    assert got["specificity"] == pytest.approx(3 / 4)
    assert got["recall"] == pytest.approx(2 / 3)
    assert got["precision"] == pytest.approx(2 / 3)
    assert got["f1"] == pytest.approx(2 / 3)
    assert got["accuracy"] == pytest.approx(5 / 7)
    assert specificity(y, (p >= 0.5).astype(int)) == pytest.approx(3 / 4)


def test_no_predicted_positive_gives_zero_without_warning() -> None:
    y = np.array([0, 1, 0, 1, 0])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.45])
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # zero_division=0 must silence UndefinedMetricWarning
        got = binary_metrics(y, p, threshold=0.5)
    assert (got["precision"], got["recall"], got["f1"]) == (0.0, 0.0, 0.0)
    assert got["specificity"] == 1.0
    assert got["accuracy"] == pytest.approx(3 / 5)


def test_specificity_without_negatives_uses_zero_division() -> None:
    assert specificity([1, 1], [1, 0]) == 0.0
    assert specificity([1, 1], [1, 0], zero_division=1.0) == 1.0
    assert specificity([0, 0, 0, 1], [0, 1, 1, 1]) == pytest.approx(1 / 3)


def test_log_loss_value_by_hand_and_single_class() -> None:
    y = np.array([1, 0, 1])
    p = np.array([0.8, 0.3, 0.6])
    hand = -np.mean(np.log([0.8, 0.7, 0.6]))
    assert log_loss_value(y, p) == pytest.approx(hand)
    assert log_loss_value([1, 1], [0.5, 0.5]) == pytest.approx(np.log(2))


def test_sigmoid_is_stable_and_correct() -> None:
    x = np.array([-3.0, 0.0, 2.0])
    np.testing.assert_allclose(sigmoid(x), 1.0 / (1.0 + np.exp(-x)))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no overflow warning for huge logits
        extreme = sigmoid([-1000.0, 1000.0])
    np.testing.assert_array_equal(extreme, [0.0, 1.0])
    assert sigmoid(0) == 0.5


def test_summarize() -> None:
    s = summarize([0.8, 0.9, 1.0])
    assert s == pytest.approx({"mean": 0.9, "sd": 0.1, "min": 0.8, "max": 1.0, "n": 3})
    assert type(s["n"]) is int
    assert summarize([0.7]) == {"mean": 0.7, "sd": 0.0, "min": 0.7, "max": 0.7, "n": 1}
    with pytest.raises(ValueError, match="empty"):
        summarize([])
    with pytest.raises(ValueError, match="NaN"):
        summarize([0.5, float("nan")])


def test_roc_points_finite_equal_length_and_match_sklearn() -> None:
    y, p = _example()
    pts = roc_points(y, p)
    fpr, tpr, _ = roc_curve(y, p)
    assert len(pts["fpr"]) == len(pts["tpr"]) == len(pts["threshold"])
    assert np.isfinite(pts["threshold"]).all()
    np.testing.assert_array_equal(pts["fpr"], fpr)
    np.testing.assert_array_equal(pts["tpr"], tpr)
    assert pts["threshold"][0] == 1.0  # sklearn's +inf, all probabilities here are < 1
    assert auc(pts["fpr"], pts["tpr"]) == pytest.approx(roc_auc_score(y, p))


@pytest.mark.parametrize("scores", [[0.2, 0.9, 1.0, 0.4], [-2.0, 3.5, 7.0, 0.1]])
def test_curve_padding_threshold_predicts_nothing_positive(scores: list[float]) -> None:
    y = np.array([0, 1, 1, 0])
    s = np.array(scores)
    roc = roc_points(y, s)
    pr = pr_points(y, s)
    assert len(pr["precision"]) == len(pr["recall"]) == len(pr["threshold"])
    for first_or_last in (roc["threshold"][0], pr["threshold"][-1]):
        assert np.isfinite(first_or_last) and first_or_last >= 1.0
        assert not (s >= first_or_last).any()
    assert (roc["fpr"][0], roc["tpr"][0]) == (0.0, 0.0)
    assert (pr["precision"][-1], pr["recall"][-1]) == (1.0, 0.0)


@pytest.mark.parametrize(
    "call",
    [
        lambda y, p: binary_metrics(y, p),
        lambda y, p: auroc(y, p),
        lambda y, p: average_precision(y, p),
        lambda y, p: roc_points(y, p),
        lambda y, p: pr_points(y, p),
    ],
)
@pytest.mark.parametrize("label", [0, 1])
def test_single_class_raises_instead_of_nan(call, label: int) -> None:
    with pytest.raises(ValueError, match="only one class present"):
        call(np.full(4, label), np.array([0.1, 0.4, 0.6, 0.9]))


def test_single_class_still_defined_for_ece() -> None:
    # All positives predicted at 0.75: one bin, |0.75 - 1| = 0.25.
    assert expected_calibration_error([1, 1, 1], [0.75, 0.75, 0.75]) == pytest.approx(0.25)


# --------------------------------------------------------------------------------------------
# Calibration
# --------------------------------------------------------------------------------------------


def test_ece_hand_worked_uniform() -> None:
    y = np.array([0, 1, 0, 0, 1, 1])
    p = np.array([0.1, 0.1, 0.3, 0.3, 0.9, 1.0])
    # 5 uniform bins, edges 0, .2, .4, .6, .8, 1:
    #   [0, .2):  p = .1, .1   mean .1,  observed 1/2 -> |.1 - .5|  = .4,  weight 2/6
    #   [.2, .4): p = .3, .3   mean .3,  observed 0   -> |.3 - 0|   = .3,  weight 2/6
    #   [.8, 1]:  p = .9, 1.0  mean .95, observed 1   -> |.95 - 1|  = .05, weight 2/6
    # ECE = (2 * .4 + 2 * .3 + 2 * .05) / 6 = 1.5 / 6 = 0.25
    assert expected_calibration_error(y, p, n_bins=5) == pytest.approx(0.25)
    table = reliability_table(y, p, n_bins=5)
    np.testing.assert_array_equal(table["bin"], [0, 1, 4])
    np.testing.assert_array_equal(table["count"], [2, 2, 2])
    np.testing.assert_allclose(table["mean_predicted"], [0.1, 0.3, 0.95])
    np.testing.assert_allclose(table["observed_fraction"], [0.5, 0.0, 1.0])
    np.testing.assert_allclose(table["lower"], [0.0, 0.2, 0.8])
    np.testing.assert_allclose(table["upper"], [0.2, 0.4, 1.0])


def test_ece_hand_worked_quantile() -> None:
    y = np.array([0, 0, 1, 0, 1, 1, 1, 0])
    p = np.array([0.1, 0.2, 0.3, 0.4, 0.6, 0.8, 0.9, 0.95])
    # 2 quantile bins: edges = quantiles 0, .5, 1 of p = 0.1, (0.4 + 0.6) / 2 = 0.5, 0.95.
    #   [0.1, 0.5):   .1 .2 .3 .4   mean .25,   observed 1/4 -> gap 0
    #   [0.5, 0.95]:  .6 .8 .9 .95  mean .8125, observed 3/4 -> gap .0625
    # ECE = 4/8 * 0 + 4/8 * .0625 = 0.03125
    assert expected_calibration_error(y, p, n_bins=2, strategy="quantile") == pytest.approx(
        0.03125
    )
    table = reliability_table(y, p, n_bins=2, strategy="quantile")
    np.testing.assert_allclose(table["lower"], [0.1, 0.5])
    np.testing.assert_allclose(table["upper"], [0.5, 0.95])
    np.testing.assert_array_equal(table["count"], [4, 4])


@pytest.mark.parametrize("strategy", ["uniform", "quantile"])
def test_ece_zero_when_bins_perfectly_calibrated(strategy: str) -> None:
    y = np.array([1, 0, 0, 0, 1, 1, 1, 0])
    p = np.array([0.25] * 4 + [0.75] * 4)
    assert expected_calibration_error(y, p, n_bins=2, strategy=strategy) == pytest.approx(
        0.0, abs=1e-15
    )


def test_ece_reaches_one_for_confidently_wrong() -> None:
    assert expected_calibration_error([0, 0, 1], [1.0, 1.0, 0.0]) == 1.0


def test_bin_edges_left_closed_and_one_in_last_bin() -> None:
    table = reliability_table([1, 0, 1], [1.0, 0.0, 0.5], n_bins=2)
    np.testing.assert_array_equal(table["bin"], [0, 1])
    np.testing.assert_array_equal(table["count"], [1, 2])  # 0.5 sits on an edge: upper bin
    last = reliability_table([1], [1.0], n_bins=10)
    assert last["bin"].tolist() == [9]
    assert last["lower"][0] == pytest.approx(0.9) and last["upper"][0] == 1.0


def test_quantile_bins_merge_duplicate_edges() -> None:
    y = np.array([0, 0, 0, 1, 0, 1, 1, 1])
    p = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.5, 1.0, 1.0])
    # Quantiles at 0, .25, .5, .75, 1 are 0, 0, 0, 0.625, 1 -> edges {0, 0.625, 1}: 2 bins.
    table = reliability_table(y, p, n_bins=4, strategy="quantile")
    np.testing.assert_array_equal(table["bin"], [0, 1])  # numbered after merging
    np.testing.assert_array_equal(table["count"], [6, 2])
    np.testing.assert_allclose(table["lower"], [0.0, 0.625])
    np.testing.assert_allclose(table["upper"], [0.625, 1.0])
    same = reliability_table([0, 1, 1], [0.3, 0.3, 0.3], n_bins=5, strategy="quantile")
    np.testing.assert_array_equal(same["bin"], [0])
    np.testing.assert_array_equal(same["count"], [3])
    assert (same["lower"][0], same["upper"][0]) == (0.3, 0.3)
    assert expected_calibration_error([0, 1, 1], [0.3] * 3, strategy="quantile") == (
        pytest.approx(abs(0.3 - 2 / 3))
    )


def test_reliability_table_matches_sklearn_calibration_curve() -> None:
    y, p = _example(200)
    table = reliability_table(y, p, n_bins=8)  # no p lies exactly on an edge here
    prob_true, prob_pred = calibration_curve(y, p, n_bins=8)
    np.testing.assert_allclose(table["observed_fraction"], prob_true)
    np.testing.assert_allclose(table["mean_predicted"], prob_pred)
    assert table["count"].sum() == 200


# --------------------------------------------------------------------------------------------
# Properties
# --------------------------------------------------------------------------------------------


@st.composite
def labelled_probabilities(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(2, 40))
    y = [*draw(st.lists(st.integers(0, 1), min_size=n - 2, max_size=n - 2)), 0, 1]
    p = draw(st.lists(st.floats(0.0, 1.0), min_size=n, max_size=n))
    return np.array(y), np.array(p)


@PROPERTY
@given(labelled_probabilities(), st.data(), st.sampled_from(["uniform", "quantile"]))
def test_metrics_invariant_to_permutation(data, draw, strategy: str) -> None:
    y, p = data
    perm = np.array(draw.draw(st.permutations(range(y.size))))
    a = binary_metrics(y, p, n_bins=7, strategy=strategy)
    b = binary_metrics(y[perm], p[perm], n_bins=7, strategy=strategy)
    assert b == pytest.approx(a, rel=1e-12, abs=1e-12)


@PROPERTY
@given(st.lists(st.tuples(st.integers(0, 1), st.integers(-20, 20)), min_size=1, max_size=40))
def test_auroc_invariant_to_monotone_transform(pairs: list[tuple[int, int]]) -> None:
    y = np.array([0, 1] + [a for a, _ in pairs])
    z = np.array([3, -3] + [b for _, b in pairs], dtype=float)  # integers: no float ties
    reference = auroc(y, z)
    for transformed in (sigmoid(z), z**3, np.exp(z / 4), 10 * z - 7):
        assert auroc(y, transformed) == pytest.approx(reference, abs=1e-12)


@PROPERTY
@given(labelled_probabilities(), st.integers(1, 20), st.sampled_from(["uniform", "quantile"]))
def test_ece_in_unit_interval_and_counts_sum_to_n(data, n_bins: int, strategy: str) -> None:
    y, p = data
    table = reliability_table(y, p, n_bins=n_bins, strategy=strategy)
    assert table["count"].sum() == y.size
    assert (table["count"] > 0).all()
    assert len(table["bin"]) <= n_bins
    ece = expected_calibration_error(y, p, n_bins=n_bins, strategy=strategy)
    assert 0.0 <= ece <= 1.0
    by_hand = np.sum(table["count"] / y.size
                     * np.abs(table["mean_predicted"] - table["observed_fraction"]))
    assert ece == pytest.approx(by_hand, abs=1e-12)


# --------------------------------------------------------------------------------------------
# Grouped bootstrap
# --------------------------------------------------------------------------------------------


def _hand_percentile_bootstrap(metric, y, s, n_boot, alpha, seed) -> np.ndarray:
    """Ordinary image-level bootstrap, written naively with the documented rng scheme."""
    rng = np.random.default_rng(seed)
    stats = []
    for _ in range(n_boot):
        idx = rng.integers(0, y.size, size=y.size)
        try:
            stats.append(metric(y[idx], s[idx]))
        except ValueError:
            pass
    return np.quantile(stats, [alpha / 2, 1 - alpha / 2])


def test_resample_indices_match_naive_concatenation() -> None:
    groups = np.array(["c", "a", "b", "a", "c", "c", "d"])
    codes = _check_groups(groups, groups.size)
    members = [np.flatnonzero(groups == g) for g in np.unique(groups)]  # a, b, c, d
    rng = np.random.default_rng(11)
    for idx in _group_resamples(codes, n_boot=20, seed=11):
        drawn = rng.integers(0, len(members), size=len(members))
        np.testing.assert_array_equal(idx, np.concatenate([members[g] for g in drawn]))


def test_singleton_groups_equal_ordinary_bootstrap() -> None:
    y, p = _example(80)
    ci = grouped_bootstrap_ci(auroc, y, p, np.arange(80), n_boot=200, alpha=0.1, seed=5)
    hand = _hand_percentile_bootstrap(roc_auc_score, y, p, 200, 0.1, 5)
    np.testing.assert_allclose([ci["ci_low"], ci["ci_high"]], hand)
    # Relabelled groups draw different resamples of the same distribution: close, not equal.
    other = grouped_bootstrap_ci(auroc, y, p, np.arange(80)[::-1], n_boot=200, alpha=0.1,
                                 seed=5)
    assert (other["ci_low"], other["ci_high"]) != (ci["ci_low"], ci["ci_high"])
    assert other["ci_low"] == pytest.approx(ci["ci_low"], abs=0.04)
    assert other["ci_high"] == pytest.approx(ci["ci_high"], abs=0.04)


def test_groups_widen_interval_for_duplicated_images() -> None:
    y, p = _example(80)
    k = 5
    y_dup, p_dup = np.repeat(y, k), np.repeat(p, k)
    grouped = grouped_bootstrap_ci(auroc, y_dup, p_dup, np.repeat(np.arange(80), k),
                                   n_boot=200, seed=1)
    independent = grouped_bootstrap_ci(auroc, y_dup, p_dup, np.arange(80 * k),
                                       n_boot=200, seed=1)
    width_grouped = grouped["ci_high"] - grouped["ci_low"]
    width_independent = independent["ci_high"] - independent["ci_low"]
    assert width_grouped > 1.5 * width_independent  # about sqrt(k) = 2.2 times
    # Resampling whole groups of k copies is resampling the 80 originals: AUROC is unchanged by
    # repeating every image k times, so the interval equals the ungrouped one on the originals.
    original = grouped_bootstrap_ci(auroc, y, p, np.arange(80), n_boot=200, seed=1)
    assert (grouped["ci_low"], grouped["ci_high"]) == pytest.approx(
        (original["ci_low"], original["ci_high"])
    )


def test_bootstrap_deterministic_per_seed() -> None:
    y, p = _example(60)
    groups = np.arange(60) // 3
    first = bootstrap_metrics(y, p, groups, n_boot=40, seed=7)
    assert bootstrap_metrics(y, p, groups, n_boot=40, seed=7) == first
    other = bootstrap_metrics(y, p, groups, n_boot=40, seed=8)
    assert other != first
    assert all(other[m]["value"] == first[m]["value"] for m in METRIC_NAMES)
    a = grouped_bootstrap_ci(auroc, y, p, groups, n_boot=40, seed=7)
    assert grouped_bootstrap_ci(auroc, y, p, groups, n_boot=40, seed=7) == a
    assert grouped_bootstrap_ci(auroc, y, p, groups, n_boot=40, seed=8) != a


def test_point_estimate_is_metric_on_full_data_and_inside_interval() -> None:
    y, p = _example(120)
    groups = np.arange(120) // 2
    full = binary_metrics(y, p, threshold=0.45)
    result = bootstrap_metrics(y, p, groups, threshold=0.45, n_boot=120, seed=2)
    assert list(result) == list(METRIC_NAMES)
    for name in METRIC_NAMES:
        r = result[name]
        assert set(r) == {"value", "ci_low", "ci_high"}
        assert r["value"] == full[name]
        assert r["ci_low"] <= r["ci_high"]
        if name != "ece":  # a resample's ECE is biased upwards (|noise| > 0), skip it here
            assert r["ci_low"] <= r["value"] <= r["ci_high"], name
    ci = grouped_bootstrap_ci(auroc, y, p, groups, n_boot=120, seed=2)
    assert ci["value"] == full["auroc"]
    assert ci["ci_low"] < ci["value"] < ci["ci_high"]
    assert ci["n_boot_used"] == 120


def test_shared_resamples_give_same_interval_as_one_metric_alone() -> None:
    y, p = _example(60)
    groups = np.arange(60) // 2
    together = bootstrap_metrics(y, p, groups, threshold=0.6, n_boot=30, seed=4,
                                 n_bins=5, strategy="quantile")
    for name in METRIC_NAMES:
        def one(yb, pb, name=name):
            return binary_metrics(yb, pb, threshold=0.6, n_bins=5, strategy="quantile")[name]

        alone = grouped_bootstrap_ci(one, y, p, groups, n_boot=30, seed=4)
        # Equal up to rounding: the shared resamples are scored by the numpy kernels.
        assert (alone["ci_low"], alone["ci_high"]) == pytest.approx(
            (together[name]["ci_low"], together[name]["ci_high"]), abs=1e-12), name


def test_single_class_resamples_are_skipped_and_counted() -> None:
    # Four groups, only the first holds positives: a resample misses it with chance (3/4)^4.
    y = np.array([1, 1, 0, 0, 0, 0, 0, 0])
    p = np.array([0.9, 0.6, 0.2, 0.7, 0.1, 0.3, 0.4, 0.5])
    groups = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    ci = grouped_bootstrap_ci(auroc, y, p, groups, n_boot=100, seed=0)
    rng = np.random.default_rng(0)
    expected = sum(0 in rng.integers(0, 4, size=4) for _ in range(100))
    assert 50 <= ci["n_boot_used"] == expected < 100
    all_nine = bootstrap_metrics(y, p, groups, n_boot=100, seed=0)
    assert all_nine["auroc"]["ci_low"] == pytest.approx(ci["ci_low"], abs=1e-12)


def test_too_many_undefined_resamples_raise() -> None:
    y, p = _example(40)

    def needs_distinct_scores(yb: np.ndarray, pb: np.ndarray) -> float:
        if np.unique(pb).size < pb.size:  # almost every resample repeats an image
            raise ValueError("repeated image")
        return roc_auc_score(yb, pb)

    with pytest.raises(ValueError, match=r"undefined on \d+ of 50 bootstrap resamples"):
        grouped_bootstrap_ci(needs_distinct_scores, y, p, np.arange(40), n_boot=50)
    with pytest.raises(ValueError, match="undefined on the full data"):
        grouped_bootstrap_ci(lambda yb, pb: float("nan"), y, p, np.arange(40), n_boot=10)


@pytest.mark.parametrize("label", [0, 1])
def test_bootstrap_all_one_class_raises(label: int) -> None:
    y = np.full(6, label)
    p = np.linspace(0.1, 0.9, 6)
    groups = np.arange(6)
    with pytest.raises(ValueError, match="only one class present"):
        grouped_bootstrap_ci(auroc, y, p, groups, n_boot=20)
    with pytest.raises(ValueError, match="only one class present"):
        bootstrap_metrics(y, p, groups, n_boot=20)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"groups": np.arange(5)}, "groups and y_true have different lengths"),
        ({"groups": np.zeros((6, 1))}, "groups must be 1-D"),
        ({"n_boot": 0}, "n_boot must be a positive integer"),
        ({"alpha": 1.0}, r"alpha must lie in \(0, 1\)"),
        ({"seed": 1.5}, "seed must be an integer"),
    ],
)
def test_bootstrap_argument_validation(kwargs: dict, message: str) -> None:
    args = {"y_true": [0, 1, 0, 1, 0, 1], "y_score": np.linspace(0.1, 0.9, 6),
            "groups": np.arange(6), **kwargs}
    with pytest.raises(ValueError, match=message):
        grouped_bootstrap_ci(auroc, args.pop("y_true"), args.pop("y_score"),
                             args.pop("groups"), **args)


# --------------------------------------------------------------------------------------------
# Input validation
# --------------------------------------------------------------------------------------------

PROBABILITY_FUNCTIONS = [binary_metrics, expected_calibration_error, reliability_table,
                         log_loss_value]


@pytest.mark.parametrize("fn", [*PROBABILITY_FUNCTIONS, auroc, roc_points, pr_points])
@pytest.mark.parametrize(
    ("y_true", "y_prob", "message"),
    [
        ([0, 1, 0], [0.1, 0.2], "different lengths: 3 != 2"),
        ([0, 1, 2], [0.1, 0.2, 0.3], r"only the labels 0 and 1, got also \[2\]"),
        ([0, 1, -1], [0.1, 0.2, 0.3], "only the labels 0 and 1"),
        ([0, 1, 0.5], [0.1, 0.2, 0.3], "only the labels 0 and 1"),
        ([0, 1, float("nan")], [0.1, 0.2, 0.3], "y_true contains NaN"),
        (["no", "yes", "no"], [0.1, 0.2, 0.3], "numeric labels"),
        ([0, 1, 0], [0.1, float("nan"), 0.3], "contains NaN"),
        ([0, 1, 0], [0.1, float("inf"), 0.3], "infinite"),
        ([[0, 1]], [[0.1, 0.2]], "must be 1-D"),
        ([], [], "empty"),
    ],
)
def test_invalid_input_raises(fn, y_true, y_prob, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        fn(y_true, y_prob)


@pytest.mark.parametrize("fn", PROBABILITY_FUNCTIONS)
@pytest.mark.parametrize("bad", [1.2, -0.1])
def test_probabilities_outside_unit_interval_raise(fn, bad: float) -> None:
    with pytest.raises(ValueError, match=r"y_prob must lie in \[0, 1\]"):
        fn([0, 1, 0], [0.1, bad, 0.3])


def test_scores_outside_unit_interval_are_fine_for_auroc() -> None:
    assert auroc([0, 1, 0], [-2.0, 5.0, 0.3]) == 1.0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"threshold": 1.5}, r"threshold must lie in \[0, 1\]"),
        ({"threshold": float("nan")}, "threshold"),
        ({"n_bins": 0}, "n_bins must be a positive integer"),
        ({"n_bins": 2.5}, "n_bins must be a positive integer"),
        ({"strategy": "kmeans"}, "strategy must be one of"),
    ],
)
def test_invalid_arguments_raise(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        binary_metrics([0, 1, 0, 1], [0.1, 0.6, 0.3, 0.8], **kwargs)


def test_booleans_and_float_labels_accepted() -> None:
    p = np.array([0.2, 0.7, 0.4, 0.9])
    ints = binary_metrics([0, 1, 0, 1], p)
    assert binary_metrics(np.array([False, True, False, True]), p) == ints
    assert binary_metrics([0.0, 1.0, 0.0, 1.0], p) == ints


# --------------------------------------------------------------------------------------------
# The numpy kernels of the bootstrap loops against scikit-learn
# --------------------------------------------------------------------------------------------


@PROPERTY
@given(n=st.integers(2, 80), seed=st.integers(0, 10_000), decimals=st.sampled_from([1, 2, 12]),
       threshold=st.floats(0.0, 1.0), strategy=st.sampled_from(["uniform", "quantile"]))
def test_resampled_metrics_equal_scikit_learns(n, seed, decimals, threshold, strategy) -> None:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    y[:2] = [0, 1]
    p = np.round(rng.random(n), decimals)  # 1-2 decimals: many tied probabilities
    fast = _resampled_metrics(y, p, threshold, 10, strategy)
    reference = _binary_metrics(y, p, threshold, 10, strategy)
    assert list(fast) == list(reference)
    for name in METRIC_NAMES:
        assert fast[name] == pytest.approx(reference[name], abs=1e-12), name
    assert _rank_auroc(y, p) == pytest.approx(roc_auc_score(y, p), abs=1e-12)


def test_rank_auroc_rejects_a_single_class() -> None:
    with pytest.raises(ValueError, match="only one class"):
        _rank_auroc(np.zeros(4, dtype=np.int64), np.linspace(0, 1, 4))


def test_bootstrap_intervals_match_scikit_learn_scored_resamples(monkeypatch) -> None:
    y, p = _example(90, seed=5)
    groups = np.arange(90) // 3
    fast = bootstrap_metrics(y, p, groups, threshold=0.4, n_boot=200, seed=1)
    monkeypatch.setattr(bootstrap_module, "_resampled_metrics", _binary_metrics)
    reference = bootstrap_metrics(y, p, groups, threshold=0.4, n_boot=200, seed=1)
    for name in METRIC_NAMES:
        assert fast[name]["value"] == reference[name]["value"]
        for end in ("ci_low", "ci_high"):
            assert fast[name][end] == pytest.approx(reference[name][end], abs=1e-12), name
