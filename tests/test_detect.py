"""The detect stage: offline with sockets blocked, metrics equal Ultralytics' own validator,
worker-invariant training, bad input stopped before training, datasets without boxes skipped.

Training runs are tiny (a few dozen 64 px images, a handful of epochs) so the whole file takes
about a minute on two cores.
"""

from __future__ import annotations

import json
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner
from PIL import Image

from fraclab.cli import main
from fraclab.models import offline
from fraclab.params import DetectParams, ParamsError, section

pytestmark = pytest.mark.slow

# Easy enough that a few epochs from scratch give non-zero AP (so equality tests can fail).
TINY = {"epochs": 4, "imgsz": 64, "batch": 8, "nbs": 8, "lr0": 0.01, "warmup_epochs": 0.0,
        "close_mosaic": 0, "augment": {"mosaic": 0.0}, "threads": 1, "workers": 0,
        "n_plot_images": 2}


def tiny(**changes) -> DetectParams:
    return section(DetectParams, {"detect": {**TINY, **changes}}, "detect")


def squares_view(root: Path, counts=(("train", 32), ("valid", 8), ("test", 8)),
                 size: int = 64, seed: int = 0) -> Path:
    """A YOLO view as `prepare` writes it: bright and dark rectangles on noise, one box each."""
    rng = np.random.default_rng(seed)
    for split, n in counts:
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for i in range(n):
            img = (np.full((size, size), 128) + rng.integers(0, 20, (size, size))).astype(np.uint8)
            k = i % 2
            w, h = rng.integers(size // 4, size // 2, 2)
            x0, y0 = rng.integers(0, size - w), rng.integers(0, size - h)
            img[y0:y0 + h, x0:x0 + w] = 250 if k == 0 else 5
            Image.fromarray(img).save(root / split / "images" / f"{split}{i:03d}.png")
            (root / split / "labels" / f"{split}{i:03d}.txt").write_text(
                f"{k} {(x0 + w / 2) / size:.6f} {(y0 + h / 2) / size:.6f} "
                f"{w / size:.6f} {h / size:.6f}\n")
    (root / "data.yaml").write_text("train: train/images\nval: valid/images\n"
                                    "test: test/images\nnc: 2\nnames: [bright, dark]\n")
    return root


@pytest.fixture(scope="module")
def yolo_home(tmp_path_factory) -> Path:
    """Ultralytics' config folder for this test session (before ultralytics is imported)."""
    return offline.configure(tmp_path_factory.mktemp("yolo-home"))


@pytest.fixture(scope="module")
def stage_run(tmp_path_factory, yolo_home):
    """One stage run (train, val, test, plots) with every socket connection refused."""
    root = tmp_path_factory.mktemp("detect")
    squares_view(root / "prepared" / "yolo")
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError("network blocked by test")

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(socket.socket, "connect", refuse)
        from fraclab.detect.stage import run_detect

        metrics = run_detect("n", tiny(), 0, root / "prepared", root / "artifacts",
                             root / "metrics.json", root / "plots", log=lambda _: None)
    return root, metrics, attempts


def test_offline_environment_is_seeded_before_ultralytics(yolo_home, stage_run):
    import ultralytics.utils as ul

    settings = json.loads((yolo_home / "Ultralytics" / "settings.json").read_text())
    assert settings["dvc"] is False and settings["sync"] is False
    assert ul.SETTINGS["dvc"] is False and ul.SETTINGS["sync"] is False  # what it actually read
    assert (yolo_home / "Ultralytics" / "Arial.ttf").stat().st_size > 100_000
    assert not ul.ONLINE


def test_training_and_validation_never_touch_the_network(stage_run):
    root, metrics, attempts = stage_run
    assert attempts == []
    assert metrics["training"]["epochs_trained"] == 4
    assert (root / "artifacts" / "best.pt").is_file()
    # Trained channels-last on CPU, saved contiguous (Ultralytics' layer fusion needs that).
    weights = _state(root / "artifacts" / "best.pt")
    assert all(w.is_contiguous() for w in weights.values())


def test_label_caches_stay_out_of_the_prepared_view(stage_run):
    root, _, _ = stage_run
    assert not list((root / "prepared").rglob("*.cache"))


def test_outputs_and_plot_files(stage_run):
    root, metrics, _ = stage_run
    assert json.loads((root / "metrics.json").read_text()) == metrics
    assert metrics["classes"] == ["bright", "dark"]
    for split in ("val", "test"):
        assert set(metrics[split]["per_class"]) == {"bright", "dark"}
        assert metrics[split]["boxes"] == 8 == metrics[split]["images"]
    assert 1 <= metrics["training"]["best_epoch"] <= 4
    assert metrics["training"]["train_images_per_second"] > 0
    plots = root / "plots"
    epochs = (plots / "val_map.csv").read_text().splitlines()
    assert epochs[0] == "epoch,map50,map50_95,precision,recall" and len(epochs) == 5
    assert len((plots / "train_loss.csv").read_text().splitlines()) == 5
    bars = (plots / "ap50_per_class.csv").read_text().splitlines()
    assert bars[0] == "label,class,split,ap50" and len(bars) == 5  # 2 classes x 2 splits
    pr = (plots / "pr_test.csv").read_text().splitlines()
    assert pr[0] == "recall,precision" and len(pr) == 102
    drawn = sorted((plots / "test_images").glob("*.png"))
    assert len(drawn) == 2 and Image.open(drawn[0]).size == (384, 384)


def test_metrics_equal_ultralytics_validator(stage_run):
    """The JSON holds exactly what YOLO(best).val(split=...) returns for the same weights."""
    from ultralytics import YOLO

    root, metrics, _ = stage_run
    assert metrics["val"]["map50"] > 0  # a trained model: equality below can fail
    view = shutil.copytree(root / "prepared" / "yolo", root / "copy")  # Ultralytics writes here
    for split in ("val", "test"):
        result = YOLO(str(root / "artifacts" / "best.pt")).val(
            data=str(view / "data.yaml"), split=split, plots=False,
            project=str(root / "val"), verbose=False)
        ours = metrics[split]
        assert (ours["precision"], ours["recall"], ours["map50"], ours["map50_95"]) == tuple(
            float(v) for v in result.mean_results())
        for i, k in enumerate(result.ap_class_index):
            p, r, ap50, ap = (float(v) for v in result.class_result(i))
            assert ours["per_class"][result.names[int(k)]] == {
                "boxes": int(result.nt_per_class[k]), "precision": p, "recall": r,
                "map50": ap50, "map50_95": ap}


def _state(path: Path) -> dict[str, torch.Tensor]:
    return torch.load(path, weights_only=False)["model"].float().state_dict()


def test_worker_processes_do_not_change_results(tmp_path, yolo_home):
    """Same seed, 0 vs 2 dataloader workers (mosaic on): bit-identical weights and loss log."""
    from fraclab.detect.data import load_view, private_view
    from fraclab.detect.train import train

    view = load_view(squares_view(tmp_path / "yolo", counts=(("train", 24), ("valid", 4),
                                                             ("test", 4))))
    data_yaml = private_view(view, tmp_path / "view")
    runs = {}
    for workers in (0, 2):
        cfg = tiny(epochs=2, close_mosaic=1, augment={"mosaic": 1.0}, workers=workers)
        runs[workers] = train(cfg, "n", 0, "yolov8n.yaml", data_yaml, tmp_path / f"w{workers}",
                              log=lambda _: None)
    assert runs[2].resources.workers == 2
    first, second = _state(runs[0].best), _state(runs[2].best)
    assert all(torch.equal(first[k], second[k]) for k in first)

    def losses(result):  # the per-epoch log without its wall-clock column
        return [line.split(",")[2:] for line in result.results_csv.read_text().splitlines()]

    assert losses(runs[0]) == losses(runs[2])


def test_auto_resources_use_every_core(monkeypatch):
    from fraclab.detect import train as detect_train

    monkeypatch.setattr(detect_train, "available_cores", lambda: 3)
    res = detect_train.resources(tiny(threads="auto", workers="auto", device="cpu"))
    assert (res.device, res.threads, res.workers) == ("cpu", 3, 0)  # all cores to torch
    monkeypatch.setattr(detect_train, "available_cores", lambda: 12)
    res = detect_train.resources(tiny(threads="auto", workers="auto", device="cpu"))
    assert (res.threads, res.workers) == (8, 4)  # cores beyond 8 threads decode and augment
    res = detect_train.resources(tiny(threads=1, workers=0, device="cpu"))
    assert (res.threads, res.workers) == (1, 0)
    monkeypatch.setattr(detect_train, "select_device", lambda *_: torch.device("cuda"))
    res = detect_train.resources(tiny(threads="auto", workers="auto", device="cuda"))
    assert (res.device, res.workers) == ("0", 12)  # on an accelerator, a worker per core


@pytest.mark.parametrize("optimizer", ["adamw", "sgd"])
def test_cpu_trainer_steps_fused_with_ultralytics_groups_and_lays_out_channels_last(
        tmp_path, yolo_home, optimizer):
    """Same parameter groups and hyperparameters as Ultralytics' optimiser; one step agrees."""
    from ultralytics.models.yolo.detect import DetectionTrainer
    from ultralytics.nn.tasks import DetectionModel

    from fraclab.detect.train import Resources, stage_trainer

    data_yaml = squares_view(tmp_path / "yolo", counts=(("train", 2), ("valid", 2),
                                                        ("test", 2))) / "data.yaml"
    trainer = stage_trainer(Resources("cpu", 1, 0), 0)(overrides={
        "data": str(data_yaml), "model": "yolov8n.yaml", "device": "cpu",
        "project": str(tmp_path / "runs"), "name": "t", "verbose": False})
    models = []
    for _ in range(2):
        torch.manual_seed(0)
        models.append(DetectionModel("yolov8n.yaml", nc=2, verbose=False))
    name = {"adamw": "AdamW", "sgd": "SGD"}[optimizer]
    ours = trainer.build_optimizer(models[0], name=name, lr=0.01, momentum=0.9, decay=5e-4)
    theirs = DetectionTrainer.build_optimizer(trainer, models[1], name=name, lr=0.01,
                                              momentum=0.9, decay=5e-4)
    assert type(ours) is type(theirs) and ours.defaults["fused"] and not theirs.defaults["fused"]
    for mine, reference in zip(ours.param_groups, theirs.param_groups, strict=True):
        assert {k: v for k, v in mine.items() if k not in ("params", "fused", "foreach")} == \
            {k: v for k, v in reference.items() if k not in ("params", "fused", "foreach")}
        assert len(mine["params"]) == len(reference["params"])
    first_conv = models[0].model[0].conv.weight.detach().clone()
    for model, optim in zip(models, (ours, theirs), strict=True):
        for i, param in enumerate(model.parameters()):
            param.grad = torch.full_like(param, 0.01 * (i % 7 - 3))
        optim.step()
    for mine, reference in zip(models[0].parameters(), models[1].parameters(), strict=True):
        torch.testing.assert_close(mine, reference, rtol=1e-5, atol=1e-6)
    assert not torch.equal(models[0].model[0].conv.weight, first_conv)  # the step moved it
    trainer.model = models[0]
    trainer.setup_model()
    assert models[0].model[0].conv.weight.is_contiguous(memory_format=torch.channels_last)


# ---- bad input: each stops before any training starts -------------------------------------


@pytest.fixture
def no_training(monkeypatch, yolo_home):
    """Fail the test if training is reached."""
    from fraclab.detect import train as detect_train

    def refuse(*args, **kwargs):
        raise AssertionError("training started")

    monkeypatch.setattr(detect_train, "train", refuse)


def _run(prepared: Path, tmp_path: Path, size: str = "n", **changes) -> dict:
    from fraclab.detect.stage import run_detect

    return run_detect(size, tiny(**changes), 0, prepared, tmp_path / "out",
                      tmp_path / "m.json", tmp_path / "plots", log=lambda _: None)


def test_split_without_images_is_an_error(tmp_path, no_training):
    view = squares_view(tmp_path / "prepared" / "yolo")
    for image in (view / "valid" / "images").iterdir():
        image.unlink()
    with pytest.raises(ValueError, match=r"valid/images: the val split has no images"):
        _run(tmp_path / "prepared", tmp_path)


def test_train_split_without_boxes_is_an_error(tmp_path, no_training):
    view = squares_view(tmp_path / "prepared" / "yolo")
    for label in (view / "train" / "labels").iterdir():
        label.write_text("")
    with pytest.raises(ValueError, match=r"train split has 32 images but no boxes"):
        _run(tmp_path / "prepared", tmp_path)


def test_unknown_size_letter_is_an_error(tmp_path, no_training):
    squares_view(tmp_path / "prepared" / "yolo")
    with pytest.raises(ValueError, match=r"unknown YOLOv8 size 'q'; valid: n, s, m"):
        _run(tmp_path / "prepared", tmp_path, size="q")
    with pytest.raises(ParamsError, match="unknown YOLOv8 size 'xl'"):
        section(DetectParams, {"detect": {"sizes": ["n", "xl"]}}, "detect")


@pytest.mark.parametrize("imgsz, hint", [(100, "use 96 or 128"), (16, "use 32 or 32")])
def test_imgsz_not_a_multiple_of_32_is_an_error(imgsz, hint):
    with pytest.raises(ParamsError, match=f"multiple of 32.*got {imgsz}; {hint}"):
        section(DetectParams, {"detect": {"imgsz": imgsz}}, "detect")


def test_cli_reports_bad_input_without_a_traceback(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text("detect:\n  imgsz: 150\n")
    result = CliRunner().invoke(main, ["detect", "--size", "n"])
    assert result.exit_code == 1 and "imgsz must be a multiple of 32" in result.output
    Path("params.yaml").write_text("detect:\n  epochs: 1\n")
    result = CliRunner().invoke(main, ["detect", "--size", "z"])
    assert result.exit_code == 1 and "unknown YOLOv8 size 'z'" in result.output


def test_dataset_without_boxes_is_skipped_with_a_reason(tmp_path, no_training, monkeypatch):
    prepared = tmp_path / "artifacts" / "prepared"  # the CLI's default
    (prepared / "yolo").mkdir(parents=True)
    (prepared / "yolo" / "NO_BOXES.txt").write_text("no boxes\n")
    (prepared / "prepared.json").write_text(json.dumps({"format": "mura", "has_boxes": False}))
    monkeypatch.chdir(tmp_path)
    Path("params.yaml").write_text("detect:\n  epochs: 1\n")
    result = CliRunner().invoke(main, ["detect", "--size", "s"])
    assert result.exit_code == 0, result.output
    assert "localisation skipped" in result.output
    metrics = json.loads(Path("metrics/detect/s.json").read_text())
    assert metrics["skipped"] is True and "has_boxes is false" in metrics["reason"]
    assert "'mura'" in metrics["reason"]
    assert Path("plots/detect/s/val_map.csv").read_text().startswith("epoch,")
    assert Path("artifacts/detect/s/SKIPPED.txt").is_file()


def test_pretrained_offline_without_file_fails_fast_naming_file_and_folder(
        tmp_path, monkeypatch, no_training, yolo_home):
    squares_view(tmp_path / "prepared" / "yolo")
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError("network blocked by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.chdir(tmp_path)
    from fraclab.runtime import PretrainedWeightsError

    start = time.perf_counter()
    with pytest.raises(PretrainedWeightsError) as err:
        _run(tmp_path / "prepared", tmp_path, size="s", weights="pretrained")
    assert time.perf_counter() - start < 10
    message = str(err.value)
    assert "yolov8s.pt" in message and str(yolo_home / "weights") in message
    assert len(attempts) <= 1  # one reachability probe, nothing else


def test_pretrained_weights_from_a_folder(tmp_path, yolo_home):
    """``weights: <folder>`` loads yolov8<size>.pt from it (here: a checkpoint we trained)."""
    from fraclab.detect.weights import model_source
    from fraclab.runtime import PretrainedWeightsError

    with pytest.raises(PretrainedWeightsError, match=r"yolov8m\.pt"):
        model_source(str(tmp_path), "m")
    (tmp_path / "yolov8m.pt").write_bytes(b"x")
    assert model_source(str(tmp_path), "m") == str(tmp_path / "yolov8m.pt")
    assert model_source("scratch", "m") == "yolov8m.yaml"


def test_drawn_images_show_true_and_predicted_boxes(tmp_path):
    from fraclab.detect.plots import PREDICTED_COLOUR, TRUE_COLOUR, draw_boxes, yolo_boxes

    Image.fromarray(np.full((64, 64), 100, np.uint8)).save(tmp_path / "x.png")
    (tmp_path / "x.txt").write_text("1 0.25 0.25 0.25 0.25\n")
    truth = yolo_boxes(tmp_path / "x.txt", 64, 64)
    assert truth == [(1, 8.0, 8.0, 24.0, 24.0)]
    drawn = np.asarray(draw_boxes(tmp_path / "x.png", truth, [(0, 0.9, 32.0, 32.0, 60.0, 60.0)],
                                  ["bright", "dark"]))
    scale = 384 // 64
    assert tuple(drawn[8 * scale, 16 * scale]) == TRUE_COLOUR  # top edge of the true box
    assert tuple(drawn[46 * scale, 32 * scale]) == PREDICTED_COLOUR  # left edge, predicted
    assert tuple(drawn[2, 2]) == (100, 100, 100)


def test_importing_ultralytics_leaves_corrupt_images_a_clear_error(tmp_path):
    # Ultralytics patches PIL.Image.open process-wide (HEIF via a runtime pip install);
    # prepare's error for a corrupt file must survive the detect modules being imported.
    import fraclab.detect.train  # noqa: F401
    from fraclab.data.images import decode_image
    from fraclab.data.records import ImageError

    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8\xff garbage")
    with pytest.raises(ImageError, match=r"broken\.jpg"):
        decode_image(broken, 32)
