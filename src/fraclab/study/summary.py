"""The headline numbers (``metrics/summary.json``) and the limitations the data imply.

Choices are made the way the pipeline makes every choice: never on the test set. The best
backbone has the highest pooled out-of-fold AUROC, the best YOLO size the highest
validation mAP@0.5:0.95; their test numbers are then reported, not used.

``summary.json`` holds only numbers copied from the stages' metrics files (no time, no git
revision), so the same inputs give the same bytes.
"""

from __future__ import annotations

from typing import Any

from fraclab.recipes import REAL_DATA_MIN_CLASSIFY_PX, REAL_DATA_MIN_DETECT_PX
from fraclab.study.facts import Facts


def best_backbone(facts: Facts) -> str:
    """Highest pooled out-of-fold AUROC; ties go to the first in ``classify.backbones``."""
    return max(facts.backbones,
               key=lambda b: (facts.classify[b]["oof_pooled"]["auroc"]["value"],
                              -facts.backbones.index(b)))


def best_size(facts: Facts) -> str | None:
    """Highest validation mAP@0.5:0.95 among the sizes that trained; None if none did."""
    ran = facts.detect_ran
    if not ran:
        return None
    return max(ran, key=lambda s: (ran[s]["val"]["map50_95"], -facts.sizes.index(s)))


def _interval(entry: dict[str, Any]) -> dict[str, float]:
    return {k: entry[k] for k in ("value", "ci_low", "ci_high")}


def headline(facts: Facts) -> dict[str, Any]:
    """The content of ``metrics/summary.json``."""
    backbone = best_backbone(facts)
    scores = facts.classify[backbone]
    calibrated = facts.calibrate[backbone]
    summary: dict[str, Any] = {
        "best_backbone": backbone,
        "best_backbone_chosen_by": "pooled out-of-fold AUROC",
        "oof_auroc": _interval(scores["oof_pooled"]["auroc"]),
        "test_auroc": _interval(scores["test_ensemble"]["auroc"]),
        "test_auroc_of": "the ensemble of uncalibrated probabilities (classify-cv)",
        "test_auroc_calibrated": calibrated["test_ensemble"]["after"]["auroc"],
        "test_auroc_calibrated_of": "the ensemble of calibrated probabilities: the score of "
                                    "the operating points and the backbone comparisons",
        "ece_after_calibration": {"oof": calibrated["oof_pooled"]["after"]["ece"],
                                  "test": calibrated["test_ensemble"]["after"]["ece"]},
    }
    youden = facts.threshold[backbone].get("youden")
    if youden:
        test = youden["test"]
        summary["youden_test"] = {"threshold": test["threshold"],
                                  **{m: _interval(test[m]) for m in
                                     ("sensitivity", "specificity", "precision", "f1")}}
    size = best_size(facts)
    if size is not None:
        detect = facts.detect[size]
        summary.update(best_yolo_size=size,
                       best_yolo_size_chosen_by="validation mAP@0.5:0.95",
                       test_map50=detect["test"]["map50"],
                       test_map50_95=detect["test"]["map50_95"])
    else:
        summary["localisation"] = localisation_status(facts)
    if facts.external:
        summary["external_auroc"] = {name: _interval(m["external"]["auroc"])
                                     for name, m in facts.external.items()}
    flags = conclusion_flags(facts)
    if flags:
        summary["cannot_conclude"] = flags
    return summary


def localisation_status(facts: Facts) -> str:
    """Why there are no detection numbers, as "localisation ...: why" (empty when some size
    trained)."""
    if facts.detect_ran:
        return ""
    if not facts.sizes:
        return "localisation not run: params.yaml has no detect section"
    skipped = [m.get("reason", "") for m in facts.detect.values() if m.get("skipped")]
    if skipped:
        # The detect stage words its reason "localisation skipped: <why>".
        reason = skipped[0]
        return reason if reason.startswith("localisation") else f"localisation skipped: {reason}"
    return f"localisation not run: no metrics/detect/{facts.detect_missing[0]}.json"


def sentence(text: str) -> str:
    """``text`` with a capital first letter and a full stop."""
    return text[:1].upper() + text[1:].rstrip(".") + "."


def _includes_chance(entry: dict[str, Any]) -> bool:
    return entry["ci_low"] <= 0.5 <= entry["ci_high"]


