"""The near-duplicate audit on the real Roboflow export (skipped when it is absent).

What it found when written (pHash 16x16, <= 32 bits): 344 pairs, every one inside a Roboflow
source-stem group (augmented copies of one X-ray), none across splits or across groups. The
test pins those facts, and checks the pairs against the file names independently.
"""

from __future__ import annotations

import csv

import pytest

from fraclab.data.images import decode_image
from fraclab.data.neardup import near_duplicate_pairs
from fraclab.params import DataParams
from fraclab.prepare.stage import prepare_dataset

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def audit_and_rows(real_data, tmp_path_factory):
    out = tmp_path_factory.mktemp("prepared")
    audit = prepare_dataset(DataParams(path=str(real_data)), 0, out, log=lambda _: None)
    return audit, list(csv.DictReader((out / "manifest.csv").open()))


def test_no_near_duplicates_across_splits_as_shipped(audit_and_rows):
    audit, _ = audit_and_rows
    near = audit["as_shipped"]["near_duplicates"]
    assert near["max_distance"] == 32 and near["hash"] == "phash16x16"
    assert near["pairs"] == 344
    assert near["pairs_across_splits"] == 0 == audit["near_duplicate_pairs_across_splits"]
    assert near["pairs_across_groups"] == 0


def test_every_near_pair_shares_its_roboflow_source_name(audit_and_rows, real_data):
    _, rows = audit_and_rows
    # Re-hash a sample independently of prepare's stored hashes: the first 600 images.
    sample = rows[:600]
    hashes = [decode_image(real_data / r["image_id"], 128).phash for r in sample]
    pairs = near_duplicate_pairs(hashes, 32)
    assert pairs, "the sample holds augmented copies"
    for i, j, _ in pairs:
        a, b = (sample[k]["image_id"].split("/")[-1].split(".rf.")[0] for k in (i, j))
        assert a.rsplit("_", 1)[0] == b.rsplit("_", 1)[0], (a, b)
