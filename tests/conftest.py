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
