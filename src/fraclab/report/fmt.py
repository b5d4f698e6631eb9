"""Number formatting shared by the tables: the same number reads the same everywhere."""

from __future__ import annotations

from typing import Any

DASH = "–"  # en dash between interval ends


def num(value: Any, digits: int = 3) -> str:
    """``value`` with ``digits`` decimals; "n/a" for a missing or non-numeric value."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "n/a"
    return f"{value:.{digits}f}"


def mean_sd(summary: dict[str, Any] | None, digits: int = 3) -> str:
    """``mean ± sd`` of a summarize() dict (mean, sd, min, max, n)."""
    if not summary:
        return "n/a"
    return f"{num(summary.get('mean'), digits)} ± {num(summary.get('sd'), digits)}"


def value_ci(entry: dict[str, Any] | None, digits: int = 3) -> str:
    """``value (low–high)`` of a bootstrap dict (value, ci_low, ci_high)."""
    if not entry:
        return "n/a"
    return (f"{num(entry.get('value'), digits)} ({num(entry.get('ci_low'), digits)}"
            f"{DASH}{num(entry.get('ci_high'), digits)})")


def interval(low: Any, high: Any, digits: int = 3) -> str:
    """``low–high``."""
    return f"{num(low, digits)}{DASH}{num(high, digits)}"


def p_value(p: Any) -> str:
    """A p-value to 3 significant digits, "< 0.001" below that."""
    if not isinstance(p, int | float):
        return "n/a"
    return "< 0.001" if p < 0.001 else f"{p:.3g}"


def seconds(value: Any) -> str:
    """A duration in seconds as ``123 s`` or ``1 h 02 min``."""
    if not isinstance(value, int | float):
        return "not recorded"
    if value < 120:
        return f"{value:.0f} s"
    minutes = round(value / 60)
    return f"{minutes // 60} h {minutes % 60:02d} min" if minutes >= 60 else f"{minutes} min"
