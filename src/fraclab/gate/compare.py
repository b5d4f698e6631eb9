"""Baseline vs now, metric by metric: the verdicts and the Markdown table.

Pure functions over two *snapshots* (metrics file -> parsed data, or the exception that
reading it raised), so the verdict logic is tested without git or DVC.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from fraclab.gate.rules import Rule, rule_for

Snapshot = dict[str, Any]  # file -> dict of metrics, or the Exception that reading it raised

# Verdicts; FAILING ones make the gate exit non-zero.
SAME, BETTER, WITHIN, WORSE = "same", "better", "worse, within tolerance", "FAIL: worse"
MISSING, UNREADABLE, NOT_NUMBER = "FAIL: disappeared", "FAIL: unreadable", "FAIL: not a number"
NEW, INFO, CHANGED = "new", "info", "info, changed"
FAILING = (WORSE, MISSING, UNREADABLE, NOT_NUMBER)


@dataclass(frozen=True)
class Row:
    """One line of the gate's table."""

    metric: str
    baseline: Any
    now: Any
    rule: Rule
    verdict: str
    detail: str = ""  # the error of an unreadable file

    @property
    def failed(self) -> bool:
        return self.verdict in FAILING


def flatten(data: Any, prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}``; lists are skipped (DVC does not read them)."""
    if isinstance(data, dict):
        out: dict[str, Any] = {}
        for key, value in data.items():
            out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(data, list) or data is None:
        return {}
    return {prefix: data}


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value)


def judge(name: str, baseline: Any, now: Any, rule: Rule) -> str:
    """The verdict for one metric present in both snapshots."""
    if not rule.gated:
        return INFO if baseline == now else CHANGED
    b, n = _number(baseline), _number(now)
    if n is None or not math.isfinite(n):
        return NOT_NUMBER  # a checked metric that is now text, NaN or infinite
    if b is None or not math.isfinite(b):
        return CHANGED  # nothing to compare with: the baseline was not a number
    change = n - b
    worse_by = -change if rule.direction == "higher" else change
    # A hair of slack: the same computation can differ in the last bit of a float.
    if worse_by > rule.allowed(b) + 1e-12:
        return WORSE
    if worse_by > 0:
        return WITHIN
    return SAME if change == 0 else BETTER


def _file_rows(path: str, old: Any, new: Any, rules: list[Rule]) -> list[Row]:
    if isinstance(old, FileNotFoundError) and not isinstance(new, Exception):
        old = {}  # a metrics file the baseline did not have yet: every metric in it is new
    errors = [f"{side}: {type(e).__name__}: {e}" for side, e in (("baseline", old),
                                                                  ("now", new))
              if isinstance(e, Exception)]
    if errors:
        return [Row(path, None, None, rule_for(f"{path}:", rules), UNREADABLE,
                    detail="; ".join(errors))]
    before, after = flatten(old or {}), flatten(new or {})
    rows = []
    for key in sorted(before.keys() | after.keys()):
        name = f"{path}:{key}"
        rule = rule_for(name, rules)
        if key not in after:
            rows.append(Row(name, before[key], None, rule, MISSING if rule.gated else INFO))
        elif key not in before:
            rows.append(Row(name, None, after[key], rule, NEW))
        else:
            rows.append(Row(name, before[key], after[key], rule,
                            judge(name, before[key], after[key], rule)))
    return rows


def compare(baseline: Snapshot, current: Snapshot, rules: list[Rule]) -> list[Row]:
    """Every metric of either snapshot with its verdict, failures first."""
    rows = []
    for path in sorted(baseline.keys() | current.keys()):
        rows += _file_rows(path, baseline.get(path), current.get(path), rules)
    return sorted(rows, key=lambda r: (not r.failed, r.metric))


def _fmt(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:.4g}" if abs(value) >= 1000 or (value and abs(value) < 1e-3) \
            else f"{value:.4f}"
    return str(value)


def _allowed(row: Row) -> str:
    if row.verdict == UNREADABLE:
        return "—"
    if not row.rule.gated:
        return "info"
    b = _number(row.baseline)
    allowed = row.rule.allowed(b if b is not None else 0.0)
    return f"{'fall' if row.rule.direction == 'higher' else 'rise'} ≤ {allowed:.4g}"


def _change(row: Row) -> str:
    b, n = _number(row.baseline), _number(row.now)
    if b is None or n is None:
        return ""
    return f"{n - b:+.4g}"


def markdown_table(rows: list[Row], baseline_name: str, *, show: str = "gated") -> str:
    """The gate's report: a verdict line and a Markdown table.

    ``show``: ``all`` (every row), ``gated`` (rows a rule checks, plus failures) or
    ``changed`` (failures and gated rows whose value moved).
    """
    failed = [r for r in rows if r.failed]
    gated = [r for r in rows if r.rule.gated or r.failed]
    if show == "all":
        shown = rows
    elif show == "changed":
        shown = [r for r in gated if r.failed or r.verdict not in (SAME, INFO)]
    else:
        shown = gated
    verdict = (f"**Regression gate: FAILED** ({len(failed)} of {len(gated)} checked metrics)"
               if failed else f"**Regression gate: passed** ({len(gated)} checked metrics)")
    lines = [f"{verdict} against `{baseline_name}`", ""]
    if not shown:
        lines.append("No checked metric changed.")
        return "\n".join(lines) + "\n"
    lines += ["| metric | baseline | now | change | allowed | verdict |",
              "|---|---|---|---|---|---|"]
    for r in shown:
        verdict_text = f"{r.verdict} ({r.detail})" if r.detail else r.verdict
        lines.append(f"| `{r.metric}` | {_fmt(r.baseline)} | {_fmt(r.now)} | {_change(r)} | "
                     f"{_allowed(r)} | {verdict_text.replace('|', '/')} |")
    return "\n".join(lines) + "\n"
