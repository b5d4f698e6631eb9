"""A queued DVC experiment runs the code it was queued with, not the workspace's.

`make` installs fraclab editable, so a plain `fraclab` imports the workspace's `src/` from
wherever it runs; DVC's queue runs each experiment in a copy under `.dvc/tmp/exps/`. The
stages' `PYTHONPATH=src` makes the copy's own `src/` win. Here the editable install is
mimicked by pointing PYTHONPATH at the workspace's `src/` (what its .pth file does), then the
workspace's code is changed after queueing.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest
import yaml
from project_shell import run

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
WORKSPACE_MARK = '    return "the workspace code ran"\n'


def stage_prefix() -> str:
    """What every stage of the project's dvc.yaml puts before `fraclab`."""
    commands = [s.get("do", s)["cmd"] for s in yaml.safe_load((ROOT / "dvc.yaml").read_text())
                ["stages"].values()]  # a foreach stage's command is in its `do` template
    prefixes = {c[:c.index("fraclab ")] for c in commands}
    assert len(prefixes) == 1, prefixes
    return prefixes.pop()


def queued_output_md5(project: Path, env: dict[str, str]) -> str:
    """Queue an experiment, change the workspace's code, run the queue; the md5 DVC
    recorded for the experiment's output."""
    run(["dvc", "exp", "run", "--queue", "-q", "-n", "queued", "-S", "seed=1"], project, env)
    recipes = project / "src" / "fraclab" / "recipes.py"
    committed = recipes.read_text()
    recipes.write_text(committed.replace("    return shlex.join(args)\n", WORKSPACE_MARK))
    try:
        run(["dvc", "exp", "run", "--run-all"], project, env)
    finally:
        recipes.write_text(committed)
    ref = run(["git", "for-each-ref", "--format=%(objectname)", "refs/exps/"], project).split()
    assert len(ref) == 1, ref
    lock = yaml.safe_load(run(["git", "show", f"{ref[0]}:dvc.lock"], project))
    return lock["stages"]["which"]["outs"][0]["md5"]


@pytest.mark.parametrize("prefix", ["project", "bare"])
def test_a_queued_experiment_runs_its_own_code(tmp_path, prefix):
    """With the project's prefix the queued run prints the committed code's command; without
    it (`bare`), the same setup runs the workspace's edit: the check can fail."""
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(ROOT / "src", project / "src",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    shutil.copytree(ROOT / "recipes", project / "recipes")
    (project / "params.yaml").write_text("seed: 0\n")
    cmd = (stage_prefix() if prefix == "project" else "") + "fraclab recipe real-cpu"
    (project / "dvc.yaml").write_text(yaml.safe_dump({"stages": {"which": {
        "cmd": f"{cmd} > command.txt", "deps": ["src/fraclab/recipes.py"],
        "params": ["seed"], "outs": ["command.txt"]}}}))
    (project / ".gitignore").write_text("command.txt\n")
    run(["git", "init", "-q"], project)
    run(["dvc", "init", "-q"], project)
    run(["dvc", "config", "core.analytics", "false"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "project"], project)
    env = {"PYTHONPATH": str(project / "src")}  # the editable install of this workspace
    committed_output = run(["fraclab", "recipe", "real-cpu"], project, env)
    md5 = queued_output_md5(project, env)
    ran_committed = md5 == hashlib.md5(committed_output.encode()).hexdigest()
    ran_workspace = md5 == hashlib.md5(b"the workspace code ran\n").hexdigest()
    assert (ran_committed, ran_workspace) == ((True, False) if prefix == "project"
                                              else (False, True))
