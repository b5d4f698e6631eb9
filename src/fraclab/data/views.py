"""The YOLO view of a dataset: its images linked in place, its labels, its ``data.yaml``."""

from __future__ import annotations

import json
import os
from pathlib import Path

from fraclab.data.images import DecodedImage, full_resolution_gray
from fraclab.data.records import ImageRecord

NO_BOXES_FILE = "NO_BOXES.txt"
NO_BOXES_NOTE = ("This dataset has no boxes (prepared.json: has_boxes = false), so there is "
                 "no YOLO view and the detect stage skips: localisation is not possible.\n")


def yolo_view(out: Path, records: list[ImageRecord], splits: list[str],
              class_names: tuple[str, ...], decoded: list[DecodedImage]) -> None:
    """Write a YOLO dataset for Ultralytics under ``out``: per final split, images (symlinks
    into the dataset, or converted PNGs) and box labels, plus ``data.yaml``."""
    names_taken: set[tuple[str, str]] = set()
    for record, split, image in zip(records, splits, decoded, strict=True):
        # Ultralytics reads neither DICOM nor 16-bit grayscale correctly: give it 8-bit PNGs.
        name = Path(record.path.name).with_suffix(".png").name if image.converted else (
            record.path.name)
        if (split, name) in names_taken:
            name = f"{record.split}_{name}"
        if (split, name) in names_taken:
            # Same file name in two folders of one split (class folders): use the whole path.
            name = Path(record.image_id.replace("/", "_")).with_suffix(Path(name).suffix).name
        names_taken.add((split, name))
        image_dir, label_dir = out / split / "images", out / split / "labels"
        image_dir.mkdir(parents=True, exist_ok=True)
        label_dir.mkdir(parents=True, exist_ok=True)
        if image.converted:
            full_resolution_gray(record.path).save(image_dir / name, format="PNG")
        else:
            target = os.path.relpath(record.path.resolve(), image_dir.resolve())
            (image_dir / name).symlink_to(target)
        lines = "".join(box.to_line() + "\n" for box in record.boxes)
        (label_dir / f"{Path(name).stem}.txt").write_text(lines)
    spec = {"train": "train/images", "val": "valid/images", "test": "test/images",
            "nc": len(class_names), "names": list(class_names)}
    (out / "data.yaml").write_text(json.dumps(spec, indent=2) + "\n")  # JSON is valid YAML


