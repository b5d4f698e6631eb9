"""The model card (Mitchell et al. 2019) of a bundle, as Markdown and as the same data in JSON.

Every number is copied from a metrics file of the study; the limitations are the report's
(:func:`fraclab.study.summary.limitations`).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

INTENDED_USE = ("Research on fracture detection in radiographs: reproducing, comparing and "
                "extending this study. Not a medical device; not for diagnosis or any "
                "clinical decision. Its numbers hold for data like its training data only.")


def _read(path: Path) -> Any:
    return json.loads(path.read_text()) if path.is_file() else None


def _ci(entry: dict[str, Any] | None) -> str:
    if not entry:
        return "n/a"
    return f"{entry['value']:.3f} ({entry['ci_low']:.3f}–{entry['ci_high']:.3f})"


def model_card(root: Path, params: dict[str, Any], manifest: dict[str, Any],
               summary: dict[str, Any], limitations: list[str]) -> tuple[str, dict[str, Any]]:
    """(Markdown, JSON) of the card for the bundle described by ``manifest``."""
    backbone = manifest["classifier"]["backbone"]
    data = _read(root / "metrics" / "data.json") or {}
    classify = _read(root / "metrics" / "classify" / f"{backbone}.json") or {}
    calibrate = _read(root / "metrics" / "calibrate" / f"{backbone}.json") or {}
    threshold = _read(root / "metrics" / "threshold" / f"{backbone}.json") or {}
    detector = manifest.get("detector")
    detect = (_read(root / "metrics" / "detect" / f"{detector['size']}.json")
              if detector else None)
    splits = data.get("splits", {})
    card = {
        "intended_use": INTENDED_USE,
        "model": {"classifier": f"{backbone}, {len(manifest['classifier']['folds'])} fold "
                                f"models ({classify.get('repeats')} repeats x "
                                f"{classify.get('folds')} folds), "
                                f"{classify.get('pretrained', 'none')} pretrained weights",
                  "chosen_by": summary.get("best_backbone_chosen_by"),
                  "detector": f"YOLOv8{detector['size']} at {detector['imgsz']} px, boxes "
                              f"with confidence >= {detector['conf']}" if detector else None,
                  "seed": params.get("seed", 0), "git_revision": manifest["git_revision"],
                  "params_digest": manifest["params_digest"]},
        "training_data": {"dataset": data.get("dataset", {}),
                          "images": data.get("images"), "groups": data.get("groups"),
                          "splits": {s: {k: c.get(k) for k in ("images", "fractured", "groups")}
                                     for s, c in splits.items()},
                          "leakage_after_prepare": {
                              k: data.get(k) for k in (
                                  "groups_spanning_splits", "duplicate_sets_across_splits",
                                  "near_duplicate_pairs_across_splits",
                                  "moved_out_of_test_or_development")}},
        "evaluation": {
            "discrimination": {
                split: {m: (classify.get(key) or {}).get(m)
                        for m in ("auroc", "average_precision", "brier")}
                for split, key in (("out_of_fold_pooled", "oof_pooled"),
                                   ("test_ensemble", "test_ensemble"))},
            "calibration_after": {split: (calibrate.get(key) or {}).get("after")
                                  for split, key in (("out_of_fold_pooled", "oof_pooled"),
                                                     ("test_ensemble", "test_ensemble"))},
            "operating_points_test": {
                label: {"threshold": p["test"]["threshold"],
                        **{m: p["test"][m] for m in ("sensitivity", "specificity", "precision",
                                                      "f1")}}
                for label, p in threshold.items() if isinstance(p, dict) and "test" in p},
            "detection": {split: {k: detect[split].get(k) for k in
                                  ("precision", "recall", "map50", "map50_95", "per_class")}
                          for split in ("val", "test")} if detect else None,
        },
        "limitations": limitations,
        "how_to_run": "fraclab predict IMAGES... --model model/ --out predictions/",
    }
    return _markdown(card, backbone, detector), card


def _markdown(card: dict[str, Any], backbone: str, detector: dict[str, Any] | None) -> str:
    ev = card["evaluation"]
    lines = ["# Model card", "", "## Intended use", "", card["intended_use"], "",
             "## Model", ""]
    lines += [f"- {k.replace('_', ' ')}: {v}" for k, v in card["model"].items() if v is not None]
    td = card["training_data"]
    lines += ["", "## Training data", "",
              f"- dataset: {td['dataset'].get('path')} (format {td['dataset'].get('format')}, "
              f"groups from {td['dataset'].get('group_source')})",
              f"- {td['images']} images in {td['groups']} groups: "
              + ", ".join(f"{s} {c['images']} ({c['fractured']} fractured)"
                          for s, c in td["splits"].items()),
              "- leakage after prepare: " + ", ".join(
                  f"{k.replace('_', ' ')} {v}" for k, v in td["leakage_after_prepare"].items()),
              "", "## Evaluation", "",
              "Out of fold: each image scored by the fold model that never saw it. Test: the "
              "held-out split scored by the mean of the fold models' calibrated probabilities, "
              "the probability `fraclab predict` gives. 95 % intervals from a bootstrap over "
              "patients (groups).", "",
              "| | AUROC | average precision | Brier |", "|---|---|---|---|"]
    for split, values in ev["discrimination"].items():
        lines.append(f"| {split.replace('_', ' ')} | " + " | ".join(
            _ci(values.get(m)) for m in ("auroc", "average_precision", "brier")) + " |")
    lines += ["", "Calibration after scaling (ECE, Brier, mean predicted minus prevalence):", ""]
    for split, after in ev["calibration_after"].items():
        if after:
            lines.append(f"- {split.replace('_', ' ')}: ECE {after['ece']:.3f}, Brier "
                         f"{after['brier']:.3f}, mean minus prevalence "
                         f"{after.get('mean_minus_prevalence', float('nan')):+.3f}")
    lines += ["", "Operating points on test (threshold on the ensemble probability):", "",
              "| operating point | threshold | sensitivity | specificity | precision | F1 |",
              "|---|---|---|---|---|---|"]
    for label, p in ev["operating_points_test"].items():
        lines.append(f"| {label} | {p['threshold']:.3f} | " + " | ".join(
            _ci(p[m]) for m in ("sensitivity", "specificity", "precision", "f1")) + " |")
    if ev["detection"]:
        lines += ["", f"Detection, YOLOv8{detector['size']} (Ultralytics' validator):", "",
                  "| split | precision | recall | mAP@0.5 | mAP@0.5:0.95 |",
                  "|---|---|---|---|---|"]
        for split, d in ev["detection"].items():
            lines.append(f"| {split} | {d['precision']:.3f} | {d['recall']:.3f} | "
                         f"{d['map50']:.3f} | {d['map50_95']:.3f} |")
        # A class without test boxes has no AP (null in the metrics file).
        lines += ["", "mAP@0.5 per class (test): " + ", ".join(
            f"{c} " + ("n/a" if v.get("map50") is None else f"{v['map50']:.3f}")
            for c, v in (ev["detection"]["test"].get("per_class") or {}).items())]
    lines += ["", "## Limitations", ""] + [f"- {item}" for item in card["limitations"]]
    lines += ["", "## How to run", "", "```bash", card["how_to_run"], "```", "",
              "or from Python: `fraclab.predict.Predictor.load('model').predict(paths)`.", ""]
    return "\n".join(lines)
