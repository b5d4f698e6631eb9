"""The `prepare` stage: import a dataset, decode it once, audit it, fix its splits, write views.

Outputs (under ``out_dir``, which is replaced whole, atomically, once everything is written):

- ``manifest.csv``: one row per image (index into the array, id, source path, split, the split
  it was shipped in, group, label, boxes as JSON, class names, width, height, sha1; then
  ``site`` when the dataset names anatomical sites and ``spacing_row_mm``/``spacing_col_mm``
  when DICOM headers give a pixel spacing);
- ``images.npy``: uint8 array (N, S, S), grayscale, letterboxed; training memory-maps it;
- ``prepared.json``: class names, format, group source, image size, ``has_boxes``;
- ``yolo/``: a YOLO dataset view for Ultralytics (image symlinks, or 8-bit PNGs for DICOM and
  16-bit sources; box labels; ``data.yaml``). For a dataset without boxes (``has_boxes``
  false) it holds only ``NO_BOXES.txt``, and the detect stage skips.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

import numpy as np

from fraclab.artifacts.manifest import manifest_csv
from fraclab.data.audit import audit_dataset
from fraclab.data.formats import import_dataset
from fraclab.data.formats.common import source_stem
from fraclab.data.images import DecodedImage, decode_all
from fraclab.data.neardup import near_duplicate_pairs, union_groups
from fraclab.data.records import (
    SPLITS,
    UNASSIGNED,
    BadFile,
    DatasetError,
    ImageError,
    ImageRecord,
    ImportedDataset,
)
from fraclab.data.splits import (
    carve_grouped_split,
    keep_groups_out_of_test,
    resplit_by_group,
    split_unassigned,
)
from fraclab.data.views import NO_BOXES_FILE, NO_BOXES_NOTE, yolo_view
from fraclab.io import atomic_directory, atomic_write_json, atomic_write_text
from fraclab.params import DataParams
from fraclab.runtime import available_cores


def regroup(records: list[ImageRecord], group_by: str) -> list[ImageRecord]:
    """Apply `data.group_by`: the importer's groups, source file stems, or one per image."""
    if group_by == "auto":
        return records
    if group_by == "stem":
        return [replace(r, group=source_stem(r.path.name)) for r in records]
    return [replace(r, group=r.image_id) for r in records]


def select_classes(dataset: ImportedDataset, records: list[ImageRecord],
                   wanted: list[str]) -> tuple[tuple[str, ...], list[ImageRecord]]:
    """Keep the boxes of the classes the detector learns, renumbered in ``wanted`` order.

    ``wanted`` empty means the format's default (``dataset.default_classes``, else all).
    An image's label is unchanged when the dataset gives one; otherwise it follows the
    remaining boxes.

    Raises
    ------
    DatasetError
        A name in ``wanted`` that is not one of the dataset's classes.
    """
    names = list(wanted) or list(dataset.default_classes or dataset.class_names)
    unknown = [n for n in names if n not in dataset.class_names]
    if unknown:
        raise DatasetError(f"data.classes: {unknown} not among the classes of "
                           f"{dataset.root} ({', '.join(dataset.class_names)})")
    if tuple(names) == dataset.class_names:
        return dataset.class_names, records
    new_id = {dataset.class_names.index(n): k for k, n in enumerate(names)}
    return tuple(names), [
        replace(r, boxes=tuple(replace(b, cls=new_id[b.cls]) for b in r.boxes
                               if b.cls in new_id))
        for r in records]


def merge_groups_sharing_content(groups: list[str], hashes: list[str]) -> list[str]:
    """Union groups that contain byte-identical images, so a duplicate cannot cross a split."""
    first_with_hash: dict[str, int] = {}
    # Link every image to the first with its hash (an image linked to itself changes nothing).
    return union_groups(groups, [(first_with_hash.setdefault(digest, i), i, 0)
                                 for i, digest in enumerate(hashes)])


def unassigned_fractions(splits: list[str], declared: dict[str, float] | None,
                         params: DataParams) -> dict[str, float]:
    """Shares for images shipped without a split: the format's own, else those of the images
    that have one (FracAtlas: the official positive split), else the params' fractions."""
    if declared:
        return declared
    shipped = Counter(s for s in splits if s != UNASSIGNED)
    if shipped:
        return {s: shipped[s] / sum(shipped.values()) for s in SPLITS}
    return {"train": 1 - params.test_fraction - params.val_fraction,
            "valid": params.val_fraction, "test": params.test_fraction}


def assign_splits(splits: list[str], labels: list[int], groups: list[str],
                  params: DataParams, seed: int,
                  fractions: dict[str, float] | None = None) -> tuple[list[str], dict]:
    """Final splits: place unassigned images by group, repair straddling groups
    (``resplit``), carve missing test/valid, then move any group still in both test and
    development wholly to one side (no patient is in both).

    Returns the splits and what the last step moved (``{"groups": n, "images": n}``).
    """
    if UNASSIGNED in splits:
        splits = split_unassigned(labels, groups, splits,
                                  unassigned_fractions(splits, fractions, params), seed,
                                  UNASSIGNED)
    if params.resplit:
        splits = resplit_by_group(groups, splits, seed)
    splits = list(splits)
    for missing, fraction in (("test", params.test_fraction), ("valid", params.val_fraction)):
        if missing in splits:
            continue
        pool = [i for i, s in enumerate(splits) if s == "train"]
        try:
            mask = carve_grouped_split([labels[i] for i in pool], [groups[i] for i in pool],
                                       fraction, seed)
        except ValueError as err:
            raise DatasetError(f"the dataset ships no {missing} split and one cannot be "
                               f"carved from train: {err}") from None
        for i, held_out in zip(pool, mask, strict=True):
            if held_out:
                splits[i] = missing
    return keep_groups_out_of_test(groups, splits, seed)


