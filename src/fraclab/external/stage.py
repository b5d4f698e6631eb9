"""The `external@NAME` stage: read a labelled dataset, score it with the bundle, compare.

Outputs (each written atomically, after everything is computed):

- ``artifacts/external/NAME/predictions.csv``: one row per image: id, source, patient group,
  site, label, the ensemble probability, each fold model's, the decision at every operating
  point, and the leakage match (``exact`` / ``near`` / empty) with the study image it matches;
  every number of the metrics file is recomputable from it;
- ``metrics/external/NAME.json``: internal (the study's test set) and external side by side,
  the same metrics for the external images that are not copies of study images, per site,
  detection when the dataset has boxes (or why not), and the optional recalibrated variant;
- ``plots/external/NAME/roc.csv`` and ``reliability.csv``: internal and external curves,
  one ``series`` column each.
"""

from __future__ import annotations

import csv
import io
import json
import tempfile
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from fraclab.artifacts.manifest import read_manifest
from fraclab.artifacts.predictions import read_probabilities
from fraclab.data.formats import import_dataset
from fraclab.data.images import DecodedImage, decode_all
from fraclab.data.neardup import near_duplicates_between
from fraclab.data.records import BadFile, DatasetError, ImageError, ImageRecord
from fraclab.data.splits import carve_grouped_split
from fraclab.data.views import yolo_view
from fraclab.evaluate.external import recalibration_gain, validation_metrics
from fraclab.evaluate.metrics import reliability_table, roc_points
from fraclab.evaluate.subgroups import subgroup_metrics
from fraclab.io import atomic_directory, atomic_write_json, atomic_write_text
from fraclab.params import CalibrateParams, DataParams, DetectParams, external_entry, section
from fraclab.predict.bundle import MANIFEST, sha256_file
from fraclab.runtime import available_cores


def match_classes(dataset_classes: Sequence[str], detector_classes: Sequence[str],
                  mapping: dict[str, str]) -> dict[str, Any]:
    """Which of the dataset's box classes the detector knows, by name.

    A dataset class is matched when its name (or ``mapping[name]``) is one of the detector's
    classes. Returns ``ids`` (dataset class index -> detector class index), ``matched``
    (dataset name -> detector name), ``unmatched`` (dataset classes the detector does not
    know: their boxes are not scored) and ``absent`` (detector classes the dataset lacks).

    Raises
    ------
    ValueError
        A ``mapping`` key that is not a dataset class, or a value that is not a detector class.
    """
    wrong_keys = sorted(set(mapping) - set(dataset_classes))
    wrong_values = sorted(set(mapping.values()) - set(detector_classes))
    if wrong_keys or wrong_values:
        raise ValueError(f"classes: {wrong_keys or wrong_values} not among the "
                         + (f"dataset's classes ({', '.join(dataset_classes)})" if wrong_keys
                            else f"detector's classes ({', '.join(detector_classes)})"))
    ids, matched, unmatched = {}, {}, []
    for k, name in enumerate(dataset_classes):
        target = mapping.get(name, name)
        if target in detector_classes:
            ids[k] = list(detector_classes).index(target)
            matched[name] = target
        else:
            unmatched.append(name)
    absent = [c for c in detector_classes if c not in matched.values()]
    return {"ids": ids, "matched": matched, "unmatched": unmatched, "absent": absent}


def leakage(external_sha1: Sequence[str], external_phash: Sequence[str],
            study_sha1: Sequence[str], study_phash: Sequence[str],
            max_distance: int) -> list[tuple[str, int, int]]:
    """Per external image: ``(kind, study index, distance)`` of its closest copy among the
    study's images (``exact``: byte-identical file; ``near``: 256-bit pHashes within
    ``max_distance`` bits), or ``("", -1, -1)``."""
    by_sha1 = {h: j for j, h in reversed(list(enumerate(study_sha1)))}
    out: list[tuple[str, int, int]] = [("exact", by_sha1[h], 0) if h in by_sha1 else
                                       ("", -1, -1) for h in external_sha1]
    for i, j, distance in near_duplicates_between(external_phash, study_phash, max_distance):
        kind, _, best = out[i]
        if not kind or (kind == "near" and distance < best):
            out[i] = ("near", j, distance)
    return out


