"""Splits for images shipped without one, and the new `data:` params."""

from __future__ import annotations

from collections import Counter, defaultdict

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from fraclab.data.splits import fold_counts, split_unassigned
from fraclab.params import DataParams, ParamsError, section

U = "unassigned"


@settings(max_examples=80, deadline=None)
@given(sizes=st.lists(st.integers(1, 4), min_size=1, max_size=40),
       assigned=st.lists(st.sampled_from(["train", "valid", "test", U, U]), min_size=40,
                         max_size=40),
       seed=st.integers(0, 2**16))
# Two unassigned images of different labels: too few for any stratified split.
@example(sizes=[1, 1, 1], assigned=["train", U, U] + ["train"] * 37, seed=0)
def test_groups_stay_whole_and_every_image_gets_a_split(sizes, assigned, seed):
    groups, splits, labels = [], [], []
    for g, size in enumerate(sizes):
        for k in range(size):
            groups.append(f"g{g}")
            splits.append(assigned[g] if k == 0 else U)  # a group's first image may have one
            labels.append((g + k) % 2)
    result = split_unassigned(labels, groups, splits,
                              {"train": 0.7, "valid": 0.2, "test": 0.1}, seed, U)
    assert U not in result
    assert all(r == s for r, s in zip(result, splits, strict=True) if s != U)
    by_group = defaultdict(set)
    for g, r in zip(groups, result, strict=True):
        by_group[g].add(r)
    assert all(len(s) == 1 for s in by_group.values())


def test_shares_follow_the_fractions_and_the_seed():
    groups = [f"p{i // 2}" for i in range(2000)]
    labels = [int(i % 6 == 0) for i in range(2000)]
    fractions = {"train": 0.7, "valid": 0.2, "test": 0.1}
    result = split_unassigned(labels, groups, [U] * 2000, fractions, 3, U)
    shares = Counter(result)
    for split, share in fractions.items():
        assert shares[split] / 2000 == pytest.approx(share, abs=0.02)
        positives = sum(lab for lab, r in zip(labels, result, strict=True) if r == split)
        assert positives / shares[split] == pytest.approx(sum(labels) / 2000, abs=0.03)
    assert split_unassigned(labels, groups, [U] * 2000, fractions, 3, U) == result
    assert split_unassigned(labels, groups, [U] * 2000, fractions, 4, U) != result


@pytest.mark.parametrize("n", [2, 3, 5, 7, 20, 100])
def test_fold_counts_sum_and_cover_every_split_when_possible(n):
    counts = fold_counts({"train": 0.7, "valid": 0.2, "test": 0.1}, n)
    assert sum(counts.values()) == n
    if n >= 3:
        assert min(counts.values()) >= 1


@pytest.mark.parametrize(("values", "message"), [
    ({"dedupe": "drop"}, "dedupe must be one of report, group"),
    ({"dedupe_distance": 300}, "dedupe_distance"),
    ({"classes": "fracture"}, "classes must be a list"),
    ({"classes": ["fracture", "fracture"]}, "listed twice"),
    ({"positive_folders": []}, "at least one name"),
    ({"negative_folders": ["Fractured"]}, "in both positive_folders and negative_folders"),
])
def test_bad_data_params_are_clear_errors(values, message):
    with pytest.raises(ParamsError, match=message):
        section(DataParams, {"data": values}, "data")


def test_numeric_folder_names_from_yaml_become_strings():
    params = section(DataParams, {"data": {"positive_folders": [1], "negative_folders": [0]}},
                     "data")
    assert params.positive_folders == ["1"] and params.negative_folders == ["0"]
