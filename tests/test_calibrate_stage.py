"""The calibrate and threshold stages on synthetic classify-cv files: every number in their
metrics files recomputed from the saved prediction files with scikit-learn; outer-fold
labels never move a temperature or a threshold; bad files give errors that name them."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from sklearn.calibration import calibration_curve
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import (
    accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    log_loss,
    precision_score,
    recall_score,
    roc_auc_score,
    roc_curve,
)

from fraclab.artifacts.predictions import PredictionFileError
from fraclab.calibrate.stage import run_calibrate
from fraclab.cli import main
from fraclab.evaluate.thresholds import choose_threshold
from fraclab.params import CalibrateParams, ThresholdParams
from fraclab.report.compare import compare_backbones
from fraclab.threshold.stage import run_threshold

REPEATS, FOLDS = 2, 3
N_BINS = 8
THRESHOLDS = ThresholdParams(sens_target=0.8, spec_target=0.85, n_boot=200)


def _write_csv(path: Path, header: list[str], rows: list[list]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)


def make_classify_outputs(root: Path, backbone: str = "toynet", seed: int = 0,
                          scale: float = 1.0) -> Path:
    """A manifest and classify-cv files like the real stage writes (logits to 9 digits).

    80 development patients and 20 test patients with two images each; per repeat, patients
    go to 3 outer folds, and about a third of each training part is inner validation. Each fold
    model has its own overconfidence (logit = informative score times a fold factor).
    """
    rng = np.random.default_rng(seed)
    patients = [f"P{k:03d}" for k in range(100)]
    ids, groups, labels, split = [], [], [], []
    for k, patient in enumerate(patients):
        for view in ("ap", "lat"):
            ids.append(f"{'test' if k >= 80 else 'train'}/images/{patient}_{view}.png")
            groups.append(patient)
            labels.append(int(rng.random() < 0.4))
            split.append("test" if k >= 80 else "train")
    labels = np.array(labels)
    signal = 0.75 * (2 * labels - 1) + rng.normal(0, 1.5, labels.size)
    _write_csv(root / "prepared" / "manifest.csv", ["index", "image_id", "split", "group",
                                                    "label"],
               [[i, ids[i], split[i], groups[i], labels[i]] for i in range(len(ids))])
    dev = [i for i in range(len(ids)) if split[i] == "train"]
    test = [i for i in range(len(ids)) if split[i] == "test"]
    oof, inner, test_rows = [], [], []
    for repeat in range(REPEATS):
        fold_of = dict(zip(patients[:80], rng.permutation(np.arange(80) % FOLDS), strict=True))
        val_of = dict(zip(patients[:80], rng.random(80) < 0.35, strict=True))
        for fold in range(FOLDS):
            factor = scale * (1.0 + fold + repeat)  # fold models with T of 1, 2, 3 ...
            logit = factor * signal + rng.normal(0, 0.3, labels.size)
            for i in dev:
                row = [ids[i], repeat, fold, labels[i], f"{logit[i]:.9g}"]
                if fold_of[groups[i]] == fold:
                    oof.append(row)
                elif val_of[groups[i]]:
                    inner.append(row)
            test_rows += [[ids[i], repeat, fold, f"{logit[i]:.9g}"] for i in test]
    out = root / "classify" / backbone
    header = ["image_id", "repeat", "fold", "label", "logit"]
    _write_csv(out / "oof.csv", header, oof)
    _write_csv(out / "inner_val.csv", header, inner)
    _write_csv(out / "test.csv", ["image_id", "repeat", "fold", "logit"], test_rows)
    return root


def run_both(root: Path, backbone: str = "toynet", method: str = "temperature",
             binning: str = "uniform") -> tuple[dict, dict]:
    calibrate = run_calibrate(backbone, CalibrateParams(method=method, n_bins=N_BINS,
                                                        binning=binning),
                              root / "classify" / backbone, root / "prepared" / "manifest.csv",
                              root / "calibrate" / backbone, root / "metrics_c.json",
                              root / "plots_c", log=lambda _: None)
    threshold = run_threshold(backbone, THRESHOLDS, 0, root / "calibrate" / backbone,
                              root / "prepared" / "manifest.csv", root / "metrics_t.json",
                              root / "plots_t", log=lambda _: None)
    return calibrate, threshold


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    root = make_classify_outputs(tmp_path_factory.mktemp("stage"))
    run_both(root)
    return root


def read(path: Path) -> dict[str, np.ndarray]:
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: np.array([r[key] for r in rows]) for key in rows[0]}


def manifest_lookup(root: Path, ids: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    manifest = read(root / "prepared" / "manifest.csv")
    label = dict(zip(manifest["image_id"], manifest["label"].astype(int), strict=True))
    group = dict(zip(manifest["image_id"], manifest["group"], strict=True))
    return np.array([label[i] for i in ids]), np.array([group[i] for i in ids])


def sklearn_ece(y: np.ndarray, p: np.ndarray, n_bins: int) -> float:
    """ECE from scikit-learn's calibration_curve (uniform bins) and bin counts."""
    edges = np.linspace(0, 1, n_bins + 1)
    assert not np.isin(p, edges[1:-1]).any()  # bin conventions differ only on an edge
    prob_true, prob_pred = calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    counts = np.histogram(p, bins=edges)[0]
    counts = counts[counts > 0]
    return float(np.sum(counts * np.abs(prob_true - prob_pred)) / counts.sum())


def sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def test_calibrate_metrics_are_recomputable_from_the_saved_files(project):
    metrics = json.loads((project / "metrics_c.json").read_text())
    out = project / "calibrate" / "toynet"
    inner, oof, test = (read(out / f"{n}.csv") for n in ("inner_val", "oof", "test"))
    # T and intercept per fold model: an unpenalised logistic regression with intercept on
    # the inner-validation logits has slope 1 / T; each saved probability is
    # sigmoid(logit / T + intercept).
    temperatures = []
    for key, t in metrics["temperature"]["per_fold"].items():
        repeat, fold = key[1:].split("_f")
        b = metrics["intercept"]["per_fold"][key]
        for table in (inner, oof, test):
            rows = (table["repeat"] == repeat) & (table["fold"] == fold)
            np.testing.assert_allclose(table["prob"][rows].astype(float),
                                       sigmoid(table["logit"][rows].astype(float) / t + b),
                                       rtol=1e-12)
        rows = (inner["repeat"] == repeat) & (inner["fold"] == fold)
        model = LogisticRegression(C=np.inf, tol=1e-12, max_iter=1000)
        model.fit(inner["logit"][rows].astype(float)[:, None], inner["label"][rows].astype(int))
        assert t == pytest.approx(1 / model.coef_[0, 0], rel=1e-5)
        assert b == pytest.approx(model.intercept_[0], abs=1e-5)
        temperatures.append(t)
    assert metrics["fold_models"] == len(temperatures) == REPEATS * FOLDS
    assert metrics["temperature"]["mean"] == pytest.approx(np.mean(temperatures), rel=1e-12)
    assert metrics["temperature"]["sd"] == pytest.approx(np.std(temperatures, ddof=1), rel=1e-9)

    ids, position = np.unique(test["image_id"], return_inverse=True)
    test_y, _ = manifest_lookup(project, ids)
    sets = {
        "oof_pooled": (oof["label"].astype(int), sigmoid(oof["logit"].astype(float)),
                       oof["prob"].astype(float)),
        "test_ensemble": (test_y,
                          np.bincount(position, sigmoid(test["logit"].astype(float)))
                          / np.bincount(position),
                          np.bincount(position, test["prob"].astype(float))
                          / np.bincount(position)),
    }
    ensemble = read(out / "test_ensemble.csv")
    np.testing.assert_array_equal(ensemble["image_id"], ids)
    np.testing.assert_allclose(ensemble["prob"].astype(float), sets["test_ensemble"][2],
                               rtol=1e-14)
    for name, (y, before, after) in sets.items():
        for when, p in (("before", before), ("after", after)):
            expected = {"auroc": roc_auc_score(y, p), "brier": brier_score_loss(y, p),
                        "ece": sklearn_ece(y, p, N_BINS), "log_loss": log_loss(y, p),
                        "mean_minus_prevalence": p.mean() - y.mean()}
            assert metrics[name][when] == pytest.approx(expected, rel=1e-9, abs=1e-12), \
                (name, when)
    assert metrics["oof_pooled"]["after"]["ece"] < metrics["oof_pooled"]["before"]["ece"]

    reliability = read(project / "plots_c" / "reliability" / "oof_after.csv")
    assert reliability["count"].astype(int).sum() == len(oof["prob"])
    assert (project / "plots_c" / "reliability.png").read_bytes()[:4] == b"\x89PNG"


