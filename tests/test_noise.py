"""benchmarks/noise.py's spread: the numbers the gate's tolerances are derived from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import noise

from fraclab.gate.rules import parse_rules

RULES = parse_rules({"rules": [{"match": "*:a", "direction": "higher", "abs": 0.05},
                               {"match": "*:b", "direction": "info"}]}, "test")


def test_spread_is_the_sd_over_seeds_and_the_thread_move():
    runs = {"seed0": {"m:a": 0.80, "m:b": 1.0}, "seed1": {"m:a": 0.84, "m:b": 2.0},
            "seed2": {"m:a": 0.88, "m:b": 3.0}, "threads1": {"m:a": 0.70, "m:b": 9.0}}
    [row] = noise.spread(runs, RULES, ["seed0", "seed1", "seed2"], ("seed0", "threads1"))
    assert row["metric"] == "m:a"  # info metrics are not gated, so not listed
    assert row["mean"] == pytest.approx(0.84) and row["sd"] == pytest.approx(0.04)
    assert row["thread_move"] == pytest.approx(0.10)
    assert row["needed"] == pytest.approx(0.12) and not row["holds"]  # 3 SD > 0.05
    quiet = {k: {"m:a": 0.80 + 0.001 * i} for i, k in enumerate(runs)}
    [row] = noise.spread(quiet, RULES, ["seed0", "seed1", "seed2"], ("seed0", "threads1"))
    assert row["holds"]


def test_collect_names_metrics_as_the_gate_does(tmp_path):
    (tmp_path / "classify").mkdir()
    (tmp_path / "classify" / "r.json").write_text(json.dumps(
        {"oof": {"auroc": {"value": 0.9}}, "backbone": "r", "flag": True}))
    assert noise.collect(tmp_path) == {"metrics/classify/r.json:oof.auroc.value": 0.9}


def test_seed_table_lists_every_matching_metric_gated_or_not():
    runs = {"seed0": {"m:a": 0.80, "m:b": 1.0, "n:a": 5.0}, "seed1": {"m:a": 0.84, "m:b": 2.0},
            "seed2": {"m:a": 0.88, "m:b": float("nan")}}
    rows = {r["metric"]: r for r in noise.seed_table(runs, ["m:*"])}
    assert set(rows) == {"m:a", "m:b"}  # n:a does not match; m:b is info yet listed
    assert rows["m:a"]["mean"] == pytest.approx(0.84) and rows["m:a"]["sd"] == pytest.approx(0.04)
    assert rows["m:b"]["mean"] == pytest.approx(1.5)  # a non-finite value is left out
    assert rows["m:a"]["values"] == {"seed0": 0.80, "seed1": 0.84, "seed2": 0.88}
