"""A complete project tree of stage outputs for the report tests, built in about a second.

Classification predictions are synthetic (logit = backbone strength x label signal + noise)
but every metrics and plots file downstream of them is written by the real code: the
classify-cv scoring (``score_predictions``), ``run_calibrate`` and ``run_threshold``.
Detection outputs follow the detect stage's schema (``fraclab.detect.stage``).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import yaml
from PIL import Image, ImageDraw

from fraclab.artifacts.predictions import predictions_csv
from fraclab.calibrate.stage import run_calibrate
from fraclab.classify.stage import PreparedData, points_csv, score_predictions
from fraclab.evaluate import pr_points, roc_points
from fraclab.params import CalibrateParams, ClassifyParams, ThresholdParams
from fraclab.threshold.stage import run_threshold

CLASSES = ("elbow", "wrist", "shoulder")
STRENGTH = {"alpha": 1.2, "beta": 0.7, "gamma": 0.2}  # how well each toy backbone separates


def _data_json(ids: list[str], split: list[str], labels: np.ndarray, groups: list[str],
               group_source: str) -> dict:
    per = {}
    for name in ("train", "valid", "test"):
        members = [i for i, s in enumerate(split) if s == name]
        per[name] = {"images": len(members), "fractured": int(labels[members].sum()),
                     "normal": len(members) - int(labels[members].sum()),
                     "groups": len({groups[i] for i in members}),
                     "boxes": {c: int(labels[members].sum()) // len(CLASSES) for c in CLASSES}}
    leak = {"groups_spanning_splits": 0, "images_in_spanning_groups": 0,
            "duplicate_sets_across_splits": 0, "near_duplicate_pairs_across_splits": 0,
            "unassigned": 0}
    return {
        "dataset": {"path": "data", "format": "yolo", "classes": list(CLASSES),
                    "group_source": group_source, "has_boxes": True},
        "images": len(ids), "fractured": int(labels.sum()),
        "normal": len(ids) - int(labels.sum()),
        "fractured_share": round(float(labels.mean()), 4), "groups": len(set(groups)),
        "splits": per, **leak, "near_duplicates": {"max_distance": 32, "pairs": 0},
        "as_shipped": {**leak, "near_duplicates": {"max_distance": 32, "pairs": 0}},
        "resplit": False, "dedupe": "report", "skipped": 0, "skipped_files": [],
    }


def _classify(root: Path, backbone: str, data: PreparedData, rng: np.random.Generator,
              cfg: ClassifyParams) -> None:
    dev = np.flatnonzero(~data.is_test)
    test = np.flatnonzero(data.is_test)
    patients = sorted(set(data.groups[dev]))
    oof, inner, test_rows = [], [], []
    live = root / "plots" / "classify" / backbone / "live"
    for repeat in range(cfg.repeats):
        fold_of = dict(zip(patients, rng.permutation(np.arange(len(patients)) % cfg.folds),
                           strict=True))
        val_of = dict(zip(patients, rng.random(len(patients)) < 0.3, strict=True))
        for fold in range(cfg.folds):
            signal = STRENGTH[backbone] * (2 * data.labels - 1) * (1 + 0.3 * fold)
            logit = signal + rng.normal(0, 1.0, data.labels.size)
            for i in dev:
                row = (data.image_ids[i], repeat, fold, int(data.labels[i]), float(logit[i]))
                if fold_of[data.groups[i]] == fold:
                    oof.append(row)
                elif val_of[data.groups[i]]:
                    inner.append(row)
            test_rows += [(data.image_ids[i], repeat, fold, int(data.labels[i]),
                           float(logit[i])) for i in test]
            metrics = live / f"r{repeat}_f{fold}" / "plots" / "metrics"
            metrics.mkdir(parents=True)
            for split, start in (("train", 0.9), ("val", 0.8)):
                losses = start * np.exp(-0.2 * np.arange(4)) + 0.05 * fold
                (metrics / f"{split}_loss.tsv").write_text(
                    f"step\t{split}_loss\n" + "".join(f"{k}\t{v}\n" for k, v in
                                                      enumerate(losses)))
    out = root / "artifacts" / "classify" / backbone
    out.mkdir(parents=True)
    (out / "oof.csv").write_text(predictions_csv(oof))
    (out / "inner_val.csv").write_text(predictions_csv(inner))
    (out / "test.csv").write_text(predictions_csv(test_rows, with_label=False))
    scores = score_predictions(oof, test_rows, data, cfg, seed=0)
    plots = root / "plots" / "classify" / backbone
    for split, (y, p) in scores.pop("curves").items():
        (plots / f"roc_{split}.csv").write_text(points_csv(roc_points(y, p), split))
        (plots / f"pr_{split}.csv").write_text(points_csv(pr_points(y, p), split))
    (root / "metrics" / "classify").mkdir(parents=True, exist_ok=True)
    (root / "metrics" / "classify" / f"{backbone}.json").write_text(json.dumps({
        "backbone": backbone, "pretrained": "none", "device": "cpu", "seed": 0,
        "folds": cfg.folds, "repeats": cfg.repeats, "threshold": 0.5, **scores,
        "training": {"wall_seconds": 12.5, "train_images_per_second": 321.0}}, indent=2))


def write_detect(root: Path, size: str, quality: float, skipped: str = "") -> None:
    """metrics/detect/<size>.json and plots/detect/<size>/ as the detect stage writes them."""
    metrics_path = root / "metrics" / "detect" / f"{size}.json"
    metrics_path.parent.mkdir(parents=True, exist_ok=True)
    plots = root / "plots" / "detect" / size
    (plots / "test_images").mkdir(parents=True)
    if skipped:
        metrics_path.write_text(json.dumps({"size": size, "model": f"yolov8{size}",
                                            "skipped": True,
                                            "reason": f"localisation skipped: {skipped}"}))
        (plots / "val_map.csv").write_text("epoch,map50,map50_95,precision,recall\n")
        return

    def split(images: int, boxes: int, scale: float) -> dict:
        per_class = {c: {"boxes": 3, "precision": scale, "recall": scale * 0.9,
                         "map50": scale * (0.8 + 0.1 * k), "map50_95": scale * 0.5}
                     for k, c in enumerate(CLASSES)}
        per_class[CLASSES[-1]] = {"boxes": 0, "precision": None, "recall": None,
                                  "map50": None, "map50_95": None}
        return {"images": images, "precision": scale, "recall": scale * 0.9,
                "map50": scale * 0.85, "map50_95": scale * 0.45, "boxes": boxes,
                "per_class": per_class}

    epochs = 5
    metrics_path.write_text(json.dumps({
        "size": size, "model": f"yolov8{size}", "skipped": False, "weights": "scratch",
        "imgsz": 64, "seed": 0, "classes": list(CLASSES), "train": {"images": 40, "boxes": 20},
        "val": split(10, 6, quality), "test": split(10, 6, quality * 0.9),
        "training": {"epochs": epochs, "epochs_trained": epochs, "best_epoch": 4,
                     "stopped_early": False, "device": "cpu", "threads": 1, "workers": 0,
                     "train_seconds": 30.0, "train_images_per_second": 6.7},
        "wall_seconds": 40.0}, indent=2))
    (plots / "val_map.csv").write_text("epoch,map50,map50_95,precision,recall\n" + "".join(
        f"{e},{quality * e / epochs:.4f},{quality * e / epochs / 2:.4f},0.5,0.5\n"
        for e in range(1, epochs + 1)))
    for k in range(2):  # drawn like detect's draw_boxes: true green, predicted red
        image = Image.fromarray(np.full((64, 64), 80 + 40 * k, dtype=np.uint8)).convert("RGB")
        draw = ImageDraw.Draw(image)
        draw.rectangle([20, 20, 40, 40], outline=(0, 200, 0))
        draw.rectangle([22, 21, 41, 43], outline=(230, 40, 40))
        image.save(plots / "test_images" / f"P{k:03d}_elbow.png")


def build_project(root: Path, backbones: tuple[str, ...] = ("alpha", "beta", "gamma"),
                  sizes: tuple[str, ...] = ("n", "s"), detect: str = "ran",
                  group_source: str = "patient_id (meta.csv)") -> Path:
    """Every file the report reads, under ``root`` (which becomes the working directory).

    ``detect``: ``ran`` (every size trained), ``skipped`` (no boxes, as for MURA),
    ``absent`` (no detect section in params.yaml, no files).
    """
    rng = np.random.default_rng(0)
    ids, split, labels, groups = [], [], [], []
    for k in range(90):
        name = "test" if k >= 70 else ("valid" if k >= 60 else "train")
        for view in ("ap", "lat"):
            ids.append(f"{name}/images/P{k:03d}_{view}.png")
            split.append(name)
            labels.append(int(rng.random() < 0.4))
            groups.append(f"P{k:03d}")
    y = np.array(labels)
    prepared = root / "artifacts" / "prepared"
    prepared.mkdir(parents=True)
    with (prepared / "manifest.csv").open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["index", "image_id", "split", "group", "label"])
        writer.writerows([i, ids[i], split[i], groups[i], labels[i]] for i in range(len(ids)))
    (root / "metrics").mkdir(exist_ok=True)
    data_json = _data_json(ids, split, y, groups, group_source)
    if detect == "skipped":
        data_json["dataset"]["has_boxes"] = False
    (root / "metrics" / "data.json").write_text(json.dumps(data_json, indent=2))
    data = PreparedData(images=np.zeros((len(ids), 1, 1), np.uint8), image_ids=np.array(ids),
                        labels=y, groups=np.array(groups),
                        is_test=np.array([s == "test" for s in split]))
    cfg = ClassifyParams(backbones=list(backbones), folds=2, repeats=2, n_boot=100)
    for backbone in backbones:
        _classify(root, backbone, data, rng, cfg)
        run_calibrate(backbone, CalibrateParams(), root / "artifacts" / "classify" / backbone,
                      prepared / "manifest.csv", root / "artifacts" / "calibrate" / backbone,
                      root / "metrics" / "calibrate" / f"{backbone}.json",
                      root / "plots" / "calibrate" / backbone, log=lambda _: None)
        run_threshold(backbone, ThresholdParams(n_boot=100), 0,
                      root / "artifacts" / "calibrate" / backbone, prepared / "manifest.csv",
                      root / "metrics" / "threshold" / f"{backbone}.json",
                      root / "plots" / "threshold" / backbone, log=lambda _: None)
    params: dict = {"seed": 0, "data": {"path": "data"},
                    "classify": {"backbones": list(backbones), "n_boot": 100}}
    if detect != "absent":
        params["detect"] = {"sizes": list(sizes)}
        for k, size in enumerate(sizes):
            write_detect(root, size, 0.4 + 0.2 * k,
                         skipped="the dataset has no boxes" if detect == "skipped" else "")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    return root


def variant(source: Path, root: Path, *, backbones: tuple[str, ...] | None = None,
            detect: str | None = None, group_source: str | None = None) -> Path:
    """A copy of a :func:`build_project` tree with fewer backbones, another detect state
    (``skipped`` or ``absent``) or another group source: cheaper than building anew."""
    import shutil

    shutil.copytree(source, root, dirs_exist_ok=True,
                    ignore=shutil.ignore_patterns("report", "summary.json"))
    shutil.rmtree(root / "plots" / "report", ignore_errors=True)
    params = yaml.safe_load((root / "params.yaml").read_text())
    data = json.loads((root / "metrics" / "data.json").read_text())
    if backbones is not None:
        params["classify"]["backbones"] = list(backbones)
    if group_source is not None:
        data["dataset"]["group_source"] = group_source
    if detect is not None:
        sizes = params.pop("detect", {}).get("sizes", [])
        shutil.rmtree(root / "metrics" / "detect", ignore_errors=True)
        shutil.rmtree(root / "plots" / "detect", ignore_errors=True)
        if detect == "skipped":
            params["detect"] = {"sizes": sizes}
            data["dataset"]["has_boxes"] = False
            for size in sizes:
                write_detect(root, size, 0.0, skipped="the dataset has no boxes")
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    (root / "metrics" / "data.json").write_text(json.dumps(data, indent=2))
    return root

