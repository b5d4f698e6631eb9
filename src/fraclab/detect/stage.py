"""The `detect` stage for one YOLOv8 size: check the data, train, validate on val and test, write.

Reads ``artifacts/prepared/`` (``prepared.json`` and the ``yolo/`` view) and writes, each
atomically:

- ``artifacts/detect/<size>/``: ``best.pt`` and Ultralytics' per-epoch log ``results.csv``;
- ``metrics/detect/<size>.json``: val and test precision, recall, mAP@0.5, mAP@0.5:0.95, overall
  and per class, from Ultralytics' validator; epochs, best epoch, wall time, images/s;
- ``plots/detect/<size>/``: per-epoch curves, per-class AP@0.5, PR points, drawn test images.

A dataset without boxes (``prepared.json: has_boxes: false``) is not an error: the stage writes
metrics saying localisation was skipped and why, and placeholder outputs so DVC is satisfied.
"""

from __future__ import annotations

import shutil
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from fraclab.detect.data import load_view, private_view, skip_reason
from fraclab.detect.plots import ap50_file, curve_files, draw_boxes, pr_file, yolo_boxes
from fraclab.detect.weights import model_source
from fraclab.io import atomic_directory, atomic_write_json
from fraclab.params import DetectParams, check_yolo_size

PLOT_FILES = ("train_loss.csv", "val_loss.csv", "val_map.csv", "ap50_per_class.csv",
              "pr_val.csv", "pr_test.csv")


def _write_skipped(size: str, reason: str, out_dir: Path, metrics_path: Path,
                   plots_dir: Path) -> dict:
    """Metrics saying why localisation was skipped; empty declared outputs for DVC."""
    with atomic_directory(out_dir) as tmp:
        (tmp / "SKIPPED.txt").write_text(f"detect skipped: {reason}\n")
    with atomic_directory(plots_dir) as tmp:
        for name, header in zip(PLOT_FILES, ("epoch,loss,box,cls,dfl", "epoch,loss,box,cls,dfl",
                                             "epoch,map50,map50_95,precision,recall",
                                             "label,class,split,ap50", "recall,precision",
                                             "recall,precision"), strict=True):
            (tmp / name).write_text(header + "\n")
        (tmp / "test_images").mkdir()
    metrics = {"size": size, "model": f"yolov8{size}", "skipped": True,
               "reason": f"localisation skipped: {reason}"}
    atomic_write_json(metrics_path, metrics)
    return metrics


def _draw_test_images(best: Path, images: tuple[Path, ...], labels: tuple[Path, ...],
                      names: tuple[str, ...], cfg: DetectParams, device: str,
                      out: Path) -> None:
    """The first ``cfg.n_plot_images`` test images with true boxes, true and predicted boxes."""
    from fraclab.detect.train import YOLO

    chosen = [(i, lab) for i, lab in zip(images, labels, strict=True)
              if yolo_boxes(lab, 1, 1)][:cfg.n_plot_images]
    out.mkdir(parents=True, exist_ok=True)
    if not chosen:
        return
    model = YOLO(str(best))
    results = model.predict([str(i) for i, _ in chosen], imgsz=cfg.imgsz, device=device,
                            verbose=False, save=False)
    for (image, label), result in zip(chosen, results, strict=True):
        height, width = result.orig_shape
        predicted = [(int(k), float(c), *map(float, xyxy)) for k, c, xyxy in
                     zip(result.boxes.cls, result.boxes.conf, result.boxes.xyxy, strict=True)]
        draw_boxes(image, yolo_boxes(label, width, height), predicted, names).save(
            out / f"{image.stem}.png")


def run_detect(size: str, cfg: DetectParams, seed: int, prepared_dir: Path, out_dir: Path,
               metrics_path: Path, plots_dir: Path,
               log: Callable[[str], None] = print) -> dict:
    """Train, evaluate and write one size; returns the metrics written.

    Raises ValueError (DetectDataError, ParamsError) and PretrainedWeightsError before any
    training starts when the input cannot work.
    """
    start = time.perf_counter()
    check_yolo_size(size)
    reason = skip_reason(prepared_dir)
    if reason:
        log(f"detect {size}: localisation skipped, {reason}")
        return _write_skipped(size, reason, out_dir, metrics_path, plots_dir)
    view = load_view(prepared_dir / "yolo")
    epochs = cfg.epochs_for(size)
    source = model_source(cfg.weights, size)
    if view.splits["test"].boxes == 0:
        log(f"detect {size}: the test split has no boxes; its metrics will be 0")

    from fraclab.detect.metrics import epoch_log, pr_curve, validate
    from fraclab.detect.train import train
    from fraclab.evaluate.detection import split_metrics

    with tempfile.TemporaryDirectory(prefix=f"fraclab-detect-{size}-") as tmp_name:
        tmp = Path(tmp_name)
        data_yaml = private_view(view, tmp / "data")
        result = train(cfg, size, seed, source, data_yaml, tmp / "runs", log)
        splits, curves = {}, {}
        for split in ("val", "test"):
            metrics = validate(result.best, data_yaml, split, cfg.imgsz, cfg.batch,
                               result.resources.device, tmp / "runs")
            splits[split] = {"images": len(view.splits[split].images), **split_metrics(metrics)}
            curves[split] = pr_curve(metrics)
        log_rows = epoch_log(result.results_csv)

        with atomic_directory(out_dir) as out_tmp:
            shutil.copyfile(result.best, out_tmp / "best.pt")
            shutil.copyfile(result.results_csv, out_tmp / "results.csv")
        with atomic_directory(plots_dir) as plots_tmp:
            for name, text in curve_files(log_rows).items():
                (plots_tmp / name).write_text(text)
            (plots_tmp / "ap50_per_class.csv").write_text(ap50_file(splits))
            for split, points in curves.items():
                (plots_tmp / f"pr_{split}.csv").write_text(pr_file(points))
            test = view.splits["test"]
            _draw_test_images(result.best, test.images, test.labels, view.names, cfg,
                              result.resources.device, plots_tmp / "test_images")

    trained_images = result.train_images * result.epochs_trained
    metrics = {
        "size": size, "model": f"yolov8{size}", "skipped": False, "weights": cfg.weights,
        "imgsz": cfg.imgsz, "seed": seed, "classes": list(view.names),
        "train": {"images": len(view.splits["train"].images),
                  "boxes": view.splits["train"].boxes},
        **splits,
        "training": {
            "epochs": epochs, "epochs_trained": result.epochs_trained,
            "best_epoch": result.best_epoch,
            "stopped_early": result.epochs_trained < epochs,
            "device": result.resources.device, "threads": result.resources.threads,
            "workers": result.resources.workers,
            "train_seconds": round(result.train_seconds, 2),
            "train_images_per_second": round(trained_images / result.train_seconds, 2),
        },
        "wall_seconds": round(time.perf_counter() - start, 2),
    }
    atomic_write_json(metrics_path, metrics)
    log(f"detect {size}: val mAP50 {splits['val']['map50']:.3f}, test mAP50 "
        f"{splits['test']['map50']:.3f}, {result.epochs_trained} epochs "
        f"(best {result.best_epoch}), {metrics['wall_seconds']:.0f} s")
    return metrics

