"""The sections of the report, built from :class:`~fraclab.study.facts.Facts`.

Order: run facts, classification, calibration, operating points, localisation, where the
classifiers look, external validation (when a dataset was scored), limitations, use
the model. Every number is formatted from a metrics file; figures come from
:mod:`fraclab.report.figures`.
"""

from __future__ import annotations

from typing import Any

from fraclab.evaluate.metrics import METRIC_NAMES
from fraclab.params import params_digest
from fraclab.report import figures, plotdata
from fraclab.report.document import Bullets, Document, Figure, Paragraph, Section, Table
from fraclab.report.external import external_validation
from fraclab.report.fmt import interval, mean_sd, num, p_value, seconds, value_ci
from fraclab.runtime import git_revision
from fraclab.study.facts import Facts, package_versions
from fraclab.study.summary import best_size, limitations, localisation_status, sentence

METRIC_TITLES = {"auroc": "AUROC", "average_precision": "average precision",
                 "brier": "Brier score", "accuracy": "accuracy", "precision": "precision",
                 "recall": "recall (sensitivity)", "specificity": "specificity", "f1": "F1",
                 "ece": "ECE"}
OPERATING = ("sensitivity", "specificity", "precision", "f1")
CI_NOTE = ("Intervals are 95 % percentile intervals of a bootstrap that resamples groups "
           "(patients), so images of one patient stay together.")


def _joined(values: dict[str, Any]) -> str:
    """``a (x, y), b (z)``: each distinct value with the names that have it."""
    by_value: dict[str, list[str]] = {}
    for name, value in values.items():
        by_value.setdefault(str(value), []).append(name)
    if len(by_value) == 1:
        return next(iter(by_value))
    return "; ".join(f"{v} ({', '.join(names)})" for v, names in by_value.items())


# 1. Run facts ---------------------------------------------------------------------------

def run_facts(facts: Facts) -> Section:
    data = facts.data
    dataset = data.get("dataset", {})
    detect = facts.detect_ran
    versions = package_versions()
    rows = [
        ("git revision", git_revision(facts.root)),
        ("params digest", f"{params_digest(facts.params)} (SHA-256 of params.yaml as "
                          "canonical JSON, first 12 hex digits)"),
        ("seed", f"{facts.params.get('seed', 0)} (params.yaml, every stage)"),
        ("dataset", f"{dataset.get('path', '?')} (format {dataset.get('format', '?')}"
                    f"{', synthetic' if facts.synthetic else ''})"),
        ("box classes", ", ".join(dataset.get("classes", [])) or "none"),
        ("groups from", str(dataset.get("group_source", "?"))),
        ("classifier weights", _joined({b: "ImageNet pretrained" if m.get("pretrained") ==
                                        "imagenet" else ("from scratch" if m.get("pretrained")
                                                         == "none" else m.get("pretrained"))
                                        for b, m in facts.classify.items()})),
        ("detector weights", _joined({f"YOLOv8{s}": {"pretrained": "Ultralytics pretrained "
                                                    "(COCO)", "scratch": "from scratch"}
                                      .get(m.get("weights"), m.get("weights"))
                                      for s, m in detect.items()}) if detect else "n/a"),
        ("device", _joined({**{b: m.get("device") for b, m in facts.classify.items()},
                            **{f"YOLOv8{s}": m["training"].get("device")
                               for s, m in detect.items()}})),
        ("packages", ", ".join(f"{k} {v}" for k, v in versions.items())),
    ]
    blocks: list = [Table("Run", ("item", "value"), tuple(rows))]

    split_rows = []
    for split, c in data["splits"].items():
        split_rows.append((split, str(c["images"]), str(c["fractured"]), str(c["normal"]),
                           f"{c['fractured'] / c['images']:.1%}" if c["images"] else "n/a",
                           str(c["groups"]), str(sum(c.get("boxes", {}).values()))))
    split_rows.append(("all", str(data["images"]), str(data["fractured"]), str(data["normal"]),
                       f"{data['fractured_share']:.1%}", str(data["groups"]),
                       str(sum(sum(c.get("boxes", {}).values())
                               for c in data["splits"].values()))))
    blocks.append(Table("Dataset audit (after prepare)",
                        ("split", "images", "fractured", "normal", "fractured share", "groups",
                         "boxes"), tuple(split_rows),
                        note="Classification cross-validates on train + valid and holds out "
                             "test; detection uses the three splits as they are."))
    blocks.append(Bullets(tuple(_leakage(data))))
    blocks.append(Table("Stage wall times", ("stage", "wall time", "throughput"),
                        tuple(_wall_times(facts)),
                        note="Stages that do not record their time are listed as such."))
    return Section("Run facts", blocks)


