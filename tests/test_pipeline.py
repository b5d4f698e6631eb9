"""The real DVC pipeline end to end on the tiny profile: it learns, it repeats, and the gate
tells training noise (another seed, another thread count) from a real regression."""

from __future__ import annotations

import csv
import json
import os
import re
import shutil
import statistics
import subprocess
from pathlib import Path

import numpy as np
import pytest
from project_shell import BIN, PROJECT_ROOT, load_profile, make_project, run

from fraclab.report import browser
from fraclab.runtime import available_cores

pytestmark = pytest.mark.slow
PROFILE = load_profile()
BACKBONE = PROFILE["params"]["classify"]["backbones"][0]
# The tiny profile's metrics from seed 0 with every core, committed, and the gate's rules for
# it (tolerances from benchmarks/noise.py's measured spread of this profile).
# After an intended change: FRACLAB_UPDATE_TINY_BASELINE=1 pytest tests/test_pipeline.py
BASELINE = PROJECT_ROOT / "tests" / "tiny" / "baseline" / "metrics"
RULES = PROJECT_ROOT / "tests" / "tiny" / "metrics_rules.yaml"


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    return make_project(tmp_path_factory.mktemp("project") / "tiny", PROFILE)


def metric(root: Path, name: str) -> float:
    """``metrics/x.json:a.b.c`` read from the project at ``root``."""
    path, key = name.split(":")
    value = json.loads((root / path).read_text())
    for part in key.split("."):
        value = value[part]
    return value


def gate(project: Path, baseline: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "fraclab"), "check-metrics", "--baseline", baseline,
                           "--rules", str(RULES), "--show", "changed"],
                          cwd=project, capture_output=True, text=True, check=False)


