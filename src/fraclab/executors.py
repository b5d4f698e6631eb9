"""Where independent tasks (the cross-validation folds) run: in this process, in a pool of
local processes, or on a Ray cluster; the results come back in task order either way.

The executor is a choice about *where* work runs, not *what* is computed, so it is not a
tracked param: ``FRACLAB_EXECUTOR`` (``auto`` by default, ``serial``, ``local``, ``ray``) or a
stage's ``--executor`` option picks it, and ``dvc.lock`` does not change with it. ``auto`` is
``local`` where two or more tasks fit side by side on this machine's cores and train on the
CPU, else ``serial``. Each task sets its
own thread count, seed and determinism flags when it starts, so with the same thread count
every executor gives bit-identical results (a test compares them).

``local`` uses a spawned process pool with ``available_cores() // threads`` workers (each
task's torch threads times the workers fill the cores, never more). A shared array that is a
whole memory-mapped ``.npy`` file (the prepared images) reaches each worker as its path and
is mapped again there, so the workers share the page cache instead of each holding a copy.
``ray`` calls ``ray.init()``, which joins the cluster named by ``RAY_ADDRESS`` or starts one on this
machine (without the dashboard and with usage reporting off); each task asks for
``num_cpus=threads`` and, when CUDA is used, ``num_gpus`` (``FRACLAB_GPUS_PER_TASK``,
default 1; a fraction lets small models share a GPU). Ray is an optional extra:
``pip install fraclab[ray]``.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from typing import Any, NamedTuple, TypeVar

import numpy as np

from fraclab.runtime import available_cores

__all__ = ["EXECUTORS", "chosen_executor", "run_tasks"]

EXECUTORS = ("auto", "serial", "local", "ray")
Task = TypeVar("Task")
Result = TypeVar("Result")

# The shared inputs of the local pool's tasks, set once per worker process.
_SHARED: dict[str, Any] = {}


def chosen_executor(value: str | None = None, *, tasks: int = 1, threads: int = 1,
                    gpus: bool = False) -> str:
    """``value`` if given, else ``FRACLAB_EXECUTOR``, else ``auto``; checked and resolved.

    ``auto`` resolves to ``local`` when at least two of ``tasks`` fit side by side on the
    usable cores at ``threads`` each and they train on the CPU (``gpus`` false), else to
    ``serial`` (a pool of one worker would only add the start of a process).
    """
    name = (value or os.environ.get("FRACLAB_EXECUTOR") or "auto").strip().lower()
    if name not in EXECUTORS:
        raise ValueError(f"executor must be one of {', '.join(EXECUTORS)} (--executor or "
                         f"FRACLAB_EXECUTOR), got {name!r}")
    if name == "auto":
        side_by_side = min(tasks, available_cores() // max(1, threads))
        return "local" if side_by_side >= 2 and not gpus else "serial"
    return name


class _NpyFile(NamedTuple):
    """A read-only memory-mapped ``.npy`` file, sent by path and mapped again on arrival."""

    path: str


def _by_reference(value: Any) -> Any:
    """``value`` as a :class:`_NpyFile` when it is a whole ``.npy`` file mapped read-only
    (same shape, dtype, strides and offset as the file's own mapping), else ``value``."""
    if not (isinstance(value, np.memmap) and value.mode == "r" and value.filename
            and str(value.filename).endswith(".npy")):
        return value
    whole = np.load(value.filename, mmap_mode="r")
    same = (whole.shape, whole.dtype, whole.strides, whole.offset) == (
        value.shape, value.dtype, value.strides, value.offset)
    return _NpyFile(str(value.filename)) if same else value


def _exit_with(parent: int) -> None:
    # A killed stage must not leave its workers behind (holding its output pipes open).
    while os.getppid() == parent:
        time.sleep(0.5)
    os._exit(1)


def _init_worker(shared: dict[str, Any], parent: int) -> None:
    threading.Thread(target=_exit_with, args=(parent,), daemon=True).start()
    _SHARED.update({name: np.load(value.path, mmap_mode="r") if isinstance(value, _NpyFile)
                    else value for name, value in shared.items()})


def _call_shared(function: Callable[..., Result], task: Any) -> Result:
    return function(task, **_SHARED)


def run_tasks(function: Callable[..., Result], tasks: Sequence[Task], *, executor: str,
              shared: dict[str, Any], threads: int, gpus: bool = False,
              on_result: Callable[[Result], None] | None = None) -> list[Result]:
    """``[function(task, **shared) for task in tasks]``, run where ``executor`` says.

    Parameters
    ----------
    function : callable
        A module-level function (it is pickled by name for ``local`` and ``ray``).
    tasks : sequence
        Picklable task descriptions.
    executor : {"auto", "serial", "local", "ray"}
        See the module docstring.
    shared : dict
        Keyword arguments every task gets (large arrays: sent once per worker, or put once
        in Ray's object store).
    threads : int
        The torch threads each task uses: the local pool's size and Ray's ``num_cpus``.
    gpus : bool
        Whether the tasks train on CUDA (Ray then reserves GPUs for them).
    on_result : callable, optional
        Called with each result as soon as it and every earlier one are done, in task order
        (e.g. to save a finished fold while later ones train).
    """
    executor = chosen_executor(executor, tasks=len(tasks), threads=threads, gpus=gpus)
    if executor == "serial":
        results = (function(task, **shared) for task in tasks)
        return _collect(results, on_result)
    if executor == "local":
        workers = max(1, min(len(tasks), available_cores() // max(1, threads)))
        # spawn, not fork: a forked child of a process whose OpenMP pool is running can hang.
        with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn"),
                                 initializer=_init_worker,
                                 initargs=({k: _by_reference(v) for k, v in shared.items()},
                                           os.getpid())) as pool:
            return _collect(pool.map(_call_shared, [function] * len(tasks), tasks), on_result)
    return _run_on_ray(function, tasks, shared, threads, gpus, on_result)


def _collect(results: Iterable[Result], on_result: Callable[[Result], None] | None
             ) -> list[Result]:
    out = []
    for result in results:
        if on_result is not None:
            on_result(result)
        out.append(result)
    return out


def _run_on_ray(function: Callable[..., Result], tasks: Sequence[Task],
                shared: dict[str, Any], threads: int, gpus: bool,
                on_result: Callable[[Result], None] | None) -> list[Result]:
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    try:
        import ray
    except ImportError:
        raise RuntimeError("the ray executor needs Ray: pip install 'fraclab[ray]'") from None
    started_here = not ray.is_initialized()
    if started_here:
        # RAY_ADDRESS (read by ray.init) joins an existing cluster; without it a local one
        # starts on this machine's cores.
        ray.init(include_dashboard=False, log_to_driver=False, configure_logging=False,
                 num_cpus=None if os.environ.get("RAY_ADDRESS") else available_cores())
    try:
        gpus_per_task = float(os.environ.get("FRACLAB_GPUS_PER_TASK", "1")) if gpus else 0
        remote = ray.remote(num_cpus=threads, num_gpus=gpus_per_task)(_call_with)
        refs = {name: ray.put(value) for name, value in shared.items()}
        pending = [remote.remote(function, task, **refs) for task in tasks]
        return _collect((ray.get(ref) for ref in pending), on_result)
    finally:
        if started_here:
            ray.shutdown()


def _call_with(function: Callable[..., Result], task: Any, **shared: Any) -> Result:
    # Ray resolves the object references passed as top-level arguments before the call.
    return function(task, **shared)