def _leakage(data: dict[str, Any]) -> list[str]:
    shipped = data.get("as_shipped", {})
    near = data.get("near_duplicates", {})
    items = [
        f"Groups spanning two splits: {shipped.get('groups_spanning_splits', 'n/a')} as "
        f"shipped ({shipped.get('images_in_spanning_groups', 'n/a')} images), "
        f"{data.get('groups_spanning_splits', 'n/a')} after prepare "
        f"(resplit: {str(data.get('resplit', False)).lower()}: "
        + ("straddling groups are moved wholly into one split)." if data.get("resplit")
           else "straddling groups are left where the dataset put them)."),
        f"Byte-identical files across splits: "
        f"{shipped.get('duplicate_sets_across_splits', 'n/a')} sets as shipped, "
        f"{data.get('duplicate_sets_across_splits', 'n/a')} after prepare.",
    ]
    if near:
        items.append(
            f"Near-duplicate pairs across splits (256-bit perceptual hash, <= "
            f"{near.get('max_distance', '?')} bits): "
            f"{shipped.get('near_duplicate_pairs_across_splits', 'n/a')} as shipped, "
            f"{data.get('near_duplicate_pairs_across_splits', 'n/a')} after prepare "
            f"(dedupe: {data.get('dedupe', 'report')}).")
    else:
        items.append("Near-duplicates: not audited by the prepare run that wrote "
                     "metrics/data.json.")
    if shipped.get("unassigned"):
        items.append(f"{shipped['unassigned']} images shipped without a split were split "
                     "by group.")
    items.append(f"Unreadable input files skipped: {data.get('skipped', 0)}.")
    return items


def _wall_times(facts: Facts) -> list[tuple[str, str, str]]:
    rows = [("prepare", "not recorded", "")]
    for b, m in facts.classify.items():
        t = m.get("training", {})
        rows.append((f"classify-cv@{b}", seconds(t.get("wall_seconds")),
                     f"{num(t.get('train_images_per_second'), 0)} training images/s"))
    rows += [(f"calibrate@{b}, threshold@{b}", "not recorded", "") for b in facts.backbones]
    for s, m in facts.detect.items():
        t = m.get("training", {})
        rows.append((f"detect@{s}", seconds(m.get("wall_seconds")),
                     f"{num(t.get('train_images_per_second'), 0)} training images/s"
                     if t else "skipped"))
    return rows


# 2. Classification ----------------------------------------------------------------------