def _check_labels(labels: list[int], splits: list[str], root: Path) -> None:
    if len(set(labels)) < 2:
        only = "fractured" if labels[0] else "normal"
        raise DatasetError(f"{root}: every image is {only}; classification needs both classes")
    for role, members in (("development (train+valid)", [s != "test" for s in splits]),
                          ("test", [s == "test" for s in splits])):
        present = {lab for lab, m in zip(labels, members, strict=True) if m}
        if len(present) < 2:
            raise DatasetError(f"{root}: the {role} set has only one label class")


def prepare_dataset(params: DataParams, seed: int, out_dir: Path, *,
                    workers: int | None = None,
                    log: Callable[[str], None] = print) -> dict:
    """Run the whole stage and return the audit (what `metrics/data.json` holds).

    Raises
    ------
    DatasetError
        Any bad input under ``on_bad: error``, an empty dataset, or a single label class;
        nothing is written in that case.
    """
    dataset: ImportedDataset = import_dataset(Path(params.path), params.format, params.on_bad,
                                              params)
    class_names, records = select_classes(dataset, regroup(dataset.records, params.group_by),
                                          params.classes)
    log(f"{dataset.root}: {len(records)} images, format {dataset.format}, "
        f"{len(class_names)} of {len(dataset.class_names)} box classes, "
        f"groups from {dataset.group_source}")

    decoded_or_error = decode_all([r.path for r in records], params.image_size,
                                  workers or available_cores())
    skipped = list(dataset.skipped)
    kept: list[tuple[ImageRecord, DecodedImage]] = []
    for record, result in zip(records, decoded_or_error, strict=True):
        if isinstance(result, ImageError):
            if params.on_bad == "error":
                raise DatasetError(str(result))
            skipped.append(BadFile(str(record.path), result.problem))
        else:
            kept.append((record, result))
    if not kept:
        raise DatasetError(f"{dataset.root}: no readable images")
    records = [r for r, _ in kept]
    decoded = [d for _, d in kept]

    labels = [r.fractured for r in records]
    hashes = [d.sha1 for d in decoded]
    groups = [r.group for r in records]
    started = time.perf_counter()
    near_pairs = near_duplicate_pairs([d.phash for d in decoded], params.dedupe_distance)
    log(f"near-duplicate search: {len(near_pairs)} pairs within {params.dedupe_distance} bits "
        f"({time.perf_counter() - started:.1f} s)")
    audit_args = dict(image_ids=[r.image_id for r in records], labels=labels,
                      box_classes=[[b.cls for b in r.boxes] for r in records],
                      hashes=hashes, class_names=class_names, near_pairs=near_pairs,
                      near_max_distance=params.dedupe_distance)
    shipped_splits = [r.split for r in records]
    shipped = audit_dataset(splits=shipped_splits, groups=groups, **audit_args)
    # Byte-identical files are one image: one group, so that no split, fold or carving
    # (and no move out of test below) can put copies on both sides.
    groups = merge_groups_sharing_content(groups, hashes)
    if params.dedupe == "group":
        groups = union_groups(groups, near_pairs)
    records = [replace(r, group=g) for r, g in zip(records, groups, strict=True)]
    splits, moved = assign_splits(shipped_splits, labels, groups, params, seed,
                                  dataset.split_fractions)
    if moved["groups"]:
        log(f"{moved['groups']} groups ({moved['images']} images) were in both test and "
            "development: each moved wholly to the side holding most of it")
    _check_labels(labels, splits, dataset.root)
    final = audit_dataset(splits=splits, groups=groups, **audit_args)

    # Everything is written into a fresh folder that replaces out_dir whole at the end, so a
    # killed run never pairs a new manifest with an old image array or YOLO view.
    with atomic_directory(out_dir) as tmp:
        array = np.lib.format.open_memmap(tmp / "images.npy", mode="w+", dtype=np.uint8,
                                          shape=(len(decoded), params.image_size,
                                                 params.image_size))
        for index, d in enumerate(decoded):
            array[index] = d.pixels
        array.flush()
        del array
        (tmp / "yolo").mkdir()
        if dataset.has_boxes:
            yolo_view(tmp / "yolo", records, splits, class_names, decoded)
        else:
            (tmp / "yolo" / NO_BOXES_FILE).write_text(NO_BOXES_NOTE)
        atomic_write_text(tmp / "manifest.csv",
                          manifest_csv(records, splits, decoded, class_names))
        atomic_write_json(tmp / "prepared.json", {
            "format": dataset.format, "root": str(params.path), "class_names": class_names,
            "group_source": (dataset.group_source if params.group_by == "auto"
                             else params.group_by),
            "image_size": params.image_size, "seed": seed, "resplit": params.resplit,
            "has_boxes": dataset.has_boxes, "dedupe": params.dedupe,
        })
    return {
        "dataset": {"path": str(params.path), "format": dataset.format,
                    "classes": list(class_names),
                    "group_source": dataset.group_source, "has_boxes": dataset.has_boxes},
        **final,
        "as_shipped": {k: shipped[k] for k in ("groups_spanning_splits",
                                               "images_in_spanning_groups",
                                               "duplicate_sets_across_splits",
                                               "near_duplicate_pairs_across_splits",
                                               "unassigned", "examples", "near_duplicates")},
        "resplit": params.resplit,
        "dedupe": params.dedupe,
        "moved_out_of_test_or_development": moved,
        "skipped": len(skipped),
        "skipped_files": [f"{b.path}: {b.problem}" for b in skipped],
    }
