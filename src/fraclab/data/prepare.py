"""The `prepare` stage: import a dataset, decode it once, audit it, fix its splits, write views.

Outputs (under ``out_dir``, each written atomically):

- ``manifest.csv``: one row per image (index into the array, id, source path, split, the split
  it was shipped in, group, label, boxes as JSON, class names, width, height, sha1);
- ``images.npy``: uint8 array (N, S, S), grayscale, letterboxed; training memory-maps it;
- ``prepared.json``: class names, format, group source, image size;
- ``yolo/``: a YOLO dataset view for Ultralytics (image symlinks, box labels, ``data.yaml``).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from functools import partial
from pathlib import Path

import numpy as np

from fraclab.data.audit import audit_dataset
from fraclab.data.images import DecodedImage, ImageError, decode_image
from fraclab.data.importers import import_dataset
from fraclab.data.records import BadFile, DatasetError, ImageRecord, ImportedDataset
from fraclab.data.splits import carve_grouped_split, resplit_by_group
from fraclab.data.yolo import source_stem
from fraclab.io import atomic_directory, atomic_write_json, atomic_write_text
from fraclab.params import DataParams

MANIFEST_COLUMNS = ("index", "image_id", "source_path", "split", "shipped_split", "group",
                    "label", "boxes", "classes", "width", "height", "sha1")


def available_cores() -> int:
    """CPU cores this process may use (respects affinity masks and container limits)."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def _decode_or_error(path: Path, size: int) -> DecodedImage | ImageError:
    try:
        return decode_image(path, size)
    except ImageError as err:
        return err


def decode_all(paths: list[Path], size: int, workers: int) -> list[DecodedImage | ImageError]:
    """Decode images in parallel; a failure comes back as its error, in order."""
    decode = partial(_decode_or_error, size=size)
    if workers <= 1 or len(paths) < 64:
        return [decode(p) for p in paths]
    with ProcessPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(decode, paths, chunksize=32))


def regroup(records: list[ImageRecord], group_by: str) -> list[ImageRecord]:
    """Apply `data.group_by`: the importer's groups, source file stems, or one per image."""
    if group_by == "auto":
        return records
    if group_by == "stem":
        return [replace(r, group=source_stem(r.path.name)) for r in records]
    return [replace(r, group=r.image_id) for r in records]


def merge_groups_sharing_content(groups: list[str], hashes: list[str]) -> list[str]:
    """Union groups that contain byte-identical images, so a duplicate cannot cross a split."""
    parent: dict[str, str] = {}

    def find(x: str) -> str:
        while parent.setdefault(x, x) != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x

    first_group_of_hash: dict[str, str] = {}
    for group, digest in zip(groups, hashes, strict=True):
        other = first_group_of_hash.setdefault(digest, group)
        a, b = find(group), find(other)
        if a != b:
            parent[max(a, b)] = min(a, b)
    return [find(g) for g in groups]


def assign_splits(splits: list[str], labels: list[int], groups: list[str],
                  params: DataParams, seed: int) -> list[str]:
    """Final splits: repair straddling groups (``resplit``) and carve missing test/valid."""
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
    return splits


def _check_labels(labels: list[int], splits: list[str], root: Path) -> None:
    if len(set(labels)) < 2:
        only = "fractured" if labels[0] else "normal"
        raise DatasetError(f"{root}: every image is {only}; classification needs both classes")
    for role, members in (("development (train+valid)", [s != "test" for s in splits]),
                          ("test", [s == "test" for s in splits])):
        present = {lab for lab, m in zip(labels, members, strict=True) if m}
        if len(present) < 2:
            raise DatasetError(f"{root}: the {role} set has only one label class")


