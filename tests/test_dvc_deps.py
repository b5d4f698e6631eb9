"""dvc.yaml's `deps` cover the code each stage runs, and dvc.lock records the committed tree.

An edit to a module a stage imports but does not list would leave its committed metrics
silently stale: `dvc repro` would call the stage up to date.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from fraclab.params import load_params

PROJECT_ROOT = Path(__file__).resolve().parents[1]
SRC = PROJECT_ROOT / "src"
# The dispatch layer: option parsing and one call into the stage's module per command. Every
# stage runs it, so listing it would rerun the whole study for a new command's options.
EXEMPT = {"src/fraclab/cli.py"}
# Where stages write: absent in a clean checkout (DVC-cached), which says nothing of the code.
OUTPUT_FOLDERS = ("artifacts/", "metrics/", "plots/", "report/", "model/")


def module_file(name: str, src: Path = SRC) -> Path | None:
    """The source file of module ``name`` under ``src`` (a package's ``__init__.py``)."""
    base = src.joinpath(*name.split("."))
    for path in (base.with_suffix(".py"), base / "__init__.py"):
        if path.is_file():
            return path
    return None


def _runtime_nodes(tree: ast.AST):
    """Every node of ``tree`` except the bodies of ``if TYPE_CHECKING:`` (never run)."""
    todo = [tree]
    while todo:
        node = todo.pop()
        yield node
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            todo.extend(node.orelse)
        else:
            todo.extend(ast.iter_child_nodes(node))


def imported_modules(tree: ast.AST, package: str, root: str = "fraclab") -> set[str]:
    """Every ``root`` module an AST imports anywhere (function-level imports included; the
    type checker's ``if TYPE_CHECKING:`` imports are not, as they never run).

    ``from a.b import c`` counts ``a.b`` and, when it exists, the submodule ``a.b.c``;
    relative imports are resolved against ``package``.
    """
    found: set[str] = set()
    for node in _runtime_nodes(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                name = ".".join([*base, *([node.module] if node.module else [])])
            else:
                name = node.module or ""
            found.add(name)
            found.update(f"{name}.{alias.name}" for alias in node.names)
    return {m for m in found if m == root or m.startswith(root + ".")}


def import_closure(roots: set[str], src: Path = SRC) -> set[Path]:
    """Source files of ``roots`` and of every module they import, transitively, with the
    ``__init__.py`` of every package on the way (Python runs those too)."""
    seen: set[str] = set()
    todo = list(roots)
    files: set[Path] = set()
    while todo:
        name = todo.pop()
        if name in seen:
            continue
        seen.add(name)
        parts = name.split(".")
        todo.extend(".".join(parts[:k]) for k in range(1, len(parts)))
        path = module_file(name, src)
        if path is None:
            continue  # a name imported from a module, not a module
        files.add(path)
        package = name if path.name == "__init__.py" else ".".join(parts[:-1])
        todo.extend(imported_modules(ast.parse(path.read_text()), package))
    return files


def command_roots(cli_file: Path, function: str) -> set[str]:
    """The ``fraclab`` modules a command function of ``cli.py`` imports."""
    tree = ast.parse(cli_file.read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.FunctionDef) and node.name == function:
            return imported_modules(node, "fraclab")
    raise AssertionError(f"{cli_file}: no function {function}")


def uncovered(files: set[Path], deps: list[str], project: Path = PROJECT_ROOT) -> list[str]:
    """Files (relative to ``project``) that no dep path (a file or a folder above it) covers."""
    relative = sorted(str(f.relative_to(project)) for f in files)
    return [f for f in relative if f not in EXEMPT
            and not any(f == d or f.startswith(d.rstrip("/") + "/") for d in deps)]


#: Every stage runs the project's own ``src/`` (a queued experiment's copy, not the
#: workspace an editable install points at; tests/test_queue.py).
STAGE_PREFIX = ["PYTHONPATH=src", "fraclab"]


def stage_commands(dvc_yaml: dict) -> dict[str, tuple[str, list[str]]]:
    """Stage name -> (the `fraclab` subcommand it runs, its deps)."""
    result = {}
    for name, stage in dvc_yaml["stages"].items():
        stage = stage.get("do", stage)  # a foreach stage's template
        words = stage["cmd"].split()
        assert words[:2] == STAGE_PREFIX, (
            f"stage {name} does not run `{' '.join(STAGE_PREFIX)}`: {stage['cmd']}")
        result[name] = (words[2], [d for d in stage.get("deps", []) if isinstance(d, str)])
    return result


def cli_functions(cli_file: Path) -> dict[str, str]:
    """Subcommand name -> the function of ``cli.py`` that implements it."""
    tree = ast.parse(cli_file.read_text())
    names = {}
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for deco in node.decorator_list:
            if isinstance(deco, ast.Call) and getattr(deco.func, "attr", "") == "command":
                given = [a.value for a in deco.args if isinstance(a, ast.Constant)]
                names[given[0] if given else node.name.replace("_", "-")] = node.name
    return names


def test_every_stage_lists_every_module_it_imports():
    dvc_yaml = yaml.safe_load((PROJECT_ROOT / "dvc.yaml").read_text())
    functions = cli_functions(SRC / "fraclab" / "cli.py")
    missing = {}
    for stage, (command, deps) in stage_commands(dvc_yaml).items():
        files = import_closure(command_roots(SRC / "fraclab" / "cli.py", functions[command]))
        assert files, f"{stage}: found no module"
        if gap := uncovered(files, deps):
            missing[stage] = gap
    assert not missing, f"modules a stage runs but does not list in dvc.yaml deps: {missing}"


def test_the_check_finds_a_module_a_stage_does_not_list(tmp_path):
    pkg = tmp_path / "src" / "fraclab"
    (pkg / "stagea").mkdir(parents=True)
    (pkg / "lib").mkdir()
    for init in (pkg, pkg / "stagea", pkg / "lib"):
        (init / "__init__.py").write_text("")
    (pkg / "stagea" / "run.py").write_text("from fraclab.lib import helper\n")
    (pkg / "lib" / "helper.py").write_text("def f():\n    from fraclab.lib.deep import g\n")
    (pkg / "lib" / "deep.py").write_text("from typing import TYPE_CHECKING\n"
                                         "if TYPE_CHECKING:\n    from fraclab.lib import typed\n")
    (pkg / "lib" / "typed.py").write_text("")
    files = import_closure({"fraclab.stagea.run"}, tmp_path / "src")
    names = {str(f.relative_to(tmp_path)) for f in files}
    assert "src/fraclab/lib/deep.py" in names  # reached through a function-level import
    assert uncovered(files, ["src/fraclab/stagea", "src/fraclab/__init__.py"], tmp_path) == [
        "src/fraclab/lib/__init__.py", "src/fraclab/lib/deep.py", "src/fraclab/lib/helper.py"]
    assert uncovered(files, ["src/fraclab"], tmp_path) == []


def lock_drift(status: dict, data_paths: set[str]) -> dict[str, dict]:
    """From `dvc status --json`: every dependency of a stage that changed since dvc.lock.

    Outputs of other stages are absent in a clean checkout ("deleted"), which says nothing
    about the code; ``data_paths`` (the dataset, regenerated by `make data`) likewise, and is
    checked against data.dvc separately.
    """
    drift: dict[str, dict] = {}
    for stage, entries in status.items():
        for entry in entries:
            if not isinstance(entry, dict):
                drift.setdefault(stage, {})["status"] = entry
                continue
            for path, state in (entry.get("changed deps") or {}).items():
                if state == "deleted" and (path.startswith(OUTPUT_FOLDERS) or path in data_paths):
                    continue
                drift.setdefault(stage, {})[path] = state
    return drift


def test_lock_drift_ignores_missing_outputs_but_not_code_or_params():
    status = {"prepare": [{"changed deps": {"data": "deleted", "src/fraclab/data": "modified"}},
                          {"changed outs": {"artifacts/prepared/images.npy": "not in cache"}}],
              "report": [{"changed deps": {"artifacts/calibrate": "deleted",
                                           "params.yaml": {"seed": "modified"}}}],
              "bundle": [{"changed deps": {"report/limitations.json": "deleted"}}],
              "detect@n": [{"changed deps": {"artifacts/prepared/yolo": "deleted"}}]}
    assert lock_drift(status, {"data"}) == {
        "prepare": {"src/fraclab/data": "modified"},
        "report": {"params.yaml": {"seed": "modified"}}}


def test_dvc_lock_matches_the_committed_code_params_and_data():
    """Committed results come from committed code: dvc.lock's hashes equal the tree's."""
    status = subprocess.run([str(Path(sys.executable).parent / "dvc"), "status", "--json"],
                            cwd=PROJECT_ROOT, capture_output=True, text=True, check=False)
    assert status.returncode == 0, status.stderr
    data_path = load_params(PROJECT_ROOT / "params.yaml")["data"]["path"]
    drift = lock_drift(json.loads(status.stdout or "{}"), {data_path})
    assert not drift, (
        f"dvc.lock is stale for {drift}: rerun the affected stages (`dvc repro`), or, for a "
        "change that provably leaves their outputs as they are, `dvc commit -f STAGE`")
    # The dataset dep: dvc.lock's hash is data.dvc's, which tests/test_synth.py checks
    # against the generator's output.
    lock = yaml.safe_load((PROJECT_ROOT / "dvc.lock").read_text())
    data_dvc = yaml.safe_load((PROJECT_ROOT / "data.dvc").read_text())
    dep = next(d for d in lock["stages"]["prepare"]["deps"] if d["path"] == data_path)
    if data_path == "data":
        assert dep["md5"] == data_dvc["outs"][0]["md5"]
    else:
        pytest.skip(f"data.path is {data_path}, not the embedded dataset")
