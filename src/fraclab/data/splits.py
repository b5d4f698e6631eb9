"""Group-aware split repair and carving: a group never ends up in two splits."""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Sequence

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold


def groups_spanning_splits(groups: Sequence[str], splits: Sequence[str]) -> dict[str, list[str]]:
    """Map each group that occurs in more than one split to its sorted splits."""
    seen: dict[str, set[str]] = defaultdict(set)
    for group, split in zip(groups, splits, strict=True):
        seen[group].add(split)
    return {g: sorted(s) for g, s in sorted(seen.items()) if len(s) > 1}


def _tie_break(group: str, candidates: list[str], seed: int) -> str:
    # A hash of (seed, group) rather than an RNG stream: the choice for one group does not
    # depend on which other groups exist, so adding images never reshuffles old decisions.
    digest = hashlib.sha256(f"{seed}:{group}".encode()).digest()
    return sorted(candidates)[digest[0] % len(candidates)]


def resplit_by_group(groups: Sequence[str], splits: Sequence[str], seed: int) -> list[str]:
    """Move every group that straddles splits wholly into the split holding most of it.

    Groups already inside one split keep it, so the dataset's own split is disturbed as
    little as possible. Ties are broken by a seeded hash of the group name.

    Returns
    -------
    list of str
        The new split of every image, aligned with ``groups``.
    """
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    for group, split in zip(groups, splits, strict=True):
        counts[group][split] += 1
    target = {}
    for group, per_split in counts.items():
        top = max(per_split.values())
        tied = [s for s, n in per_split.items() if n == top]
        target[group] = tied[0] if len(tied) == 1 else _tie_break(group, tied, seed)
    return [target[g] for g in groups]


def keep_groups_out_of_test(groups: Sequence[str], splits: Sequence[str], seed: int
                            ) -> tuple[list[str], dict[str, int]]:
    """Move every group that has images both in test and in development (train or valid)
    wholly to the side holding most of its images (ties: a seeded hash of the group).

    A group moved to development takes its most common development split. Groups that
    straddle only train and valid are left alone: both are development for classification,
    and detection's own validation split is the dataset's (``data.resplit`` repairs those).

    Returns
    -------
    (list of str, dict)
        The new split of every image, and ``{"groups": n, "images": n}`` moved.
    """
    members: dict[str, list[int]] = defaultdict(list)
    for i, group in enumerate(groups):
        members[group].append(i)
    result = list(splits)
    moved_groups = moved_images = 0
    for group, idx in members.items():
        in_test = [i for i in idx if splits[i] == "test"]
        in_dev = [i for i in idx if splits[i] != "test"]
        if not in_test or not in_dev:
            continue
        if len(in_test) != len(in_dev):
            to_test = len(in_test) > len(in_dev)
        else:
            to_test = _tie_break(group, ["dev", "test"], seed) == "test"
        target = "test" if to_test else Counter(splits[i] for i in in_dev).most_common(1)[0][0]
        for i in in_dev if to_test else in_test:
            result[i] = target
        moved_groups += 1
        moved_images += len(in_dev if to_test else in_test)
    return result, {"groups": moved_groups, "images": moved_images}


def carve_grouped_split(labels: Sequence[int], groups: Sequence[str], fraction: float,
                        seed: int) -> np.ndarray:
    """Boolean mask of a grouped, label-stratified subset holding about ``fraction`` of images.

    Uses scikit-learn's ``StratifiedGroupKFold`` with ``round(1 / fraction)`` folds and takes
    the first fold, so no group is cut and both labels keep roughly their share.

    Raises
    ------
    ValueError
        ``fraction`` outside (0, 0.5], fewer groups than folds, or too few images of either
        label to stratify.
    """
    if not 0 < fraction <= 0.5:
        raise ValueError(f"split fraction must be in (0, 0.5], got {fraction}")
    n_folds = max(2, round(1 / fraction))
    n_groups = len(set(groups))
    if n_groups < n_folds:
        raise ValueError(f"{n_groups} groups are too few to carve a {fraction:.0%} split")
    per_label = Counter(int(y) for y in labels)
    if max(per_label.values()) < n_folds:
        raise ValueError(f"{len(labels)} images ({per_label[1]} fractured, {per_label[0]} "
                         f"normal) are too few to carve a stratified {fraction:.0%} split")
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    _, held_out = next(splitter.split(np.zeros(len(labels)), labels, groups))
    mask = np.zeros(len(labels), dtype=bool)
    mask[held_out] = True
    return mask


def fold_counts(fractions: dict[str, float], n_folds: int) -> dict[str, int]:
    """Folds per split in proportion to ``fractions`` (largest remainder; every split with a
    positive share gets at least one fold when there are enough folds)."""
    total = sum(fractions.values())
    exact = {s: n_folds * f / total for s, f in fractions.items() if f > 0}
    counts = {s: int(v) for s, v in exact.items()}
    for split in sorted(exact, key=lambda s: (counts[s] - exact[s], s)):
        if sum(counts.values()) >= n_folds:
            break
        counts[split] += 1
    for split in sorted(counts, key=lambda s: -counts[s]):
        empty = [s for s in counts if counts[s] == 0]
        if not empty or counts[split] < 2:
            break
        counts[split] -= 1
        counts[empty[0]] += 1
    return counts


def split_unassigned(labels: Sequence[int], groups: Sequence[str], splits: Sequence[str],
                     fractions: dict[str, float], seed: int, unassigned: str,
                     max_folds: int = 20) -> list[str]:
    """Give every ``unassigned`` image a split, whole groups at a time, stratified by label.

    A group that already has images in a split joins that split (its most common one), so a
    group is never cut. The other groups go through scikit-learn's ``StratifiedGroupKFold``
    with up to ``max_folds`` folds (shuffled with ``seed``); each fold goes to one split, in
    proportion to ``fractions`` (split -> share). Up to ``max_folds`` folds (shares in steps
    of 5 % by default: the splitter's cost grows with groups x folds), about half the number
    of groups and no more than the commoner label has images. When that leaves fewer than two
    folds (fewer than two such groups, or at most one image of either label) they all go to
    train: there is nothing to stratify.

    Returns
    -------
    list of str
        The split of every image, aligned with ``splits`` (assigned images unchanged).
    """
    result = list(splits)
    known: dict[str, Counter[str]] = defaultdict(Counter)
    for group, split in zip(groups, splits, strict=True):
        if split != unassigned:
            known[group][split] += 1
    free = [i for i, s in enumerate(splits) if s == unassigned]
    for i in free:
        if groups[i] in known:
            result[i] = known[groups[i]].most_common(1)[0][0]
    free = [i for i in free if result[i] == unassigned]
    # At least two groups a fold on average, so each fold can hold both labels; and no more
    # folds than the commoner label has images (scikit-learn's splitter refuses that).
    n_groups = len({groups[i] for i in free})
    commonest = max(Counter(labels[i] for i in free).values(), default=0)
    n_folds = min(max_folds, max(2, n_groups // 2), commonest) if n_groups >= 2 else 0
    if n_folds < 2:
        for i in free:
            result[i] = "train"
        return result
    counts = fold_counts(fractions, n_folds)
    fold_split = [s for s in sorted(counts) for _ in range(counts[s])]
    splitter = StratifiedGroupKFold(n_splits=n_folds, shuffle=True, random_state=seed)
    free_labels = [labels[i] for i in free]
    for fold, (_, members) in enumerate(splitter.split(np.zeros(len(free)), free_labels,
                                                       [groups[i] for i in free])):
        for k in members:
            result[free[k]] = fold_split[fold]
    return result
