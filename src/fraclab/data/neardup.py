"""Near-duplicate images: perceptual hashes, pairs within a Hamming distance, merged groups.

Exact (byte) hashes miss a copy that was re-encoded, resized, re-windowed or lightly cropped.
A perceptual hash (imagehash's DCT pHash) survives those. We use a 16x16 hash (256 bits)
rather than the usual 8x8 (64 bits): radiographs share a layout (a bright limb on a dark
background), and on the real Roboflow X-rays the 64-bit hash already puts unrelated images
within 4 bits of each other, where the 256-bit hash keeps them apart beyond 32 bits while
augmented copies of one X-ray stay within it (see README, "Near-duplicates").
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fraclab.data.images import HASH_SIZE
from fraclab.data.records import UNASSIGNED

HASH_NAME = f"phash{HASH_SIZE}x{HASH_SIZE}"
MAX_EXAMPLES = 10


def hash_matrix(hashes: Sequence[str]) -> np.ndarray:
    """Hex hashes (all the same length) as an (n, words) uint64 array for XOR and popcount."""
    if not hashes:
        return np.zeros((0, 1), dtype=np.uint64)
    raw = b"".join(bytes.fromhex(h) for h in hashes)
    return np.frombuffer(raw, dtype=np.uint64).reshape(len(hashes), -1)


def near_duplicate_pairs(hashes: Sequence[str], max_distance: int,
                         chunk: int = 256) -> list[tuple[int, int, int]]:
    """Every pair ``(i, j, distance)`` with ``i < j`` whose hashes differ in <= max_distance bits.

    All pairs are compared (a block of rows at a time, so memory stays ~chunk x n); for
    40,000 images that is 8e8 comparisons, seconds with numpy's popcount.
    """
    matrix = hash_matrix(hashes)
    n = len(matrix)
    pairs: list[tuple[int, int, int]] = []
    for start in range(0, n, chunk):
        block = matrix[start:start + chunk]
        distance = np.zeros((len(block), n - start), dtype=np.uint16)
        for word in range(matrix.shape[1]):
            distance += np.bitwise_count(block[:, None, word] ^ matrix[None, start:, word])
        rows, cols = np.nonzero(distance <= max_distance)
        keep = cols > rows  # column c of this block is image start + c; row r is start + r
        pairs += [(start + int(r), start + int(c), int(distance[r, c]))
                  for r, c in zip(rows[keep], cols[keep], strict=True)]
    return sorted(pairs)


def near_duplicates_between(query: Sequence[str], reference: Sequence[str], max_distance: int,
                            chunk: int = 256) -> list[tuple[int, int, int]]:
    """Every ``(i, j, distance)``: query hash ``i`` within ``max_distance`` bits of reference
    hash ``j`` (all pairs compared, ``chunk`` query rows at a time), sorted."""
    a, b = hash_matrix(query), hash_matrix(reference)
    if not len(a) or not len(b):
        return []
    pairs: list[tuple[int, int, int]] = []
    for start in range(0, len(a), chunk):
        block = a[start:start + chunk]
        distance = np.zeros((len(block), len(b)), dtype=np.uint16)
        for word in range(a.shape[1]):
            distance += np.bitwise_count(block[:, None, word] ^ b[None, :, word])
        rows, cols = np.nonzero(distance <= max_distance)
        pairs += [(start + int(r), int(c), int(distance[r, c]))
                  for r, c in zip(rows, cols, strict=True)]
    return sorted(pairs)


def union_groups(groups: Sequence[str], pairs: Sequence[tuple[int, int, int]]) -> list[str]:
    """Merge the groups of every linked pair (transitively); a merged group keeps its
    smallest name, so unlinked groups keep theirs."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    for i, j, _ in pairs:
        a, b = find(groups[i]), find(groups[j])
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [find(g) for g in groups]


def near_duplicate_audit(pairs: Sequence[tuple[int, int, int]], *, splits: Sequence[str],
                         groups: Sequence[str], image_ids: Sequence[str],
                         max_distance: int) -> dict:
    """JSON-ready summary: near-duplicate pairs in all, across splits and across groups.

    A pair across splits is a leak between train, valid and test (images not yet given a
    split, ``UNASSIGNED``, are not counted there); a pair across groups can land on both
    sides of a cross-validation fold.
    """
    across_splits = [p for p in pairs if splits[p[0]] != splits[p[1]]
                     and UNASSIGNED not in (splits[p[0]], splits[p[1]])]
    across_groups = [p for p in pairs if groups[p[0]] != groups[p[1]]]
    return {
        "hash": HASH_NAME,
        "max_distance": max_distance,
        "pairs": len(pairs),
        "pairs_across_splits": len(across_splits),
        "pairs_across_groups": len(across_groups),
        "examples_across_splits": [
            f"{image_ids[i]} ({splits[i]}) ~ {image_ids[j]} ({splits[j]}): {d} bits"
            for i, j, d in across_splits[:MAX_EXAMPLES]
        ],
    }