def _csv(columns: dict[str, Sequence[Any]]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(zip(*columns.values(), strict=True))
    return buffer.getvalue()


def _decode(records: list[ImageRecord], size: int, on_bad: str,
            skipped: list[BadFile]) -> tuple[list[ImageRecord], list[DecodedImage]]:
    kept, decoded = [], []
    for record, result in zip(records, decode_all([r.path for r in records], size,
                                                  available_cores()), strict=True):
        if isinstance(result, ImageError):
            if on_bad == "error":
                raise DatasetError(str(result))
            skipped.append(BadFile(str(record.path), result.problem))
        else:
            kept.append(record)
            decoded.append(result)
    return kept, decoded


def _internal_test(root: Path, backbone: str) -> dict[str, np.ndarray]:
    """The study's test images as the bundle scored them (calibrate's test ensemble)."""
    probs = read_probabilities(root / "artifacts" / "calibrate" / backbone / "test_ensemble.csv")
    test = [m for m in read_manifest(root / "artifacts" / "prepared" / "manifest.csv")
            if m.image_id in probs]
    return {"y": np.array([m.label for m in test]),
            "p": np.array([probs[m.image_id] for m in test]),
            "groups": np.array([m.group for m in test]),
            "site": np.array([m.site for m in test])}


def _detection(predictor: Any, records: list[ImageRecord], decoded: list[DecodedImage],
               dataset_classes: tuple[str, ...], entry_classes: dict[str, str],
               has_boxes: bool, batch: int, internal: dict[str, Any] | None) -> dict[str, Any]:
    """Ultralytics' validator on the external images with the bundle's detector, classes
    matched by name; or why detection was not scored."""
    spec = predictor.manifest.get("detector")
    if not spec:
        return {"status": "skipped", "reason": "the bundle has no detector"}
    if not has_boxes:
        return {"status": "skipped", "reason": "the dataset has no boxes (image labels "
                                               "only): localisation cannot be scored"}
    names = list(spec["names"])
    classes = match_classes(dataset_classes, names, entry_classes)
    report = {"matched": classes["matched"], "unmatched": classes["unmatched"],
              "absent": classes["absent"]}
    dropped = sum(1 for r in records for b in r.boxes if b.cls not in classes["ids"])
    if not classes["ids"]:
        return {"status": "skipped", "classes": report,
                "reason": f"no class of the dataset ({', '.join(dataset_classes)}) is one of "
                          f"the detector's ({', '.join(names)}); map them with "
                          "`classes: {theirs: ours}`"}
    remapped = [replace(r, boxes=tuple(replace(b, cls=classes["ids"][b.cls]) for b in r.boxes
                                       if b.cls in classes["ids"])) for r in records]
    from fraclab.evaluate.detection import split_metrics

    with tempfile.TemporaryDirectory(prefix="fraclab-external-") as tmp:
        view = Path(tmp) / "yolo"
        yolo_view(view, remapped, ["test"] * len(remapped), tuple(names), decoded)
        # Ultralytics' dataset check wants train and val: all three name the one folder.
        atomic_write_text(view / "data.yaml", json.dumps(
            {"path": str(view), "train": "test/images", "val": "test/images",
             "test": "test/images", "nc": len(names), "names": names}) + "\n")
        metrics = predictor.detector.val(
            data=str(view / "data.yaml"), split="test", imgsz=int(spec["imgsz"]),
            batch=batch, device=str(predictor.device), project=tmp, name="val",
            exist_ok=True, plots=False, verbose=False)
        scores = split_metrics(metrics)
    return {"status": "ran", "size": spec["size"], "imgsz": spec["imgsz"],
            "classes": report, "boxes_not_scored": dropped, "external": scores,
            "internal": internal}


def run_external(name: str, root: Path, params: dict[str, Any], *, bundle_dir: Path,
                 out_dir: Path, metrics_path: Path, plots_dir: Path,
                 log: Callable[[str], None] = print) -> dict[str, Any]:
    """Score the study's bundle on ``params['external'][name]``; write every output.

    Raises
    ------
    ParamsError
        No such entry, or a bad value in it.
    DatasetError
        The dataset cannot be imported or decoded (under ``on_bad: error``), or it lacks
        one of the two labels; nothing is written.
    BundleError
        The bundle is missing or damaged.
    """
    from fraclab.predict.predictor import Predictor

    entry = external_entry(params, name)
    seed = int(params.get("seed", 0))
    data = section(DataParams, params, "data")
    calibrate = section(CalibrateParams, params, "calibrate")
    detect = section(DetectParams, params, "detect")
    predictor = Predictor.load(bundle_dir)
    backbone, size = predictor.backbone, predictor.image_size

    dataset = import_dataset(Path(entry.path), entry.format, entry.on_bad,
                             replace(data, path=entry.path, format=entry.format,
                                     on_bad=entry.on_bad))
    skipped = list(dataset.skipped)
    records, decoded = _decode(dataset.records, size, entry.on_bad, skipped)
    labels = np.array([r.fractured for r in records])
    if len(set(labels.tolist())) < 2:
        raise DatasetError(f"{dataset.root}: every image is "
                           f"{'fractured' if labels.any() else 'normal'}; external "
                           "validation needs both classes")
    log(f"{name}: {len(records)} images from {dataset.root} (format {dataset.format}, "
        f"{len(skipped)} skipped), scored by {bundle_dir} ({backbone})")
    fold_probs = np.concatenate(
        [predictor.fold_probabilities(np.stack([d.pixels for d in decoded[i:i + 256]]))
         for i in range(0, len(decoded), 256)], axis=1)
    prob = fold_probs.mean(axis=0)
    groups = np.array([r.group for r in records])
    sites = np.array([r.site for r in records])
    thresholds = predictor.operating_points

    study = read_manifest(root / "artifacts" / "prepared" / "manifest.csv")
    study_decoded = decode_all([root / m.source_path for m in study], size, available_cores())
    bad = next((s for s in study_decoded if isinstance(s, ImageError)), None)
    if bad is not None:
        raise DatasetError(f"the study's own image cannot be read for the leakage check: "
                           f"{bad}")
    leaks = leakage([d.sha1 for d in decoded], [d.phash for d in decoded],
                    [m.sha1 for m in study], [s.phash for s in study_decoded],
                    data.dedupe_distance)
    leaked = np.array([kind != "" for kind, _, _ in leaks])

    kwargs = dict(n_boot=entry.n_boot, seed=seed, n_bins=calibrate.n_bins,
                  strategy=calibrate.binning)
    internal = _internal_test(root, backbone)
    metrics: dict[str, Any] = {
        "name": name, "path": entry.path, "format": dataset.format, "seed": seed,
        "bundle": {"sha256": sha256_file(bundle_dir / MANIFEST), "backbone": backbone,
                   "detector": (predictor.manifest.get("detector") or {}).get("size"),
                   "operating_points": thresholds},
        "images": len(records), "skipped": len(skipped),
        "skipped_files": [f"{b.path}: {b.problem}" for b in skipped],
        "group_source": dataset.group_source,
        "internal": validation_metrics(internal["y"], internal["p"], internal["groups"],
                                       thresholds, **kwargs),
        "external": validation_metrics(labels, prob, groups, thresholds, **kwargs),
    }
    by_split: dict[str, int] = {}
    for kind, j, _ in leaks:
        if kind:
            by_split[study[j].split] = by_split.get(study[j].split, 0) + 1
    metrics["leakage"] = {
        "exact": sum(k == "exact" for k, _, _ in leaks),
        "near": sum(k == "near" for k, _, _ in leaks),
        "images": int(leaked.sum()), "by_study_split": dict(sorted(by_split.items())),
        "max_distance": data.dedupe_distance,
        "examples": [f"{r.image_id} = {study[j].image_id} ({kind}, {d} bits)"
                     for r, (kind, j, d) in zip(records, leaks, strict=True) if kind][:10]}
    clean = ~leaked
    metrics["external_without_leaked"] = (
        validation_metrics(labels[clean], prob[clean], groups[clean], thresholds, **kwargs)
        if leaked.any() and len(set(labels[clean].tolist())) == 2 else None)
    metrics["per_site"] = ({"internal": subgroup_metrics(internal["y"], internal["p"],
                                                         internal["groups"], internal["site"],
                                                         n_boot=entry.n_boot, seed=seed),
                            "external": subgroup_metrics(labels, prob, groups, sites,
                                                         n_boot=entry.n_boot, seed=seed)}
                           if sites.any() else None)
    metrics["recalibrated"] = None
    if entry.recalibrate:
        half = carve_grouped_split(labels.tolist(), groups.tolist(), 0.5, seed)
        metrics["recalibrated"] = {
            "note": "a Platt map fitted on a seeded half of this dataset (by patient) and "
                    "scored on the other half: what local recalibration would change; the "
                    "bundle itself is not changed",
            **recalibration_gain(labels, prob, groups, half, **kwargs)}
    size_of_detector = metrics["bundle"]["detector"]
    internal_detect = None
    if size_of_detector:
        path = root / "metrics" / "detect" / f"{size_of_detector}.json"
        if path.is_file():
            internal_detect = json.loads(path.read_text()).get("test")
    metrics["detection"] = _detection(predictor, records, decoded, dataset.class_names,
                                      entry.classes, dataset.has_boxes, detect.batch,
                                      internal_detect)

    decisions = {f"decision_{k}": [int(p >= t) for p in prob] for k, t in thresholds.items()}
    table = {"image_id": [r.image_id for r in records],
             "source_path": [r.path.as_posix() for r in records],
             "group": groups.tolist(), "site": sites.tolist(), "label": labels.tolist(),
             "prob": [repr(float(p)) for p in prob],
             **{f"prob_{fold.key}": [repr(float(v)) for v in fold_probs[k]]
                for k, fold in enumerate(predictor.folds)},
             **decisions,
             "leak": [kind for kind, _, _ in leaks],
             "leak_match": [study[j].image_id if kind else "" for kind, j, _ in leaks],
             "leak_distance": [d if kind else "" for kind, _, d in leaks]}
    curves = {"series": [], "fpr": [], "tpr": []}
    reliability = {"series": [], "mean_predicted": [], "observed_fraction": [], "count": []}
    for series, (y, p) in (("internal", (internal["y"], internal["p"])),
                           ("external", (labels, prob))):
        roc = roc_points(y, p)
        curves["series"] += [series] * len(roc["fpr"])
        curves["fpr"] += roc["fpr"].tolist()
        curves["tpr"] += roc["tpr"].tolist()
        bins = reliability_table(y, p, calibrate.n_bins, calibrate.binning)
        reliability["series"] += [series] * len(bins["count"])
        for column in ("mean_predicted", "observed_fraction", "count"):
            reliability[column] += bins[column].tolist()

    with atomic_directory(out_dir) as tmp:
        (tmp / "predictions.csv").write_text(_csv(table))
    atomic_write_text(plots_dir / "roc.csv", _csv(curves))
    atomic_write_text(plots_dir / "reliability.csv", _csv(reliability))
    atomic_write_json(metrics_path, metrics)
    ext, inn = metrics["external"], metrics["internal"]
    log(f"{name}: AUROC {ext['auroc']['value']:.3f} ({ext['auroc']['ci_low']:.3f}-"
        f"{ext['auroc']['ci_high']:.3f}) vs internal {inn['auroc']['value']:.3f}; calibration "
        f"slope {ext['calibration_slope']['value']:.2f}; {metrics['leakage']['images']} "
        f"images leaked; detection {metrics['detection']['status']}")
    return metrics
