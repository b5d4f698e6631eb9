"""A corpus of bad inputs pushed through the real prepare stage (and the CLI).

Every bad input must stop the stage with an error that names the offending file (and the
line, for label problems), leave earlier outputs untouched, and, under ``on_bad: skip``,
be counted and listed instead.
"""

from __future__ import annotations

import csv
import io
import json
import shutil
import struct
import zlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner
from PIL import Image

from fraclab.cli import main
from fraclab.data.formats.yolo import read_class_names
from fraclab.data.images import decode_image
from fraclab.data.records import DatasetError
from fraclab.params import DataParams, ParamsError, section
from fraclab.prepare.stage import prepare_dataset

SIZE = 32
DATA_YAML = ("train: ../train/images\nval: ../valid/images\ntest: ../test/images\n"
             "nc: 2\nnames: [a, b]\n")
BOX = "0 0.5 0.5 0.2 0.3\n"
POLYGON = "1 0.1 0.2 0.4 0.2 0.4 0.6 0.1 0.6\n"
# Per split: (file stem, label text). Both labels (normal / fractured) in every split.
LAYOUT = {
    "train": [("tr0", ""), ("tr1", ""), ("tr2", BOX), ("tr3", POLYGON)],
    "valid": [("va0", ""), ("va1", BOX), ("va2", POLYGON)],
    "test": [("te0", ""), ("te1", BOX + POLYGON), ("te2", "")],
}
N_IMAGES = sum(len(v) for v in LAYOUT.values())