def classification(facts: Facts, comparisons: list[dict[str, Any]]) -> Section:
    first = facts.classify[facts.backbones[0]]
    ece_bins = facts.params.get("classify", {}).get("ece_bins", 10)
    rows = []
    for name in METRIC_NAMES:
        for b in facts.backbones:
            m = facts.classify[b]
            single = facts.calibrate.get(b, {}).get("test_fold_models", {}).get(name)
            rows.append((METRIC_TITLES.get(name, name), b, mean_sd(m["per_fold"][name]),
                         mean_sd(single) if single else "n/a",
                         value_ci(m["oof_pooled"][name]), value_ci(m["test_ensemble"][name]),
                         *_seed_sd(facts, f"metrics/classify/{b}.json",
                                   (f"oof_pooled.{name}.value", f"test_ensemble.{name}.value"))))
    blocks: list = [
        Paragraph(f"{first['repeats']} repeat(s) x {first['folds']} folds of stratified group "
                  f"K-fold on the development set. Like for like: each fold model alone, out "
                  f"of fold and on test (mean ± SD over the fold models); the ensemble, the "
                  f"mean of the fold models' uncalibrated probabilities, is usually better "
                  f"than any one of them, so compare its test column with the fold models' "
                  f"test column, not with out of fold (the calibrated "
                  f"ensemble, which the operating points and the backbone comparisons "
                  f"score, is in the calibration section). Accuracy, precision, recall, "
                  f"specificity and F1 are at threshold {first.get('threshold', 0.5)} on the "
                  f"uncalibrated probability; ECE uses {ece_bins} equal-width bins, and its "
                  "interval is descriptive only (ECE is biased upward, more so on a "
                  "resample with repeated patients). Lower is better for Brier score and "
                  "ECE, higher for the rest."),
        Table("Classification per backbone",
              ("metric", "backbone", "out-of-fold, each fold model: mean ± SD",
               "test, each fold model: mean ± SD", "pooled out-of-fold (95 % CI)",
               "test, ensemble (95 % CI)",
               *(("SD over seeds: out-of-fold / test",) if facts.seeds else ())),
              tuple(rows), note=CI_NOTE + " " + _seed_note(facts)),
    ]
    curves = plotdata.classify_curves(facts)
    legends = {b: {f"{curve}_{split}": value_ci(facts.classify[b][key][metric])
                   for split, key in (("oof", "oof_pooled"), ("test", "test_ensemble"))
                   for curve, metric in (("roc", "auroc"), ("pr", "average_precision"))}
               for b in facts.backbones}
    blocks.append(Figure("roc_pr", "ROC (top) and precision-recall (bottom) curves of every "
                         "backbone: pooled out-of-fold predictions (left) and the test-set "
                         "fold ensemble (right). Dotted: a classifier that guesses.",
                         figures.roc_pr(curves, legends, _prevalence(facts)),
                         alt="ROC and precision-recall curves per backbone"))
    blocks.append(Figure("classify_training", "Training curves of every fold model: "
                         "training loss (dashed; positive-class weighted, on augmented "
                         "batches) and inner-validation loss (solid; the early-stopping "
                         "criterion) per epoch.",
                         figures.training(plotdata.training_curves(facts)),
                         alt="Loss per epoch for every fold model"))
    blocks += _comparison_blocks(comparisons, facts)
    return Section("Classification", blocks)


def _prevalence(facts: Facts) -> dict[str, float]:
    splits = facts.data["splits"]
    dev = [c for s, c in splits.items() if s != "test"]
    return {"oof": sum(c["fractured"] for c in dev) / max(1, sum(c["images"] for c in dev)),
            "test": splits["test"]["fractured"] / max(1, splits["test"]["images"])}


def _comparison_blocks(comparisons: list[dict[str, Any]], facts: Facts) -> list:
    if not comparisons:
        return [Paragraph("One backbone only: no comparison between backbones.")]
    rows, errors = [], []
    for c in comparisons:
        if "error" in c:
            errors.append(f"{c['a']} vs {c['b']}: not computable ({c['error']})")
            continue
        for key, result in c.items():
            if key in ("a", "b"):
                continue
            where = ("test (fold ensemble)" if key == "test_ensemble"
                     else f"out-of-fold, repeat {key.rsplit('_', 1)[-1]}")
            d, boot = result.get("delong_clustered", result["delong"]), result["bootstrap"]
            rows.append((f"{c['a']} − {c['b']}", where, str(result["n_images"]),
                         num(d["difference"]), interval(d["ci_low"], d["ci_high"]),
                         p_value(d["p_value"]), interval(boot["ci_low"], boot["ci_high"])))
    n_boot = facts.params.get("classify", {}).get("n_boot", 1000)
    blocks: list = []
    if rows:
        blocks.append(Table(
            "AUROC differences between backbones (calibrated probabilities, same images)",
            ("A − B", "predictions", "images", "AUROC difference",
             "clustered DeLong 95 % CI", "clustered DeLong p", "paired bootstrap 95 % CI"),
            tuple(rows),
            note=f"DeLong's test with Obuchowski's (1997) variance for clustered data: a "
                 f"patient's images count as one correlated unit (the unclustered test is in "
                 f"report/comparisons.json). The paired bootstrap ({n_boot} resamples of "
                 "groups, the same draws for both backbones) respects patients too. Repeats "
                 "are compared separately: pooling them would "
                 "count each image more than once. No correction for multiple comparisons."))
    if errors:
        blocks.append(Bullets(tuple(errors)))
    return blocks