def test_each_fold_model_alone_on_test_is_recomputable(project):
    metrics = json.loads((project / "metrics_c.json").read_text())["test_fold_models"]
    test = read(project / "calibrate" / "toynet" / "test.csv")
    aurocs, briers = [], []
    for repeat in range(REPEATS):
        for fold in range(FOLDS):
            rows = (test["repeat"] == str(repeat)) & (test["fold"] == str(fold))
            y, _ = manifest_lookup(project, test["image_id"][rows])
            p = sigmoid(test["logit"][rows].astype(float))
            aurocs.append(roc_auc_score(y, p))
            briers.append(brier_score_loss(y, p))
    assert metrics["auroc"]["n"] == REPEATS * FOLDS
    assert metrics["auroc"]["mean"] == pytest.approx(np.mean(aurocs), rel=1e-12)
    assert metrics["auroc"]["sd"] == pytest.approx(np.std(aurocs, ddof=1), rel=1e-9)
    assert metrics["brier"]["mean"] == pytest.approx(np.mean(briers), rel=1e-12)


def test_threshold_metrics_are_recomputable_from_the_saved_files(project):
    metrics = json.loads((project / "metrics_t.json").read_text())
    out = project / "calibrate" / "toynet"
    inner, oof, test = (read(out / f"{n}.csv") for n in ("inner_val", "oof", "test"))
    assert [k for k in metrics if k not in ("backbone", "seed", "ensemble_rule")] == \
        ["youden", "f1", "sens80", "spec85", "fixed50"]
    assert metrics["ensemble_rule"]["members"] == REPEATS * FOLDS

    def sk_point(y: np.ndarray, p: np.ndarray, t: float) -> dict[str, float]:
        pred = (p >= t).astype(int)
        tn, fp, _, _ = confusion_matrix(y, pred, labels=[0, 1]).ravel()
        return {"sensitivity": recall_score(y, pred), "specificity": tn / (tn + fp),
                "precision": precision_score(y, pred, zero_division=0),
                "f1": f1_score(y, pred, zero_division=0), "accuracy": accuracy_score(y, pred)}

    ids, position = np.unique(test["image_id"], return_inverse=True)
    test_y, test_groups = manifest_lookup(project, ids)
    test_p = np.bincount(position, test["prob"].astype(float)) / np.bincount(position)
    # The development images' out-of-fold probabilities, one column per repeat, and the
    # pseudo-ensemble written out from its definition (fraclab.evaluate.thresholds).
    dev_ids = np.unique(oof["image_id"])
    dev_y, dev_groups = manifest_lookup(project, dev_ids)
    dev_p = np.array([[float(oof["prob"][(oof["image_id"] == i) & (oof["repeat"] == str(r))][0])
                       for r in range(REPEATS)] for i in dev_ids])

    def pseudo(rows: np.ndarray) -> np.ndarray:
        y, p = dev_y[rows], dev_p[rows]
        out = p.mean(axis=1)
        for c in (0, 1):
            m = out[y == c]
            s2 = p[y == c].var(axis=1, ddof=1).mean()
            v = m.var(ddof=1)
            out[y == c] = m.mean() + np.sqrt((v - s2 / REPEATS + s2 / 6) / v) * (m - m.mean())
        return np.clip(out, 0, 1)

    def by_sklearn(y: np.ndarray, p: np.ndarray, label: str) -> float:
        """The threshold each criterion picks, from scikit-learn's curves."""
        if label == "fixed50":
            return 0.5
        candidates = np.unique(p)[::-1]
        points = [sk_point(y, p, t) for t in candidates]
        if label == "sens80":
            return float(candidates[[q["sensitivity"] >= 0.8 for q in points].index(True)])
        if label == "spec85":
            ok = [q["specificity"] >= 0.85 for q in points]
            return float(candidates[len(ok) - 1 - ok[::-1].index(True)])
        key = (lambda q: q["sensitivity"] + q["specificity"]) if label == "youden" else \
            (lambda q: q["f1"])
        best = max(key(q) for q in points)
        return float(candidates[[abs(key(q) - best) < 1e-12 for q in points].index(True)])

    for label, entry in metrics.items():
        if label in ("backbone", "seed", "ensemble_rule"):
            continue
        per_fold = entry["threshold"]["per_fold"]
        values: dict[str, list[float]] = {}
        single: dict[str, list[float]] = {}
        for key, t in per_fold.items():
            repeat, fold = key[1:].split("_f")
            rows = (inner["repeat"] == repeat) & (inner["fold"] == fold)
            y_in, p_in = inner["label"][rows].astype(int), inner["prob"][rows].astype(float)
            fpr, tpr, _ = roc_curve(y_in, p_in, drop_intermediate=False)
            point_in = sk_point(y_in, p_in, t)
            if label == "youden":  # the chosen threshold reaches the best J of the ROC curve
                j = point_in["sensitivity"] + point_in["specificity"] - 1
                assert j == pytest.approx(np.max(tpr - fpr), abs=1e-12)
            elif label == "sens80":
                assert point_in["sensitivity"] >= 0.8
                higher = p_in[p_in > t]
                assert higher.size == 0 or sk_point(y_in, p_in, higher.min())["sensitivity"] < 0.8
            elif label == "spec85":
                assert point_in["specificity"] >= 0.85
                lower = p_in[p_in < t]
                assert lower.size == 0 or sk_point(y_in, p_in, lower.max())["specificity"] < 0.85
            elif label == "fixed50":
                assert t == 0.5
            rows = (oof["repeat"] == repeat) & (oof["fold"] == fold)
            point = sk_point(oof["label"][rows].astype(int), oof["prob"][rows].astype(float), t)
            for name, value in point.items():
                values.setdefault(name, []).append(value)
            rows = (test["repeat"] == repeat) & (test["fold"] == fold)
            y_test, _ = manifest_lookup(project, test["image_id"][rows])
            point = sk_point(y_test, test["prob"][rows].astype(float), t)
            for name, value in point.items():
                single.setdefault(name, []).append(value)
        thresholds = list(per_fold.values())
        assert entry["threshold"]["median"] == np.median(thresholds)
        # The ensemble rule's threshold: the criterion on the pseudo-ensemble of the
        # development images (never the test images).
        everything = np.arange(dev_ids.size)
        assert entry["test"]["threshold"] == pytest.approx(
            by_sklearn(dev_y, pseudo(everything), label), abs=1e-12)
        assert entry["threshold"]["sd"] == pytest.approx(np.std(thresholds, ddof=1), rel=1e-9)
        for name, vals in single.items():  # each fold model alone on test, as out of fold
            assert entry["test_fold_models"][name]["mean"] == pytest.approx(np.mean(vals),
                                                                            rel=1e-12)
        for name, vals in values.items():
            assert entry["oof"][name]["mean"] == pytest.approx(np.mean(vals), rel=1e-12)
            assert entry["oof"][name]["sd"] == pytest.approx(np.std(vals, ddof=1), rel=1e-9,
                                                             abs=1e-15)
        t = entry["test"]["threshold"]
        for name, value in sk_point(test_y, test_p, t).items():
            assert entry["test"][name]["value"] == pytest.approx(value, abs=1e-15)
        # The interval: the documented grouped resampling (fraclab.evaluate.bootstrap) of
        # the development set (seed + 1, the threshold refitted) and of the test set (seed)
        # redone here, with scikit-learn's recall on each resample.
        if label == "youden":
            def resamples(labels: np.ndarray, seed: int):
                groups, codes = np.unique(labels, return_inverse=True)
                members = [np.flatnonzero(codes == g) for g in range(groups.size)]
                rng = np.random.default_rng(seed)
                for _ in range(THRESHOLDS.n_boot):
                    yield np.concatenate([members[g] for g in rng.integers(0, groups.size,
                                                                          groups.size)])
            stats = []
            for dev_idx, idx in zip(resamples(dev_groups, 1), resamples(test_groups, 0),
                                    strict=True):
                if test_y[idx].min() < test_y[idx].max():
                    # the criterion itself is checked against scikit-learn above
                    t_b = choose_threshold(dev_y[dev_idx], pseudo(dev_idx), "youden")
                    stats.append(recall_score(test_y[idx], (test_p[idx] >= t_b).astype(int)))
            low, high = np.quantile(stats, [0.025, 0.975])
            assert entry["test"]["sensitivity"]["ci_low"] == pytest.approx(low, abs=1e-12)
            assert entry["test"]["sensitivity"]["ci_high"] == pytest.approx(high, abs=1e-12)

    curve = read(project / "plots_t" / "curves" / "sensitivity.csv")
    first = curve["threshold"].astype(float)[0]
    assert curve["sensitivity"].astype(float)[0] == recall_score(
        oof["label"].astype(int), (oof["prob"].astype(float) >= first).astype(int))
    table = read(project / "plots_t" / "operating_points.csv")
    assert table["criterion"].tolist() == ["youden", "f1", "sens80", "spec85", "fixed50"]


