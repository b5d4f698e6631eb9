"""The real DVC pipeline end to end on tiny synthetic data: repro, experiments, metrics diff."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from project_shell import BIN, run

from fraclab.report import browser

pytestmark = pytest.mark.slow
PROJECT_ROOT = Path(__file__).resolve().parents[1]
# The tiny profile's metrics, committed: `fraclab check-metrics` compares each run with them.
# After an intended change: FRACLAB_UPDATE_TINY_BASELINE=1 pytest tests/test_pipeline.py
BASELINE_TINY = PROJECT_ROOT / "tests" / "baseline_tiny" / "metrics"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A git+DVC project with this repo's pipeline files and a tiny synthetic dataset."""
    root = tmp_path_factory.mktemp("project")
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", "metrics_rules.yaml"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    (root / "src").symlink_to(PROJECT_ROOT / "src")
    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    shutil.copytree(PROJECT_ROOT / ".dvc" / "plots", root / ".dvc" / "plots")  # templates
    run(["dvc", "config", "core.analytics", "false"], root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    params["data"]["image_size"] = 32
    params["classify"].update(backbones=["mobilenet_v3_small"], folds=2, repeats=1, epochs=2,
                              batch_size=16, n_boot=100, val_fraction=0.3)
    params["threshold"]["n_boot"] = 100
    params["detect"].update(sizes=["n"], epochs=1, imgsz=32, n_plot_images=1)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    run(["fraclab", "synth", "--out", "data", "--n-patients", "30", "--size", "96"], root)
    run(["dvc", "add", "-q", "data"], root)
    # DVCLive (inside classify-cv) needs a commit to exist, as in any real clone.
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny project"], root)
    return root


def test_repro_runs_every_stage_and_is_deterministic(project):
    run(["dvc", "repro"], project)
    scores = json.loads((project / "metrics/classify/mobilenet_v3_small.json").read_text())
    assert 0 <= scores["oof_pooled"]["auroc"]["value"] <= 1
    metrics = json.loads((project / "metrics" / "data.json").read_text())
    meta = (project / "data" / "meta.csv").read_text().splitlines()[1:]
    assert metrics["images"] == len(meta)
    assert metrics["groups"] == len({line.split(",")[2] for line in meta})  # patient ids
    assert metrics["groups_spanning_splits"] == 0
    calibrated = json.loads((project / "metrics/calibrate/mobilenet_v3_small.json").read_text())
    assert calibrated["fold_models"] == 2 and calibrated["temperature"]["min"] > 0
    assert 0 <= calibrated["oof_pooled"]["after"]["ece"] <= 1
    located = json.loads((project / "metrics/detect/n.json").read_text())
    assert located["training"]["epochs_trained"] == 1 and 0 <= located["test"]["map50"] <= 1
    assert not list((project / "artifacts/prepared").rglob("*.cache"))
    operating = json.loads((project / "metrics/threshold/mobilenet_v3_small.json").read_text())
    assert 0 <= operating["youden"]["test"]["sensitivity"]["value"] <= 1
    # Every declared plot renders: `dvc plots show` finds the files and the fields.
    plots = json.loads(run(["dvc", "plots", "show", "--json"], project))
    assert not plots.get("errors"), plots.get("errors")
    for name in ("calibrate/mobilenet_v3_small/reliability/oof_after.csv",
                 "threshold/mobilenet_v3_small/curves/f1.csv",
                 "threshold/mobilenet_v3_small/operating_points.csv",
                 "detect/n/val_map.csv", "detect/n/ap50_per_class.csv", "detect/n/pr_test.csv",
                 "report/roc_oof.csv", "report/threshold_f1.csv", "report/classify_val_loss.csv",
                 "report/detect_ap50.csv", "report/detect_samples.png"):
        assert plots["data"][f"plots/{name}"], name
    summary = json.loads((project / "metrics/summary.json").read_text())
    assert summary["best_backbone"] == "mobilenet_v3_small"
    assert summary["test_auroc"]["value"] == scores["test_ensemble"]["auroc"]["value"]
    assert summary["best_yolo_size"] == "n"
    assert browser.static_problems((project / "report/index.html").read_text()) == []
    first = {p: (project / p).read_bytes() for p in
             ("metrics/data.json", "artifacts/prepared/manifest.csv",
              "artifacts/prepared/images.npy", "artifacts/classify/mobilenet_v3_small/oof.csv",
              "metrics/classify/mobilenet_v3_small.json",
              "artifacts/calibrate/mobilenet_v3_small/test.csv",
              "metrics/calibrate/mobilenet_v3_small.json",
              "metrics/threshold/mobilenet_v3_small.json",
              "metrics/detect/n.json", "metrics/summary.json", "plots/report/roc_oof.csv")}
    assert "didn't change" in run(["dvc", "repro"], project)
    run(["dvc", "repro", "--force"], project)
    again = {p: (project / p).read_bytes() for p in first}
    # Wall time and throughput differ between runs; every other byte must match.
    strip = re.compile(rb'"(wall_seconds|train_images_per_second|train_seconds)": [0-9.]+')
    for name in first:
        assert strip.sub(b"", first[name]) == strip.sub(b"", again[name]), name
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "baseline"], project)


def test_tiny_run_passes_the_gate_against_the_committed_baseline(project):
    """The regression gate, as CI runs it: this run's metrics against tests/baseline_tiny.

    On the machine that wrote the baseline every checked metric is bit-identical; other
    hardware may move them within metrics_rules.yaml's tolerances (see its header).
    """
    produced = project / "metrics"
    if os.environ.get("FRACLAB_UPDATE_TINY_BASELINE"):
        shutil.rmtree(BASELINE_TINY, ignore_errors=True)
        shutil.copytree(produced, BASELINE_TINY)
    head = run(["git", "rev-parse", "HEAD"], project).strip()
    try:
        # Commit the committed baseline as a revision, then put this run's metrics back.
        shutil.rmtree(produced)
        shutil.copytree(BASELINE_TINY, produced)
        run(["git", "add", "-A", "metrics"], project)
        run(["git", "commit", "-qm", "tiny baseline from tests/", "--allow-empty"], project)
        run(["git", "checkout", "-q", head, "--", "metrics"], project)
        table = run(["fraclab", "check-metrics", "--baseline", "HEAD", "--show", "changed"],
                    project)
        assert "**Regression gate: passed**" in table
        # Not blind: a real drop fails it.
        path = produced / "classify" / "mobilenet_v3_small.json"
        scores = json.loads(path.read_text())
        scores["oof_pooled"]["auroc"]["value"] -= 0.1
        path.write_text(json.dumps(scores))
        failed = subprocess.run([str(BIN / "fraclab"), "check-metrics", "--baseline", "HEAD"],
                                cwd=project, capture_output=True, text=True, check=False)
        assert failed.returncode == 1 and "FAIL: worse" in failed.stdout
    finally:
        run(["git", "reset", "-q", "--hard", head], project)


def test_experiment_changes_params_and_metrics_diff_sees_it(project):
    run(["dvc", "exp", "run", "-S", "data.group_by=image", "--name", "per-image"], project)
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], project))
    groups = diff["metrics/data.json"]["groups"]
    images = json.loads((project / "metrics" / "data.json").read_text())["images"]
    assert groups["new"] == images > groups["old"]
    shown = run(["dvc", "exp", "show", "--csv"], project)
    assert "per-image" in shown and "data.group_by" in shown
    # The calibration and operating-point columns the experiments table is meant to show.
    for column in ("temperature.mean", "oof_pooled.after.ece", "youden.test.threshold",
                   "best_backbone", "test_map50_95"):
        assert column in shown, column
