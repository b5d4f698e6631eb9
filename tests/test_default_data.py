"""The embedded default dataset: `make repro` regenerates exactly what data.dvc records."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def _make_data_command() -> list[str]:
    """The synth command line the Makefile runs when data/ is absent."""
    makefile = (PROJECT_ROOT / "Makefile").read_text()
    match = re.search(r"test -d data \|\| \$\(BIN\)/(fraclab synth [^\n]+)", makefile)
    assert match, "Makefile no longer regenerates data/ with `fraclab synth`"
    return match.group(1).split()


@pytest.mark.slow
def test_regenerated_default_data_matches_data_dvc(tmp_path):
    command = _make_data_command()
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    for step in (command, ["git", "init", "-q"], ["dvc", "init", "-q"],
                 ["dvc", "config", "core.analytics", "false"], ["dvc", "add", "-q", "data"]):
        subprocess.run(step, cwd=tmp_path, env=env, check=True, capture_output=True)
    regenerated = yaml.safe_load((tmp_path / "data.dvc").read_text())["outs"][0]
    recorded = yaml.safe_load((PROJECT_ROOT / "data.dvc").read_text())["outs"][0]
    for key in ("md5", "size", "nfiles", "path"):
        assert regenerated[key] == recorded[key], key
