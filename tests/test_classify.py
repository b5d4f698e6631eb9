"""Backbones, the training loop and the classify-cv stage on tiny data."""

from __future__ import annotations

import csv
import dataclasses
import itertools
import json
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score

from fraclab.classify.stage import run_classify_cv
from fraclab.classify.train import train_fold
from fraclab.evaluate import sigmoid
from fraclab.evaluate.calibration import positive_weight
from fraclab.models.backbones import BACKBONES, build_backbone, imagenet_checkpoint
from fraclab.models.inputs import InputPipeline, affine_grid, augment_batch, predict_logits
from fraclab.params import AugmentParams, ClassifyParams
from fraclab.runtime import PretrainedWeightsError

TINY = dict(folds=2, repeats=1, epochs=3, patience=2, batch_size=8, n_boot=100)


def test_unknown_backbone_lists_the_valid_ones():
    with pytest.raises(ValueError, match=r"unknown backbone 'vgg11'.*resnet18"):
        build_backbone("vgg11")


def test_precision_naming_no_backbone_stops_the_stage_first(tmp_path):
    cfg = ClassifyParams(precision={"resnet50": "bf16"}, **TINY)
    with pytest.raises(ValueError, match=r"classify.precision: unknown backbone 'resnet50'"):
        run_classify_cv("resnet18", cfg, 0, tmp_path / "absent", tmp_path / "out",
                        tmp_path / "m.json", tmp_path / "plots")
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize(("height", "width"), [(64, 64), (37, 50), (1, 8)])
def test_affine_grid_is_torchs(height, width):
    theta = torch.randn(16, 2, 3, generator=torch.Generator().manual_seed(height))
    ours = affine_grid(theta, height, width)
    theirs = F.affine_grid(theta, [16, 1, height, width], align_corners=False)
    # Bit for bit where torch's matrix product sums without fused multiply-adds (measured
    # here); within rounding everywhere.
    torch.testing.assert_close(ours, theirs, rtol=0, atol=1e-6)


def test_augmentation_is_seeded_bounded_and_identity_at_zero():
    x = torch.rand(8, 1, 32, 32, generator=torch.Generator().manual_seed(0))
    aug = AugmentParams()
    first = augment_batch(x, aug, torch.Generator().manual_seed(1))
    assert torch.equal(first, augment_batch(x, aug, torch.Generator().manual_seed(1)))
    assert not torch.equal(first, x) and first.min() >= 0 and first.max() <= 1
    none = AugmentParams(flip=0, rotate_deg=0, translate=0, scale=0, brightness=0, contrast=0)
    torch.testing.assert_close(augment_batch(x, none, torch.Generator()), x, rtol=0, atol=1e-6)


