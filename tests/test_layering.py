"""The layering rule: stages import libraries, never each other; libraries import no stage.

Every import counts, including those inside functions: an import deferred for speed is
still a dependency, and DVC must list its file among the stage's deps.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
#: Packages that are DVC stages (or the gate CI runs); each is a room of its own.
STAGES = frozenset({"prepare", "classify", "calibrate", "threshold", "detect", "explain",
                    "report", "bundle", "external", "gate"})
#: What stages build on. `predict` is the bundle format and its application (the
#: `fraclab predict` command, the bundle and external stages); `study` is what the report
#: and the model card conclude from the metrics.
LIBRARIES = frozenset({"data", "evaluate", "models", "artifacts", "study", "predict", "io",
                       "params", "runtime", "executors", "recipes"})
#: The command line sits above everything.
TOP = frozenset({"cli", "__main__", "__init__"})


def module_name(path: Path, src: Path) -> str:
    parts = path.relative_to(src).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path, src: Path, package: str) -> list[tuple[int, str]]:
    """``(line, module)`` of every import of ``package`` in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    here = module_name(path, src).split(".")
    if path.name != "__init__.py":
        here = here[:-1]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(here[:len(here) - node.level + 1] + ([base] if base else []))
            # `from fraclab.x import y` may name the module fraclab.x.y
            found += [(node.lineno, f"{base}.{a.name}") for a in node.names]
    return [(line, name) for line, name in found
            if name == package or name.startswith(package + ".")]


def layer_violations(src: Path, package: str = "fraclab") -> list[str]:
    """Each import that breaks the rule, as ``file:line: what``; and each top-level module
    of ``package`` that is in no layer (so a new package has to choose one)."""
    problems = []
    for path in sorted((src / package).rglob("*.py")):
        parts = path.relative_to(src / package).with_suffix("").parts
        room = parts[0]
        if room in TOP and len(parts) == 1:
            continue
        if room not in STAGES | LIBRARIES:
            problems.append(f"{path}: {room} is neither a stage nor a library")
            continue
        for line, name in imports(path, src, package):
            target = name.split(".")[1] if name.count(".") else None
            if target is None or target == room or target not in STAGES:
                continue
            kind = "stage" if room in STAGES else "library"
            problems.append(f"{path}:{line}: {kind} {room} imports stage {target} ({name})")
    return problems


def import_cycles(src: Path, package: str = "fraclab") -> list[list[str]]:
    """Strongly connected groups of more than one module in the import graph."""
    modules = {module_name(p, src): p for p in (src / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        targets = set()
        for _line, imported in imports(path, src, package):
            while imported and imported not in modules:  # `from pkg import NAME`
                imported = imported.rpartition(".")[0]
            if imported and imported != name and not name.startswith(imported + "."):
                targets.add(imported)
        graph[name] = targets
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    groups = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for nxt in graph[node]:
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                top = stack.pop()
                group.append(top)
                if top == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return groups


def test_no_stage_imports_another_and_no_library_imports_a_stage():
    assert layer_violations(SRC) == []


def test_the_import_graph_has_no_cycle():
    assert import_cycles(SRC) == []


def _package(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / "fraclab" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


@pytest.mark.parametrize(("source", "expected"), [
    ("from fraclab.classify.train import fit\n", "stage threshold imports stage classify"),
    ("def f():\n    from ..calibrate import stage\n", "stage threshold imports stage calibrate"),
    ("import fraclab.detect.weights\n", "stage threshold imports stage detect"),
])
def test_a_stage_importing_another_is_caught(tmp_path, source, expected):
    root = _package(tmp_path, {"__init__.py": "", "threshold/__init__.py": "",
                               "threshold/stage.py": source, "classify/__init__.py": "",
                               "classify/train.py": "def fit(): ...\n"})
    [problem] = layer_violations(root)
    assert "threshold/stage.py:" in problem and expected in problem


def test_a_library_importing_a_stage_and_an_unplaced_package_are_caught(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "evaluate/__init__.py": "",
                               "evaluate/metrics.py": "from fraclab.report import figures\n",
                               "report/__init__.py": "", "report/figures.py": "",
                               "misc/__init__.py": ""})
    problems = layer_violations(root)
    assert any("library evaluate imports stage report" in p for p in problems), problems
    assert any("misc is neither a stage nor a library" in p for p in problems), problems


def test_a_cycle_is_caught_even_through_a_function_level_import(tmp_path):
    root = _package(tmp_path, {"__init__.py": "", "data/__init__.py": "",
                               "data/images.py": "def f():\n    from fraclab.data import dicom\n",
                               "data/dicom.py": "from fraclab.data.images import f\n"})
    assert import_cycles(root) == [["fraclab.data.dicom", "fraclab.data.images"]]


def readme_module_map(readme: str) -> set[str]:
    """The module files the README's map names, as paths under ``src/fraclab/``."""
    block = readme.split("```\nsrc/fraclab/\n", 1)[1].split("```", 1)[0]
    named, package = set(), ""
    for line in block.splitlines():
        indent = len(line) - len(line.lstrip())
        head = line.split()[0] if line.strip() else ""
        if head.endswith("/") and indent in (2, 4):
            package = head if indent == 2 else package.split("/")[0] + "/" + head
            line = line.replace(head, "", 1)
        elif indent == 2:
            package = ""
        elif indent == 4:  # a module of the top package, after one of its subpackages
            package = package.split("/")[0] + "/"
        for name in re.findall(r"\b(\w+\.py)\b", line):
            named.add(package + name)
    return named


def test_the_readme_module_map_names_every_module_and_only_those():
    readme = (SRC.parent / "README.md").read_text()
    tree = {p.relative_to(SRC / "fraclab").as_posix() for p in (SRC / "fraclab").rglob("*.py")
            if p.name not in ("__init__.py", "__main__.py") and "synth" not in p.parts}
    named = {n for n in readme_module_map(readme)
             if not n.endswith("__init__.py") and not n.startswith("data/synth/")}
    assert sorted(tree - named) == [], "in the tree but not in the README's module map"
    assert sorted(named - tree) == [], "in the README's module map but not in the tree"
