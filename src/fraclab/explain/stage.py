"""The explain stage: where one backbone's fold models look on the test split, scored against
the true fracture boxes beside chance baselines and the detector, with the sanity check.

Reads the prepared images and manifest, the backbone's fold weights (state dicts), its
calibrated test-ensemble probabilities and operating point, and the detector the report would
choose (highest validation mAP@0.5:0.95). Writes ``metrics/explain/B.json``,
``artifacts/explain/B/scores.csv`` (one row per test image with true boxes: every score, from
which every figure of the metrics file is recomputable) and ``plots/explain/B/``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fraclab.artifacts.manifest import ManifestImage, read_manifest
from fraclab.artifacts.predictions import read_probabilities
from fraclab.evaluate.bootstrap import grouped_bootstrap_ci
from fraclab.evaluate.saliency import (
    Box,
    box_centre_map,
    centre_prior_map,
    energy_in_boxes,
    otsu_iou,
    pointing_hit,
    rank_correlation,
    uniform_random_map,
)
from fraclab.io import atomic_directory, atomic_write_json
from fraclab.models.gradcam import (
    cascading_randomisation,
    ensemble_maps,
    from_letterbox,
    grad_cam,
    randomisation_blocks,
    target_layer,
)
from fraclab.params import ExplainParams

SCORES = ("pointing", "energy", "iou")
MAPS = ("gradcam", "random", "centre", "detector")


def image_scores(saliency: np.ndarray, boxes: Sequence[Box], tolerance: float) -> dict:
    """The three scores of one map against one image's true boxes."""
    return {"pointing": pointing_hit(saliency, boxes, tolerance),
            "energy": energy_in_boxes(saliency, boxes), "iou": otsu_iou(saliency, boxes)}


def score_rows(images: Sequence[ManifestImage], maps: Sequence[np.ndarray],
               detector_boxes: Sequence[Sequence[Box]], tolerance: float,
               seed: int) -> list[dict[str, Any]]:
    """One row per image: Grad-CAM's scores and those of the baselines. ``maps`` are in the
    images' own pixels; ``detector_boxes`` are each image's predicted boxes, best first (an
    image where the detector found none scores 0: it points at nothing)."""
    rows = []
    for image, saliency, predicted in zip(images, maps, detector_boxes, strict=True):
        shape = saliency.shape
        rng = np.random.default_rng([seed, image.index])
        candidates = {"gradcam": saliency, "random": uniform_random_map(shape, rng),
                      "centre": centre_prior_map(shape)}
        row: dict[str, Any] = {"image_id": image.image_id, "group": image.group,
                               "site": image.site, "boxes": len(image.boxes)}
        for name, candidate in candidates.items():
            for score, value in image_scores(candidate, image.boxes, tolerance).items():
                row[f"{name}_{score}"] = value
        if predicted:
            top = box_centre_map(shape, predicted[0])
            for score, value in image_scores(top, image.boxes, tolerance).items():
                row[f"detector_{score}"] = value
        else:
            row.update({f"detector_{s}": 0.0 for s in SCORES})
        rows.append(row)
    return rows


def _mean(_y: np.ndarray, values: np.ndarray) -> float:
    return float(np.mean(values))


def summarise(rows: Sequence[dict[str, Any]], n_boot: int, seed: int) -> dict[str, Any]:
    """Mean of every score with a grouped bootstrap 95 % interval (images where a score is
    undefined, NaN, are left out of that score)."""
    out: dict[str, Any] = {}
    for name in MAPS:
        out[name] = {}
        for score in SCORES:
            values = np.array([r[f"{name}_{score}"] for r in rows], dtype=float)
            groups = np.array([r["group"] for r in rows])
            keep = np.isfinite(values)
            if keep.sum() < 2:  # JSON has no NaN: an undefined score is null
                out[name][score] = {"value": float(values[keep][0]) if keep.any() else None,
                                    "n": int(keep.sum())}
                continue
            ci = grouped_bootstrap_ci(_mean, np.zeros(keep.sum()), values[keep], groups[keep],
                                      n_boot=n_boot, seed=seed)
            out[name][score] = {**ci, "n": int(keep.sum())}
    return out