#: Below this mAP@0.5 on both val and test a detector is reported as having failed.
FAILED_MAP50 = 0.1
#: Above this ECE after scaling a backbone's probabilities are reported as not calibrated.
ECE_LIMIT = 0.05


def failed_sizes(facts: Facts) -> list[str]:
    """YOLO sizes whose val and test mAP@0.5 are both below :data:`FAILED_MAP50`."""
    return [s for s, m in facts.detect_ran.items()
            if m["val"]["map50"] < FAILED_MAP50 and m["test"]["map50"] < FAILED_MAP50]


def every_size_failed(facts: Facts) -> bool:
    """Whether two or more YOLO sizes ran and all of them are :func:`failed_sizes`."""
    return len(facts.detect_ran) > 1 and len(failed_sizes(facts)) == len(facts.detect_ran)


def unequal_yolo_budgets(facts: Facts) -> bool:
    """Whether the YOLO sizes that ran were given different numbers of epochs."""
    return len({m["training"].get("epochs") for m in facts.detect_ran.values()}) > 1


def conclusion_flags(facts: Facts) -> dict[str, str]:
    """Why an entry of the headline cannot carry a conclusion, keyed by the entry; each
    also appears, worded for a reader, in :func:`limitations`."""
    flags: dict[str, str] = {}
    backbone = best_backbone(facts)
    test = facts.classify[backbone]["test_ensemble"]["auroc"]
    if _includes_chance(test):
        flags["test_auroc"] = "95 % interval includes 0.5 (chance)"
    if all(_includes_chance(facts.classify[b]["oof_pooled"]["auroc"])
           for b in facts.backbones) and len(facts.backbones) > 1:
        flags["best_backbone"] = "chosen among backbones that are all at chance"
    ece = facts.calibrate[backbone]["oof_pooled"]["after"]["ece"]
    if ece > ECE_LIMIT:
        flags["ece_after_calibration"] = f"out-of-fold ECE {ece:.3f} > {ECE_LIMIT} after scaling"
    size = best_size(facts)
    if size is not None:
        if size in failed_sizes(facts):
            flags["test_map50"] = (f"localisation failed: val and test mAP@0.5 < "
                                   f"{FAILED_MAP50}")
        why = ["that all failed"] if every_size_failed(facts) else []
        if unequal_yolo_budgets(facts):
            why.append("trained for unequal epochs")
        if why:
            flags["best_yolo_size"] = "chosen among YOLO sizes " + " and ".join(why)
    for name, m in facts.external.items():
        if _includes_chance(m["external"]["auroc"]):
            flags[f"external_auroc_{name}"] = "95 % interval includes 0.5 (chance)"
        if m["leakage"]["images"]:
            flags[f"external_{name}"] = (f"{m['leakage']['images']} images are copies of "
                                         "study images")
    return flags


def _ci(entry: dict[str, Any]) -> str:
    return f"{entry['value']:.3f} ({entry['ci_low']:.3f}-{entry['ci_high']:.3f})"


def external_limitations(facts: Facts) -> list[str]:
    """What each external validation (``metrics/external/NAME.json``) limits."""
    items = []
    for name, m in facts.external.items():
        ext, inn = m["external"], m["internal"]
        text = (f"External validation on {name} ({ext['n']} images, {ext['groups']} groups, "
                f"prevalence {ext['prevalence']:.2f}): AUROC {_ci(ext['auroc'])} against "
                f"{_ci(inn['auroc'])} on the internal test set")
        if _includes_chance(ext["auroc"]):
            text += "; its interval includes 0.5, so the model's discrimination there is " \
                    "not established"
        elif ext["auroc"]["ci_high"] < inn["auroc"]["value"]:
            text += "; discrimination is lower there"
        slope = ext["calibration_slope"]
        if not slope["ci_low"] <= 1 <= slope["ci_high"]:
            text += (f"; calibration slope {_ci(slope)}, so its probabilities are "
                     + ("too extreme" if slope["value"] < 1 else "too timid") + " there")
        items.append(text + f"; mean predicted minus prevalence "
                            f"{ext['mean_minus_prevalence']:+.3f}.")
        leak = m["leakage"]
        if leak["images"]:
            clean = m.get("external_without_leaked")
            items.append(f"{leak['images']} images of {name} are copies of the study's own "
                         f"images ({leak['exact']} byte-identical, {leak['near']} near "
                         f"duplicates within {leak['max_distance']} bits): it is not wholly "
                         "external" + (f"; without them AUROC is {_ci(clean['auroc'])}"
                                       if clean else "; no both-class remainder to score")
                         + ".")
        detection = m.get("detection") or {}
        if detection.get("status") == "skipped":
            items.append(f"Localisation was not scored on {name}: "
                         f"{sentence(detection['reason'])}")
    return items


