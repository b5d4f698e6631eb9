"""`prepare` end to end on the real Roboflow export, checked against the files themselves."""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from pathlib import Path

import numpy as np
import pytest
import yaml

from fraclab.params import DataParams
from fraclab.prepare.stage import prepare_dataset

pytestmark = pytest.mark.realdata


def _count_from_files(root: Path) -> dict:
    """Independent counts: read the directory listing and label lines directly."""
    names = yaml.safe_load((root / "data.yaml").read_text())["names"]
    counts: dict = {}
    stems: dict[str, set[str]] = defaultdict(set)
    for split in ("train", "valid", "test"):
        images = sorted(p for p in (root / split / "images").iterdir())
        fractured, boxes = 0, Counter()
        for image in images:
            label = root / split / "labels" / f"{image.stem}.txt"
            lines = [ln for ln in label.read_text().splitlines() if ln.strip()]
            fractured += bool(lines)
            boxes.update(names[int(ln.split()[0])] for ln in lines)
            # Roboflow: "<source>_<ext>.rf.<hash>.<ext>"; strip both parts by hand.
            source = image.name.split(".rf.")[0]
            stems[source.rsplit("_", 1)[0] if "_" in source else source].add(split)
        counts[split] = {"images": len(images), "fractured": fractured,
                         "boxes": {n: boxes.get(n, 0) for n in names}}
    counts["spanning"] = sum(len(s) > 1 for s in stems.values())
    return counts


@pytest.fixture(scope="module")
def shipped_counts(real_data):
    return _count_from_files(real_data)


@pytest.fixture(scope="module")
def prepared(real_data, tmp_path_factory):
    before = sorted(str(p) for p in real_data.rglob("*"))
    out = tmp_path_factory.mktemp("prepared")
    audit = prepare_dataset(DataParams(path=str(real_data), resplit=True), 0, out,
                            log=lambda _: None)
    assert sorted(str(p) for p in real_data.rglob("*")) == before, "prepare wrote into data"
    return audit, out


def test_as_shipped_counts_match_the_files(real_data, shipped_counts, tmp_path):
    audit = prepare_dataset(DataParams(path=str(real_data)), 0, tmp_path, log=lambda _: None)
    assert audit["images"] == 4148
    assert audit["as_shipped"]["groups_spanning_splits"] == shipped_counts["spanning"] > 0
    # Without resplit the export's splits stay, except groups in both test and development,
    # which move wholly to one side: the counts move by exactly the images moved.
    moved = audit["moved_out_of_test_or_development"]
    assert moved["groups"] > 0
    splits = audit["splits"]
    assert sum(splits[s]["images"] for s in splits) == 4148
    assert abs(splits["test"]["images"] - shipped_counts["test"]["images"]) <= moved["images"]
    for name in ("fractured", "images"):
        assert sum(splits[s][name] for s in splits) == sum(
            shipped_counts[s][name] for s in ("train", "valid", "test"))
    rows = list(csv.DictReader((tmp_path / "manifest.csv").open()))
    sides = defaultdict(set)
    for row in rows:
        sides[row["group"]].add(row["split"] == "test")
    assert all(len(s) == 1 for s in sides.values())  # no group in test and development


def test_resplit_removes_leakage_and_keeps_every_image(prepared, shipped_counts):
    audit, out = prepared
    assert audit["as_shipped"]["groups_spanning_splits"] == shipped_counts["spanning"]
    assert audit["groups_spanning_splits"] == 0
    assert sum(s["images"] for s in audit["splits"].values()) == 4148
    total_boxes = sum(sum(shipped_counts[s]["boxes"].values()) for s in ("train", "valid", "test"))
    assert sum(sum(s["boxes"].values()) for s in audit["splits"].values()) == total_boxes
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    by_group = defaultdict(set)
    for row in rows:
        by_group[row["group"]].add(row["split"])
    assert all(len(s) == 1 for s in by_group.values())


def test_outputs_are_consistent(prepared, real_data):
    audit, out = prepared
    rows = list(csv.DictReader((out / "manifest.csv").open()))
    array = np.load(out / "images.npy", mmap_mode="r")
    size = DataParams().image_size
    assert array.shape == (4148, size, size) and array.dtype == np.uint8
    assert [int(r["index"]) for r in rows] == list(range(4148))
    assert sum(int(r["label"]) for r in rows) == audit["fractured"]
    # Letterboxed X-rays: not blank, and the padding is black.
    assert array[:50].mean() > 20
    spec = yaml.safe_load((out / "yolo" / "data.yaml").read_text())
    assert spec["names"] == json.loads(json.dumps(audit["dataset"]["classes"]))
    for split, counts in audit["splits"].items():
        images = list((out / "yolo" / split / "images").iterdir())
        assert len(images) == counts["images"]
        assert all(p.is_symlink() and p.resolve().is_relative_to(real_data.resolve())
                   for p in images)
        lines = [ln for p in (out / "yolo" / split / "labels").iterdir()
                 for ln in p.read_text().splitlines()]
        assert len(lines) == sum(counts["boxes"].values())
        assert all(len(ln.split()) == 5 for ln in lines)  # polygons became boxes