def png_bytes(seed: int, fmt: str = "PNG", size: tuple[int, int] = (40, 30)) -> bytes:
    rng = np.random.default_rng(seed)
    pixels = rng.integers(0, 256, (size[1], size[0]), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(pixels, mode="L").save(buffer, fmt)
    return buffer.getvalue()


def build_export(root: Path, splits: tuple[str, ...] = ("train", "valid", "test")) -> Path:
    """A tiny valid Roboflow-style YOLO export under ``root``; returns ``root``."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "data.yaml").write_text(DATA_YAML)
    seed = 0
    for split in splits:
        images, labels = root / split / "images", root / split / "labels"
        images.mkdir(parents=True)
        labels.mkdir(parents=True)
        for stem, label in LAYOUT[split]:
            seed += 1
            (images / f"{stem}.png").write_bytes(png_bytes(seed))
            (labels / f"{stem}.txt").write_text(label)
    return root


def run_prepare(root: Path, out_dir: Path, **params) -> dict:
    data = DataParams(path=str(root), image_size=SIZE, **params)
    return prepare_dataset(data, 0, out_dir, workers=1, log=lambda _: None)


def manifest_rows(out_dir: Path) -> list[dict[str, str]]:
    with (out_dir / "manifest.csv").open(newline="") as f:
        return list(csv.DictReader(f))


@pytest.fixture
def export(tmp_path: Path) -> Path:
    return build_export(tmp_path / "ds")


# --- the fixture itself is a valid dataset --------------------------------------------------


def test_valid_export_prepares(export, tmp_path):
    out = tmp_path / "out"
    audit = run_prepare(export, out)
    assert audit["images"] == N_IMAGES
    assert audit["skipped"] == 0 and audit["skipped_files"] == []
    assert audit["fractured"] == 5 and audit["normal"] == 5
    assert {s: c["images"] for s, c in audit["splits"].items()} == {
        "train": 4, "valid": 3, "test": 3}
    rows = manifest_rows(out)
    assert sorted(r["image_id"] for r in rows) == sorted(
        f"{split}/images/{stem}.png" for split, items in LAYOUT.items() for stem, _ in items)
    by_id = {r["image_id"]: r for r in rows}
    assert json.loads(by_id["test/images/te1.png"]["boxes"]) == [
        [0, 0.5, 0.5, 0.2, 0.3], [1, 0.25, 0.4, 0.3, 0.4]]
    assert by_id["test/images/te1.png"]["classes"] == "a;b"
    assert (by_id["train/images/tr0.png"]["label"], by_id["train/images/tr0.png"]["boxes"]) == (
        "0", "[]")
    assert {(r["width"], r["height"]) for r in rows} == {("40", "30")}
    array = np.load(out / "images.npy")
    assert array.shape == (N_IMAGES, SIZE, SIZE) and array.dtype == np.uint8


# --- bad inputs: each must raise a DatasetError naming the file ------------------------------


def _write(rel: str, content: bytes | str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return mutate


def _truncate(rel: str, fmt: str) -> Callable[[Path], None]:
    def mutate(root: Path) -> None:
        data = png_bytes(99, fmt, size=(64, 48))
        (root / rel).write_bytes(data[: len(data) // 2])
    return mutate


def _clear_images(root: Path) -> None:
    for split in LAYOUT:
        for image in (root / split / "images").iterdir():
            image.unlink()


def _all_normal(root: Path) -> None:
    for label in root.glob("*/labels/*.txt"):
        label.write_text("")


def _split_elsewhere(root: Path) -> None:
    (root / "data.yaml").write_text("names: [a, b]\nval: ../../elsewhere\n")
    shutil.rmtree(root / "valid")


def _test_split_all_normal(root: Path) -> None:
    for label in (root / "test" / "labels").glob("*.txt"):
        label.write_text("")


GOOD_LINE = "0 0.5 0.5 0.2 0.2\n"

# (id, mutation, substrings the error message must contain); "{root}" is the dataset folder.
DATASET_CASES = [
    ("corrupt-png", _write("train/images/tr1.png", np.random.default_rng(5).bytes(300)),
     ["{root}/train/images/tr1.png", "cannot decode image"]),
    ("truncated-png", _truncate("valid/images/va0.png", "PNG"),
     ["{root}/valid/images/va0.png", "truncated"]),
    ("truncated-jpeg", _truncate("test/images/te9.jpg", "JPEG"),
     ["{root}/test/images/te9.jpg", "truncated"]),
    ("text-as-jpg", _write("train/images/notes.jpg", "this is not a radiograph\n"),
     ["{root}/train/images/notes.jpg", "cannot decode image"]),
    ("empty-png", _write("train/images/tr0.png", b""),
     ["{root}/train/images/tr0.png", "cannot decode image"]),
    ("non-numeric", _write("train/labels/tr2.txt", GOOD_LINE + "0 0.5 abc 0.2 0.2\n"),
     ["{root}/train/labels/tr2.txt", "line 2", "non-numeric"]),
    ("4-values", _write("valid/labels/va1.txt", "0 0.5 0.5 0.2\n"),
     ["{root}/valid/labels/va1.txt", "line 1", "got 4"]),
    ("6-values", _write("test/labels/te1.txt", GOOD_LINE * 2 + "0 0.5 0.5 0.2 0.2 0.1\n"),
     ["{root}/test/labels/te1.txt", "line 3", "got 6"]),
    ("coord-outside", _write("train/labels/tr3.txt", "\n0 1.5 0.5 0.2 0.2"),
     ["{root}/train/labels/tr3.txt", "line 2", "outside [0, 1]"]),
    ("negative-coord", _write("train/labels/tr3.txt", "1 0.1 0.1 0.3 -0.2 0.3 0.4\n"),
     ["{root}/train/labels/tr3.txt", "line 1", "outside [0, 1]"]),
    ("class-not-in-names", _write("valid/labels/va2.txt", "2 0.5 0.5 0.2 0.2\n"),
     ["{root}/valid/labels/va2.txt", "line 1", "class id 2 not in names (0..1)"]),
    ("label-not-utf8", _write("train/labels/tr0.txt", b"\xff\xfe\x00garbage"),
     ["{root}/train/labels/tr0.txt", "utf-8"]),
    ("yaml-without-names", _write("data.yaml", "train: ../train/images\nnc: 2\n"),
     ["{root}/data.yaml", "no class `names` list"]),
    ("yaml-nc-mismatch", _write("data.yaml", "nc: 3\nnames: [a, b]\n"),
     ["{root}/data.yaml", "nc is 3 but 2 names"]),
    ("yaml-malformed", _write("data.yaml", "names: [a, b\nnc: 2\n"),
     ["{root}/data.yaml", "not valid YAML"]),
    ("yaml-names-keys", _write("data.yaml", "names: {0: a, 2: b}\n"),
     ["{root}/data.yaml", "names keys must be 0..1"]),
    ("no-images", _clear_images, ["{root}", "no images found"]),
    ("all-normal", _all_normal, ["{root}", "every image is normal"]),
    ("test-one-class", _test_split_all_normal, ["{root}", "test set has only one label class"]),
    ("no-data-yaml", lambda root: (root / "data.yaml").unlink(),
     ["{root}", "cannot tell the dataset format"]),
    # A copy made without its labels would otherwise train on all negatives.
    ("labels-folder-missing", lambda root: shutil.rmtree(root / "valid" / "labels"),
     ["{root}/valid/images", "no labels/ folder"]),
    ("split-not-found", _split_elsewhere,
     ["{root}/data.yaml", "`val: ../../elsewhere` is not a folder inside"]),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in DATASET_CASES],
                         ids=[c[0] for c in DATASET_CASES])
def test_bad_dataset_raises_naming_the_file(export, tmp_path, mutate, expected):
    mutate(export)
    out = tmp_path / "out"
    with pytest.raises(DatasetError) as info:
        run_prepare(export, out)
    message = str(info.value)
    for part in expected:
        assert part.format(root=export) in message, message
    # Nothing is written when the input is bad.
    assert not out.exists() or list(out.iterdir()) == []


def test_missing_dataset_folder(tmp_path):
    missing = tmp_path / "nope"
    with pytest.raises(DatasetError, match="dataset folder does not exist") as info:
        run_prepare(missing, tmp_path / "out")
    assert str(missing) in str(info.value)


def test_unknown_format(export, tmp_path):
    with pytest.raises(DatasetError, match=r"unknown data.format 'coco'; valid: auto, yolo"):
        run_prepare(export, tmp_path / "out", format="coco")


def test_explicit_yolo_format_reads_export(export, tmp_path):
    assert run_prepare(export, tmp_path / "out", format="yolo")["images"] == N_IMAGES


def test_label_errors_name_the_first_bad_file_and_line(export, tmp_path):
    (export / "train" / "labels" / "tr2.txt").write_text(GOOD_LINE * 4 + "0 0.5\n")
    with pytest.raises(DatasetError) as info:
        run_prepare(export, tmp_path / "out")
    assert str(info.value) == (f"{export}/train/labels/tr2.txt: line 5: expected 5 values "
                               "(cls cx cy w h) or an odd count >= 7 (cls x1 y1 ... xn yn), got 2")


# --- params ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "match"), [
    ({"pth": "data"}, r"unknown key\(s\) \['pth'\] in `data`"),
    ({"path": "data", "image_sise": 64}, r"unknown key\(s\) \['image_sise'\]"),
    ({"image_size": "128"}, r"`data.image_size` must be int, got '128'"),
    ({"image_size": 128.0}, r"`data.image_size` must be int"),
    ({"resplit": "yes"}, r"`data.resplit` must be bool"),
    ({"test_fraction": True}, r"`data.test_fraction` must be float"),
    ({"path": 7}, r"`data.path` must be str"),
    ({"on_bad": "ignore"}, r"on_bad must be one of error, skip; got 'ignore'"),
    ({"group_by": "patient"}, r"group_by must be one of auto, stem, image"),
    ({"image_size": 8}, r"image_size must be in 32..1024, got 8"),
    ({"val_fraction": 0.9}, r"val_fraction must be in \(0, 0.5\], got 0.9"),
])
def test_bad_params_raise_params_error(data, match):
    with pytest.raises(ParamsError, match=match):
        section(DataParams, {"data": data}, "data")


def test_params_section_not_a_mapping():
    with pytest.raises(ParamsError, match="`data` must be a mapping"):
        section(DataParams, {"data": "data/"}, "data")


def test_params_valid_section_and_int_for_float():
    params = section(DataParams, {"data": {"image_size": 64, "resplit": True}}, "data")
    assert params == DataParams(image_size=64, resplit=True)
    assert section(DataParams, {"data": None}, "data") == DataParams()
    # An int is accepted where a float is expected: it fails the range check, not the type check.
    with pytest.raises(ParamsError, match=r"test_fraction must be in \(0, 0.5\], got 1.0"):
        section(DataParams, {"data": {"test_fraction": 1}}, "data")


# --- on_bad: skip ---------------------------------------------------------------------------


def test_skip_counts_and_lists_bad_files(export, tmp_path):
    bad_image = export / "train" / "images" / "tr1.png"
    bad_image.write_bytes(np.random.default_rng(1).bytes(200))
    bad_label = export / "valid" / "labels" / "va1.txt"
    bad_label.write_text(GOOD_LINE + "0 0.5 nope 0.2 0.2\n")
    out = tmp_path / "out"
    audit = run_prepare(export, out, on_bad="skip")

    assert audit["skipped"] == 2
    assert len(audit["skipped_files"]) == 2
    image_entry, label_entry = sorted(audit["skipped_files"], key=lambda e: "labels" in e)
    assert image_entry.startswith(f"{bad_image}: ") and "cannot decode image" in image_entry
    assert label_entry.startswith(f"{bad_label}: line 2: non-numeric")
    expected_ids = sorted(f"{split}/images/{stem}.png"
                          for split, items in LAYOUT.items() for stem, _ in items
                          if (split, stem) not in {("train", "tr1"), ("valid", "va1")})
    rows = manifest_rows(out)
    assert sorted(r["image_id"] for r in rows) == expected_ids
    assert [int(r["index"]) for r in rows] == list(range(len(expected_ids)))
    assert audit["images"] == len(expected_ids)
    array = np.load(out / "images.npy")
    assert array.shape == (len(expected_ids), SIZE, SIZE)
    # Each array row is the pixels of its manifest row, not of a skipped neighbour.
    for row in rows:
        expected = decode_image(export / row["image_id"], SIZE).pixels
        np.testing.assert_array_equal(array[int(row["index"])], expected)
    yolo_images = sorted(p.name for p in (out / "yolo").glob("*/images/*"))
    assert yolo_images == sorted(Path(i).name for i in expected_ids)


def test_skip_everything_unreadable_is_still_an_error(export, tmp_path):
    for image in export.glob("*/images/*.png"):
        image.write_bytes(b"not an image")
    with pytest.raises(DatasetError, match="no readable images"):
        run_prepare(export, tmp_path / "out", on_bad="skip")


def test_skip_does_not_hide_single_class(export, tmp_path):
    # Skipping every fractured image's label leaves only normal images: still refused.
    for label in export.glob("*/labels/*.txt"):
        if label.read_text():
            label.write_text("0 0.5\n")
    with pytest.raises(DatasetError, match="every image is normal"):
        run_prepare(export, tmp_path / "out", on_bad="skip")


# --- earlier outputs survive a failed run ---------------------------------------------------


def snapshot(out_dir: Path) -> dict[str, object]:
    files = {name: (out_dir / name).read_bytes()
             for name in ("manifest.csv", "images.npy", "prepared.json")}
    yolo = out_dir / "yolo"
    listing = {}
    for path in sorted(yolo.rglob("*")):
        rel = path.relative_to(yolo).as_posix()
        if path.is_symlink():
            listing[rel] = ("link", str(path.readlink()))
        elif path.is_file():
            listing[rel] = ("file", path.read_bytes())
        else:
            listing[rel] = ("dir", None)
    return {"files": files, "yolo": listing, "entries": sorted(p.name for p in out_dir.iterdir())}


FAILURES = {
    "corrupt-image": _write("test/images/te0.png", b"\x89PNG\r\n\x1a\nbroken"),
    "bad-label": _write("train/labels/tr0.txt", "0 0.5 0.5 0.2 7\n"),
    "single-class": _all_normal,
}


@pytest.mark.parametrize("failure", sorted(FAILURES))
def test_failed_run_keeps_earlier_outputs(export, tmp_path, failure):
    out = tmp_path / "out"
    run_prepare(export, out)
    before = snapshot(out)
    assert len(before["yolo"]) > N_IMAGES  # images, labels, folders and data.yaml

    FAILURES[failure](export)
    with pytest.raises(DatasetError):
        run_prepare(export, out)

    assert snapshot(out) == before
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_failure_while_writing_keeps_earlier_outputs(export, tmp_path, monkeypatch):
    out = tmp_path / "out"
    run_prepare(export, out)
    before = snapshot(out)

    def no_symlinks(*args, **kwargs):
        raise OSError("symlinks not supported here")

    (export / "train" / "images" / "tr1.png").unlink()  # the rerun would change every output
    monkeypatch.setattr("fraclab.prepare.stage.yolo_view", no_symlinks)
    with pytest.raises(OSError, match="symlinks not supported"):
        run_prepare(export, out)
    assert snapshot(out) == before
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


def test_rerun_replaces_outputs_without_leftovers(export, tmp_path):
    out = tmp_path / "out"
    run_prepare(export, out)
    (export / "train" / "images" / "tr1.png").unlink()
    run_prepare(export, out)
    assert len(manifest_rows(out)) == N_IMAGES - 1
    assert np.load(out / "images.npy").shape[0] == N_IMAGES - 1
    assert not (out / "yolo" / "train" / "images" / "tr1.png").exists()
    assert (out / "yolo" / "train" / "images" / "tr0.png").resolve() == (
        export / "train" / "images" / "tr0.png").resolve()
    assert [p.name for p in out.iterdir() if p.name.startswith(".")] == []


# --- the CLI turns bad input into a clean error ----------------------------------------------


def invoke_prepare(tmp_path: Path, params: dict | str):
    params_file = tmp_path / "params.yaml"
    text = params if isinstance(params, str) else yaml.safe_dump(params)
    params_file.write_text(text)
    out, metrics, plots = tmp_path / "out", tmp_path / "metrics.json", tmp_path / "plots"
    result = CliRunner().invoke(main, ["prepare", "--params", str(params_file), "--out", str(out),
                                       "--metrics", str(metrics), "--plots", str(plots)])
    return result, out, metrics


def test_cli_corrupt_image(export, tmp_path):
    bad = export / "valid" / "images" / "va2.png"
    bad.write_bytes(b"GIF89a nonsense")
    result, out, metrics = invoke_prepare(
        tmp_path, {"seed": 0, "data": {"path": str(export), "image_size": SIZE}})
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # a ClickException, not a traceback
    assert f"Error: {bad}: cannot decode image" in result.output
    assert not metrics.exists()
    assert not (out / "manifest.csv").exists()


def test_cli_bad_label(export, tmp_path):
    bad = export / "test" / "labels" / "te1.txt"
    bad.write_text(GOOD_LINE + GOOD_LINE + "1 0.5 0.5 0.2 0.2 0.2\n")
    result, _, metrics = invoke_prepare(
        tmp_path, {"seed": 0, "data": {"path": str(export), "image_size": SIZE}})
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert f"Error: {bad}: line 3: expected 5 values" in result.output
    assert not metrics.exists()


def test_cli_unknown_params_key(export, tmp_path):
    result, _, metrics = invoke_prepare(
        tmp_path, {"seed": 0, "data": {"path": str(export), "imagesize": SIZE}})
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)
    assert "Error: params.yaml: unknown key(s) ['imagesize'] in `data`" in result.output
    assert not metrics.exists()


def test_cli_missing_params_file(tmp_path):
    missing = tmp_path / "missing.yaml"
    result = CliRunner().invoke(main, ["prepare", "--params", str(missing),
                                       "--out", str(tmp_path / "out"),
                                       "--metrics", str(tmp_path / "m.json"),
                                       "--plots", str(tmp_path / "plots")])
    assert result.exit_code == 1
    assert f"Error: {missing}: params file not found" in result.output


# --- bugs found by this corpus, fixed --------------------------------------------------------


def _png_chunk(kind: bytes, data: bytes) -> bytes:
    return (struct.pack(">I", len(data)) + kind + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))


# A 100-byte PNG whose header claims 20000 x 20000 pixels: Pillow refuses it on open with
# DecompressionBombError, which derives from Exception, not OSError.
HUGE_HEADER_PNG = (b"\x89PNG\r\n\x1a\n"
                   + _png_chunk(b"IHDR", struct.pack(">IIBBBBB", 20000, 20000, 8, 0, 0, 0, 0))
                   + _png_chunk(b"IDAT", zlib.compress(b"\0" * 64))
                   + _png_chunk(b"IEND", b""))


@pytest.mark.parametrize("on_bad", ["error", "skip"])
def test_huge_header_image_is_a_bad_file(export, tmp_path, on_bad):
    bad = export / "train" / "images" / "tr0.png"
    bad.write_bytes(HUGE_HEADER_PNG)
    if on_bad == "error":
        with pytest.raises(DatasetError, match=str(bad)):
            run_prepare(export, tmp_path / "out")
    else:
        audit = run_prepare(export, tmp_path / "out", on_bad="skip")
        assert audit["skipped"] == 1 and str(bad) in audit["skipped_files"][0]


def test_skip_reason_is_reproducible(export, tmp_path):
    (export / "train" / "images" / "tr1.png").write_bytes(b"not an image at all")
    audit = run_prepare(export, tmp_path / "out", on_bad="skip")
    (entry,) = audit["skipped_files"]
    assert "cannot decode image" in entry
    assert " at 0x" not in entry


def test_names_mapping_with_mixed_keys(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_text("names: {0: a, b: c}\n")
    with pytest.raises(DatasetError, match="names keys"):
        read_class_names(path)


def test_names_mapping_is_read_in_id_order(tmp_path):
    path = tmp_path / "data.yaml"
    path.write_text("names: {1: fracture, 0: elbow}\nnc: 2\n")
    assert read_class_names(path) == ("elbow", "fracture")


def test_cli_too_small_to_carve_test_split(tmp_path):
    root = build_export(tmp_path / "ds", splits=("train", "valid"))
    (root / "data.yaml").write_text("train: ../train/images\nval: ../valid/images\n"
                                    "nc: 2\nnames: [a, b]\n")
    result, _, _ = invoke_prepare(
        tmp_path, {"seed": 0, "data": {"path": str(root), "image_size": SIZE}})
    assert result.exit_code == 1
    if not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback instead of a clean error
    assert "Error:" in result.output and "test" in result.output


def test_cli_malformed_params_yaml(export, tmp_path):
    result, _, _ = invoke_prepare(tmp_path, "seed: 0\ndata: {path: [\n")
    assert result.exit_code == 1
    if not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback instead of a clean error
    assert f"Error: {tmp_path / 'params.yaml'}" in result.output


def test_dataset_without_test_split_gets_one_carved(tmp_path):
    # With enough groups the missing test split is carved.
    root = tmp_path / "ds"
    root.mkdir()
    (root / "data.yaml").write_text("train: ../train/images\nnc: 2\nnames: [a, b]\n")
    images, labels = root / "train" / "images", root / "train" / "labels"
    images.mkdir(parents=True)
    labels.mkdir(parents=True)
    for i in range(28):
        (images / f"p{i:02d}.png").write_bytes(png_bytes(100 + i))
        (labels / f"p{i:02d}.txt").write_text(BOX if i % 2 else "")
    audit = run_prepare(root, tmp_path / "out")
    assert set(audit["splits"]) == {"train", "valid", "test"}
    assert audit["images"] == 28
    assert audit["groups_spanning_splits"] == 0
    for counts in audit["splits"].values():
        assert counts["fractured"] > 0 and counts["normal"] > 0


def test_a_label_file_saved_with_a_byte_order_mark_reads_as_utf8(export, tmp_path):
    (export / "train" / "labels" / "tr0.txt").write_text("\ufeff" + GOOD_LINE, encoding="utf-8")
    run_prepare(export, tmp_path / "out")
    rows = {r["image_id"]: r for r in manifest_rows(tmp_path / "out")}
    assert rows["train/images/tr0.png"]["label"] == "1"


def test_a_split_folder_outside_the_dataset_is_refused(export, tmp_path):
    outside = tmp_path / "elsewhere"
    shutil.copytree(export / "valid", outside)
    (export / "data.yaml").write_text(f"names: [a, b]\nval: {outside / 'images'}\n")
    with pytest.raises(DatasetError, match="points outside the dataset folder"):
        run_prepare(export, tmp_path / "out")
