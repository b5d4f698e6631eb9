"""Dataset audit: counts per split, group leakage, exact and near duplicates across splits."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Sequence

from fraclab.data.neardup import near_duplicate_audit
from fraclab.data.records import SPLITS, UNASSIGNED
from fraclab.data.splits import groups_spanning_splits

MAX_EXAMPLES = 10


def duplicates_across_splits(hashes: Sequence[str], splits: Sequence[str],
                             image_ids: Sequence[str]) -> list[list[str]]:
    """Sets of images with identical content that sit in more than one split."""
    by_hash: dict[str, list[int]] = defaultdict(list)
    for index, digest in enumerate(hashes):
        by_hash[digest].append(index)
    return [
        sorted(image_ids[i] for i in members)
        for members in by_hash.values()
        if len({splits[i] for i in members}) > 1
    ]


def audit_dataset(
    *,
    image_ids: Sequence[str],
    splits: Sequence[str],
    groups: Sequence[str],
    labels: Sequence[int],
    box_classes: Sequence[Sequence[int]],
    hashes: Sequence[str],
    class_names: Sequence[str],
    near_pairs: Sequence[tuple[int, int, int]] = (),
    near_max_distance: int = 0,
) -> dict:
    """Counts and leakage checks for one dataset state (all sequences aligned per image).

    Returns a JSON-ready dict: images, fractured and normal per split; boxes per class per
    split; number of groups; groups that span two splits; exact-duplicate images (same file
    content hash) that sit in different splits; near-duplicate pairs (``near_pairs``, from
    ``neardup.near_duplicate_pairs``) across splits and groups; images without a split
    (``unassigned``, shipped state only), each with a few examples.
    """
    per_split = {}
    for split in SPLITS:
        members = [i for i, s in enumerate(splits) if s == split]
        if not members:
            continue
        fractured = sum(labels[i] for i in members)
        class_counts = Counter(c for i in members for c in box_classes[i])
        per_split[split] = {
            "images": len(members),
            "fractured": fractured,
            "normal": len(members) - fractured,
            "groups": len({groups[i] for i in members}),
            "boxes": {name: class_counts.get(k, 0) for k, name in enumerate(class_names)},
        }
    assigned = [i for i, s in enumerate(splits) if s != UNASSIGNED]
    # Images not yet given a split cannot leak between splits: leave them out of that check.
    spanning = groups_spanning_splits([groups[i] for i in assigned], [splits[i] for i in assigned])
    duplicates = duplicates_across_splits([hashes[i] for i in assigned],
                                          [splits[i] for i in assigned],
                                          [image_ids[i] for i in assigned])
    near = near_duplicate_audit(near_pairs, splits=splits, groups=groups, image_ids=image_ids,
                                max_distance=near_max_distance)
    return {
        "images": len(image_ids),
        "fractured": int(sum(labels)),
        "normal": len(image_ids) - int(sum(labels)),
        "fractured_share": round(sum(labels) / len(labels), 4) if labels else 0.0,
        "groups": len(set(groups)),
        "splits": per_split,
        "groups_spanning_splits": len(spanning),
        "images_in_spanning_groups": sum(1 for g in groups if g in spanning),
        "duplicate_sets_across_splits": len(duplicates),
        "near_duplicate_pairs_across_splits": near["pairs_across_splits"],
        "unassigned": len(image_ids) - len(assigned),
        "near_duplicates": near,
        "examples": {
            "groups_spanning_splits": [
                f"{g}: {'+'.join(s)}" for g, s in list(spanning.items())[:MAX_EXAMPLES]
            ],
            "duplicates_across_splits": duplicates[:MAX_EXAMPLES],
        },
    }


def summarize_audit(audit: dict) -> str:
    """A short human-readable audit summary for the stage's output."""
    lines = [f"images {audit['images']} (fractured {audit['fractured']}, "
             f"normal {audit['normal']}), groups {audit['groups']}"]
    for split, c in audit["splits"].items():
        lines.append(f"  {split:<5} {c['images']:>6} images  {c['fractured']:>5} fractured  "
                     f"{c['groups']:>5} groups")
    shipped = audit["as_shipped"]
    lines.append(f"as shipped: {shipped['groups_spanning_splits']} groups "
                 f"({shipped['images_in_spanning_groups']} images) span two splits, "
                 f"{shipped['duplicate_sets_across_splits']} exact duplicates and "
                 f"{shipped['near_duplicate_pairs_across_splits']} near-duplicate pairs "
                 f"across splits")
    if shipped["unassigned"]:
        lines.append(f"  {shipped['unassigned']} images shipped without a split were split "
                     f"by group")
    lines.append(f"after prepare (resplit={audit['resplit']}): "
                 f"{audit['groups_spanning_splits']} groups span splits, "
                 f"{audit['duplicate_sets_across_splits']} duplicates and "
                 f"{audit['near_duplicate_pairs_across_splits']} near-duplicate pairs "
                 f"(pHash, <= {audit['near_duplicates']['max_distance']} bits) across splits")
    if audit["skipped"]:
        lines.append(f"skipped {audit['skipped']} bad file(s), listed in the audit")
    return "\n".join(lines)
