"""Post-hoc calibration of a single logit: temperature scaling and Platt scaling.

Both map a fold model's logit ``z`` to a probability ``sigmoid(slope * z + intercept)``:

``temperature``
    ``slope = 1 / T`` with ``T > 0`` and a free ``intercept``, both fitted by maximum
    likelihood (the binary cross-entropy, BCE, of ``sigmoid(z / T + intercept)``). Dividing
    by a positive constant and adding one keeps the order of the logits, so the model's
    ranking (its AUROC) is unchanged. The intercept is there because a model trained with
    positive-class weight ``w`` learns logits shifted towards the positive class (by up to
    ``log w`` at the weighted optimum; less after a few epochs), an offset that no division
    by ``T`` can remove. Subtracting ``log w`` itself over-corrects such under-trained
    models (measured in the README), so the offset is fitted, like ``T``, on the inner
    validation set.
``platt``
    Free ``slope`` and ``intercept`` (Platt 1999), fitted by minimising the BCE against
    Platt's smoothed targets, see :func:`fit_platt`. It can move the base rate, and a
    negative slope reverses the ranking.
``none``
    ``slope = 1``, ``intercept = 0`` (T = 1): the model's own probabilities.

The functions are pure (arrays in, numbers out) and validate their input at the boundary;
the calibrate stage calls them once per fold model, on that model's inner-validation logits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.optimize import brentq, minimize
from scipy.special import expit, log_expit

from fraclab.evaluate.metrics import (
    BinStrategy,
    _check_pair,
    _check_scores,
    _require_both_classes,
    binary_metrics,
    log_loss_value,
)

__all__ = [
    "CALIBRATION_METHODS",
    "SUMMARY_NAMES",
    "TEMPERATURE_BOUNDS",
    "Calibration",
    "calibration_summary",
    "fit_calibration",
    "fit_platt",
    "fit_temperature",
    "fit_temperature_with_intercept",
    "positive_weight",
]

Method = Literal["temperature", "platt", "none"]
CALIBRATION_METHODS: tuple[str, ...] = ("temperature", "platt", "none")

#: The search interval of :func:`fit_temperature`. Real fitted temperatures of neural
#: networks lie well inside it (typically 0.5 .. 5); an optimum at a bound means the logits
#: carry no usable signal (upper bound: every probability is pulled towards 0.5) or the
#: inner set is (nearly) separable (lower bound).
TEMPERATURE_BOUNDS: tuple[float, float] = (1e-2, 1e2)


@dataclass(frozen=True)
class Calibration:
    """A fitted map ``logit -> sigmoid(slope * logit + intercept)``."""

    method: str
    slope: float
    intercept: float

    @property
    def temperature(self) -> float | None:
        """``1 / slope`` for ``temperature`` and ``none`` (1.0); ``None`` for ``platt``."""
        return None if self.method == "platt" else 1.0 / self.slope

    def probabilities(self, logits: ArrayLike) -> NDArray[np.float64]:
        """Calibrated probabilities of ``logits`` (finite reals, any 1-D length)."""
        z = _check_scores(logits, "logits", probability=False)
        return expit(self.slope * z + self.intercept)


def positive_weight(labels: ArrayLike, setting: float | str) -> float:
    """BCE weight of the positive class: ``n_negative / n_positive`` of ``labels`` (the
    training labels) for ``auto``, else ``setting`` itself (``classify.pos_weight``)."""
    if setting != "auto":
        return float(setting)
    y = np.asarray(labels)
    positives = int(y.sum())
    return (len(y) - positives) / max(positives, 1)


def _bce(y: NDArray[np.float64], x: NDArray[np.float64]) -> float:
    # Mean BCE of sigmoid(x) against targets y in [0, 1], via log-sigmoid: exact for any x,
    # no clipping, no overflow (log(1 - sigmoid(x)) = log_expit(-x)).
    return float(-np.mean(y * log_expit(x) + (1.0 - y) * log_expit(-x)))


def fit_temperature(
    y_true: ArrayLike,
    logits: ArrayLike,
    *,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
) -> float:
    """The temperature ``T`` minimising the mean BCE of ``sigmoid(logits / T)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1; both classes must be present.
    logits : array-like of shape (n_samples,)
        Finite logits of the model being calibrated.
    bounds : (float, float), default=TEMPERATURE_BOUNDS
        ``0 < T_min < T_max``: the interval searched.

    Returns
    -------
    float
        The fitted ``T`` in ``[T_min, T_max]``.

    Notes
    -----
    The search runs over ``u = log T`` (so ``T`` stays positive). In ``beta = 1 / T`` the
    BCE is convex (a one-feature logistic regression without intercept), so its derivative
    is monotone and has at most one root in the interval; Brent's root finder
    (:func:`scipy.optimize.brentq`, ``xtol=1e-13`` in ``u``) locates it. Solving for the zero
    of the derivative rather than minimising the loss itself gives full float precision
    (a minimiser of a flat loss stops near ``sqrt(eps)``), and no random start is involved:
    the same data give the same ``T``. If the derivative does not change sign inside the
    interval the optimum lies at a bound and that bound is returned exactly. With logits
    that carry no signal or the wrong sign (unconstrained optimum ``beta <= 0``) the BCE
    keeps falling towards ``T = inf`` and the result is ``T_max``: probabilities pulled to
    about 0.5, the best a positive temperature can do. That is the documented fallback,
    not an error.

    Raises
    ------
    ValueError
        Invalid input (see :mod:`fraclab.evaluate.metrics`), a single class in ``y_true`` (the
        BCE would then fall forever towards ``T = 0`` or ``inf``), or bad ``bounds``.
    """
    y, z = _check_pair(y_true, logits, "logits", probability=False)
    _require_both_classes(y, "temperature scaling")
    low, high = (float(b) for b in bounds)
    if not 0.0 < low < high < math.inf:
        raise ValueError(f"bounds must satisfy 0 < T_min < T_max < inf, got {bounds!r}")
    target = y.astype(np.float64)

    def slope_of_loss(u: float) -> float:
        # d BCE / d beta at beta = exp(-u); d BCE / d u = -beta times this, same root.
        return float(np.mean((expit(z * math.exp(-u)) - target) * z))

    u_low, u_high = math.log(low), math.log(high)
    # The BCE is convex in beta, so its slope increases with beta and decreases with u.
    if slope_of_loss(u_high) >= 0.0:  # rising already at the smallest beta: T_max
        return high
    if slope_of_loss(u_low) <= 0.0:  # still falling at the largest beta: T_min
        return low
    u = brentq(slope_of_loss, u_low, u_high, xtol=1e-13, rtol=4 * np.finfo(float).eps,
               maxiter=200)
    return float(min(max(math.exp(u), low), high))


def fit_platt(y_true: ArrayLike, logits: ArrayLike) -> tuple[float, float]:
    """Platt scaling: ``(slope, intercept)`` of ``sigmoid(slope * logit + intercept)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1; both classes must be present.
    logits : array-like of shape (n_samples,)
        Finite logits of the model being calibrated.

    Returns
    -------
    (float, float)
        ``slope`` and ``intercept``.

    Notes
    -----
    Minimises the mean BCE against Platt's (1999) smoothed targets, ``(N+ + 1) / (N+ + 2)``
    for positives and ``1 / (N- + 2)`` for negatives, instead of 1 and 0. That is his guard
    against overfitting small calibration sets, and it keeps the optimum finite when the
    logits separate the classes perfectly (plain BCE would send the slope to infinity).
    The fit is BFGS with the analytic gradient from ``(1, 0)`` (the identity map),
    deterministic. The BCE in ``(slope, intercept)`` is convex, so the start does not matter.

    Raises
    ------
    ValueError
        Invalid input, or a single class in ``y_true``.
    """
    y, z = _check_pair(y_true, logits, "logits", probability=False)
    _require_both_classes(y, "Platt scaling")
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    target = np.where(y == 1, (n_pos + 1.0) / (n_pos + 2.0), 1.0 / (n_neg + 2.0))

    def loss_and_grad(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        x = theta[0] * z + theta[1]
        residual = expit(x) - target  # d BCE / d x, per sample
        return _bce(target, x), np.array([np.mean(residual * z), np.mean(residual)])

    result = minimize(loss_and_grad, x0=np.array([1.0, 0.0]), jac=True, method="BFGS",
                      options={"gtol": 1e-10, "maxiter": 1000})
    slope, intercept = (float(v) for v in result.x)
    if not (math.isfinite(slope) and math.isfinite(intercept)):  # pragma: no cover
        raise RuntimeError(f"Platt scaling did not converge: {result.message}")
    return slope, intercept


def fit_temperature_with_intercept(
    y_true: ArrayLike,
    logits: ArrayLike,
    *,
    bounds: tuple[float, float] = TEMPERATURE_BOUNDS,
) -> tuple[float, float]:
    """``(T, intercept)`` maximising the likelihood of ``sigmoid(logits / T + intercept)``.

    Parameters
    ----------
    y_true : array-like of shape (n_samples,)
        Labels 0/1; both classes must be present.
    logits : array-like of shape (n_samples,)
        Finite logits of the model being calibrated.
    bounds : (float, float), default=TEMPERATURE_BOUNDS
        ``0 < T_min < T_max``: the interval ``T`` is kept in.

    Notes
    -----
    In ``(beta, intercept)`` with ``beta = 1 / T`` this is a one-feature logistic regression,
    whose BCE is convex; L-BFGS-B with the analytic gradient from ``(1, 0)`` minimises it with
    ``beta`` bounded to ``[1 / T_max, 1 / T_min]`` (deterministic). Logits with no signal or
    the wrong sign end at ``T = T_max`` with the intercept near the log-odds of the base
    rate: the best a positive temperature can do. At the optimum the mean calibrated
    probability equals the fit set's prevalence (the intercept's stationarity condition).

    Raises
    ------
    ValueError
        Invalid input, a single class in ``y_true``, or bad ``bounds``.
    """
    y, z = _check_pair(y_true, logits, "logits", probability=False)
    _require_both_classes(y, "temperature scaling")
    low, high = (float(b) for b in bounds)
    if not 0.0 < low < high < math.inf:
        raise ValueError(f"bounds must satisfy 0 < T_min < T_max < inf, got {bounds!r}")
    target = y.astype(np.float64)

    def loss_and_grad(theta: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
        x = theta[0] * z + theta[1]
        residual = expit(x) - target
        return _bce(target, x), np.array([np.mean(residual * z), np.mean(residual)])

    result = minimize(loss_and_grad, x0=np.array([1.0, 0.0]), jac=True, method="L-BFGS-B",
                      bounds=[(1.0 / high, 1.0 / low), (None, None)],
                      options={"ftol": 1e-15, "gtol": 1e-12, "maxiter": 1000})
    beta, intercept = (float(v) for v in result.x)
    if not (math.isfinite(beta) and math.isfinite(intercept)):  # pragma: no cover
        raise RuntimeError(f"temperature scaling did not converge: {result.message}")
    return 1.0 / beta, intercept


def fit_calibration(y_true: ArrayLike, logits: ArrayLike, method: Method) -> Calibration:
    """Fit ``method`` (one of ``CALIBRATION_METHODS``) on one model's calibration set.

    ``none`` still validates the input (labels 0/1, both classes, finite logits), so the
    three methods accept and reject exactly the same calibration sets.
    """
    if method not in CALIBRATION_METHODS:
        raise ValueError(f"method must be one of {CALIBRATION_METHODS}, got {method!r}")
    if method == "temperature":
        t, intercept = fit_temperature_with_intercept(y_true, logits)
        return Calibration(method, 1.0 / t, intercept)
    if method == "platt":
        return Calibration(method, *fit_platt(y_true, logits))
    y, _ = _check_pair(y_true, logits, "logits", probability=False)
    _require_both_classes(y, "calibration")
    return Calibration(method, 1.0, 0.0)


#: The calibration numbers of :func:`calibration_summary`, in order.
SUMMARY_NAMES: tuple[str, ...] = ("auroc", "brier", "ece", "log_loss")


def calibration_summary(
    y_true: ArrayLike, y_prob: ArrayLike, n_bins: int = 10, strategy: BinStrategy = "uniform"
) -> dict[str, float]:
    """AUROC, Brier score, ECE and log loss of probabilities: the before/after numbers.

    ``auroc``, ``brier`` and ``ece`` are those of
    :func:`~fraclab.evaluate.metrics.binary_metrics` (ECE with ``n_bins`` and ``strategy``),
    ``log_loss`` that of :func:`~fraclab.evaluate.metrics.log_loss_value`. Needs both classes.
    """
    values = binary_metrics(y_true, y_prob, n_bins=n_bins, strategy=strategy)
    values["log_loss"] = log_loss_value(y_true, y_prob)
    return {name: values[name] for name in SUMMARY_NAMES}
