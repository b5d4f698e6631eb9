"""The `classify-cv` stage for one backbone: plan, train every fold, predict, score, write.

Reads ``artifacts/prepared/`` and writes (the two folders each swapped in whole once every
fold has trained, every file atomically, so a stage killed mid-training leaves the previous
outputs as they were)

- ``artifacts/classify/<backbone>/``: ``oof.csv`` and ``inner_val.csv`` (image_id, repeat,
  fold, label, logit), ``test.csv`` (image_id, repeat, fold, logit), ``weights/r<R>_f<K>.pt``
  (state dicts), ``folds.json`` (per-fold training record);
- ``metrics/classify/<backbone>.json``: per-fold mean/SD, pooled OOF and test-ensemble values
  with grouped bootstrap CIs, training facts;
- ``plots/classify/<backbone>/``: ROC and PR points (pooled OOF and test) and DVCLive curves.
"""

from __future__ import annotations

import csv
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fraclab.artifacts.predictions import model_key, predictions_csv
from fraclab.classify.protocol import cv_plan, repeat_seed
from fraclab.classify.train import train_fold
from fraclab.evaluate import (
    METRIC_NAMES,
    binary_metrics,
    bootstrap_metrics,
    pr_points,
    roc_points,
    sigmoid,
    summarize,
)
from fraclab.executors import chosen_executor, run_tasks
from fraclab.io import atomic_directory, atomic_write_json, atomic_write_text
from fraclab.models.backbones import build_backbone, check_backbone, prefers_channels_last
from fraclab.models.inputs import InputPipeline, predict_logits
from fraclab.params import ClassifyParams
from fraclab.runtime import available_cores, make_deterministic, select_device


@dataclass(frozen=True)
class PreparedData:
    """The development and test sets as `prepare` left them."""

    images: np.ndarray  # (N, S, S) uint8, memory-mapped
    image_ids: np.ndarray
    labels: np.ndarray
    groups: np.ndarray
    is_test: np.ndarray

    @classmethod
    def load(cls, prepared_dir: Path) -> PreparedData:
        with (prepared_dir / "manifest.csv").open(newline="") as f:
            rows = list(csv.DictReader(f))
        images = np.load(prepared_dir / "images.npy", mmap_mode="r")
        if len(rows) != len(images):
            raise ValueError(f"{prepared_dir}: manifest has {len(rows)} rows but images.npy "
                             f"has {len(images)}; rerun `dvc repro prepare`")
        return cls(
            images=images,
            image_ids=np.array([r["image_id"] for r in rows]),
            labels=np.array([int(r["label"]) for r in rows]),
            groups=np.array([r["group"] for r in rows]),
            is_test=np.array([r["split"] == "test" for r in rows]),
        )


def points_csv(points: dict[str, np.ndarray], split: str) -> str:
    """Curve points (e.g. ``roc_points``) as the CSV `dvc plots` reads, a ``split`` column first."""
    keys = list(points)
    lines = [",".join(["split", *keys])]
    lines += [",".join([split, *(f"{points[k][i]:.6g}" for k in keys)])
              for i in range(len(points[keys[0]]))]
    return "\n".join(lines) + "\n"


def score_predictions(oof: list[tuple], test: list[tuple], data: PreparedData,
                      cfg: ClassifyParams, seed: int) -> dict:
    """Per-fold summary, pooled OOF and test-ensemble metrics with grouped bootstrap CIs."""
    oof_ids = np.array([row[0] for row in oof])
    oof_fold = np.array([(row[1], row[2]) for row in oof])
    oof_y = np.array([row[3] for row in oof])
    oof_p = sigmoid(np.array([row[4] for row in oof]))
    group_of = dict(zip(data.image_ids, data.groups, strict=True))

    per_fold: dict[str, list[float]] = {name: [] for name in METRIC_NAMES}
    for repeat, fold in sorted({tuple(f) for f in oof_fold}):
        mask = (oof_fold[:, 0] == repeat) & (oof_fold[:, 1] == fold)
        for name, value in binary_metrics(oof_y[mask], oof_p[mask],
                                          n_bins=cfg.ece_bins).items():
            per_fold[name].append(value)

    # Pooled OOF: every repeat's predictions together; the bootstrap resamples groups, so an
    # image's copies from different repeats always travel together.
    pooled = bootstrap_metrics(oof_y, oof_p, np.array([group_of[i] for i in oof_ids]),
                               n_boot=cfg.n_boot, seed=seed, n_bins=cfg.ece_bins)
    # Test: the fold ensemble, i.e. the mean of the fold models' probabilities per image.
    test_ids = np.array(sorted({row[0] for row in test}))
    position = {image_id: k for k, image_id in enumerate(test_ids)}
    rows_at = np.array([position[row[0]] for row in test])
    test_prob = sigmoid(np.array([row[4] for row in test]))
    test_p = np.bincount(rows_at, test_prob) / np.bincount(rows_at)
    label_of = dict(zip(data.image_ids, data.labels, strict=True))
    test_y = np.array([label_of[i] for i in test_ids])
    ensemble = bootstrap_metrics(test_y, test_p, np.array([group_of[i] for i in test_ids]),
                                 n_boot=cfg.n_boot, seed=seed, n_bins=cfg.ece_bins)
    return {
        "per_fold": {name: summarize(values) for name, values in per_fold.items()},
        "oof_pooled": pooled,
        "test_ensemble": ensemble,
        "curves": {"oof": (oof_y, oof_p), "test": (test_y, test_p)},
    }