@pytest.mark.parametrize("name", BACKBONES)
def test_single_logit_head(name):
    model, head = build_backbone(name)
    model.eval()
    assert model(torch.zeros(2, 3, 64, 64)).shape == (2, 1)
    assert any(p is q for p in head.parameters() for q in model.parameters())
    # MobileNetV3 ships with momentum 0.01: too slow for a few hundred steps per fold.
    norms = [m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and {m.momentum for m in norms} == {0.1}


@pytest.fixture
def offline(monkeypatch):
    attempts = []

    def refuse(self, address):
        attempts.append(address)
        raise OSError("network blocked by test")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    return attempts


def test_imagenet_offline_without_file_fails_fast_naming_file_and_folder(tmp_path, monkeypatch,
                                                                          offline):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoint, _ = imagenet_checkpoint("resnet18")
    started = time.perf_counter()
    with pytest.raises(PretrainedWeightsError) as err:
        build_backbone("resnet18", "imagenet")
    assert time.perf_counter() - started < 10
    assert checkpoint.name in str(err.value) and str(checkpoint.parent) in str(err.value)
    assert checkpoint.parent.is_relative_to(tmp_path)


@pytest.mark.parametrize("name", BACKBONES)
def test_imagenet_loads_cached_standin_weights(tmp_path, monkeypatch, offline, name):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    checkpoint, _ = imagenet_checkpoint(name)
    checkpoint.parent.mkdir(parents=True)
    torch.manual_seed(123)
    standin = torchvision_model(name).state_dict()
    torch.save(standin, checkpoint)
    model, _ = build_backbone(name, "imagenet")
    first = next(iter(standin))
    assert torch.equal(model.state_dict()[first], standin[first])
    assert offline == []  # the cached file was used; nothing tried to connect


def torchvision_model(name):
    from torchvision.models import get_model
    return get_model(name, weights=None)


def test_pretrained_path_loads_and_bad_path_is_clear(tmp_path):
    torch.manual_seed(5)
    standin = torchvision_model("resnet18").state_dict()
    torch.save(standin, tmp_path / "w.pt")
    model, _ = build_backbone("resnet18", str(tmp_path / "w.pt"))
    assert torch.equal(model.state_dict()["conv1.weight"], standin["conv1.weight"])
    with pytest.raises(PretrainedWeightsError, match="not found"):
        build_backbone("resnet18", str(tmp_path / "missing.pt"))
    torch.save({"nonsense": torch.zeros(1)}, tmp_path / "bad.pt")
    with pytest.raises(PretrainedWeightsError, match=r"bad\.pt"):
        build_backbone("resnet18", str(tmp_path / "bad.pt"))


def _toy_images(n=48, size=32, seed=0):
    rng = np.random.default_rng(seed)
    labels = (np.arange(n) % 2).astype(int)
    images = rng.integers(0, 120, (n, size, size)).astype(np.uint8)
    images[labels == 1, 10:20, 10:20] += 100  # a learnable bright patch
    return images, labels


def _train(images, labels, train_idx, val_idx, seed=0, precision="auto"):
    cfg = ClassifyParams(**TINY)
    torch.manual_seed(seed)
    model, head = build_backbone("mobilenet_v3_small")
    result = train_fold(model, head, images, labels, train_idx, val_idx, cfg, seed=seed,
                        device=torch.device("cpu"), precision=precision)
    logits = predict_logits(model, images, val_idx, InputPipeline(torch.device("cpu"), False))
    return result, logits


def test_training_is_deterministic_and_outer_labels_are_never_read():
    images, labels = _toy_images()
    train_idx, val_idx, outer = np.arange(0, 28), np.arange(28, 38), np.arange(38, 48)
    first, logits_a = _train(images, labels, train_idx, val_idx)
    flipped = labels.copy()
    flipped[outer] = 1 - flipped[outer]
    second, logits_b = _train(images, flipped, train_idx, val_idx)
    assert first.best_epoch == second.best_epoch
    assert [h["val_loss"] for h in first.history] == [h["val_loss"] for h in second.history]
    np.testing.assert_array_equal(logits_a, logits_b)


def test_bf16_training_is_deterministic_changes_the_model_and_predicts_in_float32():
    images, labels = _toy_images()
    train_idx, val_idx = np.arange(0, 28), np.arange(28, 48)
    _, logits_fp32 = _train(images, labels, train_idx, val_idx, precision="fp32")
    _, logits_auto = _train(images, labels, train_idx, val_idx)
    np.testing.assert_array_equal(logits_fp32, logits_auto)  # auto is float32 on the CPU
    bf16, logits_bf16 = _train(images, labels, train_idx, val_idx, precision="bf16")
    _, logits_again = _train(images, labels, train_idx, val_idx, precision="bf16")
    np.testing.assert_array_equal(logits_bf16, logits_again)
    assert logits_bf16.dtype == np.float64 and np.isfinite(logits_bf16).all()
    assert not np.array_equal(logits_bf16, logits_fp32)  # the forward pass ran in bfloat16
    assert np.isfinite([h["val_loss"] for h in bf16.history]).all()


def test_early_stopping_keeps_the_best_epoch():
    images, labels = _toy_images()
    result, _ = _train(images, labels, np.arange(0, 32), np.arange(32, 48))
    losses = [h["val_loss"] for h in result.history]
    assert result.best_epoch == int(np.argmin(losses)) + 1
    assert result.epochs_run == len(losses) <= TINY["epochs"]


def test_early_stopping_watches_the_weighted_loss_that_training_minimises():
    images, labels = _toy_images()
    labels = np.where(np.arange(len(labels)) % 3 == 0, 1, 0)  # 1 in 3 positive: weight 2
    train_idx, val_idx = np.arange(0, 36), np.arange(36, 48)
    cfg = dataclasses.replace(ClassifyParams(**TINY), epochs=1)
    torch.manual_seed(0)
    model, head = build_backbone("mobilenet_v3_small")
    result = train_fold(model, head, images, labels, train_idx, val_idx, cfg, seed=0,
                        device=torch.device("cpu"))
    logits = predict_logits(model, images, val_idx, InputPipeline(torch.device("cpu"), False))
    weight = positive_weight(labels[train_idx], "auto")
    y = labels[val_idx].astype(float)
    p = sigmoid(logits)
    weighted = -np.mean(weight * y * np.log(p) + (1 - y) * np.log(1 - p))
    assert weight == 2.0
    assert result.history[0]["val_loss"] == pytest.approx(weighted, rel=1e-6)


@pytest.fixture(scope="module")
def prepared(tiny_prepared: Path) -> Path:
    return tiny_prepared


def _read(path: Path) -> list[dict]:
    with path.open(newline="") as f:
        return list(csv.DictReader(f))


def _run(root: Path, tag: str) -> dict:
    out = root / tag
    run_classify_cv("mobilenet_v3_small", ClassifyParams(**TINY), 0, root / "prepared",
                    out / "artifacts", out / "metrics.json", out / "plots", log=lambda _: None)
    return json.loads((out / "metrics.json").read_text())


def test_stage_outputs_are_complete_consistent_and_reproducible(prepared):
    metrics = _run(prepared, "a")
    out = prepared / "a"
    manifest = _read(prepared / "prepared" / "manifest.csv")
    dev = {r["image_id"] for r in manifest if r["split"] != "test"}
    test = {r["image_id"] for r in manifest if r["split"] == "test"}
    oof = _read(out / "artifacts" / "oof.csv")
    assert sorted(r["image_id"] for r in oof) == sorted(dev)  # each dev image once per repeat
    inner = _read(out / "artifacts" / "inner_val.csv")
    for fold in ("0", "1"):
        scored = {r["image_id"] for r in oof if r["fold"] == fold}
        tuned = {r["image_id"] for r in inner if r["fold"] == fold}
        assert tuned and not scored & tuned
    test_rows = _read(out / "artifacts" / "test.csv")
    assert len(test_rows) == 2 * len(test) and {r["image_id"] for r in test_rows} == test
    # The pooled OOF AUROC in the metrics is scikit-learn's on oof.csv.
    y = np.array([int(r["label"]) for r in oof])
    p = sigmoid(np.array([float(r["logit"]) for r in oof]))
    assert metrics["oof_pooled"]["auroc"]["value"] == pytest.approx(roc_auc_score(y, p))
    assert metrics["per_fold"]["auroc"]["n"] == 2
    weights = torch.load(out / "artifacts" / "weights" / "r0_f1.pt", weights_only=True)
    model, _ = build_backbone("mobilenet_v3_small")
    model.load_state_dict(weights)
    assert (out / "plots" / "roc_oof.csv").read_text().startswith("split,fpr,tpr,threshold")
    assert (out / "plots" / "live" / "r0_f0" / "plots" / "metrics" / "val_loss.tsv").is_file()

    _run(prepared, "b")
    assert (out / "artifacts" / "oof.csv").read_bytes() == \
        (prepared / "b" / "artifacts" / "oof.csv").read_bytes()


@pytest.mark.parametrize(("schedule", "freeze"), [("cosine", 0), ("cosine", 1), ("constant", 0)])
def test_learning_rate_schedule_covers_the_full_network_epochs(schedule, freeze):
    from fraclab.classify.train import _schedule

    cfg = ClassifyParams(epochs=4, freeze_epochs=freeze, batch_size=8, lr=0.01,
                         lr_schedule=schedule)
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=cfg.lr)
    schedule_ = _schedule(optimizer, cfg, n_train=33, head_only=False)  # 4 batches + 1 skipped
    rates = []
    for _ in range(4 * (cfg.epochs - freeze)):
        rates.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule_.step()
    assert rates[0] == pytest.approx(0.01)
    if schedule == "constant":
        assert rates == [pytest.approx(0.01)] * len(rates)
    else:
        assert all(a > b for a, b in itertools.pairwise(rates))
        assert optimizer.param_groups[0]["lr"] == pytest.approx(0.0, abs=1e-12)