def _seed_sd(facts: Facts, path: str, keys: tuple[str, ...]) -> tuple[str, ...]:
    """One cell, ``sd / sd``: the SD over the committed seed sweep of each metric, if any."""
    if not facts.seeds:
        return ()
    sds = facts.seeds["sd"]
    return (" / ".join(num(sds.get(f"{path}:{key}")) for key in keys),)


def _seed_note(facts: Facts) -> str:
    if not facts.seeds:
        return ("No seed sweep was committed for these settings, so the training-seed spread "
                "is unknown (`python benchmarks/noise.py run --profile default`).")
    runs = facts.seeds["seed_runs"]
    return (f"SD over seeds: the same settings trained with {len(runs)} seeds "
            f"({', '.join(r.removeprefix('seed') for r in runs)}; benchmarks/noise/"
            "default.json). The bootstrap intervals cover the choice of patients only; "
            "a difference smaller than about two seed SDs can be training noise "
            "(another seed, or another CPU's float rounding).")


# 3. Calibration -------------------------------------------------------------------------

def calibration(facts: Facts) -> Section:
    rows = []
    ece: dict[str, dict] = {}
    for b in facts.backbones:
        m = facts.calibrate[b]
        fitted = _fitted_map(m)
        ece[b] = {}
        for key, split in (("oof_pooled", "oof"), ("test_ensemble", "test")):
            before, after = m[key]["before"], m[key]["after"]
            ece[b][split, "before"], ece[b][split, "after"] = before["ece"], after["ece"]
            rows.append((b, fitted, figures.SPLIT_NAMES[split],
                         *(f"{num(before[k])} → {num(after[k])}"
                           for k in ("brier", "ece", "log_loss", "auroc"))))
        fitted = ""
    first = facts.calibrate[facts.backbones[0]]
    blocks: list = [
        Paragraph(f"Each fold model's calibration map ({first.get('method')}) is fitted on "
                  "that model's own inner-validation logits and applied to its out-of-fold "
                  "and test logits, so the scored fold never takes part in the fit. ECE uses "
                  f"{first.get('n_bins')} {first.get('binning')} bins."),
        Table("Calibration before → after", ("backbone", "fitted map (over fold models)",
                                             "predictions", "Brier score", "ECE",
                                             "log loss (nats)", "AUROC"), tuple(rows),
              note="Lower is better for Brier score, ECE and log loss. AUROC can move a "
                   "little: each fold model gets its own map, which changes how folds rank "
                   "against each other in the pooled set."),
        Figure("reliability", "Reliability diagrams before (dashed) and after (solid) "
               "calibration: in each bin of predicted probability, the fraction of images "
               "that are fractured. On the diagonal, predictions mean what they say.",
               figures.reliability(plotdata.reliability(facts), ece),
               alt="Reliability diagrams per backbone before and after calibration"),
    ]
    blocks += _subgroup_blocks(facts)
    return Section("Calibration", blocks)


def _subgroup_blocks(facts: Facts) -> list:
    """Discrimination and calibration per anatomical site, where the manifest names sites."""
    rows = []
    for b in facts.backbones:
        sub = facts.calibrate[b].get("subgroups")
        if not sub:
            continue
        for key, split in (("oof_pooled", "oof"), ("test_ensemble", "test")):
            for site, m in sub.get(key, {}).items():
                a = m["auroc"]
                shown = ("n/a (one class)" if a is None else value_ci(a)
                         if a["ci_low"] is not None else f"{num(a['value'])} (too few for a CI)")
                rows.append((b, site, figures.SPLIT_NAMES[split], f"{m['n']} ({m['groups']})",
                             num(m["prevalence"]), shown,
                             f"{m['mean_minus_prevalence']:+.3f}", num(m["brier"])))
    if not rows:
        return []
    least = next(facts.calibrate[b]["subgroups"]["min_per_class_for_ci"]
                 for b in facts.backbones if facts.calibrate[b].get("subgroups"))
    return [Table("Per anatomical site (calibrated probabilities)",
                  ("backbone", "site", "predictions", "images (patients)", "prevalence",
                   "AUROC (95 % CI)", "mean predicted − prevalence", "Brier score"),
                  tuple(rows),
                  note=f"Grouped bootstrap intervals over patients; a site with fewer than "
                       f"{least} images of either class gets no interval. Out-of-fold rows "
                       "pool the repeats (each image once per repeat).")]


