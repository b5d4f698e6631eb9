"""Invariants of the cross-validation plan: no group crosses a boundary, both classes present."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fraclab.classify.protocol import ProtocolError, cv_plan


def _dataset(seed: int, n_groups: int = 60):
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 5, n_groups)
    groups = np.repeat([f"p{i}" for i in range(n_groups)], sizes)
    group_label = rng.random(n_groups) < 0.4
    # Views of one patient mostly share the label, but not always (fracture not visible).
    labels = np.repeat(group_label, sizes) & (rng.random(sizes.sum()) < 0.85)
    return labels.astype(int), groups


@given(st.integers(0, 10_000), st.integers(2, 5), st.integers(1, 3))
@settings(max_examples=25, deadline=None)
def test_no_group_crosses_inner_train_inner_val_and_outer(seed, folds, repeats):
    labels, groups = _dataset(seed)
    plan = cv_plan(labels, groups, folds=folds, repeats=repeats, val_fraction=0.2, seed=seed)
    assert len(plan) == folds * repeats
    for repeat in range(repeats):
        outer_union = np.concatenate([f.outer for f in plan if f.repeat == repeat])
        # Each repeat's outer folds partition the development set.
        assert sorted(outer_union) == list(range(len(labels)))
    for f in plan:
        parts = [set(groups[f.inner_train]), set(groups[f.inner_val]), set(groups[f.outer])]
        assert not parts[0] & parts[1] and not parts[0] & parts[2] and not parts[1] & parts[2]
        every = np.concatenate([f.inner_train, f.inner_val, f.outer])
        assert sorted(every) == list(range(len(labels)))
        for part in (f.inner_train, f.inner_val, f.outer):
            assert set(labels[part]) == {0, 1}


def test_repeats_reshuffle_and_plan_is_reproducible():
    labels, groups = _dataset(1)
    a = cv_plan(labels, groups, folds=3, repeats=2, val_fraction=0.2, seed=7)
    b = cv_plan(labels, groups, folds=3, repeats=2, val_fraction=0.2, seed=7)
    assert all(np.array_equal(x.outer, y.outer) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[0].outer, a[3].outer)  # repeat 1 fold 0 differs
    c = cv_plan(labels, groups, folds=3, repeats=2, val_fraction=0.2, seed=8)
    assert not all(np.array_equal(x.outer, y.outer) for x, y in zip(a, c, strict=True))


def test_single_class_fold_is_a_clear_error():
    labels = np.array([1] * 3 + [0] * 30)
    groups = np.array([f"g{i}" for i in range(33)])
    with pytest.raises(ProtocolError, match=r"only normal images.*fewer classify\.folds"):
        cv_plan(labels, groups, folds=5, repeats=1, val_fraction=0.2, seed=0)


def test_too_few_groups():
    with pytest.raises(ProtocolError, match="cannot fill 5 folds"):
        cv_plan([0, 1, 0, 1], ["a", "a", "b", "b"], folds=5, repeats=1, val_fraction=0.2,
                seed=0)


def test_more_folds_than_images_of_either_label_is_a_protocol_error_about_the_data():
    labels, groups = [0, 0, 1, 1], ["a", "b", "c", "d"]
    with pytest.raises(ProtocolError, match=r"4 images, 2 fractured, 4 groups.*fewer classify"):
        cv_plan(labels, groups, folds=3, repeats=1, val_fraction=0.3, seed=0)
