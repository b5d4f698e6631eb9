"""The command line is installed as `fraclab` and runs as `python -m fraclab`."""

from __future__ import annotations

import subprocess
import sys


def test_python_m_fraclab_lists_every_stage_command():
    result = subprocess.run([sys.executable, "-m", "fraclab", "--help"], capture_output=True,
                            text=True, check=True)
    for command in ("synth", "prepare", "classify-cv"):
        assert command in result.stdout


def test_unknown_backbone_is_a_clean_cli_error(tmp_path):
    from click.testing import CliRunner

    from fraclab.cli import main

    (tmp_path / "params.yaml").write_text("seed: 0\n")
    result = CliRunner().invoke(main, ["classify-cv", "--backbone", "vgg11", "--params",
                                       str(tmp_path / "params.yaml"), "--prepared",
                                       str(tmp_path)])
    assert result.exit_code == 1
    assert "unknown backbone 'vgg11'" in result.output and "resnet18" in result.output