def per_site(rows: Sequence[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Grad-CAM's mean scores per anatomical site (empty when no site is known)."""
    sites = sorted({r["site"] for r in rows if r["site"]})
    def mean(values: list[float]) -> float | None:
        finite = [v for v in values if np.isfinite(v)]
        return float(np.mean(finite)) if finite else None

    return {site: {"images": sum(r["site"] == site for r in rows),
                   **{score: mean([r[f"gradcam_{score}"] for r in rows if r["site"] == site])
                      for score in SCORES}}
            for site in sites}


def agreement(maps: Sequence[np.ndarray], detector_boxes: Sequence[Sequence[Box]],
              positive: Sequence[bool], tolerance: float) -> dict[str, Any]:
    """Among positive decisions where the detector predicts a box: the share whose map
    maximum falls in one of the detector's boxes."""
    hits = [pointing_hit(m, list(b), tolerance) for m, b, p in
            zip(maps, detector_boxes, positive, strict=True) if p and b]
    return {"images": len(hits), "share": float(np.mean(hits)) if hits else None}


def _scores_csv(rows: Sequence[dict[str, Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]) if rows else ["image_id"],
                            lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
    return buffer.getvalue()


def _fold_models(backbone: str, weights_dir: Path) -> list[tuple[str, torch.nn.Module]]:
    from fraclab.models.backbones import build_backbone

    models = []
    for path in sorted(weights_dir.glob("*.pt")):
        model, _ = build_backbone(backbone)
        model.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        model.eval()
        models.append((path.stem, model))
    if not models:
        raise FileNotFoundError(f"{weights_dir}: no fold weights; run `dvc repro classify-cv`")
    return models


def best_detector(metrics_dir: Path, sizes: Sequence[str]) -> str | None:
    """The size the report calls best: highest validation mAP@0.5:0.95 among sizes that
    trained (ties: the first in ``sizes``); None if none did."""
    ran = {}
    for size in sizes:
        path = metrics_dir / f"{size}.json"
        if path.is_file():
            metrics = json.loads(path.read_text())
            if not metrics.get("skipped"):
                ran[size] = metrics["val"]["map50_95"]
    return max(ran, key=lambda s: (ran[s], -list(sizes).index(s))) if ran else None


def detector_boxes(checkpoint: Path, images: Sequence[ManifestImage], imgsz: int,
                   conf: float) -> list[list[Box]]:
    """Boxes the detect stage's checkpoint predicts on each image's original file, best
    first. The checkpoint is this pipeline's own detect output (DVC-tracked), which Ultralytics
    reads as it does in the detect stage's validation."""
    from fraclab.models import offline

    offline.configure()
    from ultralytics import YOLO

    offline.restore_pil_open()
    model = YOLO(str(checkpoint))
    out = []
    for image in images:
        result = model.predict(image.source_path, imgsz=imgsz, conf=conf, device="cpu",
                               verbose=False)[0]
        boxes = result.boxes
        order = np.argsort(-boxes.conf.numpy()) if len(boxes) else []
        out.append([tuple(float(v) for v in boxes.xyxy[i].tolist()) for i in order])
    return out


def run_explain(backbone: str, params: dict[str, Any], cfg: ExplainParams, root: Path,
                log: Callable[[str], None] = print) -> dict[str, Any]:
    """Compute and write everything for ``backbone``; returns the metrics."""
    seed = int(params.get("seed", 0))
    image_size = int(params["data"]["image_size"])
    manifest = read_manifest(root / "artifacts/prepared/manifest.csv")
    test = [i for i in manifest if i.split == "test"]
    boxed = [i for i in test if i.label == 1 and i.boxes]
    if not boxed:
        reason = ("explanations skipped: no test image has a true box (the dataset has no "
                  "boxes, or its test split no fracture with one)")
        log(f"explain {backbone}: {reason}")
        metrics = {"backbone": backbone, "seed": seed, "skipped": True, "reason": reason}
        _write(root, backbone, metrics, [], [], [], [], np.zeros((0, 0, 0)), [], [], cfg)
        return metrics
    models = _fold_models(backbone, root / f"artifacts/classify/{backbone}/weights")
    layer = target_layer(models[0][1], backbone, image_size, cfg.min_side,
                         cfg.layers.get(backbone))
    pixels = np.load(root / "artifacts/prepared/images.npy", mmap_mode="r")
    log(f"explain {backbone}: Grad-CAM at {layer}, {len(models)} fold models, "
        f"{len(test)} test images ({len(boxed)} with boxes)")
    from fraclab.models.inputs import InputPipeline

    inputs = InputPipeline(torch.device("cpu"), channels_last=False)
    letterboxed = ensemble_maps([m for _, m in models], layer, pixels[[i.index for i in test]],
                                inputs)
    maps = [from_letterbox(m, i.width, i.height) for m, i in zip(letterboxed, test, strict=True)]

    detect = params.get("detect") or {}
    size = best_detector(root / "metrics/detect", list(detect.get("sizes", [])))
    conf = float((params.get("bundle") or {}).get("box_conf", 0.25))
    if size is not None:
        predicted = detector_boxes(root / f"artifacts/detect/{size}/best.pt", test,
                                   int(detect.get("imgsz", 640)), conf)
    else:
        predicted = [[] for _ in test]

    point = (params.get("bundle") or {}).get("operating_point", "youden")
    operating = json.loads((root / f"metrics/threshold/{backbone}.json").read_text())
    threshold = float(operating[point]["test"]["threshold"])
    probs = read_probabilities(root / f"artifacts/calibrate/{backbone}/test_ensemble.csv")
    positive = [probs[i.image_id] >= threshold for i in test]

    where = {i.image_id: k for k, i in enumerate(test)}
    rows = score_rows(boxed, [maps[where[i.image_id]] for i in boxed],
                      [predicted[where[i.image_id]] for i in boxed], cfg.tolerance_px, seed)
    for row, image in zip(rows, boxed, strict=True):
        row["positive_decision"] = int(positive[where[image.image_id]])

    sanity_images = boxed[:cfg.sanity_images]
    sanity_inputs = inputs(pixels[[i.index for i in sanity_images]])
    curve = cascading_randomisation(
        models[0][1], randomisation_blocks(models[0][1], backbone),
        lambda model: grad_cam(model, layer, sanity_inputs), rank_correlation, seed=seed)
    final = curve[-1][1]
    metrics = {
        "backbone": backbone, "seed": seed, "layer": layer, "fold_models": len(models),
        "map": "mean of the fold models' raw Grad-CAM (Captum LayerGradCam, no ReLU), "
               "upsampled bilinearly and mapped back to the original image",
        "tolerance_px": cfg.tolerance_px, "test_images": len(test),
        "images_with_boxes": len(boxed), "detector": f"yolov8{size}" if size else None,
        "operating_point": point, "threshold": threshold,
        "scores": summarise(rows, cfg.n_boot, seed),
        "positive_decisions_among_boxed": int(sum(r["positive_decision"] for r in rows)),
        "agreement_with_detector": agreement(maps, predicted, positive, cfg.tolerance_px),
        "per_site": per_site(rows),
        "sanity": {"check": "cascading randomisation (Adebayo et al. 2018) of fold model "
                            f"{models[0][0]}: mean Spearman rank correlation of its maps "
                            "with the trained model's", "images": len(sanity_images),
                   "curve": [{"randomised": n, "rank_correlation": v} for n, v in curve],
                   "max_rank_correlation": cfg.sanity_max_correlation,
                   "passed": bool(final < cfg.sanity_max_correlation)},
    }
    _write(root, backbone, metrics, rows, curve, test, maps, letterboxed, positive, predicted,
           cfg)
    s = metrics["scores"]
    log(f"explain {backbone}: pointing {s['gradcam']['pointing']['value']:.2f} (random "
        f"{s['random']['pointing']['value']:.2f}, centre {s['centre']['pointing']['value']:.2f}),"
        f" sanity {'passed' if metrics['sanity']['passed'] else 'FAILED'} ({final:.2f})")
    return metrics


def _write(root: Path, backbone: str, metrics: dict, rows: list, curve: list,
           test: list, maps: list, letterboxed: np.ndarray, positive: list, predicted: list,
           cfg: ExplainParams) -> None:
    from fraclab.models.heatmaps import heatmap_png

    with atomic_directory(root / f"artifacts/explain/{backbone}") as tmp:
        (tmp / "scores.csv").write_text(_scores_csv(rows))
        # The raw ensemble maps (signed, unnormalised) of every test image, in the
        # letterboxed frame of images.npy; maps.csv names the image of each row.
        np.save(tmp / "maps.npy", letterboxed.astype(np.float32))
        (tmp / "maps.csv").write_text("row,image_id\n" + "".join(
            f"{k},{image.image_id}\n" for k, image in enumerate(test)))
    with atomic_directory(root / f"plots/explain/{backbone}") as tmp:
        lines = ["step,randomised,rank_correlation"] + [
            f"{k},{n},{v!r}" for k, (n, v) in enumerate(curve)]
        (tmp / "sanity.csv").write_text("\n".join(lines) + "\n")
        (tmp / "heatmaps").mkdir()
        shown = [k for k, i in enumerate(test) if i.boxes][:cfg.n_plot_images]
        if not shown:
            (tmp / "heatmaps" / "NONE.txt").write_text("No test image with a true box.\n")
        for k in shown:
            image = test[k]
            (tmp / "heatmaps" / f"{Path(image.image_id).stem}.png").write_bytes(heatmap_png(
                image, maps[k], positive[k], predicted[k]))
    atomic_write_json(root / f"metrics/explain/{backbone}.json", metrics)