def _yolo_view(out: Path, records: list[ImageRecord], splits: list[str],
               class_names: tuple[str, ...]) -> None:
    names_taken: set[tuple[str, str]] = set()
    for record, split in zip(records, splits, strict=True):
        name = record.path.name
        if (split, name) in names_taken:
            name = f"{record.split}_{name}"
        names_taken.add((split, name))
        image_dir, label_dir = out / split / "images", out / split / "labels"
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        target = os.path.relpath(record.path.resolve(), image_dir.resolve())
        (image_dir / name).symlink_to(target)
        lines = "".join(box.to_line() + "\n" for box in record.boxes)
        (label_dir / f"{Path(name).stem}.txt").write_text(lines)
    spec = {"train": "train/images", "val": "valid/images", "test": "test/images",
            "nc": len(class_names), "names": list(class_names)}
    (out / "data.yaml").write_text(json.dumps(spec, indent=2) + "\n")  # JSON is valid YAML


def _manifest_csv(records: list[ImageRecord], splits: list[str], decoded: list[DecodedImage],
                  class_names: tuple[str, ...]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(MANIFEST_COLUMNS)
    for index, (r, split, d) in enumerate(zip(records, splits, decoded, strict=True)):
        boxes = [[b.cls, round(b.cx, 6), round(b.cy, 6), round(b.w, 6), round(b.h, 6)]
                 for b in r.boxes]
        classes = ";".join(sorted({class_names[b.cls] for b in r.boxes}))
        writer.writerow([index, r.image_id, r.path.as_posix(), split, r.split, r.group,
                         r.fractured, json.dumps(boxes), classes, d.width, d.height, d.sha1])
    return buffer.getvalue()


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
    dataset: ImportedDataset = import_dataset(Path(params.path), params.format, params.on_bad)
    records = regroup(dataset.records, params.group_by)
    log(f"{dataset.root}: {len(records)} images, format {dataset.format}, "
        f"{len(dataset.class_names)} classes, groups from {dataset.group_source}")

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
    audit_args = dict(image_ids=[r.image_id for r in records], labels=labels,
                      box_classes=[[b.cls for b in r.boxes] for r in records],
                      hashes=hashes, class_names=dataset.class_names)
    shipped = audit_dataset(splits=[r.split for r in records], groups=groups, **audit_args)
    if params.resplit:
        groups = merge_groups_sharing_content(groups, hashes)
        records = [replace(r, group=g) for r, g in zip(records, groups, strict=True)]
    splits = assign_splits([r.split for r in records], labels, groups, params, seed)
    _check_labels(labels, splits, dataset.root)
    final = audit_dataset(splits=splits, groups=groups, **audit_args)

    out_dir.mkdir(parents=True, exist_ok=True)
    fd, array_tmp = tempfile.mkstemp(dir=out_dir, prefix=".images.", suffix=".npy")
    os.close(fd)
    try:
        array = np.lib.format.open_memmap(array_tmp, mode="w+", dtype=np.uint8,
                                          shape=(len(decoded), params.image_size,
                                                 params.image_size))
        for index, d in enumerate(decoded):
            array[index] = d.pixels
        array.flush()
        del array
        with atomic_directory(out_dir / "yolo") as yolo_tmp:
            _yolo_view(yolo_tmp, records, splits, dataset.class_names)
        atomic_write_text(out_dir / "manifest.csv",
                          _manifest_csv(records, splits, decoded, dataset.class_names))
        os.replace(array_tmp, out_dir / "images.npy")
    finally:
        if os.path.exists(array_tmp):
            os.unlink(array_tmp)
    atomic_write_json(out_dir / "prepared.json", {
        "format": dataset.format, "root": str(params.path), "class_names": dataset.class_names,
        "group_source": dataset.group_source if params.group_by == "auto" else params.group_by,
        "image_size": params.image_size, "seed": seed, "resplit": params.resplit,
    })
    return {
        "dataset": {"path": str(params.path), "format": dataset.format,
                    "classes": list(dataset.class_names),
                    "group_source": dataset.group_source},
        **final,
        "as_shipped": {k: shipped[k] for k in ("groups_spanning_splits",
                                               "images_in_spanning_groups",
                                               "duplicate_sets_across_splits", "examples")},
        "resplit": params.resplit,
        "skipped": len(skipped),
        "skipped_files": [f"{b.path}: {b.problem}" for b in skipped],
    }
