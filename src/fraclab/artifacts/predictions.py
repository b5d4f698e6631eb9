"""Prediction files between stages: read with checks that name the file, write exactly.

``classify-cv`` writes ``oof.csv`` / ``inner_val.csv`` (image_id, repeat, fold, label, logit)
and ``test.csv`` (no label) with :func:`predictions_csv`, logits to 9 significant digits; the
stages after it read those logits, never the model's unrounded ones. ``calibrate`` writes the
same rows with a ``prob`` column, the calibrated probability, with :func:`predictions_text`:
floats by ``repr`` (the shortest text that reads back to the identical float64), so every
metric recomputed from a saved file matches the stage's own number exactly, not just to the
printed digits. :func:`model_key` names a fold model in metrics files and weight files.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from fraclab.artifacts.manifest import ArtifactError

Model = tuple[int, int]  # (repeat, fold): one fold model


class PredictionFileError(ValueError):
    """A prediction or manifest file that is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class Predictions:
    """The rows of one prediction file: one per (image, fold model)."""

    path: Path
    image_id: np.ndarray  # str
    repeat: np.ndarray  # int
    fold: np.ndarray  # int
    logit: np.ndarray  # float64
    label: np.ndarray | None = None  # int 0/1; None for test files
    prob: np.ndarray | None = None  # float64; None before calibration

    def models(self) -> list[Model]:
        """The distinct (repeat, fold) fold models, sorted."""
        return sorted({(int(r), int(k)) for r, k in zip(self.repeat, self.fold, strict=True)})

    def of_model(self, model: Model) -> np.ndarray:
        """Boolean mask of the rows predicted by fold model ``model``."""
        return (self.repeat == model[0]) & (self.fold == model[1])

    def with_prob(self, prob: np.ndarray) -> Predictions:
        return replace(self, prob=np.asarray(prob, dtype=np.float64))


def _rows(path: Path, required: tuple[str, ...]) -> Iterator[tuple[int, dict[str, str]]]:
    if not path.is_file():
        raise PredictionFileError(f"{path}: not found; run the stage that writes it first "
                                  "(`dvc repro`)")
    with path.open(newline="") as f:
        reader = csv.DictReader(f)
        missing = [c for c in required if c not in (reader.fieldnames or ())]
        if missing:
            raise PredictionFileError(f"{path}: missing column(s) {missing}; "
                                      f"found {reader.fieldnames}")
        yield from enumerate(reader, start=2)  # line 1 is the header


def _number(path: Path, line: int, row: dict[str, str], column: str, kind: type) -> float:
    text = row[column]
    try:
        value = kind(text)
    except (TypeError, ValueError):
        raise PredictionFileError(f"{path}: line {line}: {column} {text!r} is not "
                                  f"{'an integer' if kind is int else 'a number'}") from None
    if kind is float and not math.isfinite(value):
        raise PredictionFileError(f"{path}: line {line}: {column} is {text!r}, not finite")
    return value


def read_predictions(path: Path, *, label: bool, prob: bool = False) -> Predictions:
    """Read a prediction CSV; ``label`` / ``prob``: whether those columns must be there.

    Raises :class:`PredictionFileError` naming the file (and line) for a missing file or
    column, a non-numeric or non-finite value, a label other than 0/1, a probability outside
    [0, 1], an image predicted twice by one fold model, or no rows at all.
    """
    columns = ("image_id", "repeat", "fold", *(("label",) if label else ()), "logit",
               *(("prob",) if prob else ()))
    data: dict[str, list] = {c: [] for c in columns}
    for line, row in _rows(path, columns):
        data["image_id"].append(row["image_id"])
        for column in columns[1:]:
            kind = int if column in ("repeat", "fold", "label") else float
            data[column].append(_number(path, line, row, column, kind))
        if label and data["label"][-1] not in (0, 1):
            raise PredictionFileError(f"{path}: line {line}: label must be 0 or 1, "
                                      f"got {row['label']!r}")
        if prob and not 0.0 <= data["prob"][-1] <= 1.0:
            raise PredictionFileError(f"{path}: line {line}: prob {row['prob']!r} is not "
                                      "in [0, 1]")
    if not data["image_id"]:
        raise PredictionFileError(f"{path}: no prediction rows")
    keys = list(zip(data["image_id"], data["repeat"], data["fold"], strict=True))
    if len(set(keys)) != len(keys):
        raise PredictionFileError(f"{path}: an image is predicted twice by one fold model")
    return Predictions(
        path=path,
        image_id=np.array(data["image_id"], dtype=str),
        repeat=np.array(data["repeat"], dtype=np.int64),
        fold=np.array(data["fold"], dtype=np.int64),
        logit=np.array(data["logit"], dtype=np.float64),
        label=np.array(data["label"], dtype=np.int64) if label else None,
        prob=np.array(data["prob"], dtype=np.float64) if prob else None,
    )


