"""Threshold criteria: hand-computed choices, exact ties, degenerate sets, brute force."""

from __future__ import annotations

from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import (
    accuracy_score,
    confusion_matrix,
    f1_score,
    precision_score,
    recall_score,
)

from fraclab.evaluate.thresholds import (
    OPERATING_METRICS,
    choose_threshold,
    criterion_label,
    operating_point,
    threshold_curve,
)

PROPERTY = settings(max_examples=80, deadline=None)

# Six images, sorted by probability:   p  .1 .2 .3 .4 .6 .8
#                                       y   0  0  1  0  1  1
# threshold t (p >= t positive):        .8   .6   .4   .3   .2   .1
# TP / FP:                             1/0  2/0  2/1  3/1  3/2  3/3
# J = TP/3 - FP/3:                     1/3  2/3  1/3  2/3  1/3   0
# F1 = 2 TP / (TP + FP + 3):            .5   .8  .67  .857 .75  .67
Y = [0, 0, 1, 0, 1, 1]
P = [0.1, 0.2, 0.3, 0.4, 0.6, 0.8]


@pytest.mark.parametrize(("criterion", "target", "expected"), [
    ("youden", None, 0.6),  # J = 2/3 at .6 and at .3: the higher threshold wins the tie
    ("f1", None, 0.3),
    ("sens", 0.9, 0.3),  # sensitivity 1 needs .3; .4 gives only 2/3
    ("sens", 2 / 3, 0.6),  # the highest threshold with 2 of 3 positives found
    ("spec", 0.9, 0.6),  # specificity 1 (no FP): the lowest such threshold is .6
    ("spec", 2 / 3, 0.3),  # one FP allowed: .3 (at .2 there are two)
    ("fixed", 0.5, 0.5),
])
def test_chosen_thresholds_equal_hand_computed_ones(criterion, target, expected):
    assert choose_threshold(Y, P, criterion, target) == expected


def test_youden_ties_are_decided_exactly_not_by_rounding():
    # p: .9 .8 .7 .6 .5 .4 with y 1 0 0 1 1 0 (P = N = 3). J = 1/3 at .9 (TP 1, FP 0) and
    # at .5 (TP 3, FP 2), but in floats 1 - 2/3 = 0.33333333333333337 > 1/3, so a float
    # argmax would pick .5. The exact comparison sees the tie; the higher threshold wins.
    y, p = [1, 0, 0, 1, 1, 0], [0.9, 0.8, 0.7, 0.6, 0.5, 0.4]
    assert 3 / 3 - 2 / 3 > 1 / 3 - 0 / 3  # the rounding trap is real
    assert choose_threshold(y, p, "youden") == 0.9


def test_f1_ties_take_the_highest_threshold():
    # F1 = 2/3 both at .9 (TP 1, FP 0: 2/3) and at .6 (TP 2, FP 2: 4/6).
    assert choose_threshold([1, 0, 0, 1], [0.9, 0.8, 0.7, 0.6], "f1") == 0.9


def test_tied_probabilities_move_together():
    # Two images at .5, one of each class: no threshold separates them.
    y, p = [0, 1, 0, 1], [0.2, 0.5, 0.5, 0.9]
    assert choose_threshold(y, p, "sens", 1.0) == 0.5
    assert operating_point(y, p, 0.5)["specificity"] == 0.5


def test_sensitivity_target_is_met_exactly_at_a_decimal_ratio():
    # 9 of 10 positives is a sensitivity of exactly 0.9: it meets the 0.9 target.
    y = np.r_[np.ones(10, int), np.zeros(5, int)]
    p = np.r_[np.linspace(0.55, 0.95, 10), np.linspace(0.1, 0.5, 5)]
    assert choose_threshold(y, p, "sens", 0.9) == p[1]


def test_specificity_target_can_require_predicting_nothing_positive():
    # The most confident prediction is a normal image, so only "nothing positive" keeps
    # every normal negative: the threshold is the next float above the largest probability.
    y, p = [0, 1, 0], [0.9, 0.5, 0.1]
    t = choose_threshold(y, p, "spec", 1.0)
    assert t == np.nextafter(0.9, 1.0) and t > 0.9
    point = operating_point(y, p, t)
    assert point["sensitivity"] == 0.0 and point["specificity"] == 1.0
    assert point["precision"] == 0.0 and point["f1"] == 0.0  # zero_division = 0, not NaN


def test_a_classifier_without_signal_gets_the_nothing_positive_youden_threshold():
    y, p = [1, 0, 1, 0], [0.2, 0.4, 0.6, 0.8]  # every threshold has J <= 0
    assert choose_threshold(y, p, "youden") > 0.8


@pytest.mark.parametrize("criterion,target", [("youden", None), ("f1", None), ("sens", 0.9),
                                              ("spec", 0.9)])
