"""`fraclab check-metrics`: the verdict logic by hand, then the real command on a throwaway
git + DVC repository with the repo's own metrics_rules.yaml: a drop fails, an improvement
passes, a move within tolerance passes, an unreadable or vanished file or metric fails."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from project_shell import GIT_IDENTITY

from fraclab.cli import main
from fraclab.gate.compare import (
    BETTER,
    INFO,
    MISSING,
    NEW,
    NOT_NUMBER,
    SAME,
    UNREADABLE,
    WITHIN,
    WORSE,
    compare,
    flatten,
    judge,
    markdown_table,
)
from fraclab.gate.rules import Rule, RulesError, load_rules, parse_rules, rule_for

PROJECT_ROOT = Path(__file__).resolve().parents[1]
RULES = load_rules(PROJECT_ROOT / "metrics_rules.yaml")
HIGHER = Rule(("*",), "higher", abs=0.02)
LOWER = Rule(("*",), "lower", abs=0.0, rel=0.1)


@pytest.mark.parametrize("rule, before, after, verdict", [
    (HIGHER, 0.80, 0.80, SAME),
    (HIGHER, 0.80, 0.85, BETTER),
    (HIGHER, 0.80, 0.79, WITHIN),
    (HIGHER, 0.80, 0.78, WITHIN),  # exactly the tolerance is allowed
    (HIGHER, 0.80, 0.77, WORSE),
    (LOWER, 0.20, 0.15, BETTER),
    (LOWER, 0.20, 0.219, WITHIN),  # 10 % of 0.20
    (LOWER, 0.20, 0.23, WORSE),
    (HIGHER, 0.80, "n/a", NOT_NUMBER),
    (HIGHER, 0.80, float("nan"), NOT_NUMBER),
    (HIGHER, 0.80, True, NOT_NUMBER),
    (Rule(("*",), "info"), 3, 4, "info, changed"),
    (Rule(("*",), "info"), 3, 3, INFO),
])
def test_judge_is_direction_aware(rule, before, after, verdict):
    assert judge("m", before, after, rule) == verdict


def test_repo_rules_check_the_metrics_that_matter():
    checked = {
        "metrics/classify/b.json:oof_pooled.auroc.value": ("higher", 0.11),
        "metrics/classify/b.json:test_ensemble.average_precision.value": ("higher", 0.16),
        "metrics/classify/b.json:test_ensemble.brier.value": ("lower", 0.05),
        "metrics/calibrate/b.json:oof_pooled.after.ece": ("lower", 0.09),
        "metrics/detect/n.json:test.map50_95": ("higher", 0.16),
        # Leakage after prepare may never rise.
        "metrics/data.json:groups_spanning_splits": ("lower", 0.0),
        "metrics/data.json:near_duplicates.pairs_across_groups": ("lower", 0.0),
    }
    for name, (direction, tolerance) in checked.items():
        rule = rule_for(name, RULES)
        assert (rule.direction, rule.abs) == (direction, tolerance), name
    for name in ("metrics/classify/b.json:oof_pooled.auroc.ci_low",
                 "metrics/classify/b.json:training.wall_seconds",
                 "metrics/threshold/b.json:youden.test.threshold",
                 "metrics/calibrate/b.json:temperature.mean",
                 "metrics/calibrate/b.json:oof_pooled.before.ece",
                 "metrics/detect/n.json:test.per_class.elbow.map50",
                 "metrics/summary.json:oof_auroc.value", "metrics/data.json:images",
                 "metrics/data.json:as_shipped.groups_spanning_splits",
                 # Thresholded rates are mostly training noise (metrics_rules.yaml's header).
                 "metrics/classify/b.json:per_fold.f1.mean",
                 "metrics/threshold/b.json:youden.test.sensitivity.value",
                 "metrics/detect/n.json:test.recall"):
        assert rule_for(name, RULES).direction == "info", name
    assert rule_for("metrics/calibrate/b.json:oof_pooled.after.log_loss", RULES).rel == 0.28


@pytest.mark.parametrize("data, message", [
    ({"rule": []}, "`rules:` list"),
    ({"rules": [{"match": "*", "direction": "up"}]}, "direction must be one of"),
    ({"rules": [{"match": "*", "direction": "higher", "abs": -1}]}, "abs must be a number"),
    ({"rules": [{"match": [], "direction": "higher"}]}, "`match` must be"),
    ({"rules": [{"match": "*", "direction": "higher", "tol": 1}]}, "unknown key"),
])
def test_bad_rules_are_errors(data, message):
    with pytest.raises(RulesError, match=message):
        parse_rules(data, "rules.yaml")


def test_compare_flags_missing_new_and_unreadable():
    rules = [Rule(("*:a.*",), "higher", abs=0.01)]
    rows = compare({"m.json": {"a": {"x": 1.0, "y": 1.0}, "b": 1},
                    "bad.json": {"a": {"x": 1.0}}},
                   {"m.json": {"a": {"x": 1.0, "z": 1.0}},
                    "bad.json": ValueError("corrupt")}, rules)
    verdicts = {r.metric: r.verdict for r in rows}
    assert verdicts == {"bad.json": UNREADABLE, "m.json:a.x": SAME, "m.json:a.y": MISSING,
                        "m.json:a.z": NEW, "m.json:b": INFO}
    assert [r.failed for r in rows[:2]] == [True, True]  # failures first
    table = markdown_table(rows, "main")
    assert table.startswith("**Regression gate: FAILED** (2 of 4 checked metrics)")
    assert "ValueError: corrupt" in table and "`m.json:b`" not in table
    assert "`m.json:b`" in markdown_table(rows, "main", show="all")


def test_a_file_the_baseline_did_not_have_is_new_not_failed():
    rules = [Rule(("*",), "higher", abs=0.01)]
    rows = compare({"old.json": FileNotFoundError("old.json")}, {"old.json": {"a": 1.0}},
                   rules)
    assert [(r.metric, r.verdict) for r in rows] == [("old.json:a", NEW)]
    # The other way round it disappeared: that fails.
    rows = compare({"old.json": {"a": 1.0}}, {"old.json": FileNotFoundError("old.json")},
                   rules)
    assert [r.verdict for r in rows] == [UNREADABLE]


def test_flatten_skips_lists_and_nulls():
    assert flatten({"a": {"b": 1, "c": [1, 2], "d": None}, "e": "x"}) == {"a.b": 1, "e": "x"}


# The real command on a throwaway git + DVC repository -----------------------------------

BASELINE = {
    "oof_pooled": {"auroc": {"value": 0.80, "ci_low": 0.75, "ci_high": 0.85},
                   "brier": {"value": 0.18}, "f1": {"value": 0.60}},
    "training": {"wall_seconds": 100.0},
}


def _git(root: Path, *args: str) -> None:
    env = {**os.environ, **GIT_IDENTITY}
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


@pytest.fixture(scope="module")
def repo(tmp_path_factory) -> Path:
    """A git + DVC repo whose committed baseline holds one metrics file per stage kind."""
    from dvc.repo import Repo

    root = tmp_path_factory.mktemp("gate")
    _git(root, "init", "-q")
    Repo.init(str(root)).close()
    (root / "dvc.yaml").write_text(yaml.safe_dump({"metrics": [
        "metrics/classify/net.json", "metrics/calibrate/net.json"]}))
    shutil.copy(PROJECT_ROOT / "metrics_rules.yaml", root / "metrics_rules.yaml")
    (root / "metrics" / "classify").mkdir(parents=True)
    (root / "metrics" / "calibrate").mkdir()
    (root / "metrics/classify/net.json").write_text(json.dumps(BASELINE))
    (root / "metrics/calibrate/net.json").write_text(json.dumps(
        {"oof_pooled": {"after": {"ece": 0.05}}}))
    _git(root, "add", "-A")
    _git(root, "commit", "-qm", "baseline")
    return root


@pytest.fixture
def workspace(repo, monkeypatch):
    """The repo with its workspace reset to the baseline after each test."""
    monkeypatch.chdir(repo)
    yield repo
    _git(repo, "checkout", "-q", "--", ".")


def edit(root: Path, path: str, change) -> None:
    data = json.loads((root / path).read_text())
    change(data)
    (root / path).write_text(json.dumps(data))


def gate(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["check-metrics", *args])
    return result.exit_code, result.output


def test_unchanged_workspace_passes(workspace):
    code, out = gate()
    assert code == 0, out
    assert "**Regression gate: passed** (3 checked metrics) against `HEAD (" in out


def test_drop_beyond_tolerance_fails(workspace):
    edit(workspace, "metrics/classify/net.json",
         lambda d: d["oof_pooled"]["auroc"].update(value=0.65))
    code, out = gate()
    assert code == 1
    assert "| `metrics/classify/net.json:oof_pooled.auroc.value` | 0.8000 | 0.6500 | -0.15" in out
    assert "fall ≤ 0.11 | FAIL: worse |" in out


def test_lower_is_better_metric_rising_fails(workspace):
    edit(workspace, "metrics/calibrate/net.json",
         lambda d: d["oof_pooled"]["after"].update(ece=0.20))
    code, out = gate("--show", "changed")
    assert code == 1
    assert "oof_pooled.after.ece` | 0.0500 | 0.2000 | +0.15 | rise ≤ 0.09 | FAIL: worse" in out


def test_improvement_passes(workspace):
    edit(workspace, "metrics/classify/net.json", lambda d: (
        d["oof_pooled"]["auroc"].update(value=0.9), d["oof_pooled"]["brier"].update(value=0.1)))
    code, out = gate()
    assert code == 0, out
    assert out.count("| better |") == 2


def test_change_within_tolerance_and_info_noise_pass(workspace):
    edit(workspace, "metrics/classify/net.json", lambda d: (
        d["oof_pooled"]["auroc"].update(value=0.79, ci_low=0.5),
        d["oof_pooled"]["brier"].update(value=0.20), d["oof_pooled"]["f1"].update(value=0.1),
        d["training"].update(wall_seconds=500)))
    code, out = gate("--show", "changed")
    assert code == 0, out
    assert out.count("worse, within tolerance") == 2
    assert "wall_seconds" not in out and "ci_low" not in out


def test_unreadable_file_fails(workspace):
    (workspace / "metrics/calibrate/net.json").write_text('{"oof_pooled": ')
    code, out = gate()
    assert code == 1
    assert "| `metrics/calibrate/net.json` |" in out and "FAIL: unreadable" in out


def test_missing_file_fails(workspace):
    (workspace / "metrics/calibrate/net.json").unlink()
    code, out = gate()
    assert code == 1 and "FAIL: unreadable" in out and "FileNotFoundError" in out


def test_disappeared_metric_fails(workspace):
    edit(workspace, "metrics/classify/net.json", lambda d: d["oof_pooled"].pop("brier"))
    code, out = gate()
    assert code == 1
    assert "oof_pooled.brier.value` | 0.1800 | — |  | rise ≤ 0.05 | FAIL: disappeared |" in out


def test_output_file_and_unknown_revision(workspace, tmp_path):
    code, out = gate("--output", str(tmp_path / "gate.md"))
    assert code == 0 and (tmp_path / "gate.md").read_text() == out
    code, out = gate("--baseline", "no-such-branch")
    assert code == 1 and "unknown git revision 'no-such-branch'" in out
