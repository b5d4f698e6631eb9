"""Everything the report says, read from the stages' metrics and plots files.

The report computes no metric of its own: every number comes from a file a stage wrote (the
backbone comparisons are computed here from the calibrated prediction files, with the same
functions as ``fraclab compare-backbones``). Backbones and YOLO sizes are the ones in
``params.yaml``, never a glob of the folders, so files left over from an earlier run with
other settings are never reported as current.
"""

from __future__ import annotations

import csv
import json
import platform
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from fraclab.params import params_digest

#: Packages whose versions decide the numbers (shown in the run facts).
PACKAGES = ("torch", "torchvision", "ultralytics", "dvc", "dvclive", "scikit-learn", "numpy",
            "scipy", "matplotlib", "pillow")


#: The committed seed sweep of the default settings (benchmarks/noise.py summarize --json).
SEED_SPREAD_FILE = Path("benchmarks") / "noise" / "default.json"
#: Params that a seed sweep varies; every other param must match for its spread to apply.
SWEPT_PARAMS = (("seed",), ("classify", "threads"), ("detect", "threads"))
# Params that change none of the figures a seed sweep measures (point metrics of classify,
# calibrate, threshold and detect): resample counts of intervals and the stages downstream
# (explanations, the bundle, external validations).
UNMEASURED_PARAMS = (("calibrate", "n_boot"), ("explain",), ("bundle",), ("external",))
# Params that, like the thread count, change float rounding only: bfloat16 against float32
# training moved each backbone's pooled out-of-fold AUROC less than its SD over seeds
# (benchmarks/precision.py; README, "classify-cv").
ROUNDING_PARAMS = (("classify", "precision"),)


class ReportInputError(ValueError):
    """A metrics or plots file the report needs is missing or unreadable."""


def read_json(path: Path) -> dict[str, Any]:
    """A JSON object from ``path``, or a :class:`ReportInputError` naming the file."""
    if not path.is_file():
        raise ReportInputError(f"{path}: not found; run the stage that writes it first "
                               "(`dvc repro`)")
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise ReportInputError(f"{path}: not readable JSON ({err})") from None
    if not isinstance(data, dict):
        raise ReportInputError(f"{path}: expected a JSON object")
    return data


def read_table(path: Path, delimiter: str = ",") -> dict[str, list[str]]:
    """The columns of a CSV/TSV file as lists of strings (header row required)."""
    if not path.is_file():
        raise ReportInputError(f"{path}: not found; run the stage that writes it first "
                               "(`dvc repro`)")
    with path.open(newline="") as f:
        reader = csv.DictReader(f, delimiter=delimiter)
        columns: dict[str, list[str]] = {name: [] for name in reader.fieldnames or ()}
        for row in reader:
            for name in columns:
                columns[name].append(row[name])
    return columns


def numbers(table: dict[str, list[str]], column: str, path: Path) -> np.ndarray:
    """One column of :func:`read_table` as floats, or an error naming the file and column."""
    if column not in table:
        raise ReportInputError(f"{path}: no column {column!r} (found {list(table)})")
    try:
        return np.array([float(v) for v in table[column]], dtype=np.float64)
    except ValueError as err:
        raise ReportInputError(f"{path}: column {column!r}: {err}") from None


def settings_digest(params: dict[str, Any]) -> str:
    """:func:`params_digest` of the params without those a seed sweep varies
    (:data:`SWEPT_PARAMS`), those that change nothing it measures (:data:`UNMEASURED_PARAMS`)
    and those that change float rounding only (:data:`ROUNDING_PARAMS`): runs with the same
    digest differ only in training noise."""
    kept = json.loads(json.dumps(params, default=str))
    for path in SWEPT_PARAMS + UNMEASURED_PARAMS + ROUNDING_PARAMS:
        parent = kept
        for key in path[:-1]:
            parent = parent.get(key) if isinstance(parent, dict) else None
        if isinstance(parent, dict):
            parent.pop(path[-1], None)
    return params_digest(kept)


