"""Folds as tasks: serial, a local process pool and a local Ray cluster give bit-identical
classify-cv outputs; results come back in task order; a bad executor name is an error."""

from __future__ import annotations

import hashlib
import json
import os
import time
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


def mapped_file(task: int, images) -> tuple[int, str | None, int]:
    """What a worker received as ``images``: its backing file (None for an in-memory copy)."""
    return task, getattr(images, "filename", None), int(images[task].sum())


def test_the_local_pool_maps_a_whole_npy_file_again_instead_of_copying_it(tmp_path,
                                                                           monkeypatch):
    import numpy as np

    np.save(tmp_path / "images.npy", np.arange(60, dtype=np.uint8).reshape(3, 4, 5))
    images = np.load(tmp_path / "images.npy", mmap_mode="r")
    # The spawned workers import this module to find `mapped_file`.
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")]))
    got = run_tasks(mapped_file, [0, 1, 2], executor="local", threads=1,
                    shared={"images": images})
    expected = [(k, str(tmp_path / "images.npy"), int(images[k].sum())) for k in range(3)]
    assert got == expected
    # A part of the file is not the file: it goes as a copy, and still gives the same sums.
    part = run_tasks(mapped_file, [0, 1], executor="local", threads=1,
                     shared={"images": images[1:]})
    assert [(k, f) for k, f, _ in part] == [(0, None), (1, None)]
    assert [s for *_, s in part] == [int(images[1:][k].sum()) for k in range(2)]


def test_the_executor_comes_from_the_option_then_the_environment(monkeypatch):
    monkeypatch.delenv("FRACLAB_EXECUTOR", raising=False)
    monkeypatch.setattr("fraclab.executors.available_cores", lambda: 2)
    assert chosen_executor(tasks=6, threads=1) == "local"
    monkeypatch.setenv("FRACLAB_EXECUTOR", "Ray")
    assert chosen_executor(tasks=6, threads=1) == "ray"
    assert chosen_executor("serial", tasks=6, threads=1) == "serial"
    with pytest.raises(ValueError, match="auto, serial, local, ray"):
        chosen_executor("dask")


@pytest.mark.parametrize(("cores", "tasks", "threads", "gpus", "expected"), [
    (2, 6, 1, False, "local"),   # two 1-thread folds side by side on 2 cores
    (2, 6, 2, False, "serial"),  # one fold fills the cores
    (16, 6, 4, False, "local"),
    (8, 1, 1, False, "serial"),  # one task: a pool would only add a process start
    (8, 6, 1, True, "serial"),   # CUDA folds share no GPU unless asked (local or ray)
])
def test_auto_runs_folds_side_by_side_only_where_two_fit(monkeypatch, cores, tasks, threads,
                                                         gpus, expected):
    monkeypatch.delenv("FRACLAB_EXECUTOR", raising=False)
    monkeypatch.setattr("fraclab.executors.available_cores", lambda: cores)
    assert chosen_executor(tasks=tasks, threads=threads, gpus=gpus) == expected
    assert chosen_executor("auto", tasks=tasks, threads=threads, gpus=gpus) == expected


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


def gpu_seen(task: int, meeting: str, wait: float) -> tuple[int, list, str | None, bool,
                                                         float, float]:
    """What a Ray task is given (its GPU ids and CUDA_VISIBLE_DEVICES), whether it met the
    other task running at the same time (each leaves a mark in ``meeting``, then waits up to
    ``wait`` s for the other's), and when it ran."""
    import ray

    started = time.monotonic()
    Path(meeting, str(task)).touch()
    while not (met := Path(meeting, str(1 - task)).exists()) and \
            time.monotonic() - started < wait:
        time.sleep(0.05)
    return (task, ray.get_gpu_ids(), os.environ.get("CUDA_VISIBLE_DEVICES"), met, started,
            time.monotonic())


@pytest.mark.parametrize(("per_task", "side_by_side"), [("0.5", True), ("1", False)])
def test_ray_tasks_reserve_the_gpus_asked_for(monkeypatch, tmp_path, per_task, side_by_side):
    """On a cluster that declares one GPU (none is needed to declare it): half a GPU per
    task lets two tasks hold it at once (they meet, however slowly the workers start), a
    whole one makes them take turns (the second starts after the first ends); each task
    sees the GPU Ray gave it as its only visible CUDA device."""
    ray = pytest.importorskip("ray")
    monkeypatch.setenv("FRACLAB_GPUS_PER_TASK", per_task)
    # The workers import this module (the task function) by name.
    path = os.pathsep.join([str(Path(__file__).parent), os.environ.get("PYTHONPATH", "")])
    ray.init(num_cpus=2, num_gpus=1, include_dashboard=False, log_to_driver=False,
             configure_logging=False, runtime_env={"env_vars": {"PYTHONPATH": path}})
    try:
        got = run_tasks(gpu_seen, [0, 1], executor="ray", threads=1, gpus=True,
                        shared={"meeting": str(tmp_path), "wait": 60.0 if side_by_side else 2.0})
    finally:
        ray.shutdown()
    assert [g[0] for g in got] == [0, 1]
    assert all(len(g[1]) == 1 and g[2] == str(g[1][0]) for g in got), got
    (*_, met0, start0, end0), (*_, met1, start1, end1) = got
    if side_by_side:
        assert met0 and met1, got
    else:
        assert end0 <= start1 or end1 <= start0, got
