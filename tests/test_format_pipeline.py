"""The whole DVC pipeline on a tiny fixture of each new format (auto-detected from `data/`)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from pathlib import Path

import psutil  # installed with ultralytics
import pytest
import yaml
from format_fixtures import (
    build_class_folders,
    build_fracatlas,
    build_grazpedwri,
    build_mura,
)
from project_shell import BIN, run

pytestmark = pytest.mark.slow
PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Each builder writes its dataset into `data/` exactly as the README says to lay it out.
BUILDERS = {
    "fracatlas": lambda data: build_fracatlas(data),
    "grazpedwri": lambda data: build_grazpedwri(data, n_patients=40),  # test: 10 % of patients
    "mura": lambda data: build_mura(data),
    "classfolders": lambda data: build_class_folders(data),
}


def tiny(params: dict) -> dict:
    """The smallest settings every stage accepts (as tests/test_pipeline.py uses them)."""
    params["data"]["image_size"] = 32
    params["classify"].update(backbones=["mobilenet_v3_small"], folds=2, repeats=1, epochs=1,
                              batch_size=16, n_boot=100, val_fraction=0.3)
    for stage in ("calibrate", "threshold"):
        params[stage]["n_boot"] = 100
    params["detect"].update(sizes=["n"], epochs=1, imgsz=64, n_plot_images=1)
    return params


def format_project(tmp_path: Path, fmt: str, **detect) -> Path:
    """A committed DVC project of the tiny settings on format ``fmt``'s fixture."""
    root = tmp_path / "project"
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    (root / "src").symlink_to(PROJECT_ROOT / "src")
    shutil.copytree(PROJECT_ROOT / "benchmarks" / "noise", root / "benchmarks" / "noise")
    for folder in ("metrics/external", "plots/external"):
        shutil.copytree(PROJECT_ROOT / folder, root / folder)
    params = tiny(yaml.safe_load((root / "params.yaml").read_text()))
    params["detect"].update(detect)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    BUILDERS[fmt](root / "data")
    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    run(["dvc", "config", "core.analytics", "false"], root)
    run(["dvc", "add", "-q", "data"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny project"], root)
    return root


# One format with boxes and one without run every stage. The others run `prepare`, where
# the format matters: every later stage reads only what it wrote (the manifest, the image
# array and the YOLO view, with or without boxes), in the same shape for every format.
EVERY_STAGE = ("fracatlas", "mura")


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_dvc_repro_runs_every_stage_on_each_format(tmp_path, fmt):
    root = format_project(tmp_path, fmt)
    targets = [] if fmt in EVERY_STAGE else ["prepare"]
    run(["dvc", "repro", *targets], root)
    data = json.loads((root / "metrics" / "data.json").read_text())
    assert data["dataset"]["format"] == fmt and data["groups_spanning_splits"] == 0
    if fmt in EVERY_STAGE:
        scores = json.loads((root / "metrics/classify/mobilenet_v3_small.json").read_text())
        assert 0 <= scores["oof_pooled"]["auroc"]["value"] <= 1
        assert (root / "report" / "index.html").is_file()
    prepared = json.loads((root / "artifacts" / "prepared" / "prepared.json").read_text())
    assert prepared["has_boxes"] is (fmt in ("fracatlas", "grazpedwri"))
    assert "didn't change" in run(["dvc", "repro", *targets], root)


def _detect_running(sizes: tuple[str, ...]) -> set[str]:
    running = set()
    for process in psutil.process_iter(["cmdline"]):
        line = " ".join(process.info["cmdline"] or [])
        running |= {s for s in sizes if f"fraclab detect --size {s}" in line}
    return running


def test_detect_sizes_run_side_by_side_with_wait_for_lock(tmp_path):
    """`dvc --wait-for-lock repro -s detect@S`, one per size at once (one per GPU on a GPU
    box): DVC releases its lock while a stage's command runs, each size trains in its own
    folders, and each gives what it gives alone."""
    root = format_project(tmp_path, "fracatlas", sizes=["n", "s"])
    run(["dvc", "repro", "prepare"], root)
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    sizes = ("n", "s")
    processes = [subprocess.Popen(["dvc", "--wait-for-lock", "repro", "-s", f"detect@{s}"],
                                  cwd=root, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, text=True) for s in sizes]
    together = False
    while any(p.poll() is None for p in processes):
        together = together or _detect_running(sizes) == set(sizes)
        time.sleep(0.2)
    logs = [p.communicate()[0] for p in processes]
    assert [p.returncode for p in processes] == [0, 0], logs
    assert together, "the two detect stages never trained at the same time"
    side_by_side = {s: _timeless(root / f"metrics/detect/{s}.json") for s in sizes}
    run(["dvc", "repro", "--force", "-s", "detect@n"], root)  # alone
    assert _timeless(root / "metrics/detect/n.json") == side_by_side["n"]
    status = run(["dvc", "status", "detect@n", "detect@s"], root)
    assert "up to date" in status, status


def _timeless(path: Path) -> dict:
    metrics = json.loads(path.read_text())
    metrics.pop("wall_seconds")
    metrics["training"] = {k: v for k, v in metrics["training"].items()
                           if "second" not in k and "time" not in k}
    return metrics
