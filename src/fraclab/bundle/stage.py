"""The `bundle` stage: the study's chosen models as one self-contained folder, ``model/``.

Reads what the stages wrote (fold weights, calibration maps, thresholds, the detector's
best weights, the metrics) and makes the study's choices and limitations with
:mod:`fraclab.study`, as the report does; then writes, atomically, a folder
that :class:`fraclab.predict.Predictor` loads with nothing else: no repository, no DVC, no
network. See :mod:`fraclab.predict.bundle` for the layout and the checks.
"""

from __future__ import annotations

import json
import platform
import shutil
from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

from fraclab.bundle.card import model_card
from fraclab.io import atomic_directory
from fraclab.params import params_digest
from fraclab.predict.bundle import FORMAT, MANIFEST, file_hashes
from fraclab.runtime import git_revision
from fraclab.study.facts import load_facts
from fraclab.study.summary import headline, limitations

PACKAGES = ("torch", "torchvision", "ultralytics", "numpy", "scipy", "pillow", "pydicom")


def _json(path: Path) -> dict[str, Any]:
    if not path.is_file():
        raise ValueError(f"{path}: not found; run the stage that writes it (`dvc repro`)")
    return json.loads(path.read_text())


def choose(requested: str, chosen: str | None, valid: list[str], what: str) -> str | None:
    """``requested`` unless it is ``auto`` (then the study's choice, ``chosen``)."""
    name = chosen if requested == "auto" else requested
    if name is not None and name not in valid:
        raise ValueError(f"bundle.{what}: {name!r} is not one of {', '.join(valid)} "
                         "(the ones this study trained)")
    return name


def calibration_of(metrics: dict[str, Any], key: str) -> dict[str, float]:
    """``slope`` and ``intercept`` of fold model ``key``'s map from its calibrate metrics."""
    method = metrics["method"]
    if method == "platt":
        return {"method": method, "slope": metrics["slope"]["per_fold"][key],
                "intercept": metrics["intercept"]["per_fold"][key]}
    t = metrics["temperature"]["per_fold"][key]
    intercept = metrics.get("intercept", {}).get("per_fold", {}).get(key, 0.0)
    return {"method": method, "temperature": t, "slope": 1.0 / t, "intercept": intercept}


def _detector(src: Path, dest: Path, size: str) -> dict[str, Any]:
    """The detector's weights as a state dict and its architecture as YAML (no pickle).

    The YAML is named ``yolov8<size>.yaml``: Ultralytics takes the model scale from the file
    name when it builds a model from a YAML file, whatever the file says.
    """
    import torch
    import yaml

    from fraclab.models import offline

    offline.configure()
    from ultralytics import YOLO

    offline.restore_pil_open()
    model = YOLO(str(src)).model  # our own stage's checkpoint, read once, here only
    dest.mkdir(parents=True)
    torch.save({k: v.detach().float().cpu() for k, v in model.state_dict().items()},
               dest / "weights.pt")
    (dest / f"yolov8{size}.yaml").write_text(yaml.safe_dump(dict(model.yaml), sort_keys=False))
    names = model.names
    return {"names": [names[k] for k in sorted(names)] if isinstance(names, dict)
            else list(names), "weights": "detector/weights.pt",
            "model_yaml": f"detector/yolov8{size}.yaml"}


def _explain_layer(root: Path, backbone: str) -> dict[str, str]:
    """``{"explain_layer": NAME}``: the layer the explain stage took its Grad-CAM at, so
    `predict --explain` draws the maps the study scored ({} when explain did not run)."""
    path = root / "metrics" / "explain" / f"{backbone}.json"
    layer = _json(path).get("layer") if path.is_file() else None
    return {"explain_layer": layer} if layer else {}


