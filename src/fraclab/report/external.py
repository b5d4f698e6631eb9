"""The report's "External validation" section: the bundle on each external dataset, beside
the study's own test set (``metrics/external/NAME.json``, ``plots/external/NAME/``)."""

from __future__ import annotations

from typing import Any

from fraclab.report import figures, plotdata
from fraclab.report.document import Figure, Paragraph, Section, Table
from fraclab.report.fmt import num, value_ci
from fraclab.study.facts import Facts
from fraclab.study.summary import sentence

ROWS = (("AUROC", "auroc"), ("average precision", "average_precision"), ("Brier", "brier"),
        ("ECE", "ece"), ("calibration slope", "calibration_slope"),
        ("calibration intercept", "calibration_intercept"))
POINT_METRICS = ("sensitivity", "specificity", "precision", "f1")
NOTE = ("95 % intervals from a bootstrap over patients (groups) of the scored set; the model, "
        "its calibration and its thresholds are fixed, so they are not resampled. Internal: "
        "the study's test split, scored by the same bundle and the same functions.")


def _size(m: dict[str, Any]) -> str:
    return f"{m['n']} ({m['groups']})"


def _discrimination(m: dict[str, Any]) -> Table:
    columns = [("internal test", m["internal"]), ("external", m["external"])]
    if m.get("external_without_leaked"):
        columns.append(("external without copies", m["external_without_leaked"]))
    rows = [("images (groups)", *(_size(c) for _, c in columns)),
            ("prevalence", *(num(c["prevalence"]) for _, c in columns)),
            ("mean predicted minus prevalence",
             *(f"{c['mean_minus_prevalence']:+.3f}" for _, c in columns))]
    rows += [(title, *(value_ci(c[key]) for _, c in columns)) for title, key in ROWS]
    return Table(f"{m['name']}: discrimination and calibration", ("", *(t for t, _ in columns)),
                 tuple(rows),
                 note="Calibration slope and intercept: logistic recalibration of the label on "
                      "the logit of the probability (reported, not applied; slope 1 and "
                      "intercept 0 when calibrated). " + NOTE)


def _operating_points(m: dict[str, Any]) -> Table:
    rows = []
    for label, point in m["external"]["operating_points"].items():
        internal = m["internal"]["operating_points"][label]
        for where, values in (("internal test", internal), ("external", point)):
            rows.append((label, num(point["threshold"]), where,
                         *(value_ci(values[k]) for k in POINT_METRICS)))
    return Table(f"{m['name']}: the bundle's operating points",
                 ("operating point", "threshold", "set", *POINT_METRICS), tuple(rows),
                 note="Positive when the ensemble probability >= the bundle's threshold "
                      "(chosen on the development data, never on either scored set). " + NOTE)


def _per_site(m: dict[str, Any]) -> Table | None:
    sites = m.get("per_site")
    if not sites or not sites["external"]:
        return None
    rows = []
    for site, ext in sites["external"].items():
        inn = sites["internal"].get(site)
        rows.append((site, _size(ext), num(ext["prevalence"]),
                     value_ci(ext["auroc"]) if ext["auroc"] else "n/a",
                     value_ci(inn["auroc"]) if inn and inn["auroc"] else "n/a"))
    return Table(f"{m['name']}: per site", ("site", "external images (groups)",
                                            "prevalence", "external AUROC",
                                            "internal test AUROC"), tuple(rows),
                 note="No interval with fewer than 5 images of either class.")


def _detection(m: dict[str, Any]) -> list:
    d = m.get("detection") or {}
    if d.get("status") != "ran":
        return [Paragraph(sentence(f"Localisation was not scored: "
                                   f"{d.get('reason', 'not run')}"))]
    rows = []
    for where, scores in (("internal test", d.get("internal")), ("external", d["external"])):
        if scores:
            rows.append((where, str(scores.get("boxes", "n/a")),
                         *(num(scores[k]) for k in ("precision", "recall", "map50",
                                                    "map50_95"))))
    classes = d["classes"]
    note = (f"Ultralytics' validator, YOLOv8{d['size']} at {d['imgsz']} px. Classes matched by "
            f"name: {', '.join(f'{a} -> {b}' for a, b in classes['matched'].items())}."
            + (f" Not known to the detector, so not scored: {', '.join(classes['unmatched'])}"
               f" ({d['boxes_not_scored']} boxes)." if classes["unmatched"] else "")
            + (f" Detector classes absent from the dataset: {', '.join(classes['absent'])}."
               if classes["absent"] else ""))
    return [Table(f"{m['name']}: localisation", ("set", "boxes", "precision", "recall",
                                                 "mAP@0.5", "mAP@0.5:0.95"), tuple(rows),
                  note=note)]


def external_validation(facts: Facts) -> Section | None:
    """The section, or None when no external dataset was scored."""
    if not facts.external:
        return None
    blocks: list = [Paragraph(
        "The bundle (model/) applied as shipped to labelled datasets the study never saw: "
        "no weight, calibration map or threshold was refitted on them. An external image "
        "that is a copy of a study image (same file bytes, or a perceptual hash within "
        "data.dedupe_distance bits) is counted, and the metrics are also given without "
        "those images.")]
    for name, m in facts.external.items():
        leak = m["leakage"]
        blocks += [Paragraph(
            f"{name}: {m['path']} (format {m['format']}, groups from {m['group_source']}), "
            f"{m['images']} images, {m['skipped']} skipped; {leak['images']} copies of study "
            f"images ({leak['exact']} exact, {leak['near']} near)."),
            _discrimination(m), _operating_points(m)]
        site = _per_site(m)
        if site:
            blocks.append(site)
        blocks += _detection(m)
        if m.get("recalibrated"):
            r = m["recalibrated"]
            blocks.append(Table(
                f"{name}: local recalibration (a variant, not the bundle)",
                ("", "bundle as shipped", "recalibrated"),
                tuple((title, value_ci(r["before"][key]), value_ci(r["after"][key]))
                      for title, key in ROWS[:4]),
                note=f"{sentence(r['note'])} Platt slope {r['slope']:.3f}, intercept "
                     f"{r['intercept']:.3f}, fitted on {r['fitted_on']} images, scored on "
                     f"{r['scored_on']}."))
        roc, reliability = plotdata.external_curves(facts, name)
        legends = {"internal": f"AUROC {value_ci(m['internal']['auroc'])}",
                   "external": f"AUROC {value_ci(m['external']['auroc'])}"}
        blocks.append(Figure(f"external_{name}", f"The bundle on the internal test set and "
                             f"on {name}.", figures.external_curves(roc, reliability,
                                                                    legends, name),
                             alt=f"ROC and reliability, internal and {name}"))
    return Section("External validation", blocks)
