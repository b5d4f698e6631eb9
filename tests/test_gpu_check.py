"""benchmarks/gpu_check.py on the CPU: the script a GPU lease runs must not first fail there.

The figures of a CPU run mean nothing; what is checked is that every step runs, compares
what it says it compares, and that a failing step is reported without stopping the rest.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu_check.py"


def _check(work: Path, *args: str) -> tuple[subprocess.CompletedProcess, dict]:
    result = subprocess.run([sys.executable, str(SCRIPT), "--device", "cpu", "--work",
                             str(work), "--json", str(work / "check.json"), *args],
                            capture_output=True, text=True, check=False)
    return result, json.loads((work / "check.json").read_text())


def test_every_step_runs_on_the_cpu_and_compares_like_with_like(tmp_path):
    result, figures = _check(tmp_path)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    steps = figures["steps"]
    assert all(s["status"] == "ok" for s in steps.values()), steps
    assert steps["classify"]["bit_identical"]
    assert "weights/r0_f1.pt" in steps["classify"]["compared"]
    if importlib.util.find_spec("ray") is not None:  # the test environment installs it
        assert steps["ray"]["bit_identical"] is True
    else:
        assert steps["ray"]["skipped"] == "Ray is not installed"
    assert 0 <= steps["detect"]["val_map50"] <= 1
    assert steps["predict"]["images"] > 0
    assert steps["predict"]["largest_probability_difference"] == 0.0
    for number in "1234":
        assert f"\n{number}. " in "\n" + result.stdout


def test_a_failing_step_is_reported_and_the_exit_code_says_so(tmp_path):
    """predict alone has no fold models to bundle: it fails with the reason, exit code 1."""
    result, figures = _check(tmp_path, "--steps", "predict")
    assert result.returncode == 1
    assert list(figures["steps"]) == ["predict"]
    assert figures["steps"]["predict"]["status"] == "failed"
    assert "no fold models" in figures["steps"]["predict"]["error"]
    assert "4. predict: FAILED" in result.stdout
