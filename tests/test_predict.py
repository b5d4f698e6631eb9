"""The bundle's integrity checks and `fraclab predict`'s input expansion, without a model
(the end-to-end predictions are in test_pipeline.py, on the tiny study's bundle)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fraclab.predict.bundle import FORMAT, MANIFEST, BundleError, file_hashes, read_manifest
from fraclab.predict.outputs import expand_inputs


def _bundle(root: Path) -> Path:
    (root / "classifier").mkdir(parents=True)
    (root / "classifier" / "r0_f0.pt").write_bytes(b"weights")
    (root / "MODEL_CARD.md").write_text("card")
    (root / MANIFEST).write_text(json.dumps({"format": FORMAT, "files": file_hashes(root)}))
    return root


def test_a_whole_bundle_reads_and_every_damage_is_named(tmp_path):
    root = _bundle(tmp_path / "model")
    assert read_manifest(root)["format"] == FORMAT
    (root / "classifier" / "r0_f0.pt").write_bytes(b"weightz")
    with pytest.raises(BundleError, match=r"r0_f0.pt: damaged"):
        read_manifest(root)
    root = _bundle(tmp_path / "model2")
    (root / "extra.pt").write_bytes(b"code")
    with pytest.raises(BundleError, match=r"extra.pt: not listed"):
        read_manifest(root)
    (root / "extra.pt").unlink()
    (root / "MODEL_CARD.md").unlink()
    with pytest.raises(BundleError, match=r"MODEL_CARD.md: listed in model.json but missing"):
        read_manifest(root)
    with pytest.raises(BundleError, match="not a fraclab model bundle"):
        read_manifest(tmp_path)
    (tmp_path / MANIFEST).write_text(json.dumps({"format": "other/9"}))
    with pytest.raises(BundleError, match="format is 'other/9'"):
        read_manifest(tmp_path)


def test_inputs_expand_folders_recursively_and_globs_in_order(tmp_path):
    for name in ("b/x.png", "b/deep/y.DCM", "b/scan", "b/notes.txt", "b/.hidden.png", "a.jpg"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    found = expand_inputs([str(tmp_path / "b"), str(tmp_path / "*.jpg"),
                           str(tmp_path / "a.jpg"), str(tmp_path / "missing.png")])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "b/deep/y.DCM", "b/scan", "b/x.png", "a.jpg", "missing.png"]


def test_the_model_card_names_a_class_without_test_boxes():
    """Real exports have classes with no box in the test split: their AP is null."""
    from fraclab.bundle.card import _markdown

    detection = {"precision": 0.5, "recall": 0.4, "map50": 0.3, "map50_95": 0.1,
                 "per_class": {"wrist": {"map50": 0.3}, "elbow": {"map50": None}}}
    card = {"intended_use": "research", "model": {"classifier": "net"},
            "training_data": {"dataset": {}, "images": 2, "groups": 2, "splits": {},
                              "leakage_after_prepare": {}},
            "evaluation": {"discrimination": {}, "calibration_after": {},
                           "operating_points_test": {},
                           "detection": {"val": detection, "test": detection}},
            "limitations": [], "how_to_run": "fraclab predict"}
    text = _markdown(card, "net", {"size": "n"})
    assert "wrist 0.300, elbow n/a" in text


def test_a_bundle_without_fold_models_is_refused_before_any_image(tmp_path, capsys):
    """An ensemble of no models has no probability: the command says so, it never writes
    NaN probabilities."""
    from fraclab.predict.cli import USAGE, run_predict

    root = tmp_path / "model"
    root.mkdir()
    (root / MANIFEST).write_text(json.dumps({
        "format": FORMAT, "files": {}, "preprocessing": {"image_size": 64},
        "classifier": {"backbone": "resnet18", "folds": [], "operating_points": {"f": 0.5},
                       "default_operating_point": "f"}}))
    image = tmp_path / "x.png"
    image.write_bytes(b"")
    out = tmp_path / "out"
    assert run_predict((str(image),), root, out, None, "cpu", 8, quiet=True) == USAGE
    assert "the classifier lists no fold models" in capsys.readouterr().err
    assert not out.exists()
