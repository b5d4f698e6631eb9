"""Per-site metrics: recomputed with scikit-learn, small sites without an interval, one-class
sites without an AUROC; the YOLO importer reads the site from meta.csv; the calibrate stage
writes the per-site table when the manifest names sites."""

from __future__ import annotations

import csv
import json
import shutil

import numpy as np
import pytest
from sklearn.metrics import brier_score_loss, roc_auc_score
from test_calibrate_stage import make_classify_outputs, read, run_both

from fraclab.data.synth import SynthConfig, generate_dataset
from fraclab.evaluate.subgroups import subgroup_metrics
from fraclab.params import DataParams
from fraclab.prepare.stage import prepare_dataset


def test_each_site_matches_scikit_learn_and_small_sites_get_no_interval():
    rng = np.random.default_rng(0)
    site = np.array(["wrist"] * 200 + ["elbow"] * 12 + ["hip"] * 6 + [""] * 10)
    y = (rng.random(site.size) < 0.4).astype(int)
    y[200:212] = [1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]  # elbow: 2 fractured, too few for a CI
    y[212:218] = 0  # hip: one class
    p = np.clip(0.3 + 0.3 * y + rng.normal(0, 0.15, site.size), 0, 1)
    groups = np.arange(site.size) // 2
    out = subgroup_metrics(y, p, groups, site, n_boot=200, seed=0)
    assert list(out) == ["elbow", "hip", "wrist"]  # sorted; unknown ("") left out
    for name, m in out.items():
        rows = site == name
        assert m["n"] == rows.sum() and m["fractured"] == y[rows].sum()
        assert m["brier"] == pytest.approx(brier_score_loss(y[rows], p[rows]))
        assert m["mean_minus_prevalence"] == pytest.approx(p[rows].mean() - y[rows].mean())
    wrist = out["wrist"]["auroc"]
    assert wrist["value"] == pytest.approx(roc_auc_score(y[:200], p[:200]))
    assert wrist["ci_low"] < wrist["value"] < wrist["ci_high"]
    assert out["elbow"]["auroc"]["value"] == pytest.approx(roc_auc_score(y[200:212],
                                                                         p[200:212]))
    assert out["elbow"]["auroc"]["ci_low"] is None
    assert out["hip"]["auroc"] is None


def test_mismatched_lengths_are_an_error():
    with pytest.raises(ValueError, match="length"):
        subgroup_metrics([0, 1], [0.2, 0.8], [0, 1], ["a"])


def test_the_yolo_importer_reads_the_site_from_meta_csv(tmp_path):
    generate_dataset(tmp_path / "data", SynthConfig(n_patients=12, size=64))
    with (tmp_path / "data" / "meta.csv").open(newline="") as f:
        meta = {r["file_name"]: r["site"] for r in csv.DictReader(f)}
    prepare_dataset(DataParams(path=str(tmp_path / "data"), image_size=32), 0,
                    tmp_path / "prepared", log=lambda _: None)
    with (tmp_path / "prepared" / "manifest.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert rows and all(r["site"] == meta[r["image_id"].rsplit("/", 1)[-1]] for r in rows)


def test_the_calibrate_stage_writes_recomputable_per_site_metrics(tmp_path):
    root = make_classify_outputs(tmp_path / "stage")
    manifest = read(root / "prepared" / "manifest.csv")
    site = np.where(np.arange(manifest["image_id"].size) // 2 % 2 == 0, "wrist", "elbow")
    with (root / "prepared" / "manifest.csv").open("w", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([*manifest, "site"])
        writer.writerows([*(manifest[c][i] for c in manifest), site[i]]
                         for i in range(site.size))
    calibrate, _ = run_both(root)
    sub = calibrate["subgroups"]
    assert sub["by"] == "site" and set(sub["test_ensemble"]) == {"wrist", "elbow"}
    site_of = dict(zip(manifest["image_id"], site, strict=True))
    ensemble = read(root / "calibrate" / "toynet" / "test_ensemble.csv")
    label = dict(zip(manifest["image_id"], manifest["label"].astype(int), strict=True))
    for name in ("wrist", "elbow"):
        rows = np.array([site_of[i] == name for i in ensemble["image_id"]])
        y = np.array([label[i] for i in ensemble["image_id"][rows]])
        p = ensemble["prob"][rows].astype(float)
        got = sub["test_ensemble"][name]
        assert got["auroc"]["value"] == pytest.approx(roc_auc_score(y, p))
        assert got["brier"] == pytest.approx(brier_score_loss(y, p))
    oof = read(root / "calibrate" / "toynet" / "oof.csv")
    rows = np.array([site_of[i] == "wrist" for i in oof["image_id"]])
    assert sub["oof_pooled"]["wrist"]["auroc"]["value"] == pytest.approx(roc_auc_score(
        oof["label"][rows].astype(int), oof["prob"][rows].astype(float)))
    assert json.loads((root / "metrics_c.json").read_text())["subgroups"] == sub
    shutil.rmtree(root)