@dataclass(frozen=True)
class FoldTask:
    """Everything one fold model's training needs besides the shared image array."""

    backbone: str
    repeat: int
    fold: int
    seed: int
    inner_train: np.ndarray  # indices into the prepared arrays
    inner_val: np.ndarray
    outer: np.ndarray
    cfg: ClassifyParams
    device: str  # "cpu", "cuda", "mps"
    threads: int


@dataclass
class FoldResult:
    task: FoldTask
    rows: dict[str, list]  # "oof", "inner_val", "test": (image_id, repeat, fold, label, logit)
    state: dict[str, torch.Tensor]  # the best epoch's weights, on the CPU
    history: list[dict[str, float]]  # per epoch: train_loss, val_loss, ...
    record: dict


def fold_tasks(backbone: str, plan: list, dev: np.ndarray, cfg: ClassifyParams, seed: int,
               device: torch.device, threads: int) -> list[FoldTask]:
    """The plan's folds as self-contained tasks, in plan order."""
    return [FoldTask(backbone, f.repeat, f.fold, repeat_seed(seed, f.repeat) % 2**31 + f.fold,
                     dev[f.inner_train], dev[f.inner_val], dev[f.outer], cfg, device.type,
                     threads) for f in plan]


def train_fold_task(task: FoldTask, *, images: np.ndarray, labels: np.ndarray,
                    image_ids: np.ndarray, test: np.ndarray) -> FoldResult:
    """Train one fold model from scratch and predict its out-of-fold, inner-validation and
    test images. A pure function of its arguments: it sets the thread count, determinism
    and seed itself, so it gives the same result in any process. An error keeps its type and
    gains a note naming the fold (which is all a remote traceback would otherwise lack)."""
    try:
        return _train_fold_task(task, images, labels, image_ids, test)
    except Exception as err:
        err.add_note(f"in {task.backbone} fold model repeat {task.repeat} fold {task.fold}")
        raise


def _train_fold_task(task: FoldTask, images: np.ndarray, labels: np.ndarray,
                     image_ids: np.ndarray, test: np.ndarray) -> FoldResult:
    torch.set_num_threads(task.threads)
    device = torch.device(task.device)
    make_deterministic(device)
    torch.manual_seed(task.seed)
    model, head = build_backbone(task.backbone, task.cfg.pretrained)
    channels_last = prefers_channels_last(task.backbone, device)
    history: list[dict[str, float]] = []
    trained = train_fold(model, head, images, labels, task.inner_train, task.inner_val,
                         task.cfg, seed=task.seed, device=device, channels_last=channels_last,
                         precision=task.cfg.precision_of(task.backbone),
                         on_epoch=lambda row: history.append(dict(row)),
                         desc=f"{task.backbone} r{task.repeat} f{task.fold}")
    inputs = InputPipeline(device, channels_last=channels_last)
    rows: dict[str, list] = {}
    for name, idx in (("oof", task.outer), ("inner_val", task.inner_val), ("test", test)):
        logits = predict_logits(model, images, idx, inputs)
        rows[name] = [(image_ids[i], task.repeat, task.fold, int(labels[i]), float(z))
                      for i, z in zip(idx, logits, strict=True)]
    record = {"repeat": task.repeat, "fold": task.fold, "seed": task.seed,
              "inner_train": len(task.inner_train), "inner_val": len(task.inner_val),
              "outer": len(task.outer), "epochs_trained": trained.epochs_run,
              "best_epoch": trained.best_epoch,
              "train_seconds": round(trained.train_seconds, 2),
              "train_images": trained.train_images,
              "images_per_second": round(trained.images_per_second, 1)}
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    return FoldResult(task, rows, state, history, record)