def test_outer_fold_labels_never_change_a_temperature_or_a_threshold(project, tmp_path):
    shutil.copytree(project / "prepared", tmp_path / "prepared")
    shutil.copytree(project / "classify", tmp_path / "classify")
    path = tmp_path / "classify" / "toynet" / "oof.csv"
    oof = read(path)
    flipped = oof["label"].astype(int)
    flipped[::3] = 1 - flipped[::3]  # a third of the outer-fold labels flipped
    _write_csv(path, list(oof), [[oof["image_id"][i], oof["repeat"][i], oof["fold"][i],
                                  flipped[i], oof["logit"][i]] for i in range(len(flipped))])
    calibrate, threshold = run_both(tmp_path)
    original_c = json.loads((project / "metrics_c.json").read_text())
    original_t = json.loads((project / "metrics_t.json").read_text())
    assert calibrate["temperature"] == original_c["temperature"]
    for label in ("youden", "f1", "sens80", "spec85", "fixed50"):
        assert threshold[label]["threshold"] == original_t[label]["threshold"]
    # ... while the scores that do use them changed, so the labels really did reach the run.
    assert calibrate["oof_pooled"]["after"] != original_c["oof_pooled"]["after"]
    assert threshold["youden"]["oof"] != original_t["youden"]["oof"]
    assert read(tmp_path / "calibrate" / "toynet" / "oof.csv")["prob"].tolist() == \
        read(project / "calibrate" / "toynet" / "oof.csv")["prob"].tolist()


