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
import io
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from fraclab.classify.backbones import build_backbone, check_backbone, prefers_channels_last
from fraclab.classify.protocol import cv_plan, repeat_seed
from fraclab.classify.train import InputPipeline, predict_logits, train_fold
from fraclab.evaluate import (
    METRIC_NAMES,
    binary_metrics,
    bootstrap_metrics,
    pr_points,
    roc_points,
    sigmoid,
    summarize,
)
from fraclab.io import atomic_directory, atomic_write_json, atomic_write_text
from fraclab.params import ClassifyParams
from fraclab.runtime import available_cores, make_deterministic, select_device

PREDICTION_COLUMNS = ("image_id", "repeat", "fold", "label", "logit")


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


def train_every_fold(backbone: str, plan: list, data: PreparedData, dev: np.ndarray,
                     test: np.ndarray, cfg: ClassifyParams, seed: int, device: torch.device,
                     channels_last: bool, inputs: InputPipeline, *, weights_dir: Path,
                     live_dir: Path, log: Callable[[str], None]
                     ) -> tuple[list, list, list, list[dict]]:
    """Train the plan's fold models in order; each one's out-of-fold, inner-validation and
    test logits, its weights under ``weights_dir`` and its DVCLive curves under
    ``live_dir``. Returns the three prediction row lists and the per-fold records."""
    from dvclive import Live

    oof_rows, val_rows, test_rows, fold_records = [], [], [], []
    weights_dir.mkdir(parents=True, exist_ok=True)
    for f in plan:
        fold_seed = repeat_seed(seed, f.repeat) % 2**31 + f.fold
        torch.manual_seed(fold_seed)
        model, head = build_backbone(backbone, cfg.pretrained)
        inner_train, inner_val, outer = dev[f.inner_train], dev[f.inner_val], dev[f.outer]
        with Live(dir=str(live_dir / f"r{f.repeat}_f{f.fold}"), dvcyaml=False,
                  save_dvc_exp=False, report=None) as live:
            def on_epoch(row: dict[str, float], live: Live = live) -> None:
                for key in ("train_loss", "val_loss"):
                    live.log_metric(key, row[key])
                live.next_step()

            trained = train_fold(model, head, data.images, data.labels, inner_train,
                                 inner_val, cfg, seed=fold_seed, device=device,
                                 channels_last=channels_last,
                                 on_epoch=on_epoch, desc=f"{backbone} r{f.repeat} f{f.fold}")
        for rows, idx in ((oof_rows, outer), (val_rows, inner_val), (test_rows, test)):
            logits = predict_logits(model, data.images, idx, inputs)
            rows.extend((data.image_ids[i], f.repeat, f.fold, int(data.labels[i]), float(z))
                        for i, z in zip(idx, logits, strict=True))
        state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
        torch.save(state, weights_dir / f"r{f.repeat}_f{f.fold}.pt")  # in the stage's new folder
        fold_records.append({"repeat": f.repeat, "fold": f.fold, "seed": fold_seed,
                             "inner_train": len(inner_train), "inner_val": len(inner_val),
                             "outer": len(outer), "epochs_trained": trained.epochs_run,
                             "best_epoch": trained.best_epoch,
                             "train_seconds": round(trained.train_seconds, 2),
                             "train_images": trained.train_images,
                             "images_per_second": round(trained.images_per_second, 1)})
        log(f"  repeat {f.repeat} fold {f.fold}: best epoch {trained.best_epoch}/"
            f"{trained.epochs_run}, {trained.images_per_second:.0f} images/s")
    return oof_rows, val_rows, test_rows, fold_records


def run_classify_cv(backbone: str, cfg: ClassifyParams, seed: int, prepared_dir: Path,
                    out_dir: Path, metrics_path: Path, plots_dir: Path,
                    log: Callable[[str], None] = print) -> dict:
    """Run the whole protocol for one backbone and write every output."""
    check_backbone(backbone)
    threads = available_cores() if cfg.threads == "auto" else cfg.threads
    torch.set_num_threads(threads)
    device = select_device(cfg.device, "classify.device")
    make_deterministic(device)
    channels_last = prefers_channels_last(backbone, device)
    inputs = InputPipeline(device, channels_last=channels_last)  # for the predictions
    data = PreparedData.load(prepared_dir)
    dev = np.flatnonzero(~data.is_test)
    test = np.flatnonzero(data.is_test)
    plan = cv_plan(data.labels[dev], data.groups[dev], folds=cfg.folds, repeats=cfg.repeats,
                   val_fraction=cfg.val_fraction, seed=seed)
    log(f"{backbone}: {len(dev)} development images ({len(set(data.groups[dev]))} groups), "
        f"{len(test)} test images; {cfg.repeats} x {cfg.folds} folds on {device}")

    started = time.perf_counter()
    with atomic_directory(out_dir) as out_tmp, \
            atomic_directory(plots_dir / "live") as live_tmp:
        oof_rows, val_rows, test_rows, fold_records = train_every_fold(
            backbone, plan, data, dev, test, cfg, seed, device, channels_last, inputs,
            weights_dir=out_tmp / "weights", live_dir=live_tmp, log=log)
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
        "threads": threads,
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

