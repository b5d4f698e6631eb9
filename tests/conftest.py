"""Shared fixtures: paths to the project and to the real dataset beside it."""

from __future__ import annotations

from pathlib import Path

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[1]
REAL_DATA = PROJECT_ROOT.parent / "shared" / "data" / "bone-fracture-detection"


@pytest.fixture(scope="session")
def real_data() -> Path:
    """The real Roboflow export; tests that use it skip when a clone does not have it."""
    if not (REAL_DATA / "data.yaml").is_file():
        pytest.skip(f"real dataset not present at {REAL_DATA}")
    return REAL_DATA