def test_test_labels_never_change_a_test_threshold(project, tmp_path):
    shutil.copytree(project / "prepared", tmp_path / "prepared")
    shutil.copytree(project / "classify", tmp_path / "classify")
    path = tmp_path / "prepared" / "manifest.csv"
    manifest = read(path)
    label = manifest["label"].astype(int)
    test_rows = np.flatnonzero(manifest["split"] == "test")
    label[test_rows[::2]] = 1 - label[test_rows[::2]]
    _write_csv(path, list(manifest), [[*(manifest[c][i] for c in list(manifest)[:-1]),
                                       label[i]] for i in range(label.size)])
    _, threshold = run_both(tmp_path)
    original = json.loads((project / "metrics_t.json").read_text())
    for name in ("youden", "f1", "sens80", "spec85", "fixed50"):
        assert threshold[name]["test"]["threshold"] == original[name]["test"]["threshold"]
        assert threshold[name]["test"]["threshold_ci"] == original[name]["test"]["threshold_ci"]
    assert threshold["youden"]["test"]["sensitivity"] != original["youden"]["test"]["sensitivity"]


def test_one_repeat_falls_back_to_the_fold_median_and_says_so(project, tmp_path):
    shutil.copytree(project / "prepared", tmp_path / "prepared")
    for name in ("oof", "inner_val", "test"):
        path = tmp_path / "classify" / "toynet" / f"{name}.csv"
        rows = read(project / "classify" / "toynet" / f"{name}.csv")
        keep = np.flatnonzero(rows["repeat"] == "0")
        _write_csv(path, list(rows), [[rows[c][i] for c in rows] for i in keep])
    _, threshold = run_both(tmp_path)
    assert "median of the fold thresholds" in threshold["ensemble_rule"]["threshold_from"]
    assert threshold["ensemble_rule"]["members"] == FOLDS
    for name in ("youden", "sens80"):
        assert threshold[name]["test"]["threshold"] == threshold[name]["threshold"]["median"]
        assert "threshold_ci" not in threshold[name]["test"]


