"""Folds as tasks: serial, a local process pool and a local Ray cluster give bit-identical
classify-cv outputs; results come back in task order; a bad executor name is an error."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from fraclab.classify.stage import run_classify_cv
from fraclab.executors import chosen_executor, run_tasks
from fraclab.params import ClassifyParams
from fraclab.runtime import PretrainedWeightsError

TINY = dict(folds=2, repeats=2, epochs=1, patience=1, batch_size=8, n_boot=100, threads=1)


@pytest.fixture(scope="module")
def prepared(tiny_prepared: Path) -> Path:
    return tiny_prepared


def _outputs(root: Path, executor: str) -> dict[str, str]:
    out = root / executor
    lines: list[str] = []
    run_classify_cv("resnet18", ClassifyParams(**TINY), 0, root / "prepared",
                    out / "artifacts", out / "metrics.json", out / "plots", log=lines.append,
                    executor=executor)
    assert f"({executor} executor)" in lines[0]
    files = sorted((out / "artifacts").rglob("*"))
    digests = {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
               for p in files if p.is_file() and p.name != "folds.json"}  # it holds timings
    metrics = json.loads((out / "metrics.json").read_text())
    metrics.pop("training")  # wall time and images/s
    digests["metrics"] = json.dumps(metrics, sort_keys=True)
    digests["val_loss"] = (out / "plots" / "live" / "r1_f0" / "plots" / "metrics" /
                           "val_loss.tsv").read_text().split("\n", 1)[0]
    return digests


def test_serial_local_and_ray_give_bit_identical_outputs(prepared):
    serial = _outputs(prepared, "serial")
    assert len([k for k in serial if k.startswith("artifacts/weights/")]) == 4
    assert _outputs(prepared, "local") == serial
    assert _outputs(prepared, "ray") == serial


def test_results_come_back_in_task_order_with_the_shared_arguments():
    tasks = ["b3a", "ca1", "a2b"]
    seen: list[list[str]] = []
    for executor in ("serial", "local"):
        got = run_tasks(sorted, tasks, executor=executor, threads=1,
                        shared={"reverse": True}, on_result=seen.append)
        assert got == [sorted(t, reverse=True) for t in tasks]
    assert seen == [sorted(t, reverse=True) for t in tasks] * 2


def test_the_executor_comes_from_the_option_then_the_environment(monkeypatch):
    monkeypatch.delenv("FRACLAB_EXECUTOR", raising=False)
    assert chosen_executor() == "serial"
    monkeypatch.setenv("FRACLAB_EXECUTOR", "Ray")
    assert chosen_executor() == "ray"
    assert chosen_executor("local") == "local"
    with pytest.raises(ValueError, match="serial, local, ray"):
        chosen_executor("dask")


@pytest.mark.parametrize("executor", ["serial", "ray"])
def test_a_failing_fold_fails_the_stage_naming_the_fold(prepared, tmp_path, executor):
    cfg = ClassifyParams(**{**TINY, "pretrained": str(tmp_path / "missing.pt")})
    with pytest.raises(PretrainedWeightsError, match=r"missing\.pt") as caught:
        run_classify_cv("resnet18", cfg, 0, prepared / "prepared", tmp_path / "artifacts",
                        tmp_path / "metrics.json", tmp_path / "plots", log=lambda _: None,
                        executor=executor)
    # Ray carries the remote traceback, note included, in the message.
    said = " ".join([str(caught.value), *getattr(caught.value, "__notes__", [])])
    assert "repeat 0 fold 0" in said
    assert not (tmp_path / "artifacts").exists()  # nothing half-written is left
