"""Bad input for every new format: a clear error naming the file, or a counted skip."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path

import pytest
from format_fixtures import (
    build_class_folders,
    build_fracatlas,
    build_grazpedwri,
    build_mura,
    noise_image,
    save,
)

from fraclab.data.records import DatasetError
from fraclab.params import DataParams
from fraclab.prepare.stage import prepare_dataset

BUILD = {
    "fracatlas": lambda tmp: build_fracatlas(tmp)[0],
    "grazpedwri": lambda tmp: build_grazpedwri(tmp / "graz")[0],
    "mura": lambda tmp: build_mura(tmp)[0],
    "classfolders": lambda tmp: build_class_folders(tmp / "folders")[0],
}


def edit_csv(rel: str, edit: Callable[[list[list[str]]], None]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        path = root / rel
        rows = list(csv.reader(path.open(newline="")))
        edit(rows)
        with path.open("w", newline="") as f:
            csv.writer(f).writerows(rows)
    return mutate


def drop_column(rel: str, name: str) -> Callable[[Path], None]:
    def edit(rows: list[list[str]]) -> None:
        k = rows[0].index(name)
        for row in rows:
            del row[k]
    return edit_csv(rel, edit)


def set_cell(rel: str, row: int, col: int, value: str) -> Callable[[Path], None]:
    def edit(rows: list[list[str]]) -> None:
        rows[row][col] = value
    return edit_csv(rel, edit)


def append_row(rel: str, values: list[str]) -> Callable[[Path], None]:
    return edit_csv(rel, lambda rows: rows.append(values))


def unlink(rel: str) -> Callable[[Path], None]:
    return lambda root: (root / rel).unlink()


def write(rel: str, text: str | bytes) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        if isinstance(text, bytes):
            (root / rel).write_bytes(text)
        else:
            (root / rel).write_text(text)
    return mutate


def edit_coco(edit: Callable[[dict], None]) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        path = root / "Annotations" / "COCO JSON" / "COCO_fracture_masks.json"
        coco = json.loads(path.read_text())
        edit(coco)
        path.write_text(json.dumps(coco))
    return mutate


def _coco_unknown_image(coco: dict) -> None:
    coco["images"].append({"id": 999, "file_name": "IMG9999999.jpg", "width": 60,
                           "height": 50})
    coco["annotations"].append({"id": 77, "image_id": 999, "bbox": [1, 1, 5, 5]})


def _coco_box_outside(coco: dict) -> None:
    coco["annotations"][0]["bbox"] = [50.0, 12.0, 30.0, 10.0]  # x + w > width 60


def _coco_box_on_negative(coco: dict) -> None:
    coco["annotations"].append({"id": 78, "image_id": 15, "bbox": [1, 1, 5, 5]})


MURA_IMG = "MURA-v1.1/train/XR_WRIST/patient00002/study1_negative/image1.png"
# (id, format, mutation, substrings of the message ({root} = the data folder), files skipped
# under on_bad: skip, 0 when the problem is not per file and stays an error)
CASES = [
    ("fa-no-csv", "fracatlas", unlink("dataset.csv"), ["{root}/dataset.csv", "not found"],
     0),
    ("fa-no-coco", "fracatlas", unlink("Annotations/COCO JSON/COCO_fracture_masks.json"),
     ["COCO_fracture_masks.json: COCO annotation file not found"], 0),
    ("fa-no-column", "fracatlas", drop_column("dataset.csv", "fractured"),
     ["{root}/dataset.csv: missing column(s) fractured"], 0),
    ("fa-bad-flag", "fracatlas", set_cell("dataset.csv", 3, 1, "yes"),
     ["{root}/dataset.csv: line 4 column hand", "flag 'yes'"], 0),
    ("fa-missing-image", "fracatlas", unlink("images/Fractured/IMG0000003.jpg"),
     ["{root}/dataset.csv: line 5: image IMG0000003.jpg is listed but missing on disk"], 1),
    ("fa-escape", "fracatlas", set_cell("dataset.csv", 3, 0, "../../../secret.jpg"),
     ["{root}/dataset.csv", "escapes the dataset folder"], 0),
    ("fa-unlisted-image", "fracatlas",
     lambda root: save(noise_image(77), root / "images/Non_fractured/IMG0000099.jpg", "JPEG"),
     ["{root}/images/Non_fractured/IMG0000099.jpg: image is not listed in dataset.csv"], 1),
    ("fa-box-for-unknown-image", "fracatlas", edit_coco(_coco_unknown_image),
     ["COCO_fracture_masks.json: boxes for IMG9999999.jpg, which dataset.csv does not list"],
     1),
    ("fa-box-outside", "fracatlas", edit_coco(_coco_box_outside),
     ["COCO_fracture_masks.json: annotation 0 (IMG0000000.jpg): bad bbox",
      "outside [0, 1]"], 1),
    ("fa-box-on-negative", "fracatlas", edit_coco(_coco_box_on_negative),
     ["IMG0000015.jpg has boxes but dataset.csv marks it not fractured"], 1),
    ("fa-split-lists-negative", "fracatlas",
     append_row("Utilities/Fracture Split/test.csv", ["IMG0000012.jpg"]),
     ["IMG0000012.jpg is in test.csv but is not fractured"], 1),
    ("fa-coco-not-json", "fracatlas",
     write("Annotations/COCO JSON/COCO_fracture_masks.json", "{not json"),
     ["COCO_fracture_masks.json: not a COCO file"], 0),
    ("gr-no-labels", "grazpedwri",
     lambda root: [p.unlink() for p in (root / "folder_structure/yolov5/labels").iterdir()]
     and (root / "folder_structure/yolov5/labels").rmdir(),
     ["{root}/folder_structure/yolov5/labels: YOLO label folder not found"], 0),
    ("gr-no-column", "grazpedwri", drop_column("dataset.csv", "patient_id"),
     ["{root}/dataset.csv: missing column(s) patient_id"], 0),
    ("gr-missing-image", "grazpedwri", unlink("images_part2/0000_1001_02_PA.png"),
     ["{root}/dataset.csv: line 3: image 0000_1001_02_PA is listed but missing on disk"],
     1),
    ("gr-label-without-image", "grazpedwri",
     write("folder_structure/yolov5/labels/9999_1_01_PA.txt", "3 0.5 0.5 0.1 0.1\n"),
     ["9999_1_01_PA.txt: label file refers to an image that is not on disk"], 1),
    ("gr-class-out-of-range", "grazpedwri",
     write("folder_structure/yolov5/labels/0001_1002_01_PA.txt", "9 0.5 0.5 0.1 0.1\n"),
     ["0001_1002_01_PA.txt: line 1: class id 9 not in names (0..8)"], 1),
    ("gr-corrupt-16-bit", "grazpedwri", write("images_part4/0001_1003_02_PA.png", b"\x89PNG"),
     ["{root}/images_part4/0001_1003_02_PA.png: cannot decode image"], 1),
    ("gr-unlisted-image", "grazpedwri",
     lambda root: save(noise_image(5), root / "images_part1" / "stray.png"),
     ["{root}/images_part1/stray.png: image is not listed in dataset.csv"], 1),
    ("mu-no-studies", "mura", unlink("train_labeled_studies.csv"),
     ["{root}/train_labeled_studies.csv: CSV file not found"], 0),
    ("mu-escape", "mura", set_cell("train_image_paths.csv", 0, 0, "MURA-v1.1/../../x.png"),
     ["{root}/train_image_paths.csv", "escapes the dataset folder"], 0),
    ("mu-missing-image", "mura", lambda root: (root.parent / MURA_IMG).unlink(),
     ["{root}/train_image_paths.csv: line 5: image " + MURA_IMG + " is listed but missing"],
     1),
    ("mu-study-without-label", "mura",
     edit_csv("train_labeled_studies.csv", lambda rows: rows.pop(0)),
     ["study train/XR_ELBOW/patient00001/study1_positive of", "has no label in "
      "train_labeled_studies.csv"], 2),  # both images of the study
    ("mu-bad-label", "mura", set_cell("valid_labeled_studies.csv", 0, 1, "2"),
     ["{root}/valid_labeled_studies.csv: line 1: label '2' is not 0 or 1"], 0),
    ("mu-three-values", "mura", append_row("train_labeled_studies.csv", ["a", "1", "x"]),
     ["train_labeled_studies.csv: line", "expected 2 value(s), got 3"], 0),
    ("cf-unknown-folder", "classfolders",
     lambda root: save(noise_image(3), root / "train" / "maybe" / "a.png"),
     ["{root}/train/maybe", "add its name to data.positive_folders or data.negative_folders"],
     0),
    ("cf-image-outside", "classfolders",
     lambda root: save(noise_image(3), root / "train" / "loose.png"),
     ["{root}/train/loose.png: image outside any label folder"], 0),
    ("cf-corrupt", "classfolders", write("test/Fractured/broken.jpg", b"\xff\xd8\xff garbage"),
     ["{root}/test/Fractured/broken.jpg: cannot decode image"], 1),
]


def run(root: Path, fmt: str, out: Path, on_bad: str = "error") -> dict:
    return prepare_dataset(DataParams(path=str(root), image_size=32, format=fmt,
                                      on_bad=on_bad), 0, out, workers=1, log=lambda _: None)


@pytest.mark.parametrize(("fmt", "mutate", "expected", "n_skipped"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_is_a_clear_error(tmp_path, fmt, mutate, expected, n_skipped):
    root = BUILD[fmt](tmp_path)
    mutate(root)
    out = tmp_path / "out"
    with pytest.raises(DatasetError) as info:
        run(root, fmt, out)
    for part in expected:
        assert part.format(root=root) in str(info.value), str(info.value)
    assert not out.exists()  # nothing written
    if n_skipped:
        audit = run(root, fmt, out, on_bad="skip")
        assert audit["skipped"] == n_skipped, audit["skipped_files"]
        assert any(expected[-1].format(root=root).split(": ")[-1] in f
                   for f in audit["skipped_files"])
    else:
        with pytest.raises(DatasetError):
            run(root, fmt, out, on_bad="skip")


def test_quoted_comma_label_is_rejected(tmp_path):
    root = BUILD["mura"](tmp_path)
    set_cell("train_labeled_studies.csv", 1, 1, "1,2")(root)
    with pytest.raises(DatasetError, match=r"train_labeled_studies\.csv: line 2: label '1,2'"):
        run(root, "mura", tmp_path / "out")


@pytest.mark.parametrize("fmt", sorted(BUILD))
def test_missing_marker_files_are_named(tmp_path, fmt):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(DatasetError, match=r"not found|no class folders"):
        run(empty, fmt, tmp_path / "out")
    with pytest.raises(DatasetError, match="cannot tell the dataset format"):
        run(empty, "auto", tmp_path / "out")