def test_repro_runs_every_stage_learns_and_is_deterministic(project):
    log = run(["dvc", "repro"], project)
    if available_cores() >= 2:  # the default: 1-thread folds, side by side
        assert "(local executor)" in log, log
    for name, floor in PROFILE["floors"].items():
        assert metric(project, name) >= floor, (name, metric(project, name))
    scores = json.loads((project / f"metrics/classify/{BACKBONE}.json").read_text())
    assert scores["threads"] >= 1
    metrics = json.loads((project / "metrics" / "data.json").read_text())
    meta = (project / "data" / "meta.csv").read_text().splitlines()[1:]
    assert metrics["images"] == len(meta)
    assert metrics["groups"] == len({line.split(",")[2] for line in meta})  # patient ids
    assert metrics["groups_spanning_splits"] == 0
    calibrated = json.loads((project / f"metrics/calibrate/{BACKBONE}.json").read_text())
    assert calibrated["fold_models"] == 3 and calibrated["temperature"]["min"] > 0
    assert 0 <= calibrated["oof_pooled"]["after"]["ece"] <= 1
    located = json.loads((project / "metrics/detect/n.json").read_text())
    assert located["training"]["epochs_trained"] == 8
    assert not list((project / "artifacts/prepared").rglob("*.cache"))
    # Where the classifier looks: nearer the fractures than a random map, every score
    # recomputable from the per-image file, and maps that change with the model.
    explained = json.loads((project / f"metrics/explain/{BACKBONE}.json").read_text())
    looks = explained["scores"]
    assert looks["gradcam"]["pointing"]["value"] > looks["random"]["pointing"]["value"]
    assert explained["sanity"]["passed"], explained["sanity"]
    with (project / f"artifacts/explain/{BACKBONE}/scores.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    for name in ("gradcam_pointing", "detector_iou", "centre_energy"):
        value = looks[name.split("_")[0]][name.split("_")[1]]["value"]
        assert statistics.fmean(float(r[name]) for r in rows) == pytest.approx(value), name
    # ... and each image's Grad-CAM score from the raw map the stage saved.
    from fraclab.artifacts.manifest import read_manifest
    from fraclab.evaluate.saliency import energy_in_boxes
    from fraclab.models.gradcam import from_letterbox

    maps = np.load(project / f"artifacts/explain/{BACKBONE}/maps.npy")
    with (project / f"artifacts/explain/{BACKBONE}/maps.csv").open() as handle:
        row_of = {r["image_id"]: int(r["row"]) for r in csv.DictReader(handle)}
    images = {i.image_id: i for i in read_manifest(project / "artifacts/prepared/manifest.csv")}
    for r in rows[:20]:
        image = images[r["image_id"]]
        saliency = from_letterbox(maps[row_of[image.image_id]].astype(np.float64),
                                  image.width, image.height)
        assert energy_in_boxes(saliency, image.boxes) == pytest.approx(
            float(r["gradcam_energy"]), abs=1e-4)
    operating = json.loads((project / f"metrics/threshold/{BACKBONE}.json").read_text())
    assert 0 < operating["youden"]["test"]["sensitivity"]["value"] <= 1
    # Every declared plot renders: `dvc plots show` finds the files and the fields.
    plots = json.loads(run(["dvc", "plots", "show", "--json"], project))
    assert not plots.get("errors"), plots.get("errors")
    for name in (f"calibrate/{BACKBONE}/reliability/oof_after.csv",
                 f"threshold/{BACKBONE}/curves/f1.csv",
                 f"threshold/{BACKBONE}/operating_points.csv",
                 "detect/n/val_map.csv", "detect/n/ap50_per_class.csv", "detect/n/pr_test.csv",
                 "report/roc_oof.csv", "report/threshold_f1.csv", "report/classify_val_loss.csv",
                 "report/detect_ap50.csv", "report/detect_samples.png",
                 f"explain/{BACKBONE}/sanity.csv"):
        assert plots["data"][f"plots/{name}"], name
    summary = json.loads((project / "metrics/summary.json").read_text())
    assert summary["best_backbone"] == BACKBONE
    assert summary["test_auroc"]["value"] == scores["test_ensemble"]["auroc"]["value"]
    assert summary["best_yolo_size"] == "n"
    assert browser.static_problems((project / "report/index.html").read_text()) == []
    # Same machine, same params: the same bytes. Training's own determinism is tested in
    # test_classify and test_detect; here every stage that does not train is rerun.
    rerun = {"prepare": ("metrics/data.json", "artifacts/prepared/manifest.csv",
                         "artifacts/prepared/images.npy"),
             f"calibrate@{BACKBONE}": (f"artifacts/calibrate/{BACKBONE}/test.csv",
                                      f"metrics/calibrate/{BACKBONE}.json"),
             f"threshold@{BACKBONE}": (f"metrics/threshold/{BACKBONE}.json",),
             f"explain@{BACKBONE}": (f"metrics/explain/{BACKBONE}.json",
                                    f"artifacts/explain/{BACKBONE}/scores.csv"),
             "report": ("metrics/summary.json", "plots/report/roc_oof.csv"),
             "bundle": ("model/model.json", "model/MODEL_CARD.md")}
    first = {p: (project / p).read_bytes() for paths in rerun.values() for p in paths}
    assert "didn't change" in run(["dvc", "repro"], project)
    run(["dvc", "repro", "--force", "--single-item", *rerun], project)
    strip = re.compile(rb'"(wall_seconds|train_images_per_second|train_seconds)": [0-9.]+')
    for name, before in first.items():
        assert strip.sub(b"", before) == strip.sub(b"", (project / name).read_bytes()), name
    assert "didn't change" in run(["dvc", "repro"], project)
    run(["git", "add", "-A"], project)
    run(["git", "commit", "-qm", "seed 0"], project)
    if os.environ.get("FRACLAB_UPDATE_TINY_BASELINE"):
        shutil.rmtree(BASELINE, ignore_errors=True)
        shutil.copytree(project / "metrics", BASELINE)
    # The committed baseline as a revision of its own, beside the run's.
    run(["git", "checkout", "-q", "-b", "committed-baseline"], project)
    shutil.rmtree(project / "metrics")
    shutil.copytree(BASELINE, project / "metrics")
    run(["git", "add", "-A", "metrics"], project)
    run(["git", "commit", "-qm", "committed tiny baseline", "--allow-empty"], project)
    run(["git", "checkout", "-q", "-"], project)
    run(["dvc", "checkout", "-q", "-f"], project)


def _predict(project: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([str(BIN / "fraclab"), "predict", *args, "--quiet"], cwd=project,
                          capture_output=True, text=True, check=False)


def test_predict_reproduces_the_study_test_ensemble_and_ultralytics_boxes(project, tmp_path):
    """The bundle applied to the test split's original files gives the calibrated test
    ensemble the study reports, and the detector's boxes are Ultralytics' own."""
    import csv

    import numpy as np

    manifest = json.loads((project / "model" / "model.json").read_text())
    assert manifest["classifier"]["backbone"] == BACKBONE and manifest["detector"]["size"] == "n"
    card = (project / "model" / "MODEL_CARD.md").read_text()
    assert "Not a medical device" in card and "## Limitations" in card
    out = tmp_path / "pred"
    result = _predict(project, "data/test/images", "--model", "model", "--out", str(out))
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader((out / "predictions.csv").open()))
    ensemble = {r["image_id"]: float(r["prob"]) for r in csv.DictReader(
        (project / f"artifacts/calibrate/{BACKBONE}/test_ensemble.csv").open())}
    assert len(rows) == len(ensemble)
    for row in rows:
        image_id = row["source"].removeprefix("data/")
        assert float(row["probability"]) == pytest.approx(ensemble[image_id], abs=1e-6)
    for name in ("predictions.jsonl", "run.json", "index.html"):
        assert (out / name).is_file(), name
    assert browser.static_problems((out / "index.html").read_text()) == []
    assert len(list((out / "overlays").glob("*.png"))) == len(rows)
    # Boxes: Ultralytics' own predict with the stage's best.pt on the same decoded image.
    from fraclab.data.images import full_resolution_gray
    from fraclab.models import offline
    from fraclab.predict import Predictor

    offline.configure()  # the settings this process already uses, if any
    from ultralytics import YOLO

    detail = [json.loads(line) for line in (out / "predictions.jsonl").open()]
    with_boxes = [d for d in detail if d["boxes"]][:5]
    assert with_boxes, "the tiny detector found no box on any test image"
    reference = YOLO(str(project / "artifacts/detect/n/best.pt"))
    for d in with_boxes:
        gray = np.asarray(full_resolution_gray(project / d["source"]))
        [own] = reference.predict(np.repeat(gray[:, :, None], 3, axis=2), verbose=False,
                                  imgsz=manifest["detector"]["imgsz"],
                                  conf=manifest["detector"]["conf"])
        np.testing.assert_allclose([[b["x1"], b["y1"], b["x2"], b["y2"]] for b in d["boxes"]],
                                   own.boxes.xyxy.tolist(), atol=1e-3)
        assert [b["confidence"] for b in d["boxes"]] == pytest.approx(own.boxes.conf.tolist(),
                                                                     abs=1e-5)
    # The Python API gives the same numbers.
    first = next(Predictor.load(project / "model").predict([project / rows[0]["source"]]))
    # (one image alone is another batch than 32: float rounding, nothing more)
    assert first.probability == pytest.approx(float(rows[0]["probability"]), abs=1e-6)


def test_predict_explain_gives_the_maps_the_explain_stage_scored(project, tmp_path):
    """`predict --explain` on the study's test images: the same ensemble Grad-CAM that the
    explain stage scored against the boxes (same models, layer, decoding and mapping)."""
    from fraclab.artifacts.manifest import read_manifest
    from fraclab.evaluate.saliency import energy_in_boxes, pointing_hit
    from fraclab.predict import Predictor

    explained = json.loads((project / f"metrics/explain/{BACKBONE}.json").read_text())
    with (project / f"artifacts/explain/{BACKBONE}/scores.csv").open() as handle:
        scored = {r["image_id"]: r for r in csv.DictReader(handle)}
    images = [i for i in read_manifest(project / "artifacts/prepared/manifest.csv")
              if i.image_id in scored][:12]
    predictor = Predictor.load(project / "model")
    predictions = predictor.predict([project / i.source_path for i in images], explain=True)
    for image, prediction in zip(images, predictions, strict=True):
        assert prediction.saliency.shape == (image.height, image.width)
        row = scored[image.image_id]
        assert pointing_hit(prediction.saliency, image.boxes, explained["tolerance_px"]) == \
            float(row["gradcam_pointing"]), image.image_id
        assert energy_in_boxes(prediction.saliency, image.boxes) == pytest.approx(
            float(row["gradcam_energy"]), abs=1e-6)
    out = tmp_path / "explained"
    result = _predict(project, *(i.source_path for i in images[:3]), "--model", "model",
                      "--out", str(out), "--explain")
    assert result.returncode == 0, result.stderr
    assert len(list((out / "explain").glob("*.png"))) == 3
    detail = [json.loads(line) for line in (out / "predictions.jsonl").open()]
    assert all(len(d["saliency_peak"]) == 2 for d in detail)


def test_predict_same_radiograph_in_every_encoding(project, tmp_path):
    """8-bit PNG, 16-bit PNG, RGB, DICOM (MONOCHROME2, and MONOCHROME1 inverted) decode to
    the same 8-bit pixels, so the same probability; JPEG is lossy: close, not equal."""
    import numpy as np
    from format_fixtures import write_dicom
    from PIL import Image

    from fraclab.predict import Predictor

    source = sorted((project / "data/test/images").glob("*.png"))[0]
    gray = np.asarray(Image.open(source).convert("L"))
    stretched = gray.astype(np.float64)  # min-max scaling of 16-bit data: keep 0 and 255
    gray = np.round((stretched - stretched.min()) * 255 / (stretched.max() - stretched.min()))
    gray = gray.astype(np.uint8)
    files = {"png8": tmp_path / "a.png", "png16": tmp_path / "b.png",
             "rgb": tmp_path / "c.png", "jpeg": tmp_path / "d.jpg"}
    Image.fromarray(gray).save(files["png8"])
    Image.fromarray(gray.astype(np.uint16) * 257).save(files["png16"])
    Image.fromarray(np.repeat(gray[:, :, None], 3, axis=2)).save(files["rgb"])
    Image.fromarray(gray).save(files["jpeg"], quality=95)
    files["dicom2"] = write_dicom(tmp_path / "e.dcm", gray.astype(np.uint16), bits_stored=8,
                                  spacing=None)
    files["dicom1"] = write_dicom(tmp_path / "f", (255 - gray).astype(np.uint16),
                                  photometric="MONOCHROME1", bits_stored=8, spacing=None)
    predictor = Predictor.load(project / "model")
    got = {name: p for name, p in zip(files, predictor.predict(files.values()), strict=True)}
    assert all(p.status == "ok" for p in got.values()), got
    reference = got["png8"].probability
    for name in ("png16", "rgb", "dicom2", "dicom1"):
        assert got[name].probability == pytest.approx(reference, abs=1e-6), name
    assert got["jpeg"].probability == pytest.approx(reference, abs=0.05)


def test_predict_bad_inputs_and_damaged_bundle(project, tmp_path):
    import csv
    import socket

    model = tmp_path / "elsewhere" / "model"
    shutil.copytree(project / "model", model)
    good = sorted((project / "data/test/images").glob("*.png"))[0]
    (tmp_path / "in").mkdir()
    shutil.copy(good, tmp_path / "in" / "good.png")
    (tmp_path / "in" / "notes.png").write_text("not a radiograph")
    (tmp_path / "in" / "empty.jpg").write_bytes(b"")
    result = _predict(tmp_path, "in", str(tmp_path / "missing.png"), "--model", str(model),
                      "--out", "out")
    assert result.returncode == 1, result.stderr
    rows = {Path(r["source"]).name: r for r in csv.DictReader(
        (tmp_path / "out" / "predictions.csv").open())}
    assert rows["good.png"]["status"] == "ok"
    for name in ("notes.png", "empty.jpg", "missing.png"):
        assert rows[name]["status"] == "error" and rows[name]["error"], name
    # Usage errors: exit 2, one line, no traceback.
    for args, message in ((["--model", str(model)], "no inputs"),
                          ([str(good), "--model", str(tmp_path)], "not a fraclab model bundle"),
                          ([str(good), "--model", str(model), "--operating-point", "x"],
                           "unknown operating point")):
        result = _predict(tmp_path, *args, "--out", "o2")
        assert result.returncode == 2 and message in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    # Outside the repository, with every socket connection refused: it still predicts.
    from fraclab.predict import Predictor

    def refuse(*_args, **_kwargs):
        raise OSError("network disabled in this test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        patch.chdir(tmp_path)
        [p] = list(Predictor.load(model).predict([good]))
    assert p.status == "ok" and 0 <= p.probability <= 1
    # One byte of a weight file changed: refused, naming the file.
    weights = model / "classifier" / "r0_f0.pt"
    data = bytearray(weights.read_bytes())
    data[len(data) // 2] ^= 0xFF
    weights.write_bytes(bytes(data))
    result = _predict(tmp_path, str(good), "--model", str(model), "--out", "o3")
    assert result.returncode == 2 and "r0_f0.pt: damaged" in result.stderr, result.stderr


def _external_sets(project: Path, root: Path) -> dict[str, dict]:
    """Two external datasets: synthetic radiographs of other patients from another seed on
    harder settings (a shift, with boxes); and a byte copy of 40 of the study's test images
    as class folders (a leak, without boxes)."""
    shifted = root / "shifted"
    run(["fraclab", "synth", "--out", str(shifted), "--seed", "5", "--n-patients", "60",
         "--size", "64", "--difficulty", "0.6"], project)
    copy = root / "copy"
    for image in sorted((project / "data/test/images").iterdir())[:40]:
        boxed = (project / "data/test/labels" / f"{image.stem}.txt").read_text().strip()
        folder = copy / ("fractured" if boxed else "normal")
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copy(image, folder / image.name)
    return {"shifted": {"path": str(shifted), "recalibrate": True, "n_boot": 100},
            "copy": {"path": str(copy), "format": "classfolders", "n_boot": 100}}


def test_external_validation_shift_leak_and_no_boxes(project, tmp_path):
    """The bundle on shifted data and on a box-less copy of test images: lower
    discrimination under the shift, every number recomputable from the predictions file, the
    copy flagged as leaked and scored without detection, all in the report; the bundle is not
    touched; a damaged image is a clear error."""
    import yaml
    from scipy.optimize import minimize
    from scipy.special import expit, logit
    from sklearn.metrics import average_precision_score, brier_score_loss, roc_auc_score

    bundle_before = (project / "model/model.json").read_bytes()
    params = yaml.safe_load((project / "params.yaml").read_text())
    params["external"] = _external_sets(project, tmp_path)
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    log = run(["dvc", "repro"], project)
    assert "Running stage 'bundle'" not in log and "'external@copy'" in log, log
    assert (project / "model/model.json").read_bytes() == bundle_before
    shifted = json.loads((project / "metrics/external/shifted.json").read_text())
    internal, external = shifted["internal"], shifted["external"]
    assert external["auroc"]["value"] < internal["auroc"]["value"] - 0.05, (internal, external)
    calibrated = json.loads((project / f"metrics/calibrate/{BACKBONE}.json").read_text())
    assert internal["auroc"]["value"] == pytest.approx(
        calibrated["test_ensemble"]["after"]["auroc"])
    assert shifted["leakage"]["images"] == 0 and shifted["recalibrated"]["scored_on"] > 0
    assert shifted["detection"]["status"] == "ran"
    # Every number from the per-image file, recomputed independently.
    with (project / "artifacts/external/shifted/predictions.csv").open() as handle:
        rows = list(csv.DictReader(handle))
    y = np.array([int(r["label"]) for r in rows])
    p = np.array([float(r["prob"]) for r in rows])
    folds = [k for k in rows[0] if k.startswith("prob_r")]
    assert np.allclose(p, [np.mean([float(r[k]) for k in folds]) for r in rows])
    assert external["auroc"]["value"] == pytest.approx(roc_auc_score(y, p))
    assert external["average_precision"]["value"] == pytest.approx(
        average_precision_score(y, p))
    assert external["brier"]["value"] == pytest.approx(brier_score_loss(y, p))
    assert external["mean_minus_prevalence"] == pytest.approx(p.mean() - y.mean())
    z = logit(np.clip(p, 1e-12, 1 - 1e-12))

    def nll(ab: np.ndarray) -> float:
        q = np.clip(expit(ab[0] + ab[1] * z), 1e-15, 1 - 1e-15)
        return -np.mean(y * np.log(q) + (1 - y) * np.log(1 - q))

    a, b = minimize(nll, [0.0, 1.0], method="Nelder-Mead",
                    options={"xatol": 1e-9, "fatol": 1e-12, "maxiter": 20000}).x
    assert external["calibration_slope"]["value"] == pytest.approx(b, abs=1e-3)
    assert external["calibration_intercept"]["value"] == pytest.approx(a, abs=1e-3)
    for name, point in external["operating_points"].items():
        decided = np.array([int(r[f"decision_{name}"]) for r in rows])
        assert (decided == (p >= point["threshold"])).all(), name
        assert point["sensitivity"]["value"] == pytest.approx(decided[y == 1].mean())
        assert point["specificity"]["value"] == pytest.approx(1 - decided[y == 0].mean())
    # The copy of test images: every one leaked, exactly, from test; class folders have no
    # boxes, so classification only, saying why.
    copy = json.loads((project / "metrics/external/copy.json").read_text())
    assert copy["leakage"] == {**copy["leakage"], "images": 40, "exact": 40,
                               "by_study_split": {"test": 40}}
    assert copy["external_without_leaked"] is None
    assert copy["detection"]["status"] == "skipped"
    assert "no boxes" in copy["detection"]["reason"]
    summary = json.loads((project / "metrics/summary.json").read_text())
    assert "external_copy" in summary["cannot_conclude"]
    report = (project / "report/report.md").read_text()
    section = report[report.index("External validation"):report.index("Limitations")]
    for text in ("shifted: discrimination and calibration", "copy: discrimination",
                 "40 copies of study images", "Localisation was not scored"):
        assert text in section, text
    limits = report[report.index("## 8. Limitations"):]
    assert "40 images of copy are copies of the study's own images" in limits
    assert "No external validation" not in limits
    assert browser.static_problems((project / "report/index.html").read_text()) == []
    plots = json.loads(run(["dvc", "plots", "show", "--json"], project))
    assert plots["data"]["plots/external/shifted/roc.csv"]
    # A damaged image: prepare's clear error, naming the file; nothing written.
    broken = tmp_path / "broken"
    shutil.copytree(tmp_path / "copy", broken)
    damaged = next((broken / "fractured").iterdir())
    damaged.write_bytes(damaged.read_bytes()[:60])
    params["external"] = {"broken": {"path": str(broken), "format": "classfolders"}}
    (project / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    failed = subprocess.run([str(BIN / "fraclab"), "external", "--name", "broken"],
                            cwd=project, capture_output=True, text=True, check=False)
    assert failed.returncode == 1 and damaged.name in failed.stderr, failed.stderr
    assert not (project / "metrics/external/broken.json").exists()
    assert not (project / "artifacts/external/broken").exists()
    # Back to the study as committed, for the tests after this one.
    run(["git", "checkout", "-q", "--", "."], project)
    run(["git", "clean", "-fdq", "metrics", "plots"], project)
    shutil.rmtree(project / "artifacts/external")
    run(["dvc", "checkout", "-q", "-f"], project)
    assert "didn't change" in run(["dvc", "repro"], project)


def test_other_rounding_and_another_seed_pass_the_gate(project):
    """2 torch threads instead of the default 1 round the classifier's float sums
    differently, as another CPU does; with another seed too, the run is training noise and
    the gate must pass. With 2 threads a fold fills these 2 cores, so the folds run one after
    another (the auto executor's choice). Only the classifier's stages rerun (the gate reads
    every metrics file, so the detector's and the report's are this machine's seed-0 ones
    against the committed baseline: another machine's rounding); the detector's seed noise
    is measured by benchmarks/noise.py, which set the tolerances."""
    log = run(["dvc", "exp", "run", "-n", "other-rounding", "-S", "seed=1",
               "-S", "classify.threads=2", f"threshold@{BACKBONE}"], project)
    assert "Running stage 'detect@n'" not in log, log
    assert "(serial executor)" in log, log
    assert json.loads((project / f"metrics/classify/{BACKBONE}.json").read_text())[
        "threads"] == 2
    for name, floor in PROFILE["floors"].items():
        assert metric(project, name) >= floor, (name, metric(project, name))
    result = gate(project, "committed-baseline")
    assert result.returncode == 0 and "**Regression gate: passed**" in result.stdout, (
        result.stdout + result.stderr)
    # The experiment is a DVC experiment like any other: shown, diffed.
    shown = run(["dvc", "exp", "show", "--csv"], project)
    assert "other-rounding" in shown and "classify.threads" in shown
    for column in ("temperature.mean", "oof_pooled.after.ece", "youden.test.threshold",
                   "best_backbone", "test_map50_95"):
        assert column in shown, column
    diff = json.loads(run(["dvc", "metrics", "diff", "--json"], project))
    assert diff[f"metrics/classify/{BACKBONE}.json"]["seed"] == {"old": 0, "new": 1, "diff": 1}


def test_a_real_regression_fails_the_gate(project):
    """A classifier that cannot learn (learning rate 0; one epoch, as more would change
    nothing) must fail, and not by a hair. Only its stage runs: the gate reads its metrics."""
    run(["git", "reset", "-q", "--hard"], project)
    run(["dvc", "checkout", "-q", "-f"], project)
    run(["dvc", "exp", "run", "-n", "frozen", "-S", "classify.lr=0", "-S", "classify.epochs=1",
         f"classify-cv@{BACKBONE}"], project)
    name = f"metrics/classify/{BACKBONE}.json:oof_pooled.auroc.value"
    assert metric(project, name) < PROFILE["floors"][name]
    result = gate(project, "committed-baseline")
    assert result.returncode == 1 and "FAIL: worse" in result.stdout, result.stdout
    assert f"metrics/classify/{BACKBONE}.json:oof_pooled.auroc.value" in result.stdout
