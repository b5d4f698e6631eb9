"""Each dataset format, from fixtures in its documented layout, through the real prepare stage.

Every check compares prepare's outputs with facts the fixture builder wrote down itself.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from dataclasses import fields
from pathlib import Path

import numpy as np
import pytest
from format_fixtures import (
    build_class_folders,
    build_fracatlas,
    build_grazpedwri,
    build_mura,
    noise_image,
    save,
)
from PIL import Image

from fraclab.artifacts.manifest import MANIFEST_COLUMNS
from fraclab.data.formats import FORMATS, detect_format, import_dataset
from fraclab.data.records import SPLITS, ImageRecord
from fraclab.data.views import NO_BOXES_FILE
from fraclab.params import DataParams
from fraclab.prepare.stage import prepare_dataset

SIZE = 32


def prepare(root: Path, out: Path, **params) -> dict:
    return prepare_dataset(DataParams(path=str(root), image_size=SIZE, **params), 0, out,
                           workers=1, log=lambda _: None)


def manifest(out: Path) -> list[dict[str, str]]:
    with (out / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


def assert_groups_within_one_split(rows: list[dict[str, str]]) -> None:
    splits_of = defaultdict(set)
    for row in rows:
        splits_of[row["group"]].add(row["split"])
    assert all(len(s) == 1 for s in splits_of.values()), splits_of


BUILDERS = {
    "fracatlas": lambda tmp: build_fracatlas(tmp)[0].parent,  # the folder holding FracAtlas/
    "grazpedwri": lambda tmp: build_grazpedwri(tmp / "graz")[0],
    "mura": lambda tmp: build_mura(tmp)[0].parent,  # the folder holding MURA-v1.1/
    "classfolders": lambda tmp: build_class_folders(tmp / "folders")[0],
}


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_auto_detects_each_format(tmp_path, fmt):
    assert detect_format(BUILDERS[fmt](tmp_path)) == fmt


def test_every_format_is_tested():
    assert set(FORMATS) == {"yolo", *BUILDERS}


@pytest.mark.parametrize("fmt", sorted(BUILDERS))
def test_records_and_manifest_have_one_shape_for_every_format(tmp_path, fmt):
    root = BUILDERS[fmt](tmp_path)
    dataset = import_dataset(root, fmt, "error", DataParams())
    names = [f.name for f in fields(ImageRecord)]
    assert all(isinstance(r, ImageRecord) and [f.name for f in fields(r)] == names
               for r in dataset.records)
    assert all(r.split in (*SPLITS, "unassigned") and r.group and r.path.is_file()
               and r.fractured in (0, 1) for r in dataset.records)
    out = tmp_path / "out"
    audit = prepare(root, out)
    rows = manifest(out)
    assert tuple(rows[0])[:len(MANIFEST_COLUMNS)] == MANIFEST_COLUMNS
    assert np.load(out / "images.npy").shape == (len(rows), SIZE, SIZE)
    assert audit["images"] == len(rows) and audit["unassigned"] == 0
    assert {r["split"] for r in rows} == set(SPLITS)
    assert_groups_within_one_split(rows)


def test_fracatlas(tmp_path):
    _, expected = build_fracatlas(tmp_path)
    out = tmp_path / "out"
    audit = prepare(tmp_path, out)  # data.path may be the folder holding FracAtlas/
    rows = {r["image_id"]: r for r in manifest(out)}
    assert set(rows) == set(expected)
    prepared = json.loads((out / "prepared.json").read_text())
    assert prepared["format"] == "fracatlas" and prepared["has_boxes"] is True
    assert prepared["class_names"] == ["fracture"]
    for image_id, want in expected.items():
        row = rows[image_id]
        assert int(row["label"]) == want["label"] and row["site"] == want["site"]
        boxes = json.loads(row["boxes"])
        assert len(boxes) == len(want["boxes"])
        for (cls, cx, cy, w, h), (x0, y0, bw, bh) in zip(boxes, want["boxes"], strict=True):
            assert cls == 0
            assert (cx, cy, w, h) == pytest.approx(
                ((x0 + bw / 2) / 60, (y0 + bh / 2) / 50, bw / 60, bh / 50), abs=1e-6)
        if want["split"]:  # the official split of the positives is kept
            assert row["split"] == row["shipped_split"] == want["split"]
        else:
            assert row["shipped_split"] == "unassigned"
    negatives = Counter(r["split"] for r in rows.values() if r["label"] == "0")
    assert set(negatives) == set(SPLITS) and negatives["train"] > negatives["test"]
    # The byte-identical pair stays together, in one group.
    twins = [rows[f"images/Non_fractured/IMG00000{k}.jpg"] for k in (22, 23)]
    assert twins[0]["sha1"] == twins[1]["sha1"]
    assert twins[0]["group"] == twins[1]["group"] and twins[0]["split"] == twins[1]["split"]
    assert audit["duplicate_sets_across_splits"] == 0
    labels = (out / "yolo" / "train" / "labels" / "IMG0000000.txt").read_text().splitlines()
    assert len(labels) == 2


def test_fracatlas_negative_split_is_seeded(tmp_path):
    root, _ = build_fracatlas(tmp_path)

    def splits(seed: int, name: str) -> dict[str, str]:
        prepare_dataset(DataParams(path=str(root), image_size=SIZE), seed, tmp_path / name,
                        workers=1, log=lambda _: None)
        return {r["image_id"]: r["split"] for r in manifest(tmp_path / name)}

    first = splits(0, "a")
    assert splits(0, "b") == first
    assert any(splits(seed, f"s{seed}") != first for seed in (1, 2, 3))


def test_grazpedwri(tmp_path):
    root, expected = build_grazpedwri(tmp_path / "graz")
    out = tmp_path / "out"
    audit = prepare(root, out)
    rows = {r["image_id"]: r for r in manifest(out)}
    assert set(rows) == set(expected)
    assert audit["dataset"]["classes"] == ["fracture"]  # data.classes default for this format
    for image_id, want in expected.items():
        row = rows[image_id]
        assert int(row["label"]) == want["label"]
        assert row["group"] == f"patient_{want['patient']}" and row["site"] == "wrist"
        assert [b[0] for b in json.loads(row["boxes"])] == [0] * want["fracture_boxes"]
    assert_groups_within_one_split(list(rows.values()))
    # 14 patients split 70/20/10 by patient: whole patients, every split non-empty.
    patients = Counter(r["split"] for r in {r["group"]: r for r in rows.values()}.values())
    assert patients["train"] > patients["valid"] >= patients["test"] >= 1
    # 16-bit images reach the YOLO view as converted 8-bit PNGs, 8-bit ones as symlinks.
    for image_id, want in expected.items():
        link = out / "yolo" / rows[image_id]["split"] / "images" / Path(image_id).name
        assert link.is_symlink() == (want["bits"] == 8)
        assert not link.is_symlink() or link.resolve() == (root / image_id).resolve()
        if want["bits"] == 16:
            with Image.open(link) as im:
                assert im.mode == "L" and im.size == (40, 48)


def test_grazpedwri_classes_param_picks_and_orders_box_classes(tmp_path):
    root, expected = build_grazpedwri(tmp_path / "graz")
    out = tmp_path / "out"
    audit = prepare(root, out, classes=["text", "fracture"])
    assert audit["dataset"]["classes"] == ["text", "fracture"]
    for row in manifest(out):
        want = expected[row["image_id"]]
        assert sorted(b[0] for b in json.loads(row["boxes"])) == [0] + [1] * want[
            "fracture_boxes"]
        assert int(row["label"]) == want["label"]  # the label is fracture_visible, not boxes


def test_mura(tmp_path):
    base, expected = build_mura(tmp_path)
    out = tmp_path / "out"
    audit = prepare(base, out)  # data.path may be MURA-v1.1 itself
    rows = {r["image_id"]: r for r in manifest(out)}
    assert set(rows) == set(expected)
    for image_id, want in expected.items():
        row = rows[image_id]
        assert int(row["label"]) == want["label"] and row["group"] == want["patient"]
        assert row["site"] == want["site"] and row["boxes"] == "[]"
        assert row["shipped_split"] == want["split"]
        # MURA's valid stays valid; test is carved from train, by patient.
        assert row["split"] == "valid" if want["split"] == "valid" else row["split"] in (
            "train", "test")
    assert_groups_within_one_split(list(rows.values()))
    prepared = json.loads((out / "prepared.json").read_text())
    assert prepared["has_boxes"] is False and audit["dataset"]["has_boxes"] is False
    assert [p.name for p in (out / "yolo").iterdir()] == [NO_BOXES_FILE]
    assert "detect stage skips" in (out / "yolo" / NO_BOXES_FILE).read_text()


def test_class_folders_with_splits(tmp_path):
    root, expected = build_class_folders(tmp_path / "folders")
    out = tmp_path / "out"
    prepare(root, out)
    rows = {r["image_id"]: r for r in manifest(out)}
    assert set(rows) == set(expected)
    for image_id, want in expected.items():
        assert int(rows[image_id]["label"]) == want["label"]
        assert rows[image_id]["split"] == want["split"]
    assert "site" not in next(iter(rows.values()))


def test_class_folders_without_splits_and_custom_names(tmp_path):
    root, expected = build_class_folders(tmp_path / "folders", splits=(),
                                         names=("broken bones", "intact"))
    out = tmp_path / "out"
    prepare(root, out, format="classfolders", positive_folders=["Broken-Bones"],
            negative_folders=["INTACT"])
    rows = manifest(out)
    assert {r["image_id"]: int(r["label"]) for r in rows} == {
        k: v["label"] for k, v in expected.items()}
    assert {r["shipped_split"] for r in rows} == {"train"}
    assert {r["split"] for r in rows} == set(SPLITS)  # valid and test carved by group


def test_class_folders_same_file_name_in_both_classes_share_a_group(tmp_path):
    root = tmp_path / "folders"
    for k, name in enumerate(("fractured", "normal")):
        for i in range(12):
            save(noise_image(900 + 20 * k + i), root / name / f"{i}.png")
    out = tmp_path / "out"
    audit = prepare(root, out)
    rows = manifest(out)
    assert audit["groups"] == 12 and len(rows) == 24  # the file stem is the group
    assert_groups_within_one_split(rows)
    assert audit["dataset"]["has_boxes"] is False


def test_a_copy_of_a_training_image_in_test_is_moved_with_it(tmp_path):
    import json
    import shutil

    root, _ = build_class_folders(tmp_path / "folders")
    source = sorted((root / "train" / "Fractured").iterdir())[0]
    shutil.copy(source, root / "test" / "Fractured" / f"copy{source.suffix}")
    audit = prepare(root, tmp_path / "out")
    rows = {r["image_id"]: r for r in manifest(tmp_path / "out")}
    original = rows[f"train/Fractured/{source.name}"]
    copy = rows[f"test/Fractured/copy{source.suffix}"]
    assert original["group"] == copy["group"] and original["split"] == copy["split"]
    assert audit["moved_out_of_test_or_development"] == {"groups": 1, "images": 1}
    assert audit["duplicate_sets_across_splits"] == 0
    assert audit["as_shipped"]["duplicate_sets_across_splits"] == 1
    json.dumps(audit)  # metrics/data.json
