"""Evaluation: binary classification metrics, calibration and grouped bootstrap intervals."""

from fraclab.evaluate.bootstrap import bootstrap_metrics, grouped_bootstrap_ci
from fraclab.evaluate.metrics import (
    METRIC_DIRECTION,
    METRIC_NAMES,
    auroc,
    average_precision,
    binary_metrics,
    expected_calibration_error,
    log_loss_value,
    pr_points,
    reliability_table,
    roc_points,
    sigmoid,
    specificity,
    summarize,
)

__all__ = [
    "METRIC_DIRECTION",
    "METRIC_NAMES",
    "auroc",
    "average_precision",
    "binary_metrics",
    "bootstrap_metrics",
    "expected_calibration_error",
    "grouped_bootstrap_ci",
    "log_loss_value",
    "pr_points",
    "reliability_table",
    "roc_points",
    "sigmoid",
    "specificity",
    "summarize",
]
