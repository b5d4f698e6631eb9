"""The real DVC pipeline end to end on the tiny profile: it learns, it repeats, and the gate
tells training noise (another seed, another thread count) from a real regression."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from project_shell import BIN, PROJECT_ROOT, load_profile, make_project, run

from fraclab.report import browser

pytestmark = pytest.mark.slow
PROFILE = load_profile()
BACKBONE = PROFILE["params"]["classify"]["backbones"][0]
# The tiny profile's metrics from seed 0 with every core, committed, and the gate's rules for
# it (tolerances from benchmarks/noise.py's measured spread of this profile).
# After an intended change: FRACLAB_UPDATE_TINY_BASELINE=1 pytest tests/test_pipeline.py
BASELINE = PROJECT_ROOT / "tests" / "tiny" / "baseline" / "metrics"
RULES = PROJECT_ROOT / "tests" / "tiny" / "metrics_rules.yaml"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("project") / "tiny", PROFILE)


def metric(root: Path, name: str) -> float:
    """``metrics/x.json:a.b.c`` read from the project at ``root``."""
    path, key = name.split(":")
    value = json.loads((root / path).read_text())
    for part in key.split("."):
        value = value[part]
    return value


def gate(project: Path, baseline: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "fraclab"), "check-metrics", "--baseline", baseline,
                           "--rules", str(RULES), "--show", "changed"],
                          cwd=project, capture_output=True, text=True, check=False)


def test_repro_runs_every_stage_learns_and_is_deterministic(project):
    run(["dvc", "repro"], project)
    for name, floor in PROFILE["floors"].items():
        assert metric(project, name) >= floor, (name, metric(project, name))
    scores = json.loads((project / f"metrics/classify/{BACKBONE}.json").read_text())
    assert scores["threads"] >= 1
    metrics = json.loads((project / "metrics" / "data.json").read_text())
    meta = (project / "data" / "meta.csv").read_text().splitlines()[1:]
    assert metrics["images"] == len(meta)
    assert metrics["groups"] == len({line.split(",")[2] for line in meta})  # patient ids
    assert metrics["groups_spanning_splits"] == 0
    calibrated = json.loads((project / f"metrics/calibrate/{BACKBONE}.json").read_text())
    assert calibrated["fold_models"] == 3 and calibrated["temperature"]["min"] > 0
    assert 0 <= calibrated["oof_pooled"]["after"]["ece"] <= 1
    located = json.loads((project / "metrics/detect/n.json").read_text())
    assert located["training"]["epochs_trained"] == 8
    assert not list((project / "artifacts/prepared").rglob("*.cache"))
    operating = json.loads((project / f"metrics/threshold/{BACKBONE}.json").read_text())
    assert 0 < operating["youden"]["test"]["sensitivity"]["value"] <= 1
    # Every declared plot renders: `dvc plots show` finds the files and the fields.
    plots = json.loads(run(["dvc", "plots", "show", "--json"], project))
    assert not plots.get("errors"), plots.get("errors")
    for name in (f"calibrate/{BACKBONE}/reliability/oof_after.csv",
                 f"threshold/{BACKBONE}/curves/f1.csv",
                 f"threshold/{BACKBONE}/operating_points.csv",
                 "detect/n/val_map.csv", "detect/n/ap50_per_class.csv", "detect/n/pr_test.csv",
                 "report/roc_oof.csv", "report/threshold_f1.csv", "report/classify_val_loss.csv",
                 "report/detect_ap50.csv", "report/detect_samples.png"):
        assert plots["data"][f"plots/{name}"], name
    summary = json.loads((project / "metrics/summary.json").read_text())
    assert summary["best_backbone"] == BACKBONE
    assert summary["test_auroc"]["value"] == scores["test_ensemble"]["auroc"]["value"]
    assert summary["best_yolo_size"] == "n"
    assert browser.static_problems((project / "report/index.html").read_text()) == []
    # Same machine, same params: the same bytes. Training's own determinism is tested in
    # test_classify and test_detect; here every stage that does not train is rerun.
    rerun = {"prepare": ("metrics/data.json", "artifacts/prepared/manifest.csv",
                         "artifacts/prepared/images.npy"),
             f"calibrate@{BACKBONE}": (f"artifacts/calibrate/{BACKBONE}/test.csv",
                                      f"metrics/calibrate/{BACKBONE}.json"),
             f"threshold@{BACKBONE}": (f"metrics/threshold/{BACKBONE}.json",),
             "report": ("metrics/summary.json", "plots/report/roc_oof.csv")}
    first = {p: (project / p).read_bytes() for paths in rerun.values() for p in paths}
    assert "didn't change" in run(["dvc", "repro"], project)
    run(["dvc", "repro", "--force", "--single-item", *rerun], project)
    strip = re.compile(rb'"(wall_seconds|train_images_per_second|train_seconds)": [0-9.]+')
    for name, before in first.items():
        assert strip.sub(b"", before) == strip.sub(b"", (project / name).read_bytes()), name
    assert "didn't change" in run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "seed 0"], project)
    if os.environ.get("FRACLAB_UPDATE_TINY_BASELINE"):
        shutil.rmtree(BASELINE, ignore_errors=True)
        shutil.copytree(project / "metrics", BASELINE)
    # The committed baseline as a revision of its own, beside the run's.
    run(["git", "checkout", "-q", "-b", "committed-baseline"], project)
    shutil.rmtree(project / "metrics")
    shutil.copytree(BASELINE, project / "metrics")
    run(["git", "add", "-A", "metrics"], project)
    run(["git", "commit", "-qm", "committed tiny baseline", "--allow-empty"], project)
    run(["git", "checkout", "-q", "-"], project)
    run(["dvc", "checkout", "-q", "-f"], project)


def test_other_rounding_and_another_seed_pass_the_gate(project):
    """1 torch thread instead of every core rounds float sums differently, as another CPU
    does; with another seed too, the run is training noise and the gate must pass."""
    run(["dvc", "exp", "run", "-n", "other-rounding", "-S", "seed=1",
         "-S", "classify.threads=1", "-S", "detect.threads=1"], project)
    assert json.loads((project / f"metrics/classify/{BACKBONE}.json").read_text())[
        "threads"] == 1
    for name, floor in PROFILE["floors"].items():
        assert metric(project, name) >= floor, (name, metric(project, name))
    result = gate(project, "committed-baseline")
    assert result.returncode == 0 and "**Regression gate: passed**" in result.stdout, (
        result.stdout + result.stderr)
    # The experiment is a DVC experiment like any other: shown, diffed.
    shown = run(["dvc", "exp", "show", "--csv"], project)
    assert "other-rounding" in shown and "classify.threads" in shown
    for column in ("temperature.mean", "oof_pooled.after.ece", "youden.test.threshold",
                   "best_backbone", "test_map50_95"):
        assert column in shown, column
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], project))
    assert diff[f"metrics/classify/{BACKBONE}.json"]["seed"] == {"old": 0, "new": 1, "diff": 1}


def test_a_real_regression_fails_the_gate(project):
    """A classifier that cannot learn (learning rate 0) must fail, and not by a hair."""
    run(["git", "reset", "-q", "--hard"], project)
    run(["dvc", "checkout", "-q", "-f"], project)
    run(["dvc", "exp", "run", "-n", "frozen", "-S", "classify.lr=0"], project)
    assert metric(project, f"metrics/classify/{BACKBONE}.json:oof_pooled.auroc.value") < 0.7
    result = gate(project, "committed-baseline")
    assert result.returncode == 1 and "FAIL: worse" in result.stdout, result.stdout
    assert f"metrics/classify/{BACKBONE}.json:oof_pooled.auroc.value" in result.stdout
