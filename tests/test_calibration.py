"""Temperature and Platt scaling: known parameters recovered, ranking kept, ECE by hand."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score

from fraclab.evaluate.calibration import (
    TEMPERATURE_BOUNDS,
    Calibration,
    calibration_summary,
    fit_calibration,
    fit_platt,
    fit_temperature,
    fit_temperature_with_intercept,
)
from fraclab.evaluate.metrics import sigmoid

PROPERTY = settings(max_examples=60, deadline=None)


def _simulate(slope: float, intercept: float, n: int, seed: int) -> tuple[np.ndarray, ...]:
    """Logits z ~ N(0, 3^2) and labels drawn from sigmoid(slope * z + intercept)."""
    rng = np.random.default_rng(seed)
    z = rng.normal(0.0, 3.0, n)
    y = (rng.random(n) < sigmoid(slope * z + intercept)).astype(int)
    return y, z


@pytest.mark.parametrize("t0", [0.4, 1.0, 2.5, 6.0])
def test_temperature_recovers_a_known_temperature(t0):
    y, z = _simulate(1.0 / t0, 0.0, 20_000, seed=int(10 * t0))
    t = fit_temperature(y, z)
    # Sampling error: the MLE of beta = 1/T has SE 1 / sqrt(Fisher information).
    p = sigmoid(z / t0)
    se_beta = 1.0 / math.sqrt(np.sum(z**2 * p * (1 - p)))
    assert abs(1.0 / t - 1.0 / t0) < 4 * se_beta
    # Optimiser error: at the fitted T the BCE gradient in beta vanishes (it is the MLE).
    assert abs(np.mean((sigmoid(z / t) - y) * z)) < 1e-6


def test_temperature_is_logistic_regression_without_intercept():
    # Independent check: sigmoid(z / T) is a one-feature logistic regression with slope 1/T.
    y, z = _simulate(0.7, 0.0, 3_000, seed=5)
    model = LogisticRegression(C=np.inf, fit_intercept=False, tol=1e-12, max_iter=1000)
    beta = model.fit(z[:, None], y).coef_[0, 0]
    assert fit_temperature(y, z) == pytest.approx(1.0 / beta, rel=1e-6)


def test_temperature_is_deterministic_and_order_free():
    y, z = _simulate(0.5, 0.0, 500, seed=1)
    assert fit_temperature(y, z) == fit_temperature(y.copy(), z.copy())
    order = np.random.default_rng(0).permutation(y.size)
    assert fit_temperature(y[order], z[order]) == pytest.approx(fit_temperature(y, z), rel=1e-12)


def test_temperature_falls_back_to_a_bound_when_the_optimum_is_outside():
    y, z = _simulate(-1.0, 0.0, 500, seed=2)  # logits with the wrong sign: best T is +inf
    assert fit_temperature(y, z) == TEMPERATURE_BOUNDS[1]
    separable = (z > 0).astype(int)  # BCE falls towards T = 0
    assert fit_temperature(separable, z) == TEMPERATURE_BOUNDS[0]
    assert fit_temperature(separable, z, bounds=(0.5, 2.0)) == 0.5


@PROPERTY
@given(
    data=st.lists(st.tuples(st.integers(0, 1), st.integers(-80, 80)), min_size=2, max_size=60),
    temperature=st.floats(0.5, 4.0),
)
def test_temperature_scaling_leaves_auroc_unchanged(data, temperature):
    y = np.array([label for label, _ in data])
    if y.min() == y.max():
        y[0] = 1 - y[0]
    # Logits on a 1/8 grid within +-10 and T >= 0.5 keep |z / T| <= 20: sigmoid is then
    # strictly increasing in float64 too. Beyond about 37 it rounds to exactly 1.0, which
    # would create ties that the real numbers do not have.
    z = np.array([k / 8 for _, k in data])
    calibrated = Calibration("temperature", 1.0 / temperature, 0.0).probabilities(z)
    assert roc_auc_score(y, calibrated) == roc_auc_score(y, z)
    fitted = fit_calibration(y, z, "temperature")
    if fitted.temperature >= 0.5:
        assert roc_auc_score(y, fitted.probabilities(z)) == roc_auc_score(y, z)


def test_platt_recovers_known_slope_and_intercept():
    slope, intercept = 0.6, -0.8
    y, z = _simulate(slope, intercept, 20_000, seed=7)
    a, b = fit_platt(y, z)
    p = sigmoid(slope * z + intercept)
    x = np.column_stack([z, np.ones_like(z)])
    se = np.sqrt(np.diag(np.linalg.inv(x.T @ (x * (p * (1 - p))[:, None]))))
    assert abs(a - slope) < 4 * se[0] and abs(b - intercept) < 4 * se[1]


def test_platt_matches_weighted_logistic_regression_on_smoothed_targets():
    # Platt's soft targets t are the same as each sample counted as a positive with weight t
    # and as a negative with weight 1 - t.
    y, z = _simulate(1.2, 0.3, 400, seed=8)
    n_pos, n_neg = y.sum(), y.size - y.sum()
    t = np.where(y == 1, (n_pos + 1) / (n_pos + 2), 1 / (n_neg + 2))
    x = np.r_[z, z][:, None]
    model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=1000)
    model.fit(x, np.r_[np.ones(y.size), np.zeros(y.size)], sample_weight=np.r_[t, 1 - t])
    a, b = fit_platt(y, z)
    assert a == pytest.approx(model.coef_[0, 0], rel=1e-5)
    assert b == pytest.approx(model.intercept_[0], rel=1e-5, abs=1e-7)


def test_platt_stays_finite_on_separable_data():
    z = np.array([-3.0, -1.0, 1.0, 2.0])
    a, b = fit_platt([0, 0, 1, 1], z)
    assert math.isfinite(a) and math.isfinite(b) and a > 0


def test_fit_calibration_methods():
    y, z = _simulate(0.5, 0.0, 300, seed=3)
    temperature = fit_calibration(y, z, "temperature")
    t, b = fit_temperature_with_intercept(y, z)
    assert (temperature.temperature, temperature.intercept) == pytest.approx((t, b))
    np.testing.assert_allclose(temperature.probabilities(z), sigmoid(z / t + b))
    none = fit_calibration(y, z, "none")
    assert (none.slope, none.intercept, none.temperature) == (1.0, 0.0, 1.0)
    platt = fit_calibration(y, z, "platt")
    assert platt.temperature is None and (platt.slope, platt.intercept) == fit_platt(y, z)


@pytest.mark.parametrize("method", ["temperature", "platt", "none"])
def test_a_single_class_calibration_set_is_an_error(method):
    with pytest.raises(ValueError, match="only one class"):
        fit_calibration([1, 1, 1], [0.5, 1.0, 2.0], method)


@pytest.mark.parametrize(("y", "z", "message"), [
    ([0, 1], [0.1, np.nan], "NaN"),
    ([0, 1], [0.1, np.inf], "infinite"),
    ([0, 2], [0.1, 0.2], "only the labels 0 and 1"),
    ([0, 1, 1], [0.1, 0.2], "different lengths"),
])
def test_invalid_input_is_an_error(y, z, message):
    with pytest.raises(ValueError, match=message):
        fit_temperature(y, z)


def test_bad_bounds_and_method_are_errors():
    with pytest.raises(ValueError, match="bounds"):
        fit_temperature([0, 1], [0.0, 1.0], bounds=(0.0, 1.0))
    with pytest.raises(ValueError, match="method"):
        fit_calibration([0, 1], [0.0, 1.0], "isotonic")


def test_ece_matches_hand_worked_examples():
    # Uniform, 2 bins [0, .5) and [.5, 1]: {.1, .2; y 0, 1}: |.15 - .5| = .35, weight 2/5;
    # {.7, .8, .9; y 1, 1, 0}: |.8 - 2/3| = 2/15, weight 3/5. ECE = .14 + .08 = .22.
    y, p = [0, 1, 1, 1, 0], [0.1, 0.2, 0.7, 0.8, 0.9]
    assert calibration_summary(y, p, n_bins=2)["ece"] == pytest.approx(0.22, abs=1e-15)
    # Uniform: {.1, .2, .3; y 0, 0, 1}: |.2 - 1/3| * 3/4 = .1; {.8; 1}: .2 * 1/4 = .05 -> .15.
    # Quantile (median .25): {.1, .2; 0, 0}: .15 * 1/2; {.3, .8; 1, 1}: .45 * 1/2 -> .3.
    y, p = [0, 0, 1, 1], [0.1, 0.2, 0.3, 0.8]
    assert calibration_summary(y, p, n_bins=2)["ece"] == pytest.approx(0.15, abs=1e-15)
    assert calibration_summary(y, p, n_bins=2, strategy="quantile")["ece"] == pytest.approx(
        0.3, abs=1e-15)


def test_calibration_summary_improves_on_an_overconfident_model():
    y, z = _simulate(0.4, 0.0, 4_000, seed=4)  # true T = 2.5: raw logits are overconfident
    t = fit_temperature(y[:2000], z[:2000])  # fitted on one half, judged on the other
    before = calibration_summary(y[2000:], sigmoid(z[2000:]))
    after = calibration_summary(y[2000:], sigmoid(z[2000:] / t))
    assert after["auroc"] == before["auroc"]
    assert after["ece"] < before["ece"] / 2
    assert after["log_loss"] < before["log_loss"] and after["brier"] < before["brier"]


def test_temperature_with_an_intercept_removes_the_shift_of_weighted_training():
    """A model trained with positive-class weight w has logits shifted towards positives;
    dividing by T alone cannot remove an offset, T with a fitted intercept does."""
    from sklearn.linear_model import LogisticRegression

    from fraclab.evaluate.calibration import fit_temperature, positive_weight

    rng = np.random.default_rng(0)
    n = 20_000
    true_logit = rng.normal(-0.6, 1.5, n)  # about 37 % positives
    y = (rng.random(n) < 1 / (1 + np.exp(-true_logit))).astype(int)
    w = positive_weight(y[: n // 2], "auto")
    assert w == pytest.approx((y[: n // 2] == 0).sum() / y[: n // 2].sum())
    model_logit = 1.4 * true_logit + 0.7 * math.log(w)  # overconfident, part of the way to log w
    fit, held = slice(0, n // 2), slice(n // 2, n)
    only_t = 1 / fit_temperature(y[fit], model_logit[fit])
    calibrated = fit_calibration(y[fit], model_logit[fit], "temperature")
    # The held-out images' true mean probability (no label noise in the comparison).
    prevalence = (1 / (1 + np.exp(-true_logit[held]))).mean()
    assert (1 / (1 + np.exp(-only_t * model_logit[held]))).mean() - prevalence > 0.02
    assert abs(calibrated.probabilities(model_logit[held]).mean() - prevalence) < 0.01
    assert calibrated.temperature == pytest.approx(1.4, rel=0.05)
    assert calibrated.intercept == pytest.approx(-0.7 * math.log(w) / 1.4, abs=0.05)
    # It is maximum likelihood: scikit-learn's unpenalised logistic regression, and the
    # mean calibrated probability on the fit set is its prevalence.
    reference = LogisticRegression(C=np.inf, tol=1e-12, max_iter=1000).fit(
        model_logit[fit, None], y[fit])
    assert 1 / calibrated.temperature == pytest.approx(reference.coef_[0, 0], rel=1e-5)
    assert calibrated.intercept == pytest.approx(reference.intercept_[0], abs=1e-5)
    assert calibrated.probabilities(model_logit[fit]).mean() == pytest.approx(y[fit].mean(),
                                                                           abs=1e-7)
