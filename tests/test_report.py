"""The report stage on a complete tree of stage outputs (tests/report_fixtures.py): what it
writes, that every number comes from the metrics files, that the page opens offline, and
that a dataset without boxes or a run without detection still gives a report."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from report_fixtures import build_project, variant

from fraclab.cli import main
from fraclab.report import browser
from fraclab.report.compare import compare_backbones
from fraclab.report.fmt import value_ci
from fraclab.report.stage import run_report
from fraclab.study.facts import ReportInputError

SECTIONS = ["Run facts", "Classification", "Calibration", "Operating points", "Localisation",
            "Where the classifiers look", "Limitations", "Use the model"]


def report(root: Path) -> dict:
    params = yaml.safe_load((root / "params.yaml").read_text())
    return run_report(root, params, out_dir=root / "report",
                      summary_path=root / "metrics" / "summary.json",
                      plots_dir=root / "plots" / "report", log=lambda _: None)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = build_project(tmp_path_factory.mktemp("report"))
    report(root)
    return root


def metrics(root: Path, *parts: str) -> dict:
    return json.loads(root.joinpath("metrics", *parts).read_text())


def test_writes_html_markdown_figures_summary_and_plot_files(project):
    html = (project / "report" / "index.html").read_text()
    md = (project / "report" / "report.md").read_text()
    assert re.findall(r"<h2[^>]*>\d+\. ([^<]+)</h2>", html) == SECTIONS
    assert re.findall(r"^## \d+\. (.+)$", md, re.M) == SECTIONS
    # The model card the bundle stage writes beside report/, linked from both.
    assert '<a href="../model/MODEL_CARD.md">model/MODEL_CARD.md</a>' in html
    assert "[model/MODEL_CARD.md](../model/MODEL_CARD.md)" in md
    linked = re.findall(r"\]\((figures/[^)]+\.png)\)\]", md)
    assert len(linked) == html.count("<img ") == 7  # roc_pr, training, reliability,
    for path in linked:  # thresholds, AP per class, detector training, samples
        assert (project / "report" / path).stat().st_size > 1000, path
    for name in ("roc_oof.csv", "pr_test.csv", "reliability_oof.csv", "threshold_f1.csv",
                 "classify_val_loss.csv", "detect_val_map.csv", "detect_ap50.csv",
                 "detect_samples.png"):
        assert (project / "plots" / "report" / name).stat().st_size > 0, name


def test_every_table_number_is_the_metrics_files_number(project):
    html = (project / "report" / "index.html").read_text()
    for backbone in ("alpha", "beta", "gamma"):
        scores = metrics(project, "classify", f"{backbone}.json")
        for key in ("oof_pooled", "test_ensemble"):
            for name in ("auroc", "brier", "ece", "f1"):
                assert value_ci(scores[key][name]) in html, (backbone, key, name)
        youden = metrics(project, "threshold", f"{backbone}.json")["youden"]["test"]
        assert value_ci(youden["sensitivity"]) in html
        after = metrics(project, "calibrate", f"{backbone}.json")["oof_pooled"]["after"]
        assert f"→ {after['ece']:.3f}" in html
    detect = metrics(project, "detect", "s.json")
    assert f"{detect['test']['map50_95']:.3f}" in html


def test_summary_picks_on_out_of_fold_and_validation_never_test(project):
    summary = metrics(project, "summary.json")
    oof = {b: metrics(project, "classify", f"{b}.json")["oof_pooled"]["auroc"]["value"]
           for b in ("alpha", "beta", "gamma")}
    best = max(oof, key=oof.get)
    assert summary["best_backbone"] == best
    assert summary["oof_auroc"]["value"] == oof[best]
    chosen = metrics(project, "classify", f"{best}.json")
    assert summary["test_auroc"] == {k: chosen["test_ensemble"]["auroc"][k]
                                     for k in ("value", "ci_low", "ci_high")}
    calibrated = metrics(project, "calibrate", f"{best}.json")["test_ensemble"]["after"]
    assert summary["ece_after_calibration"]["test"] == calibrated["ece"]
    # Both test AUROCs, each labelled with the score it is of.
    assert summary["test_auroc_calibrated"] == calibrated["auroc"]
    assert "uncalibrated" in summary["test_auroc_of"]
    assert "calibrated probabilities" in summary["test_auroc_calibrated_of"]
    assert summary["youden_test"]["threshold"] == metrics(
        project, "threshold", f"{best}.json")["youden"]["test"]["threshold"]
    # Size s has the higher *validation* mAP@0.5:0.95 in the fixture; its test numbers follow.
    assert summary["best_yolo_size"] == "s"
    assert summary["test_map50"] == metrics(project, "detect", "s.json")["test"]["map50"]


def test_comparisons_are_what_compare_backbones_prints(project):
    shown = json.loads((project / "report" / "comparisons.json").read_text())
    assert [(c["a"], c["b"]) for c in shown] == [("alpha", "beta"), ("alpha", "gamma"),
                                                 ("beta", "gamma")]
    direct = compare_backbones(project / "artifacts/calibrate/alpha",
                               project / "artifacts/calibrate/gamma",
                               project / "artifacts/prepared/manifest.csv", n_boot=100, seed=0)
    assert {k: v for k, v in shown[1].items() if k not in ("a", "b")} == direct
    html = (project / "report" / "index.html").read_text()
    assert f"{direct['test_ensemble']['delong']['difference']:.3f}" in html


def test_html_is_self_contained(project):
    html = (project / "report" / "index.html").read_text()
    assert browser.static_problems(html) == []
    assert "http://" not in html and "https://" not in html


@pytest.mark.parametrize("bad, problem", [
    ('<img alt="x" src="https://example.org/a.png">', "not a PNG data URI"),
    ('<img alt="x" src="data:image/png;base64,AAAA">', "not a decodable PNG"),
    ('<script src="https://cdn.example.org/vega.js"></script>', "<script> element"),
    ('<link rel="stylesheet" href="//fonts.example.org/a.css">', "<link> element"),
    ("<style>body { background: url(https://example.org/bg.png) }</style>", "<style> loads"),
    ('<a href="https://example.org">x</a>', "not local"),
    ('<a href="//example.org/x">x</a>', "not local"),
    ('<a href="/etc/x">x</a>', "not local"),
])
def test_static_check_catches_what_would_need_the_network(project, bad, problem):
    html = (project / "report" / "index.html").read_text().replace("<h1>", bad + "<h1>", 1)
    assert any(problem in p for p in browser.static_problems(html)), problem


def test_rerun_gives_identical_files(project, tmp_path):
    again = tmp_path / "again"
    # Without report/, plots/report/ and summary.json: all written afresh.
    shutil.copytree(project, again, ignore=shutil.ignore_patterns("report", "summary.json"))
    report(again)
    for path in ("metrics/summary.json", "report/index.html", "report/report.md",
                 *(f"plots/report/{p.name}" for p in (project / "plots/report").iterdir())):
        assert (again / path).read_bytes() == (project / path).read_bytes(), path


@pytest.mark.skipif(not Path(browser.DEFAULT_CHROMIUM).exists(),
                    reason="Debian's chromium is not installed (apt-get install chromium)")
def test_headless_chromium_renders_offline_with_every_image(project, tmp_path):
    result = browser.render(project / "report" / "index.html")
    assert result.problems() == []
    assert result.images == result.decoded == 7 and result.sections == len(SECTIONS)
    # The probe is not blind: an external and a corrupt image are both caught.
    broken = tmp_path / "broken.html"
    broken.write_text((project / "report" / "index.html").read_text().replace(
        "<h1>", '<img alt="ext" src="https://example.org/a.png">'
                '<img alt="bad" src="data:image/png;base64,AAAA"><h1>', 1))
    bad = browser.render(broken)
    assert bad.broken == ["ext", "bad"] and bad.requested == ["https://example.org/a.png"]


def test_dataset_without_boxes_reports_the_skip(project, tmp_path):
    root = variant(project, tmp_path, backbones=("alpha",), detect="skipped")
    summary = report(root)
    html = (root / "report" / "index.html").read_text()
    assert "Localisation skipped: the dataset has no boxes." in html
    assert "One backbone only" in html
    assert summary["localisation"] == "localisation skipped: the dataset has no boxes"
    assert "best_yolo_size" not in summary
    assert html.count("<img ") == 4  # no detection figures
    assert (root / "plots" / "report" / "detect_samples.png").stat().st_size > 0


def test_run_without_detect_section_and_inferred_groups(project, tmp_path):
    root = variant(project, tmp_path, backbones=("alpha", "beta"), detect="absent",
                   group_source="source file stem")
    report(root)
    html = (root / "report" / "index.html").read_text()
    assert "Localisation not run: params.yaml has no detect section." in html
    assert "Groups are inferred (source file stem), not patient ids" in html


def test_missing_metrics_file_is_an_error_naming_it(project, tmp_path, monkeypatch):
    root = variant(project, tmp_path, backbones=("alpha",), detect="absent")
    (root / "metrics" / "calibrate" / "alpha.json").unlink()
    message = re.escape("metrics/calibrate/alpha.json: not found")
    with pytest.raises(ReportInputError, match=message):
        report(root)
    monkeypatch.chdir(root)
    result = CliRunner().invoke(main, ["report"])
    assert result.exit_code == 1
    assert "metrics/calibrate/alpha.json: not found" in result.output
    assert not (root / "report").exists()


def test_threshold_curves_on_the_grid_are_exact():
    import numpy as np

    from fraclab.evaluate.thresholds import operating_point, threshold_curve
    from fraclab.report.dvcplots import on_grid

    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 300)
    p = np.round(rng.beta(2, 3, 300), 3)  # ties, and nothing above ~0.95
    curve = threshold_curve(y, p)
    for metric in ("sensitivity", "specificity", "precision", "f1"):
        grid = on_grid({"threshold": curve["threshold"], metric: curve[metric]}, metric)
        assert grid["threshold"].max() <= p.max() < grid["threshold"].max() + 0.01
        for t, value in zip(grid["threshold"], grid[metric], strict=True):
            assert value == pytest.approx(operating_point(y, p, t)[metric], abs=1e-12), (t,
                                                                                         metric)


def test_seed_spread_shown_only_for_the_settings_it_was_measured_with(project, tmp_path):
    from fraclab.study.facts import SEED_SPREAD_FILE, settings_digest

    root = variant(project, tmp_path, backbones=("alpha",))
    params = yaml.safe_load((root / "params.yaml").read_text())
    name = "metrics/classify/alpha.json:oof_pooled.auroc.value"
    sweep = {"settings_digest": settings_digest({**params, "seed": 7}),  # seed is swept
             "seed_runs": ["seed0", "seed1", "seed2"], "thread_pair": None,
             "rows": [{"metric": name, "sd": 0.0123, "thread_move": 0.0}]}
    (root / SEED_SPREAD_FILE).parent.mkdir(parents=True)
    (root / SEED_SPREAD_FILE).write_text(json.dumps(sweep))
    report(root)
    html = (root / "report" / "index.html").read_text()
    assert "SD over seeds: out-of-fold / test" in html and "0.012 / n/a" in html
    assert "trained with 3 seeds (0, 1, 2" in html
    # Other settings (here another learning rate): the spread does not apply to them.
    params["classify"]["lr"] = 0.5
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    report(root)
    html = (root / "report" / "index.html").read_text()
    assert "SD over seeds: out-of-fold" not in html
    assert "the training-seed spread is unknown" in html


def test_limitations_name_moved_groups_and_near_duplicates_across_groups(project, tmp_path):
    root = variant(project, tmp_path, backbones=("alpha",))
    data = json.loads((root / "metrics" / "data.json").read_text())
    data["moved_out_of_test_or_development"] = {"groups": 4, "images": 5}
    data["near_duplicates"] = {**data.get("near_duplicates", {}), "pairs_across_groups": 7}
    data["dedupe"] = "report"
    (root / "metrics" / "data.json").write_text(json.dumps(data))
    report(root)
    html = (root / "report" / "index.html").read_text()
    assert "4 groups (5 images) were in both the test split and development" in html
    assert "7 near-duplicate image pairs lie in different groups" in html
    assert "inner validation split chooses its epoch" in html


def test_a_small_test_set_names_its_interval_width_once_when_the_backbones_agree(
        project, tmp_path):
    root = variant(project, tmp_path, backbones=("alpha", "beta"))
    data = json.loads((root / "metrics" / "data.json").read_text())
    data["splits"]["test"]["images"] = 118
    (root / "metrics" / "data.json").write_text(json.dumps(data))
    for backbone, (low, high) in {"alpha": (0.40, 0.621), "beta": (0.41, 0.629)}.items():
        # widths 0.221 and 0.219: both "0.22"
        path = root / "metrics" / "classify" / f"{backbone}.json"
        metrics = json.loads(path.read_text())
        metrics["test_ensemble"]["auroc"].update(ci_low=low, ci_high=high)
        path.write_text(json.dumps(metrics))
    report(root)
    [small] = [item for item in json.loads((root / "report" / "limitations.json").read_text())
               if item.startswith("The test set is small")]
    assert "(118 images): the 95 % interval of its AUROC is 0.22 wide" in small
    path = root / "metrics" / "classify" / "beta.json"
    metrics = json.loads(path.read_text())
    metrics["test_ensemble"]["auroc"].update(ci_low=0.41, ci_high=0.66)  # 0.25: now a range
    path.write_text(json.dumps(metrics))
    report(root)
    assert any("its AUROC is 0.22–0.25 wide" in item for item in
               json.loads((root / "report" / "limitations.json").read_text()))


def test_results_that_cannot_carry_a_conclusion_are_flagged_and_stated(project, tmp_path):
    from report_fixtures import write_detect

    root = variant(project, tmp_path, backbones=("alpha", "beta"))
    params = yaml.safe_load((root / "params.yaml").read_text())
    # Real data (no synth.json) at the synthetic defaults' sizes.
    data = json.loads((root / "metrics" / "data.json").read_text())
    data["dataset"]["path"] = str(tmp_path / "real")
    (root / "metrics" / "data.json").write_text(json.dumps(data))
    params["data"] = {**params.get("data", {}), "image_size": 64}
    params["detect"] = {**params["detect"], "imgsz": 96}
    (root / "params.yaml").write_text(yaml.safe_dump(params))
    sizes = params["detect"]["sizes"]
    for size in sizes:  # every detector below the floor, with unequal budgets
        shutil.rmtree(root / "plots" / "detect" / size)
        write_detect(root, size, 0.05)
    first = root / "metrics" / "detect" / f"{sizes[0]}.json"
    metrics = json.loads(first.read_text())
    metrics["training"]["epochs"] = 14
    first.write_text(json.dumps(metrics))
    for b in ("alpha", "beta"):
        path = root / "metrics" / "classify" / f"{b}.json"
        scores = json.loads(path.read_text())
        scores["test_ensemble"]["auroc"].update(value=0.55, ci_low=0.42, ci_high=0.66)
        path.write_text(json.dumps(scores))
        path = root / "metrics" / "calibrate" / f"{b}.json"
        cal = json.loads(path.read_text())
        cal["oof_pooled"]["after"]["ece"] = 0.12
        path.write_text(json.dumps(cal))
    summary = report(root)
    flags = summary["cannot_conclude"]
    assert flags["test_auroc"] == "95 % interval includes 0.5 (chance)"
    assert "localisation failed" in flags["test_map50"]
    assert flags["best_yolo_size"] == ("chosen among YOLO sizes that all failed and trained "
                                       "for unequal epochs")
    assert "ECE 0.120 > 0.05" in flags["ece_after_calibration"]
    html = (root / "report" / "index.html").read_text()
    for text in ("Test AUROC is not distinguishable from chance",
                 "Localisation failed for YOLOv8", "chosen among sizes that all failed",
                 "trained for unequal epochs (YOLOv8",
                 "classification at 64 px (&lt; 128)", "detection at 96 px (&lt; 320)",
                 "ECE stays above 0.05 after calibration"):
        assert text in html, text


def test_a_study_that_supports_its_conclusions_has_no_flags(project):
    summary = json.loads((project / "metrics" / "summary.json").read_text())
    assert "cannot_conclude" not in summary or "test_auroc" not in summary["cannot_conclude"]


def _explain_metrics(pointing: float, low: float, passed: bool) -> dict:
    def entry(value: float, ci_low: float | None = None) -> dict:
        low_ = value - 0.05 if ci_low is None else ci_low
        return {"value": value, "ci_low": low_, "ci_high": value + 0.05, "n": 40}

    scores = {name: {"pointing": entry(v), "energy": entry(v / 2), "iou": entry(v / 3)}
              for name, v in (("random", 0.1), ("centre", 0.3), ("detector", 0.7))}
    scores["gradcam"] = {"pointing": entry(pointing, low), "energy": entry(0.4),
                         "iou": entry(0.3)}
    return {"layer": "layer2", "tolerance_px": 4.0, "images_with_boxes": 40,
            "detector": "yolov8n", "operating_point": "youden", "scores": scores,
            "agreement_with_detector": {"images": 12, "share": 0.75},
            "sanity": {"curve": [{"randomised": "fc", "rank_correlation": 0.2},
                                 {"randomised": "layer4", "rank_correlation": 0.9 - passed}],
                       "max_rank_correlation": 0.5, "passed": passed}}


def test_explanations_section_and_its_limitations(project, tmp_path):
    root = variant(project, tmp_path, backbones=("alpha", "beta"))
    (root / "metrics" / "explain").mkdir()
    for backbone, m in (("alpha", _explain_metrics(0.8, 0.7, True)),
                        ("beta", _explain_metrics(0.35, 0.25, False))):
        (root / "metrics" / "explain" / f"{backbone}.json").write_text(json.dumps(m))
    report(root)
    text = (root / "report" / "report.md").read_text()
    section = text[text.index("Where the classifiers look"):text.index("Limitations")]
    assert "| alpha | Grad-CAM (ensemble) | 0.800 (0.700–0.850) |" in section
    assert "| alpha | centre prior | 0.300 (0.250–0.350) |" in section
    assert "| alpha | 0.75 | 12 | -0.10 | passed |" in section
    assert "| beta | 0.75 | 12 | 0.90 | FAILED |" in section
    assert (root / "report" / "figures" / "explain_sanity.png").is_file()
    limits = text[text.index("Limitations"):]
    assert "beta's Grad-CAM maps failed the randomisation sanity check" in limits
    assert "alpha's Grad-CAM" not in limits
    # A map that passes the sanity check but points no better than the centre prior.
    (root / "metrics" / "explain" / "alpha.json").write_text(
        json.dumps(_explain_metrics(0.33, 0.2, True)))
    report(root)
    limits = (root / "report" / "report.md").read_text().split("Limitations")[-1]
    assert "alpha's Grad-CAM does not point at fractures reliably better" in limits


def test_explain_not_run_is_said(project):
    text = (project / "report" / "report.md").read_text()
    assert "The explain stage has not run for these backbones" in text


def test_seed_sweep_digest_ignores_rounding_only_params_and_keeps_the_rest():
    from fraclab.study.facts import settings_digest

    base = {"seed": 0, "classify": {"lr": 0.001, "threads": 1, "precision": "auto"}}
    bf16 = {"seed": 1, "classify": {"lr": 0.001, "threads": 2, "precision": {"resnet18": "bf16"}}}
    assert settings_digest(base) == settings_digest(bf16)
    assert settings_digest(base) != settings_digest({**base, "classify": {"lr": 0.01}})


def test_the_committed_seed_sweeps_apply_to_the_committed_settings():
    """Else the report silently drops its "SD over seeds" column: a params change that alters
    what the sweeps measured must come with new sweeps."""
    from project_shell import load_profile

    from fraclab.params import load_params
    from fraclab.study.facts import settings_digest

    root = Path(__file__).resolve().parents[1]
    params = load_params(root / "params.yaml")
    sweep = json.loads((root / "benchmarks/noise/default.json").read_text())
    assert sweep["settings_digest"] == settings_digest(params)
    tiny = json.loads(json.dumps(params))
    for key, value in load_profile()["params"].items():
        tiny[key] = {**tiny[key], **value} if isinstance(value, dict) else value
    sweep = json.loads((root / "benchmarks/noise/tiny.json").read_text())
    assert sweep["settings_digest"] == settings_digest(tiny)