def limitations(facts: Facts) -> list[str]:
    """Limitations stated from what the metrics files say about this run."""
    data, items = facts.data, []
    if facts.synthetic:
        items.append("The data are synthetic radiographs made by `fraclab synth`; these "
                     "numbers say how the pipeline behaves, not how well it would find real "
                     "fractures.")
    if facts.external:
        items += external_limitations(facts)
    else:
        items.append(f"No external validation: the test split "
                     f"({data['splits']['test']['images']} images, "
                     f"{data['splits']['test']['groups']} groups) comes from the same "
                     "dataset, source and acquisition as the training data; performance on "
                     "another hospital's images is unknown.")
    source = str(data.get("dataset", {}).get("group_source", ""))
    if "patient" not in source:
        items.append(f"Groups are inferred ({source or 'unknown source'}), not patient ids: "
                     "two images of one patient with unrelated file names can sit in "
                     "different folds or splits, which would make the estimates optimistic.")
    shipped = data.get("as_shipped", {})
    if shipped.get("groups_spanning_splits"):
        handled = ("moved wholly into one split (resplit)" if data.get("resplit")
                   else "left as shipped (resplit: false), so those images leak between "
                        "splits")
        items.append(f"As shipped, {shipped['groups_spanning_splits']} groups "
                     f"({shipped.get('images_in_spanning_groups', '?')} images) span two "
                     f"splits; they were {handled}.")
    moved = data.get("moved_out_of_test_or_development") or {}
    if moved.get("groups"):
        items.append(f"{moved['groups']} groups ({moved['images']} images) were in both the "
                     "test split and development as shipped; prepare moved each wholly to the "
                     "side holding most of it, so the test split differs from the dataset's.")
    across_groups = (data.get("near_duplicates") or {}).get("pairs_across_groups", 0)
    if across_groups and data.get("dedupe", "report") == "report":
        items.append(f"{across_groups} near-duplicate image pairs lie in different groups "
                     "(dedupe: report): they can fall into different cross-validation folds, "
                     "which makes out-of-fold estimates optimistic; `data.dedupe: group` "
                     "keeps them together.")
    if data.get("near_duplicate_pairs_across_splits"):
        items.append(f"{data['near_duplicate_pairs_across_splits']} near-duplicate image "
                     "pairs remain across splits (perceptual hash); test scores may be "
                     "optimistic.")
    test_images = data["splits"]["test"]["images"]
    if test_images < 300:
        widths = [e["ci_high"] - e["ci_low"] for e in
                  (facts.classify[b]["test_ensemble"]["auroc"] for b in facts.backbones)]
        narrowest, widest = f"{min(widths):.2f}", f"{max(widths):.2f}"
        spread = narrowest if narrowest == widest else f"{narrowest}–{widest}"
        items.append(f"The test set is small ({test_images} images): the 95 % interval of "
                     f"its AUROC is {spread} wide, so test numbers (and differences between "
                     "backbones on test) are weak evidence.")
    chance = [b for b in facts.backbones
              if _includes_chance(facts.classify[b]["oof_pooled"]["auroc"])]
    if chance:
        items.append(f"Pooled out-of-fold AUROC is not distinguishable from chance (its 95 % "
                     f"interval includes 0.5) for: {', '.join(chance)}.")
    items.append("Each fold model's inner validation split chooses its epoch (early "
                 "stopping), its temperature and its thresholds: the same images make three "
                 "choices, so the inner-validation numbers are optimistic (the out-of-fold and "
                 "test numbers are not: those images choose nothing).")
    test_chance = [b for b in facts.backbones
                   if _includes_chance(facts.classify[b]["test_ensemble"]["auroc"])]
    if test_chance:
        items.append(f"Test AUROC is not distinguishable from chance (its 95 % interval "
                     f"includes 0.5) for: {', '.join(test_chance)}; no test result of theirs "
                     "can support a conclusion.")
    uncalibrated = [f"{b} ({facts.calibrate[b]['oof_pooled']['after']['ece']:.3f})"
                    for b in facts.backbones
                    if facts.calibrate[b]["oof_pooled"]["after"]["ece"] > ECE_LIMIT]
    if uncalibrated:
        items.append(f"Out-of-fold ECE stays above {ECE_LIMIT} after calibration for: "
                     f"{', '.join(uncalibrated)}; their probabilities do not mean what they "
                     "say.")
    scratch = [b for b in facts.backbones if facts.classify[b].get("pretrained") == "none"]
    if scratch:
        items.append(f"Trained from scratch, without ImageNet weights: {', '.join(scratch)}."
                     + ("" if facts.synthetic else " On real radiographs that rarely learns "
                        "in a few epochs: use the real-gpu recipe (ImageNet weights)."))
    if not facts.synthetic:
        size = int(facts.params.get("data", {}).get("image_size", 0) or 0)
        imgsz = int((facts.params.get("detect") or {}).get("imgsz", 0) or 0)
        small = ([f"classification at {size} px (< {REAL_DATA_MIN_CLASSIFY_PX})"]
                 if size and size < REAL_DATA_MIN_CLASSIFY_PX else [])
        small += ([f"detection at {imgsz} px (< {REAL_DATA_MIN_DETECT_PX})"]
                  if imgsz and facts.detect_ran and imgsz < REAL_DATA_MIN_DETECT_PX else [])
        if small:
            items.append("Settings far from what real radiographs need: " + ", ".join(small)
                         + "; a fracture a few pixels wide vanishes at that size. The "
                         "defaults are for the synthetic data; see the README's recipes.")
    failed = failed_sizes(facts)
    if failed:
        items.append("Localisation failed for YOLOv8" + ", YOLOv8".join(failed)
                     + f": val and test mAP@0.5 below {FAILED_MAP50}; their boxes locate "
                     "nothing.")
    ran = facts.detect_ran
    if every_size_failed(facts):
        items.append("The best YOLO size is chosen among sizes that all failed: the choice "
                     "means nothing.")
    if unequal_yolo_budgets(facts):
        budgets = ", ".join(f"YOLOv8{s} {m['training'].get('epochs')}" for s, m in ran.items())
        items.append(f"The YOLO sizes trained for unequal epochs ({budgets}): the best size "
                     "is chosen among unequal budgets, not between architectures.")
    stuck = [b for b in facts.backbones
             if facts.calibrate[b].get("temperature", {}).get("max", 0) >= 100]
    if stuck:
        items.append(f"Some fold models' logits carry no signal on their inner validation "
                     f"set (temperature at its upper bound 100): {', '.join(stuck)}.")
    status = localisation_status(facts)
    if status:
        items.append(sentence(status))
    elif not facts.has_boxes:
        items.append("The dataset has no boxes: localisation cannot be evaluated.")
    for size, m in facts.detect_ran.items():
        if m["test"].get("boxes", 1) < 50:
            items.append(f"YOLOv8{size}: only {m['test'].get('boxes')} test boxes; per-class "
                         "AP rests on a handful of boxes per class.")
            break
    for backbone, m in facts.explain.items():
        if m.get("skipped"):
            continue
        scores = m["scores"]
        looks, chance = scores["gradcam"]["pointing"], scores["random"]["pointing"]
        centre = scores["centre"]["pointing"]
        if not m["sanity"]["passed"]:
            items.append(f"{backbone}'s Grad-CAM maps failed the randomisation sanity check "
                         "(they barely change when the model's weights are re-initialised): "
                         "they show the image, not what the model uses.")
        elif looks.get("ci_low") is not None and looks["ci_low"] <= max(
                chance["value"] or 0, centre["value"] or 0):
            items.append(f"{backbone}'s Grad-CAM does not point at fractures reliably better "
                         f"than chance or a centre prior (pointing game {looks['value']:.2f}, "
                         f"interval from {looks['ci_low']:.2f}; random {chance['value']:.2f}, "
                         f"centre {centre['value']:.2f}): its maps are not evidence of where "
                         "it found a fracture.")
    if data.get("skipped"):
        items.append(f"{data['skipped']} unreadable input file(s) were skipped "
                     "(data.on_bad: skip); they are listed in metrics/data.json.")
    return items
