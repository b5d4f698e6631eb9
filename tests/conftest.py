"""Shared fixtures: paths to the project and to the real dataset beside it."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import settings

# CI draws the same examples on every run (a red CI must mean a change broke something, not an
# unlucky draw); local runs explore new ones and keep failures in .hypothesis/ to replay.
settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
if os.environ.get("CI"):
    settings.load_profile("ci")

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = PROJECT_ROOT.parent / "shared" / "data" / "bone-fracture-detection"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real Roboflow export; tests that use it skip when a clone does not have it."""
    if not (REAL_DATA / "data.yaml").is_file():
        pytest.skip(f"real dataset not present at {REAL_DATA}")
    return REAL_DATA


@pytest.fixture(scope="session")
def tiny_prepared(tmp_path_factory) -> Path:
    """A folder whose ``prepared/`` holds 24 synthetic patients at 32 px, as `prepare` writes
    them: enough for a classify-cv study of a few seconds. Tests write beside it, never in it."""
    from fraclab.data.synth import SynthConfig, generate_dataset
    from fraclab.params import DataParams
    from fraclab.prepare.stage import prepare_dataset

    root = tmp_path_factory.mktemp("tiny_prepared")
    generate_dataset(root / "data", SynthConfig(n_patients=24, size=96))
    prepare_dataset(DataParams(path=str(root / "data"), image_size=32), 0, root / "prepared",
                    log=lambda _: None)
    return root
