"""The whole DVC pipeline on a tiny fixture of each new format (auto-detected from `data/`)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from format_fixtures import (
    build_class_folders,
    build_fracatlas,
    build_grazpedwri,
    build_mura,
)
from project_shell import run

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
    if "threshold" in params:
        params["threshold"]["n_boot"] = 100
    params["detect"].update(sizes=["n"], epochs=1, imgsz=64, n_plot_images=1)
    return params


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_dvc_repro_runs_every_stage_on_each_format(tmp_path, fmt):
    root = tmp_path / "project"
    root.mkdir()
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", ".gitignore"):
        shutil.copy(PROJECT_ROOT / name, root / name)
    (root / "src").symlink_to(PROJECT_ROOT / "src")
    shutil.copytree(PROJECT_ROOT / "benchmarks" / "noise", root / "benchmarks" / "noise")
    params = tiny(yaml.safe_load((root / "params.yaml").read_text()))
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    BUILDERS[fmt](root / "data")
    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    run(["dvc", "config", "core.analytics", "false"], root)
    run(["dvc", "add", "-q", "data"], root)
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny project"], root)

    run(["dvc", "repro"], root)
    data = json.loads((root / "metrics" / "data.json").read_text())
    assert data["dataset"]["format"] == fmt and data["groups_spanning_splits"] == 0
    scores = json.loads((root / "metrics/classify/mobilenet_v3_small.json").read_text())
    assert 0 <= scores["oof_pooled"]["auroc"]["value"] <= 1
    prepared = json.loads((root / "artifacts" / "prepared" / "prepared.json").read_text())
    assert prepared["has_boxes"] is (fmt in ("fracatlas", "grazpedwri"))
    assert "didn't change" in run(["dvc", "repro"], root)
