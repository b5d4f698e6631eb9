"""Commands run in a throwaway git + DVC project, as a user runs them, for the end-to-end tests."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent
# `git commit` refuses to run without an identity, and CI machines have none configured.
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@t",
                "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@t"}


def run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> str:
    """Run ``cmd`` in ``cwd`` with this environment's tools first on PATH, and ``env`` added
    to the environment; its stdout.

    A non-zero exit fails the test, showing the command and both of its output streams.
    """
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", **GIT_IDENTITY,
           **(env or {})}
    result = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, f"{' '.join(cmd)}\n{result.stdout}\n{result.stderr}"
    return result.stdout


PROJECT_ROOT = Path(__file__).resolve().parents[1]
TINY_PROFILE = PROJECT_ROOT / "tests" / "tiny" / "profile.yaml"


def load_profile(path: Path = TINY_PROFILE) -> dict:
    """A profile file: ``synth`` (generator options), ``params`` overrides, ``floors``."""
    import yaml

    return yaml.safe_load(path.read_text())


def make_project(root: Path, profile: dict, source: Path = PROJECT_ROOT) -> Path:
    """A git + DVC project at ``root`` with ``source``'s pipeline files and code (a symlink to
    its ``src/``), ``profile``'s params overrides and its synthetic dataset, committed."""
    import shutil

    import yaml

    root.mkdir(parents=True, exist_ok=True)
    for name in ("dvc.yaml", "params.yaml", ".dvcignore", ".gitignore", "metrics_rules.yaml"):
        shutil.copy(source / name, root / name)
    (root / "src").symlink_to(source / "src")
    run(["git", "init", "-q"], root)
    run(["dvc", "init", "-q"], root)
    shutil.copytree(source / ".dvc" / "plots", root / ".dvc" / "plots")  # templates
    shutil.copytree(source / "benchmarks" / "noise", root / "benchmarks" / "noise")
    for folder in ("metrics/external", "plots/external"):  # the report's deps, kept by git
        shutil.copytree(source / folder, root / folder)
    run(["dvc", "config", "core.analytics", "false"], root)
    params = yaml.safe_load((root / "params.yaml").read_text())
    for key, value in profile.get("params", {}).items():
        if isinstance(value, dict):
            params[key] = {**params[key], **value}
        else:
            params[key] = value
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    synth = profile.get("synth", {})
    run(["fraclab", "synth", "--out", "data",
         *[arg for key, value in synth.items()
           for arg in (f"--{key.replace('_', '-')}", str(value))]], root)
    run(["dvc", "add", "-q", "data"], root)
    # DVCLive (inside classify-cv) needs a commit to exist, as in any real clone.
    run(["git", "add", "-A"], root)
    run(["git", "commit", "-qm", "tiny project"], root)
    return root
