"""The metrics of the workspace and of a git revision, read through DVC's Python API.

``Repo.metrics.show(on_error="return")`` is what ``dvc metrics diff`` uses; unlike that
command, the gate keeps the per-file errors (a file that does not parse, one declared in
``dvc.yaml`` but absent) and fails on them instead of printing an empty diff.
"""

from __future__ import annotations

from pathlib import Path

from fraclab.gate.compare import Snapshot


class GateError(RuntimeError):
    """The revision or the repository cannot be read at all."""


def _snapshot(result: dict, rev: str) -> Snapshot:
    if "error" in result:
        raise GateError(f"DVC could not collect the metrics of {rev}: {result['error']}")
    return {path: entry["error"] if "error" in entry else entry.get("data", {})
            for path, entry in result.get("data", {}).items()}


def read_snapshots(root: Path, baseline: str) -> tuple[Snapshot, Snapshot, str]:
    """(baseline snapshot, workspace snapshot, baseline commit) for the DVC repo at ``root``."""
    from dvc.exceptions import DvcException
    from dvc.repo import Repo
    from dvc.scm import RevError, resolve_rev

    try:
        repo = Repo(str(root))
    except DvcException as err:
        raise GateError(f"{root}: not a DVC repository ({err})") from None
    with repo:
        try:
            commit = resolve_rev(repo.scm, baseline)
        except (RevError, DvcException) as err:
            raise GateError(f"unknown git revision {baseline!r}: {err}") from None
        result = repo.metrics.show(revs=[baseline], hide_workspace=False, on_error="return")
    # The brancher names a revision by the names it was asked for; fall back to the one
    # entry that is not the workspace.
    base = result.get(baseline) or next(
        (v for k, v in result.items() if k != "workspace"), None)
    if base is None or "workspace" not in result:
        raise GateError(f"DVC returned no metrics for {baseline!r} and the workspace")
    return _snapshot(base, baseline), _snapshot(result["workspace"], "the workspace"), commit