def _fitted_map(m: dict[str, Any]) -> str:
    if "temperature" in m:
        t = m["temperature"]
        return f"T = {mean_sd(t, 2)} (range {interval(t['min'], t['max'], 2)})"
    if "slope" in m:
        return (f"Platt slope {mean_sd(m['slope'], 2)}, intercept "
                f"{mean_sd(m['intercept'], 2)}")
    return "none (probabilities kept)"


# 4. Operating points --------------------------------------------------------------------

def operating_points(facts: Facts) -> Section:
    rows, chosen = [], {}
    for b in facts.backbones:
        m = facts.threshold[b]
        chosen[b] = {}
        for label, point in m.items():
            if not isinstance(point, dict) or "threshold" not in point:
                continue  # backbone, seed
            t = point["threshold"]
            chosen[b][label] = point["test"]["threshold"]
            rows.append((b, label, "out-of-fold (mean ± SD)",
                         f"{mean_sd(t)} (range {interval(t['min'], t['max'])})",
                         *(mean_sd(point["oof"][k]) for k in OPERATING)))
            test = point["test"]
            rows.append((b, label, "test, ensemble rule (95 % CI)",
                         value_ci({"value": test["threshold"], **test["threshold_ci"]})
                         if "threshold_ci" in test else
                         f"{num(test['threshold'])} (median of folds)",
                         *(value_ci(test[k]) for k in OPERATING)))
            if "test_fold_models" in point:
                rows.append((b, label, "test, each fold model (mean ± SD)",
                             "its own, as out of fold",
                             *(mean_sd(point["test_fold_models"][k]) for k in OPERATING)))
    rules = {facts.threshold[b].get("ensemble_rule", {}).get("threshold_from", "median of "
             "the fold thresholds") for b in facts.backbones}
    blocks: list = [
        Paragraph("Each fold model chooses its threshold on its own calibrated "
                  "inner-validation predictions and applies it once to its out-of-fold "
                  "images (out-of-fold rows). The deployed rule, scored on test and shipped "
                  "in the bundle, thresholds the ensemble probability (the mean of the fold "
                  "models' calibrated probabilities); that mean has a narrower spread than "
                  "any one model's, so its threshold is chosen on the development set's "
                  "out-of-fold predictions made to have the ensemble's spread (threshold: "
                  f"{'; '.join(sorted(rules))}). Its intervals resample the development "
                  "images too, so they include the threshold's own variability. The row "
                  "where each fold model applies its own threshold to its own test "
                  "predictions is like for like with out of fold. Criteria: youden "
                  "(max sensitivity + specificity − 1), f1 (max F1), sensNN / specNN "
                  "(sensitivity / specificity at least NN %), fixedNN (threshold 0.NN, untuned)."),
        Table("Operating points", ("backbone", "criterion", "predictions", "threshold",
                                   "sensitivity", "specificity", "precision", "F1"),
              tuple(rows), note=CI_NOTE),
        Figure("thresholds", "Sensitivity, specificity, precision and F1 of the pooled "
               "out-of-fold predictions at every threshold; dotted lines mark the test "
               "threshold of each criterion.",
               figures.thresholds(plotdata.threshold_curves(facts), chosen),
               alt="Metrics against threshold per backbone"),
    ]
    return Section("Operating points", blocks)


# 5. Localisation ------------------------------------------------------------------------