def save_fold(result: FoldResult, weights_dir: Path, live_dir: Path) -> None:
    """A finished fold's weights and its DVCLive curves (replayed from its history)."""
    from dvclive import Live

    key = model_key((result.task.repeat, result.task.fold))
    weights_dir.mkdir(parents=True, exist_ok=True)
    torch.save(result.state, weights_dir / f"{key}.pt")
    with Live(dir=str(live_dir / key), dvcyaml=False,
              save_dvc_exp=False, report=None) as live:
        for row in result.history:
            for name in ("train_loss", "val_loss"):
                live.log_metric(name, row[name])
            live.next_step()


def run_classify_cv(backbone: str, cfg: ClassifyParams, seed: int, prepared_dir: Path,
                    out_dir: Path, metrics_path: Path, plots_dir: Path,
                    log: Callable[[str], None] = print, executor: str | None = None) -> dict:
    """Run the whole protocol for one backbone and write every output; the folds run where
    ``executor`` (or ``FRACLAB_EXECUTOR``) says, with identical results
    (:mod:`fraclab.executors`)."""
    check_backbone(backbone)
    for name in cfg.precision if isinstance(cfg.precision, dict) else ():
        try:
            check_backbone(name)
        except ValueError as err:
            raise ValueError(f"classify.precision: {err}") from None
    threads = available_cores() if cfg.threads == "auto" else cfg.threads
    torch.set_num_threads(threads)
    device = select_device(cfg.device, "classify.device")
    data = PreparedData.load(prepared_dir)
    dev = np.flatnonzero(~data.is_test)
    test = np.flatnonzero(data.is_test)
    plan = cv_plan(data.labels[dev], data.groups[dev], folds=cfg.folds, repeats=cfg.repeats,
                   val_fraction=cfg.val_fraction, seed=seed)
    executor = chosen_executor(executor, tasks=cfg.folds * cfg.repeats, threads=threads,
                               gpus=device.type == "cuda")
    log(f"{backbone}: {len(dev)} development images ({len(set(data.groups[dev]))} groups), "
        f"{len(test)} test images; {cfg.repeats} x {cfg.folds} folds on {device} "
        f"({executor} executor)")

    tasks = fold_tasks(backbone, plan, dev, cfg, seed, device, threads)
    started = time.perf_counter()
    with atomic_directory(out_dir) as out_tmp, \
            atomic_directory(plots_dir / "live") as live_tmp:
        oof_rows, val_rows, test_rows, fold_records = [], [], [], []

        def collect(result: FoldResult) -> None:
            save_fold(result, out_tmp / "weights", live_tmp)
            oof_rows.extend(result.rows["oof"])
            val_rows.extend(result.rows["inner_val"])
            test_rows.extend(result.rows["test"])
            fold_records.append(result.record)
            r = result.record
            log(f"  repeat {r['repeat']} fold {r['fold']}: best epoch {r['best_epoch']}/"
                f"{r['epochs_trained']}, {r['images_per_second']:.0f} images/s")

        run_tasks(train_fold_task, tasks, executor=executor, threads=threads,
                  gpus=device.type == "cuda", on_result=collect,
                  shared={"images": data.images, "labels": data.labels,
                          "image_ids": data.image_ids, "test": test})
        wall = time.perf_counter() - started
        scores = score_predictions(oof_rows, test_rows, data, cfg, seed)
        atomic_write_text(out_tmp / "oof.csv", predictions_csv(oof_rows))
        atomic_write_text(out_tmp / "inner_val.csv", predictions_csv(val_rows))
        # The test file carries no label column: later stages join labels from the manifest,
        # so nothing downstream is tempted to tune on test labels.
        atomic_write_text(out_tmp / "test.csv", predictions_csv(test_rows, with_label=False))
        atomic_write_json(out_tmp / "folds.json", fold_records)
    for split, (y, p) in scores.pop("curves").items():
        atomic_write_text(plots_dir / f"roc_{split}.csv", points_csv(roc_points(y, p), split))
        atomic_write_text(plots_dir / f"pr_{split}.csv", points_csv(pr_points(y, p), split))
    # Summed from the unrounded counts, not rebuilt from the rounded per-fold rates.
    total_images = sum(r["train_images"] for r in fold_records)
    total_seconds = sum(r["train_seconds"] for r in fold_records)
    metrics = {
        "backbone": backbone, "pretrained": cfg.pretrained, "device": device.type,
        "seed": seed, "folds": cfg.folds, "repeats": cfg.repeats, "threshold": 0.5,
        "threads": threads, "precision": cfg.precision_of(backbone),
        **scores,
        "training": {
            "epochs_trained": summarize([r["epochs_trained"] for r in fold_records]),
            "best_epoch": summarize([r["best_epoch"] for r in fold_records]),
            "wall_seconds": round(wall, 1),
            "train_images_per_second": round(total_images / total_seconds, 1),
        },
    }
    atomic_write_json(metrics_path, metrics)
    return metrics