@pytest.mark.parametrize("binning", ["uniform", "quantile"])
def test_platt_and_none_write_their_own_maps(tmp_path, binning):
    root = make_classify_outputs(tmp_path, seed=3)
    platt, _ = run_both(root, method="platt", binning=binning)
    assert set(platt) >= {"slope", "intercept"} and "temperature" not in platt
    assert len(platt["slope"]["per_fold"]) == REPEATS * FOLDS
    none, _ = run_both(root, method="none", binning=binning)
    assert none["temperature"]["per_fold"] == {k: 1.0 for k in none["temperature"]["per_fold"]}
    assert none["oof_pooled"]["after"] == none["oof_pooled"]["before"]


def test_stage_outputs_are_deterministic(project, tmp_path):
    shutil.copytree(project / "prepared", tmp_path / "prepared")
    shutil.copytree(project / "classify", tmp_path / "classify")
    run_both(tmp_path)
    for name in ("metrics_c.json", "metrics_t.json", "calibrate/toynet/oof.csv",
                 "plots_c/reliability.png", "plots_t/curves.png", "plots_t/operating_points.csv"):
        assert (tmp_path / name).read_bytes() == (project / name).read_bytes(), name


def test_compare_backbones_pairs_images_per_repeat_and_on_test(tmp_path):
    root = make_classify_outputs(tmp_path, backbone="a", seed=5)
    make_classify_outputs(tmp_path, backbone="b", seed=5, scale=0.5)
    for backbone in ("a", "b"):
        run_both(root, backbone=backbone)
    result = compare_backbones(root / "calibrate" / "a", root / "calibrate" / "b",
                               root / "prepared" / "manifest.csv", n_boot=200)
    assert list(result) == ["oof_repeat_0", "oof_repeat_1", "test_ensemble"]
    assert result["oof_repeat_0"]["n_images"] == 160 and result["test_ensemble"]["n_images"] == 40
    for entry in result.values():
        assert entry["delong"]["difference"] == pytest.approx(entry["bootstrap"]["difference"])
        assert entry["bootstrap"]["ci_low"] <= entry["bootstrap"]["difference"] <= \
            entry["bootstrap"]["ci_high"]


# --------------------------------------------------------------------------------------------
# Bad input: errors that name the file
# --------------------------------------------------------------------------------------------


def _copy(project: Path, tmp_path: Path) -> Path:
    shutil.copytree(project / "prepared", tmp_path / "prepared")
    shutil.copytree(project / "classify", tmp_path / "classify")
    return tmp_path / "classify" / "toynet"


def test_a_one_class_inner_validation_set_is_an_error_naming_file_and_fold(project, tmp_path):
    out = _copy(project, tmp_path)
    inner = read(out / "inner_val.csv")
    rows = [[inner[c][i] for c in inner] for i in range(len(inner["image_id"]))]
    for row in rows:
        if row[1] == "1" and row[2] == "2":
            row[3] = 1
    _write_csv(out / "inner_val.csv", list(inner), rows)
    with pytest.raises(PredictionFileError, match=r"inner_val\.csv: repeat 1 fold 2: only one "
                                                  "class"):
        run_both(tmp_path)


@pytest.mark.parametrize(("name", "edit", "message"), [
    ("oof.csv", lambda text: text.replace("-", "x", 1), r"oof\.csv: line \d+: logit"),
    ("oof.csv", lambda text: text.replace("label,", "lbl,", 1), r"missing column\(s\) \['label'\]"),
    ("test.csv", lambda text: text + "\n".join(text.splitlines()[1:3]) + "\n", "predicted twice"),
    ("inner_val.csv", lambda text: "\n".join(
        line for line in text.splitlines() if ",1,2," not in line) + "\n", "different fold models"),
])
def test_bad_prediction_files_are_errors_naming_them(project, tmp_path, name, edit, message):
    out = _copy(project, tmp_path)
    (out / name).write_text(edit((out / name).read_text()))
    with pytest.raises(PredictionFileError, match=message) as info:
        run_both(tmp_path)
    assert name in str(info.value)


def test_cli_reports_missing_predictions_cleanly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "params.yaml").write_text("calibrate:\n  method: temperature\n")
    result = CliRunner().invoke(main, ["calibrate", "--backbone", "nonet"])
    assert result.exit_code == 1
    assert "artifacts/classify/nonet/inner_val.csv: not found" in result.output
    (tmp_path / "params.yaml").write_text("threshold:\n  criteria: [youden, median]\n")
    result = CliRunner().invoke(main, ["threshold", "--backbone", "nonet"])
    assert result.exit_code == 1 and "criteria must be one of" in result.output