def localisation(facts: Facts) -> Section:
    status = localisation_status(facts)
    ran = facts.detect_ran
    if not ran:
        return Section("Localisation", [Paragraph(sentence(status))])
    blocks: list = []
    if facts.detect_missing:
        blocks.append(Paragraph("No metrics yet for YOLOv8" + ", YOLOv8".join(
            facts.detect_missing) + " (detect has not run for them)."))
    rows = []
    for size, m in ran.items():
        t = m["training"]
        for split in ("val", "test"):
            s = m[split]
            rows.append((f"YOLOv8{size}", split, str(s.get("images", "?")),
                         str(s.get("boxes", "?")),
                         *(num(s[k]) for k in ("precision", "recall", "map50", "map50_95")),
                         f"{t.get('epochs_trained')} (best {t.get('best_epoch')})",
                         *_seed_sd(facts, f"metrics/detect/{size}.json",
                                   (f"{split}.map50", f"{split}.map50_95"))))
    first = next(iter(ran.values()))
    blocks.append(Table("Detection (Ultralytics' validator)",
                        ("model", "split", "images", "boxes", "precision", "recall",
                         "mAP@0.5", "mAP@0.5:0.95", "epochs trained",
                         *(("SD over seeds: mAP@0.5 / mAP@0.5:0.95",) if facts.seeds else ())),
                        tuple(rows),
                        note=f"Image size {first.get('imgsz')} px. Precision and recall at "
                             "the confidence of maximum F1; means over the classes that have "
                             "boxes in the split. The best epoch is chosen on val. "
                             + _seed_note(facts)))
    per_class = {s: {split: {c: v.get("map50") for c, v in m[split]["per_class"].items()}
                     for split in ("val", "test")} for s, m in ran.items()}
    blocks.append(Figure("detect_ap50", "Average precision at IoU 0.5 per box class on "
                         "the validation and test splits, one bar per YOLO size.",
                         figures.detect_ap(per_class), alt="AP@0.5 per class and size"))
    blocks.append(Figure("detect_training", "Validation mAP per training epoch.",
                         figures.detect_training(plotdata.detect_epochs(facts)),
                         alt="Validation mAP per epoch per size"))
    size = best_size(facts)
    assert size is not None
    images = plotdata.detect_samples(facts, size)
    if images:
        blocks.append(Figure("detect_samples", f"Test images with true and predicted boxes "
                             f"from YOLOv8{size}, the size with the best validation "
                             "mAP@0.5:0.95.",
                             figures.samples(images, f"YOLOv8{size} on test images"),
                             alt=f"Test images with boxes from YOLOv8{size}"))
    else:
        blocks.append(Paragraph(f"YOLOv8{size} drew no test images (no test image has a "
                                "box, or detect.n_plot_images is 0)."))
    return Section("Localisation", blocks)


# 6. Where the classifiers look ---------------------------------------------------------

MAP_TITLES = {"gradcam": "Grad-CAM (ensemble)", "random": "uniform random map",
              "centre": "centre prior", "detector": "detector's top box"}