def seed_spread(path: Path, params: dict[str, Any]) -> dict[str, Any] | None:
    """The committed seed sweep at ``path`` when it was made with these settings: its seed
    runs and the SD over them per metric name; None when absent or made with others."""
    if not path.is_file():
        return None
    sweep = read_json(path)
    if sweep.get("settings_digest") != settings_digest(params):
        return None
    return {"seed_runs": sweep.get("seed_runs", []), "thread_pair": sweep.get("thread_pair"),
            "sd": {r["metric"]: r["sd"] for r in sweep.get("rows", [])},
            "thread_move": {r["metric"]: r["thread_move"] for r in sweep.get("rows", [])}}


def package_versions() -> dict[str, str]:
    """Python and the installed versions of :data:`PACKAGES`."""
    versions = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


@dataclass
class Facts:
    """What the stages wrote, keyed by backbone and YOLO size."""

    root: Path
    params: dict[str, Any]
    data: dict[str, Any]  # metrics/data.json
    synthetic: bool  # the dataset folder holds fraclab synth's synth.json
    backbones: list[str]
    classify: dict[str, dict[str, Any]]
    calibrate: dict[str, dict[str, Any]]
    threshold: dict[str, dict[str, Any]]
    sizes: list[str]  # detect.sizes (empty when params.yaml has no detect section)
    detect: dict[str, dict[str, Any]]  # sizes whose metrics file exists
    detect_missing: list[str] = field(default_factory=list)  # sizes without a metrics file
    seeds: dict[str, Any] | None = None  # seed_spread() of the committed sweep, if it applies
    explain: dict[str, dict[str, Any]] = field(default_factory=dict)  # backbones explained
    # params.yaml external entries whose metrics file exists (metrics/external/NAME.json)
    external: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def has_boxes(self) -> bool:
        """Whether the dataset has boxes at all (MURA and class folders do not)."""
        return bool(self.data.get("dataset", {}).get("has_boxes", True))

    @property
    def detect_ran(self) -> dict[str, dict[str, Any]]:
        """The sizes that trained and were evaluated (not skipped)."""
        return {s: m for s, m in self.detect.items() if not m.get("skipped")}

    def path(self, *parts: str) -> Path:
        return self.root.joinpath(*parts)


def _names(values: Any, key: str) -> list[str]:
    if values is None:
        return []
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise ReportInputError(f"params.yaml: {key} must be a list of names, got {values!r}")
    return list(values)


def load_facts(root: Path, params: dict[str, Any], *, external: bool = True) -> Facts:
    """Read every metrics file of the current settings under ``root``.

    Classification, calibration and operating points are required (the report is
    about them); localisation is optional: a missing ``detect`` section or metrics file is
    reported as "not run", a skipped one with the stage's reason. External validations
    (``external``) are read for the entries of ``params['external']`` whose file exists;
    the bundle, which those validations score, reads none.
    """
    backbones = _names(params.get("classify", {}).get("backbones"), "classify.backbones")
    if not backbones:
        raise ReportInputError("params.yaml: classify.backbones is empty or missing")
    sizes = _names((params.get("detect") or {}).get("sizes"), "detect.sizes")
    data = read_json(root / "metrics" / "data.json")
    dataset_path = Path(str(data.get("dataset", {}).get("path", "data")))
    dataset_path = dataset_path if dataset_path.is_absolute() else root / dataset_path
    detect, missing = {}, []
    for size in sizes:
        path = root / "metrics" / "detect" / f"{size}.json"
        if path.is_file():
            detect[size] = read_json(path)
        else:
            missing.append(size)
    return Facts(
        root=root, params=params, data=data,
        synthetic=(dataset_path / "synth.json").is_file(),
        backbones=backbones,
        classify={b: read_json(root / "metrics" / "classify" / f"{b}.json") for b in backbones},
        calibrate={b: read_json(root / "metrics" / "calibrate" / f"{b}.json")
                   for b in backbones},
        threshold={b: read_json(root / "metrics" / "threshold" / f"{b}.json")
                   for b in backbones},
        sizes=sizes, detect=detect, detect_missing=missing,
        seeds=seed_spread(root / SEED_SPREAD_FILE, params),
        explain={b: read_json(root / "metrics" / "explain" / f"{b}.json") for b in backbones
                 if (root / "metrics" / "explain" / f"{b}.json").is_file()},
        external={name: read_json(path) for name in (params.get("external") or {})
                  if external and (path := root / "metrics" / "external" / f"{name}.json")
                  .is_file()},
    )