def predictions_text(pred: Predictions) -> str:
    """CSV text of ``pred``: image_id, repeat, fold[, label], logit[, prob]; floats by repr."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    columns = [("image_id", pred.image_id), ("repeat", pred.repeat), ("fold", pred.fold)]
    if pred.label is not None:
        columns.append(("label", pred.label))
    columns.append(("logit", pred.logit))
    if pred.prob is not None:
        columns.append(("prob", pred.prob))
    writer.writerow([name for name, _ in columns])
    for row in zip(*(values.tolist() for _, values in columns), strict=True):
        writer.writerow([repr(v) if isinstance(v, float) else v for v in row])
    return buffer.getvalue()


@dataclass(frozen=True)
class Manifest:
    """Label, group and split of every image, from ``artifacts/prepared/manifest.csv``."""

    path: Path
    label: dict[str, int]
    group: dict[str, str]
    split: dict[str, str]
    site: dict[str, str] = field(default_factory=dict)  # empty when the dataset names none

    @classmethod
    def load(cls, path: Path) -> Manifest:
        label, group, split, site = {}, {}, {}, {}
        for line, row in _rows(path, ("image_id", "split", "group", "label")):
            image_id = row["image_id"]
            value = _number(path, line, row, "label", int)
            if value not in (0, 1):
                raise PredictionFileError(f"{path}: line {line}: label must be 0 or 1")
            label[image_id], group[image_id], split[image_id] = value, row["group"], row["split"]
            if row.get("site"):
                site[image_id] = row["site"]
        return cls(path, label, group, split, site)

    def sites(self, image_ids: np.ndarray) -> np.ndarray:
        """The anatomical site of each of ``image_ids`` (``""`` where unknown)."""
        return np.array([self.site.get(i, "") for i in image_ids], dtype=str)

    def lookup(self, image_ids: np.ndarray, source: Path) -> tuple[np.ndarray, np.ndarray]:
        """Labels and groups of ``image_ids`` (read from ``source``), or a clear error."""
        unknown = sorted(set(image_ids.tolist()) - self.label.keys())
        if unknown:
            raise PredictionFileError(f"{source}: {len(unknown)} image(s) not in {self.path} "
                                      f"(e.g. {unknown[0]!r}); the predictions are stale, "
                                      "rerun `dvc repro`")
        return (np.array([self.label[i] for i in image_ids], dtype=np.int64),
                np.array([self.group[i] for i in image_ids], dtype=str))


def check_same_models(*tables: Predictions) -> list[Model]:
    """The fold models, which every table must share; else an error naming the files."""
    models = tables[0].models()
    for other in tables[1:]:
        if other.models() != models:
            raise PredictionFileError(
                f"{other.path} and {tables[0].path} hold different fold models "
                f"({other.models()} vs {models}); rerun `dvc repro`")
    return models


def ensemble(test: Predictions, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per test image, the mean of ``values`` (one per row) over the fold models.

    Returns the sorted image ids and their means. Every image must be predicted by every
    fold model exactly once, otherwise the means would weigh models unequally.
    """
    ids, position = np.unique(test.image_id, return_inverse=True)
    counts = np.bincount(position)
    n_models = len(test.models())
    if (counts != n_models).any():
        bad = ids[counts != n_models][0]
        raise PredictionFileError(f"{test.path}: image {bad!r} has {counts[ids == bad][0]} "
                                  f"predictions, expected one per fold model ({n_models})")
    return ids, np.bincount(position, weights=values) / counts


def model_key(model: Model) -> str:
    """``r<repeat>_f<fold>``: the key of a fold model in metrics files."""
    return f"r{model[0]}_f{model[1]}"


def read_probabilities(path: Path, column: str = "prob") -> dict[str, float]:
    """``image_id -> column`` of a predictions CSV (e.g. calibrate's test_ensemble.csv)."""
    if not path.is_file():
        raise ArtifactError(f"{path}: not found; run `dvc repro`")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    if rows and column not in rows[0]:
        raise ArtifactError(f"{path}: no column {column!r}")
    return {r["image_id"]: float(r[column]) for r in rows}


PREDICTION_COLUMNS = ("image_id", "repeat", "fold", "label", "logit")


def predictions_csv(rows: list[tuple], with_label: bool = True) -> str:
    """CSV text of (image_id, repeat, fold, label, logit) rows; logits to 9 significant digits."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    if with_label:
        writer.writerow(PREDICTION_COLUMNS)
        writer.writerows((i, r, k, y, f"{z:.9g}") for i, r, k, y, z in rows)
    else:
        writer.writerow([c for c in PREDICTION_COLUMNS if c != "label"])
        writer.writerows((i, r, k, f"{z:.9g}") for i, r, k, _, z in rows)
    return buffer.getvalue()