def explanations(facts: Facts) -> Section:
    title = "Where the classifiers look"
    done = {b: m for b, m in facts.explain.items() if not m.get("skipped")}
    if not facts.explain:
        return Section(title, [Paragraph("The explain stage has not run for these backbones "
                                         "(`dvc repro` runs it after threshold and detect).")])
    if not done:
        reason = next(iter(facts.explain.values())).get("reason", "no boxes")
        return Section(title, [Paragraph(sentence(reason))])
    first = next(iter(done.values()))
    layers = ", ".join(f"{b}: {m['layer']}" for b, m in done.items())
    min_side = facts.params.get("explain", {}).get("min_side", 8)
    rows = []
    for backbone, m in done.items():
        for name, scores in m["scores"].items():
            rows.append((backbone, MAP_TITLES.get(name, name),
                         *(value_ci(scores[k]) for k in ("pointing", "energy", "iou"))))
    blocks: list = [Table(
        "Grad-CAM against the true fracture boxes (test images with boxes)",
        ("backbone", "map", "pointing game", "energy in boxes", "IoU (Otsu)"), tuple(rows),
        note=f"Per backbone, the mean of its fold models' raw Grad-CAM maps at the deepest "
             f"stage at least {min_side} px across ({layers}), mapped back to "
             f"the original image; {first['images_with_boxes']} test images with boxes. "
             f"Pointing game: the map's maximum lies within {first['tolerance_px']:g} px of "
             "a true box. Energy: the share of positive attribution inside the boxes. IoU: "
             "the map above its Otsu threshold against the union of boxes. The random map "
             "and the centre prior are what chance and 'fractures are near the middle' "
             "score for these box sizes; the detector's top box is the reference. "
             + CI_NOTE)]
    rows = []
    for backbone, m in done.items():
        a, sanity = m["agreement_with_detector"], m["sanity"]
        curve = sanity["curve"]
        rows.append((backbone, num(a["share"], 2), str(a["images"]),
                     num(curve[-1]["rank_correlation"], 2) if curve else "n/a",
                     "passed" if sanity["passed"] else "FAILED"))
    blocks.append(Table(
        "Agreement with the detector, and the randomisation sanity check",
        ("backbone", "map maximum in a detector box", "images", "rank correlation, all "
         "random", "sanity check"), tuple(rows),
        note=f"Agreement: among test images the classifier calls fractured "
             f"({first['operating_point']} operating point) and where "
             f"{first['detector'] or 'the detector'} predicts a box. Sanity check (Adebayo "
             "et al. 2018): one fold model's blocks are re-initialised from the output down; "
             "maps that do not change with the model explain nothing. It passes when the "
             f"fully randomised maps rank-correlate below "
             f"{first['sanity']['max_rank_correlation']:g} with the trained ones."))
    curves = {b: [(c["randomised"], c["rank_correlation"]) for c in m["sanity"]["curve"]]
              for b, m in done.items() if m["sanity"]["curve"]}
    if curves:
        blocks.append(Figure("explain_sanity", "Cascading randomisation: how far each "
                             "backbone's maps move as its blocks are re-initialised.",
                             figures.sanity_curves(curves,
                                                   first["sanity"]["max_rank_correlation"]),
                             alt="Rank correlation per randomisation step"))
    backbone = max(done, key=lambda b: facts.classify[b]["oof_pooled"]["auroc"]["value"])
    images = plotdata.explain_samples(facts, backbone)
    if images:
        blocks.append(Figure("explain_heatmaps", f"Grad-CAM of {backbone} on test images "
                             "with true boxes, drawn only where the decision is positive.",
                             figures.samples(images, f"{backbone}: where it looks",
                                             key="colour: positive Grad-CAM; green: true "
                                                 "box; red: the detector's top box"),
                             alt=f"Grad-CAM heat maps of {backbone}"))
    return Section(title, blocks)


# 8. Use the model (after the limitations) --------------------------------------------

def use_the_model(facts: Facts) -> Section:
    """Where the bundle of these models and its model card are (the bundle stage writes
    them)."""
    bundle = facts.params.get("bundle", {})
    point = bundle.get("operating_point", "youden")
    return Section("Use the model", [Paragraph(
        "The bundle stage packs the chosen classifier (every fold model with its calibration "
        "map and thresholds, and the ensemble rule scored above) and the chosen detector into "
        f"model/ (default operating point {point}); `fraclab predict IMAGE... --model model` "
        "applies it to new radiographs, files or DICOM. What it is for, how it was evaluated "
        "and its limits are in its model card:",
        link=("model/MODEL_CARD.md", "../model/MODEL_CARD.md"))])


# 7. Limitations, and the whole document ------------------------------------------------

def build_document(facts: Facts, comparisons: list[dict[str, Any]]) -> Document:
    """The whole report."""
    dataset = facts.data.get("dataset", {})
    return Document(
        title="fraclab report",
        subtitle=f"Fracture classification ({', '.join(facts.backbones)}) and localisation "
                 f"on {dataset.get('path', '?')} ({facts.data['images']} images). Built by "
                 "`fraclab report` from the files under metrics/ and plots/.",
        sections=[s for s in (
            run_facts(facts), classification(facts, comparisons), calibration(facts),
            operating_points(facts), localisation(facts), explanations(facts),
            external_validation(facts),
            Section("Limitations", [Bullets(tuple(limitations(facts)))]),
            use_the_model(facts)) if s is not None],
    )
