"""Near-duplicate audit: hash pairs (against brute force), group merging, prepare's report."""

from __future__ import annotations

import csv
import io

import numpy as np
from format_fixtures import noise_image
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from fraclab.data.images import perceptual_hash
from fraclab.data.neardup import near_duplicate_audit, near_duplicate_pairs, union_groups
from fraclab.params import DataParams
from fraclab.prepare.stage import prepare_dataset

hex_hashes = st.lists(st.integers(0, 2**256 - 1).map(lambda v: f"{v:064x}"), max_size=40)


@settings(max_examples=60, deadline=None)
@given(hashes=hex_hashes, max_distance=st.integers(0, 140), chunk=st.integers(1, 7))
def test_pairs_match_brute_force(hashes, max_distance, chunk):
    want = sorted((i, j, bin(int(a, 16) ^ int(b, 16)).count("1"))
                  for i, a in enumerate(hashes) for j, b in enumerate(hashes) if i < j)
    want = [p for p in want if p[2] <= max_distance]
    assert near_duplicate_pairs(hashes, max_distance, chunk=chunk) == want


def test_union_groups_is_transitive_and_leaves_others_alone():
    groups = ["a", "b", "c", "d", "e", "a"]
    merged = union_groups(groups, [(1, 2, 3), (2, 3, 0)])
    assert merged == ["a", "b", "b", "b", "e", "a"]


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    buffer.seek(0)
    return Image.open(buffer).convert("L")


def test_re_encoded_and_resized_copies_are_near_and_other_images_far():
    original = noise_image(1, (120, 100))
    # Re-encoded at JPEG quality 75, downscaled, upscaled and re-encoded, contrast reduced.
    copies = [_jpeg(original, 75), original.resize((90, 75)),
              _jpeg(original.resize((150, 125)), 75),
              Image.eval(original, lambda v: int(v * 0.9) + 10)]
    others = [noise_image(seed, (120, 100)) for seed in range(2, 40)]
    hashes = [perceptual_hash(i) for i in [original, *copies, *others]]
    pairs = near_duplicate_pairs(hashes, 32)
    assert {(0, k) for k in range(1, 5)} <= {(i, j) for i, j, _ in pairs}
    assert all(j < 5 for _, j, _ in pairs)  # no unrelated image within 32 bits


def test_audit_counts_pairs_across_splits_and_groups():
    pairs = [(0, 1, 2), (1, 2, 4), (3, 4, 0)]
    audit = near_duplicate_audit(pairs, splits=["train", "test", "test", "valid", "unassigned"],
                                 groups=["a", "a", "b", "c", "d"],
                                 image_ids=["i0", "i1", "i2", "i3", "i4"], max_distance=8)
    assert (audit["pairs"], audit["pairs_across_splits"], audit["pairs_across_groups"]) == (
        3, 1, 2)
    assert audit["examples_across_splits"] == ["i0 (train) ~ i1 (test): 2 bits"]


def _export_with_copies(root):
    """A YOLO export whose valid and test hold re-encoded copies of train images."""
    (root / "train").mkdir(parents=True)
    (root / "data.yaml").write_text("names: [fracture]\n")
    for split, seeds in (("train", range(0, 12)), ("valid", range(12, 18)),
                         ("test", range(18, 24))):
        (root / split / "images").mkdir(parents=True, exist_ok=True)
        (root / split / "labels").mkdir(parents=True, exist_ok=True)
        for seed in seeds:
            noise_image(seed, (80, 64)).save(root / split / "images" / f"x{seed}.png")
            (root / split / "labels" / f"x{seed}.txt").write_text(
                "0 0.5 0.5 0.2 0.2\n" if seed % 2 else "")
    # Re-encoded copies: train x0 as JPEG in valid, train x1 downscaled in test.
    _jpeg(noise_image(0, (80, 64)), 50).save(root / "valid" / "images" / "copy0.jpg")
    (root / "valid" / "labels" / "copy0.txt").write_text("")
    noise_image(1, (80, 64)).resize((60, 48)).save(root / "test" / "images" / "copy1.png")
    (root / "test" / "labels" / "copy1.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    return root


def test_prepare_reports_near_duplicates_across_splits(tmp_path):
    root = _export_with_copies(tmp_path / "export")
    audit = prepare_dataset(DataParams(path=str(root), image_size=32), 0, tmp_path / "out",
                            workers=1, log=lambda _: None)
    assert audit["duplicate_sets_across_splits"] == 0  # the bytes differ
    assert audit["as_shipped"]["near_duplicate_pairs_across_splits"] == 2
    assert audit["near_duplicate_pairs_across_splits"] == 2  # report only: nothing moved
    examples = audit["near_duplicates"]["examples_across_splits"]
    assert any("train/images/x0.png" in e and "valid/images/copy0.jpg" in e for e in examples)
    assert audit["near_duplicates"]["max_distance"] == 32


def test_dedupe_group_keeps_copies_in_one_group_and_split(tmp_path):
    root = _export_with_copies(tmp_path / "export")
    out = tmp_path / "out"
    audit = prepare_dataset(DataParams(path=str(root), image_size=32, dedupe="group",
                                       resplit=True), 0, out, workers=1, log=lambda _: None)
    assert audit["as_shipped"]["near_duplicate_pairs_across_splits"] == 2
    assert audit["near_duplicate_pairs_across_splits"] == 0
    assert audit["near_duplicates"]["pairs_across_groups"] == 0
    rows = {r["image_id"]: r for r in csv.DictReader((out / "manifest.csv").open())}
    for a, b in (("train/images/x0.png", "valid/images/copy0.jpg"),
                 ("train/images/x1.png", "test/images/copy1.png")):
        assert rows[a]["group"] == rows[b]["group"] and rows[a]["split"] == rows[b]["split"]
    assert len({r["group"] for r in rows.values()}) == len(rows) - 2
    assert np.load(out / "images.npy").shape[0] == len(rows)