def run_bundle(root: Path, params: dict[str, Any], out_dir: Path,
               log: Callable[[str], None] = print) -> dict[str, Any]:
    """Write the bundle of the study under ``root`` to ``out_dir``; returns its manifest."""
    from fraclab.params import BundleParams, section

    cfg = section(BundleParams, params, "bundle")
    facts = load_facts(root, params, external=False)
    summary = headline(facts)
    backbones = list(params["classify"]["backbones"])
    backbone = choose(cfg.backbone, summary["best_backbone"], backbones, "backbone")
    sizes = list((params.get("detect") or {}).get("sizes", []))
    size = (None if cfg.detector == "none" else
            choose(cfg.detector, summary.get("best_yolo_size"), sizes, "detector"))
    calibrated = _json(root / "metrics" / "calibrate" / f"{backbone}.json")
    operating = _json(root / "metrics" / "threshold" / f"{backbone}.json")
    points = {label: p for label, p in operating.items()
              if isinstance(p, dict) and "threshold" in p}
    if cfg.operating_point not in points:
        raise ValueError(f"bundle.operating_point: {cfg.operating_point!r} is not one of the "
                         f"study's operating points ({', '.join(points)})")
    prepared = _json(root / "artifacts" / "prepared" / "prepared.json")
    weights_dir = root / "artifacts" / "classify" / backbone / "weights"
    keys = sorted(calibrated["temperature" if "temperature" in calibrated else "slope"]
                  ["per_fold"])

    with atomic_directory(out_dir) as tmp:
        (tmp / "classifier").mkdir()
        folds = []
        for key in keys:
            shutil.copyfile(weights_dir / f"{key}.pt", tmp / "classifier" / f"{key}.pt")
            folds.append({"key": key, "weights": f"classifier/{key}.pt",
                          "calibration": calibration_of(calibrated, key),
                          "thresholds": {label: p["threshold"]["per_fold"][key]
                                         for label, p in points.items()}})
        detector = None
        if size is not None:
            det_metrics = _json(root / "metrics" / "detect" / f"{size}.json")
            detector = {"size": size, "imgsz": det_metrics["imgsz"], "conf": cfg.box_conf,
                        **_detector(root / "artifacts" / "detect" / size / "best.pt",
                                    tmp / "detector", size)}
        manifest = {
            "format": FORMAT,
            "fraclab": metadata.version("fraclab"),
            "git_revision": git_revision(root),
            "params_digest": params_digest(params),
            "seed": params.get("seed", 0),
            "packages": {"python": platform.python_version(),
                         **{p: _version(p) for p in PACKAGES}},
            "preprocessing": {
                "image_size": prepared["image_size"],
                "decode": "fraclab.data.images.decode_image: 8-bit grayscale (16-bit and "
                          "float min-max scaled; DICOM: modality LUT, then the first VOI LUT "
                          "or window, MONOCHROME1 inverted), letterboxed to image_size",
                "normalise": "grayscale repeated over 3 channels, ImageNet mean and SD",
                "detector_input": "the full-resolution 8-bit grayscale as 3 channels",
            },
            "classifier": {
                "backbone": backbone,
                "folds": folds,
                "ensemble": "mean of the fold models' calibrated probabilities",
                "rule": "positive when the ensemble probability >= the operating point's "
                        "threshold (fraclab.evaluate.thresholds.ensemble_decision; threshold "
                        f"from {operating['ensemble_rule']['threshold_from']})",
                "operating_points": {label: p["test"]["threshold"]
                                     for label, p in points.items()},
                "default_operating_point": cfg.operating_point,
                **_explain_layer(root, backbone),
            },
            "detector": detector,
            "inputs": "image files (PNG, JPEG, BMP, TIFF, 16-bit PNG) or DICOM, any size; "
                      "or 2-D uint8 / 3-channel uint8 arrays",
            "outputs": {"probability": "calibrated probability that the image shows a "
                                       "fracture", "decision": "probability >= threshold",
                        "boxes": "label, confidence, x1 y1 x2 y2 in original pixels"},
        }
        card_md, card_json = model_card(root, params, manifest, summary, limitations(facts))
        (tmp / "MODEL_CARD.md").write_text(card_md)
        (tmp / "model_card.json").write_text(json.dumps(card_json, indent=2) + "\n")
        manifest["files"] = file_hashes(tmp)
        (tmp / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    log(f"bundle: {out_dir} ({backbone}, {len(folds)} fold models"
        + (f", YOLOv8{size}" if size else ", no detector") + ")")
    return manifest


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"
