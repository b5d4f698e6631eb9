"""A stage killed (SIGKILL) mid-run leaves the previous outputs whole, and a rerun is clean.

Each kill happens in a child process at a fixed point (after the first fold's weights are
saved; after prepare has written its new image array and YOLO view; between the two renames
that swap a folder), so the test is deterministic.
"""

from __future__ import annotations

import hashlib
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from fraclab.io import atomic_directory
from fraclab.params import DataParams
from fraclab.prepare.stage import prepare_dataset

TINY = "dict(folds=2, repeats=1, epochs=1, patience=1, batch_size=8, n_boot=100)"


def tree(root: Path) -> dict[str, str]:
    """Every file (links as their targets) under ``root``, hidden ones too: path -> digest."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.is_symlink():
            out[str(path.relative_to(root))] = "-> " + str(path.readlink())
        elif path.is_file():
            out[str(path.relative_to(root))] = hashlib.sha256(path.read_bytes()).hexdigest()
    return out


def killed(script: str) -> None:
    """Run ``script`` in a child Python that must die of SIGKILL."""
    result = subprocess.run([sys.executable, "-c", textwrap.dedent(script)],
                            capture_output=True, text=True, check=False)
    assert result.returncode == -9, (result.returncode, result.stdout, result.stderr)


KILL_AFTER = '''
import os, signal
def kill_after(function):
    def wrapper(*args, **kwargs):
        result = function(*args, **kwargs)
        os.kill(os.getpid(), signal.SIGKILL)
        return result
    return wrapper
'''


@pytest.fixture(scope="module")
def project(tiny_prepared: Path) -> Path:
    return tiny_prepared


def _classify(root: Path) -> None:
    from fraclab.classify.stage import run_classify_cv
    from fraclab.params import ClassifyParams

    run_classify_cv("resnet18", ClassifyParams(**eval(TINY)), 0, root / "prepared",
                    root / "out" / "artifacts", root / "out" / "metrics.json",
                    root / "out" / "plots", log=lambda _: None)


def test_classify_killed_after_its_first_fold_leaves_the_previous_outputs(project):
    _classify(project)
    before = tree(project / "out")
    killed(KILL_AFTER + f'''
import torch
torch.save = kill_after(torch.save)
from pathlib import Path
from fraclab.classify.stage import run_classify_cv
from fraclab.params import ClassifyParams
root = Path({str(project)!r})
run_classify_cv("resnet18", ClassifyParams(**{TINY}), 0, root / "prepared",
                root / "out" / "artifacts", root / "out" / "metrics.json",
                root / "out" / "plots", log=lambda _: None)
''')
    after = tree(project / "out")
    # The killed run's half-built folders sit beside the outputs; the outputs are untouched.
    assert {k: v for k, v in after.items() if k in before} == before
    assert set(after) - set(before), "the child should have died mid-run, leaving its tmp"
    _classify(project)
    again = tree(project / "out")
    assert not [k for k in again if ".tmp" in k]
    for name in ("artifacts/oof.csv", "artifacts/test.csv", "artifacts/weights/r0_f1.pt"):
        assert again[name] == before[name], name


def test_prepare_killed_before_its_swap_leaves_the_previous_outputs(project, tmp_path):
    out = tmp_path / "prepared"
    cfg = DataParams(path=str(project / "data"), image_size=32)
    params = f"DataParams(path={cfg.path!r}, image_size=32)"  # the same, for the child
    prepare_dataset(cfg, 0, out, log=lambda _: None)
    before = tree(out)
    killed(KILL_AFTER + f'''
import fraclab.prepare.stage as prepare
from pathlib import Path
from fraclab.params import DataParams
prepare.yolo_view = kill_after(prepare.yolo_view)
prepare.prepare_dataset({params}, 1, Path({str(out)!r}), log=lambda _: None)
''')
    assert tree(out) == before
    assert list(tmp_path.glob(".prepared.*.tmp")), "the child should have died mid-run"
    prepare_dataset(cfg, 1, out, log=lambda _: None)
    assert not list(tmp_path.glob(".prepared.*"))
    assert tree(out) != before  # seed 1 splits differently: the rerun really replaced it


def test_a_kill_between_the_renames_is_undone_by_the_next_write(tmp_path):
    path = tmp_path / "outputs"
    path.mkdir()
    (path / "old.txt").write_text("old")
    killed(f'''
import os, signal
from pathlib import Path
from fraclab.io import atomic_directory
real, calls = os.replace, []
def replace(src, dst):
    calls.append(src)
    if len(calls) == 2:  # outputs -> .outputs.old done; .outputs.*.tmp -> outputs next
        os.kill(os.getpid(), signal.SIGKILL)
    real(src, dst)
os.replace = replace
with atomic_directory(Path({str(path)!r})) as tmp:
    (tmp / "new.txt").write_text("new")
''')
    assert not path.exists() and (tmp_path / ".outputs.old" / "old.txt").read_text() == "old"
    with pytest.raises(RuntimeError), atomic_directory(path):
        raise RuntimeError("a failing block")
    assert (path / "old.txt").read_text() == "old"  # put back, and kept by the failure
    assert sorted(p.name for p in tmp_path.iterdir()) == ["outputs"]
    with atomic_directory(path) as tmp:
        (tmp / "new.txt").write_text("new")
    assert sorted(p.name for p in path.iterdir()) == ["new.txt"]