def test_a_fold_whose_validation_loss_is_never_finite_is_a_clear_error(monkeypatch):
    images, labels = _toy_images()
    cfg = dataclasses.replace(ClassifyParams(**TINY), epochs=2, patience=1)
    real = F.binary_cross_entropy_with_logits

    def nan_on_validation(logits, target, **kwargs):  # validation runs in float64
        loss = real(logits, target, **kwargs)
        return loss * float("nan") if logits.dtype == torch.float64 else loss

    monkeypatch.setattr("fraclab.classify.train.F.binary_cross_entropy_with_logits",
                        nan_on_validation)
    torch.manual_seed(0)
    model, head = build_backbone("mobilenet_v3_small")
    with pytest.raises(FloatingPointError, match=r"fold model \(r0 f1\).*not a finite.*"
                                                 r"classify\.lr"):
        train_fold(model, head, images, labels, np.arange(0, 32), np.arange(32, 48), cfg,
                   seed=0, device=torch.device("cpu"), desc="r0 f1")


def test_cuda_gets_strict_determinism_and_the_cpu_keeps_warnings(monkeypatch):
    from torch.backends import cudnn

    from fraclab.runtime import make_deterministic

    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    saved = (torch.are_deterministic_algorithms_enabled(),
             torch.is_deterministic_algorithms_warn_only_enabled(), cudnn.benchmark,
             cudnn.deterministic)
    try:
        make_deterministic(torch.device("cuda"))  # sets flags only: no CUDA call is made
        assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"
        assert torch.are_deterministic_algorithms_enabled()
        assert not torch.is_deterministic_algorithms_warn_only_enabled()
        assert not cudnn.benchmark and cudnn.deterministic
        make_deterministic(torch.device("cpu"))
        assert torch.is_deterministic_algorithms_warn_only_enabled()
    finally:
        torch.use_deterministic_algorithms(saved[0], warn_only=saved[1])
        cudnn.benchmark, cudnn.deterministic = saved[2], saved[3]