def test_a_single_class_set_is_an_error_for_tuned_criteria(criterion, target):
    with pytest.raises(ValueError, match="only one class"):
        choose_threshold([1, 1, 1], [0.2, 0.5, 0.9], criterion, target)


def test_the_fixed_threshold_needs_no_data_of_both_classes():
    assert choose_threshold([1, 1], [0.2, 0.9], "fixed", 0.5) == 0.5


@pytest.mark.parametrize(("args", "message"), [
    (([0, 1], [0.2, np.nan], "youden"), "NaN"),
    (([0, 1], [0.2, 1.5], "youden"), r"\[0, 1\]"),
    (([0, 1], [0.2, 0.7], "median"), "criterion must be one of"),
    (([0, 1], [0.2, 0.7], "sens"), "needs a target"),
    (([0, 1], [0.2, 0.7], "youden", 0.5), "takes no target"),
    (([0, 1], [0.2, 0.7], "sens", 0.0), r"\(0, 1\]"),
    (([0, 1], [0.2, 0.7], "spec", 1.2), r"\(0, 1\]"),
    (([0, 1], [0.2, 0.7], "fixed", -0.1), r"\[0, 1\]"),
])
def test_invalid_arguments_are_errors(args, message):
    with pytest.raises(ValueError, match=message):
        choose_threshold(*args)


def test_operating_point_matches_scikit_learn():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.3 * y + rng.random(200) * 0.7, 0, 1)
    for t in (0.2, 0.45, 0.7):
        pred = (p >= t).astype(int)
        tn, fp, _, _ = confusion_matrix(y, pred).ravel()
        assert operating_point(y, p, t) == pytest.approx({
            "sensitivity": recall_score(y, pred), "specificity": tn / (tn + fp),
            "precision": precision_score(y, pred), "f1": f1_score(y, pred),
            "accuracy": accuracy_score(y, pred)}, abs=1e-15)
    assert tuple(operating_point(y, p, 0.5)) == OPERATING_METRICS
    with pytest.raises(ValueError, match="only one class"):
        operating_point([1, 1], [0.2, 0.3], 0.5)


def test_threshold_curve_is_the_operating_point_at_every_distinct_probability():
    curve = threshold_curve(Y, P)
    np.testing.assert_array_equal(curve["threshold"], P)  # distinct and increasing
    for k, t in enumerate(P):
        point = operating_point(Y, P, t)
        for name in ("sensitivity", "specificity", "precision", "f1"):
            assert curve[name][k] == pytest.approx(point[name], abs=1e-15)


def test_criterion_labels():
    assert [criterion_label(c, t) for c, t in [("youden", None), ("f1", None), ("sens", 0.9),
                                               ("spec", 0.925), ("fixed", 0.5)]] == \
        ["youden", "f1", "sens90", "spec92_5", "fixed50"]


# --------------------------------------------------------------------------------------------
# Brute force: every candidate threshold, exact rational arithmetic
# --------------------------------------------------------------------------------------------


def _brute(y: list[int], p: list[float]) -> list[tuple[float, int, int]]:
    """(threshold, TP, FP) for every distinct probability and for 'nothing positive'."""
    candidates = [*sorted(set(p), reverse=True)]
    rows = [(np.nextafter(max(p), np.inf), 0, 0)]
    for t in candidates:
        rows.append((t, sum(1 for yi, pi in zip(y, p, strict=True) if pi >= t and yi),
                     sum(1 for yi, pi in zip(y, p, strict=True) if pi >= t and not yi)))
    return rows


cases = st.lists(st.tuples(st.integers(0, 1), st.integers(0, 20)), min_size=2, max_size=40)


@PROPERTY
@given(data=cases, goal=st.sampled_from([0.5, 0.8, 0.9, 0.95, 1.0]))
def test_choices_agree_with_brute_force(data, goal):
    y = [label for label, _ in data]
    if min(y) == max(y):
        y[0] = 1 - y[0]
    p = [k / 20 for _, k in data]  # a coarse grid, so ties are frequent
    n_pos, n_neg = sum(y), len(y) - sum(y)
    rows = _brute(y, p)  # highest threshold first

    def first_best(score):
        best = max(score(tp, fp) for _, tp, fp in rows)
        return next(t for t, tp, fp in rows if score(tp, fp) == best)

    assert choose_threshold(y, p, "youden") == first_best(
        lambda tp, fp: Fraction(tp, n_pos) - Fraction(fp, n_neg))
    assert choose_threshold(y, p, "f1") == first_best(
        lambda tp, fp: Fraction(2 * tp, tp + fp + n_pos))
    exact_goal = Fraction(str(goal))
    sens = choose_threshold(y, p, "sens", goal)
    assert sens == next(t for t, tp, _ in rows if Fraction(tp, n_pos) >= exact_goal)
    spec = choose_threshold(y, p, "spec", goal)
    assert spec == [t for t, _, fp in rows if Fraction(n_neg - fp, n_neg) >= exact_goal][-1]
