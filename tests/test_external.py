"""External validation's pure parts: metrics, recalibration, class matching, leakage, params,
and the limitations it implies (the stage itself runs in tests/test_pipeline.py)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import expit, logit
from sklearn.metrics import roc_auc_score

from fraclab.data.neardup import near_duplicates_between
from fraclab.evaluate.external import (
    calibration_slope_intercept,
    recalibration_gain,
    validation_metrics,
)
from fraclab.external.stage import leakage, match_classes
from fraclab.params import ParamsError, external_entry


def _sample(n: int, seed: int, spread: float = 1.0, shift: float = 0.0):
    """Labels drawn from true risks ``r``; the model says ``sigmoid(spread * logit(r) +
    shift)``: calibrated when spread = 1 and shift = 0."""
    rng = np.random.default_rng(seed)
    risk = expit(rng.normal(0, 1.5, n))
    y = (rng.random(n) < risk).astype(int)
    return y, expit(spread * logit(risk) + shift)


def test_slope_and_intercept_recover_the_miscalibration():
    y, p = _sample(20000, 0)
    fit = calibration_slope_intercept(y, p)
    assert fit["slope"] == pytest.approx(1, abs=0.05)
    assert fit["intercept"] == pytest.approx(0, abs=0.05)
    # Predictions twice as extreme as the truth: the slope halves.
    y, p = _sample(20000, 1, spread=2.0, shift=0.5)
    fit = calibration_slope_intercept(y, p)
    assert fit["slope"] == pytest.approx(0.5, abs=0.03)
    assert fit["intercept"] == pytest.approx(-0.25, abs=0.05)


def test_saturated_probabilities_are_finite():
    fit = calibration_slope_intercept([0, 1, 0, 1, 1], [0.0, 1.0, 0.2, 0.9, 0.6])
    assert np.isfinite(fit["slope"]) and np.isfinite(fit["intercept"])


def test_validation_metrics_match_their_definitions():
    y, p = _sample(300, 2, spread=1.5)
    groups = np.arange(300) // 3
    m = validation_metrics(y, p, groups, {"half": 0.5, "low": 0.2}, n_boot=200, seed=0)
    assert m["n"] == 300 and m["groups"] == 100 and m["fractured"] == y.sum()
    assert m["auroc"]["value"] == pytest.approx(roc_auc_score(y, p))
    assert m["mean_minus_prevalence"] == pytest.approx(p.mean() - y.mean())
    for name in ("auroc", "brier", "ece", "calibration_slope"):
        assert m[name]["ci_low"] <= m[name]["value"] <= m[name]["ci_high"], name
    point = m["operating_points"]["low"]
    assert point["threshold"] == 0.2
    assert point["sensitivity"]["value"] == pytest.approx((p[y == 1] >= 0.2).mean())
    assert point["specificity"]["value"] == pytest.approx((p[y == 0] < 0.2).mean())
    assert m["calibration_slope"]["ci_high"] < 1  # too extreme, and the interval says so


def test_recalibration_fits_on_one_half_and_scores_the_other():
    y, p = _sample(2000, 3, spread=2.0, shift=1.0)
    groups = np.arange(2000)
    fit_rows = groups % 2 == 0
    gain = recalibration_gain(y, p, groups, fit_rows, n_boot=200)
    assert gain["fitted_on"] == gain["scored_on"] == 1000
    # A monotone map: ranking unchanged; calibration better.
    assert gain["after"]["auroc"]["value"] == pytest.approx(gain["before"]["auroc"]["value"])
    assert gain["after"]["ece"]["value"] < gain["before"]["ece"]["value"] / 2
    assert gain["after"]["brier"]["value"] < gain["before"]["brier"]["value"]
    with pytest.raises(ValueError, match="both the fitting and the scoring"):
        recalibration_gain(y, p, groups // 2, fit_rows, n_boot=200)


def test_classes_match_by_name_or_mapping():
    found = match_classes(("fracture", "text", "elbow"), ("elbow", "wrist"), {})
    assert found == {"ids": {2: 0}, "matched": {"elbow": "elbow"},
                     "unmatched": ["fracture", "text"], "absent": ["wrist"]}
    found = match_classes(("fracture", "text"), ("elbow", "wrist"), {"fracture": "wrist"})
    assert found["ids"] == {0: 1} and found["unmatched"] == ["text"]
    with pytest.raises(ValueError, match="dataset's classes"):
        match_classes(("fracture",), ("elbow",), {"bone": "elbow"})
    with pytest.raises(ValueError, match="detector's classes"):
        match_classes(("fracture",), ("elbow",), {"fracture": "hip"})


def _hex(bits: np.ndarray) -> str:
    return np.packbits(bits).tobytes().hex()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(0, 256))
def test_near_duplicates_between_is_brute_force(seed, max_distance):
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 2, (7, 256)).astype(np.uint8)
    b = np.concatenate([a[:3] ^ (rng.random((3, 256)) < 0.05),
                        rng.integers(0, 2, (5, 256))]).astype(np.uint8)
    expected = sorted((i, j, int((a[i] != b[j]).sum())) for i in range(7) for j in range(8)
                      if (a[i] != b[j]).sum() <= max_distance)
    got = near_duplicates_between([_hex(r) for r in a], [_hex(r) for r in b], max_distance,
                                  chunk=3)
    assert got == expected


def test_leakage_prefers_exact_then_the_closest_near_copy():
    zero, one_bit, two_bits = "00" * 32, "01" + "00" * 31, "03" + "00" * 31
    far = "ff" * 32
    found = leakage(["s1", "s2", "s3"], [zero, zero, far], ["s9", "s1"], [two_bits, one_bit],
                    max_distance=4)
    assert found == [("exact", 1, 0), ("near", 1, 1), ("", -1, -1)]


def test_external_entries_are_validated():
    params = {"external": {"site_b": {"path": "/data/b", "recalibrate": True}}}
    entry = external_entry(params, "site_b")
    assert entry.format == "auto" and entry.recalibrate and entry.n_boot == 1000
    with pytest.raises(ParamsError, match=r"no `external\.site_c`"):
        external_entry(params, "site_c")
    with pytest.raises(ParamsError, match="needs at least a `path`"):
        external_entry({"external": {"x": {"format": "yolo"}}}, "x")
    with pytest.raises(ParamsError, match="unknown key"):
        external_entry({"external": {"x": {"path": "p", "recalibrated": True}}}, "x")
    with pytest.raises(ParamsError, match="on_bad"):
        external_entry({"external": {"x": {"path": "p", "on_bad": "ignore"}}}, "x")


def _interval(value: float, low: float, high: float) -> dict[str, float]:
    return {"value": value, "ci_low": low, "ci_high": high}


def _validated(auroc, slope, n=200, groups=60, prevalence=0.4, shift=-0.1) -> dict:
    return {"n": n, "groups": groups, "prevalence": prevalence, "auroc": auroc,
            "calibration_slope": slope, "mean_minus_prevalence": shift}


def test_limitations_state_chance_miscalibration_leaks_and_skipped_detection():
    from types import SimpleNamespace

    from fraclab.study.summary import external_limitations

    internal = _validated(_interval(0.88, 0.83, 0.92), _interval(1.0, 0.8, 1.2))
    facts = SimpleNamespace(external={
        "chance": {"internal": internal,
                   "external": _validated(_interval(0.55, 0.45, 0.65),
                                          _interval(0.4, 0.2, 0.7)),
                   "leakage": {"images": 0},
                   "detection": {"status": "skipped", "reason": "the dataset has no boxes"}},
        "leaky": {"internal": internal,
                  "external": _validated(_interval(0.86, 0.80, 0.91),
                                         _interval(1.1, 0.7, 1.5)),
                  "leakage": {"images": 12, "exact": 10, "near": 2, "max_distance": 32},
                  "external_without_leaked": {"auroc": _interval(0.80, 0.72, 0.87)},
                  "detection": {"status": "ran"}}})
    chance, skipped, leaky, copies = external_limitations(facts)
    assert "interval includes 0.5" in chance and "too extreme" in chance
    assert skipped == "Localisation was not scored on chance: The dataset has no boxes."
    assert "includes 0.5" not in leaky and "slope" not in leaky
    assert copies.startswith("12 images of leaky are copies of the study's own images (10 "
                             "byte-identical, 2 near duplicates") and "0.800" in copies
