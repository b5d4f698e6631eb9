"""benchmarks/repro.py: per-stage wall times from DVC's stamped output."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
import repro


def test_a_stage_runs_from_its_line_to_the_next_and_families_sum():
    lines = [(0.5, "Verifying data sources in stage: 'data.dvc'\n"),
             (1.0, "Running stage 'prepare':\n"), (2.0, "> fraclab prepare\n"),
             (11.0, "Running stage 'classify-cv@a':\n"),
             (31.0, "Running stage 'classify-cv@b':\n"), (35.0, "Updating lock file\n")]
    times = repro.stage_times(lines, end=40.0)
    assert times == {"prepare": 10.0, "classify-cv@a": 20.0, "classify-cv@b": 9.0}
    assert repro.families(times) == pytest.approx({"prepare": 10.0, "classify-cv": 29.0})
