"""How hard is the synthetic dataset? Train a small CNN on it and print the test AUROC.

Generates a dataset with `fraclab.data.synth` into a temporary directory, downsizes the
images to 128 px, trains a small CNN from scratch on the train split (CPU, fixed seeds),
keeps the epoch with the best valid AUROC and prints its AUROC on the test split. The test
split holds only ~80 images, so its AUROC is noisy (±0.05); the script therefore also scores
"fresh patients": patients beyond ``n_patients`` of the same config (patient k's images do
not depend on how many patients a dataset has, so these are new patients from the same
distribution). At ``--difficulty 0.5`` the small CNN lands near 0.8; the dataset default (0.25)
is easier, so that the pipeline's backbones and YOLOv8n, trained from scratch on two CPU cores,
learn within minutes.

Usage::

    .venv/bin/python benchmarks/synth_difficulty.py [--difficulty D] [--n-patients N]
        [--epochs E] [--seeds S [S ...]] [--fresh-patients F]
"""

from __future__ import annotations

import argparse
import copy
import csv
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from sklearn.metrics import roc_auc_score
from torch import nn

from fraclab.data.synth import SynthConfig, generate_dataset, render_view, sample_patient


@dataclass(frozen=True)
class Split:
    """Standardised images (n, 1, side, side) and their 0/1 fracture labels."""

    images: torch.Tensor
    labels: torch.Tensor


def load_splits(dataset_dir: Path, side: int) -> dict[str, Split]:
    """Read ``meta.csv`` and the PNGs, downsized (antialiased) to ``side`` px."""
    with open(dataset_dir / "meta.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    splits = {}
    for split in ("train", "valid", "test"):
        chosen = [r for r in rows if r["split"] == split]
        images = [Image.open(dataset_dir / split / "images" / r["file_name"]) for r in chosen]
        splits[split] = to_split(images, [int(r["fractured"]) for r in chosen], side)
    return splits


def to_split(images: list[Image.Image], labels: list[int], side: int) -> Split:
    """Downsize (antialiased) and standardise each image: exposure varies between radiographs."""
    stack = np.stack([np.asarray(im.resize((side, side), Image.Resampling.BILINEAR),
                                 dtype=np.float32) for im in images])[:, None]
    mean = stack.mean(axis=(1, 2, 3), keepdims=True)
    std = stack.std(axis=(1, 2, 3), keepdims=True) + 1e-6
    return Split(torch.from_numpy((stack - mean) / std), torch.tensor(labels, dtype=torch.float32))


def fresh_patients(config: SynthConfig, count: int, side: int) -> Split:
    """Every view of patients ``n_patients .. n_patients + count - 1``: unseen, same config."""
    images, labels = [], []
    for index in range(config.n_patients, config.n_patients + count):
        patient = sample_patient(config, index)
        for view in patient.views:
            rendered = render_view(patient, view, config)
            images.append(Image.fromarray(rendered.image))
            labels.append(int(bool(rendered.labels)))
    return to_split(images, labels, side)


def small_cnn() -> nn.Module:
    """Five conv blocks and a head on global average + max pooling (~0.1 M parameters).

    Max pooling lets a small, local finding (a fracture line) drive the score.
    """

    def block(c_in: int, c_out: int, pool: bool) -> list[nn.Module]:
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False),
                                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
        return [*layers, nn.MaxPool2d(2)] if pool else layers

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.features = nn.Sequential(*block(1, 16, True), *block(16, 32, True),
                                          *block(32, 64, True), *block(64, 64, True),
                                          *block(64, 96, False))
            self.head = nn.Sequential(nn.Dropout(0.2), nn.Linear(192, 1))

        def forward(self, x: torch.Tensor) -> torch.Tensor:
            f = self.features(x)
            pooled = torch.cat([f.mean(dim=(2, 3)), f.amax(dim=(2, 3))], dim=1)
            return self.head(pooled).squeeze(1)

    return Net()


def augment(images: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Random flips and 90° turns (fractures have no preferred orientation here)."""
    if torch.rand(1, generator=generator).item() < 0.5:
        images = images.flip(3)
    if torch.rand(1, generator=generator).item() < 0.5:
        images = images.flip(2)
    turns = int(torch.randint(0, 4, (1,), generator=generator).item())
    return torch.rot90(images, turns, dims=(2, 3))


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """Fracture scores (logits) for a stack of images."""
    model.eval()
    return torch.cat([model(images[i: i + batch_size])
                      for i in range(0, len(images), batch_size)]).numpy()


def predict_tta(model: nn.Module, images: torch.Tensor) -> np.ndarray:
    """Scores averaged over the eight flips and 90° turns (steadier than one pass)."""
    scores = [predict(model, torch.rot90(images.flip(3) if flip else images, turns, dims=(2, 3)))
              for turns in range(4) for flip in (False, True)]
    return np.mean(scores, axis=0)


def train(splits: dict[str, Split], epochs: int, seed: int, batch_size: int = 16,
          lr: float = 1e-3) -> tuple[nn.Module, float, int]:
    """Train on train; return the model of the epoch with the best valid AUROC.

    Returns
    -------
    (model, valid AUROC, epoch)
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = small_cnn()
    optimiser = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=1e-4)
    train = splits["train"]
    loss_fn = nn.BCEWithLogitsLoss()
    best_valid, best_epoch, best_state = -1.0, 0, copy.deepcopy(model.state_dict())
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(len(train.labels), generator=generator)
        losses = []
        for i in range(0, len(order), batch_size):
            idx = order[i: i + batch_size]
            if len(idx) < 2:  # BatchNorm needs two samples
                continue
            loss = loss_fn(model(augment(train.images[idx], generator)), train.labels[idx])
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            losses.append(loss.item())
        valid_auc = roc_auc_score(splits["valid"].labels, predict(model, splits["valid"].images))
        print(f"  epoch {epoch:2d}  train loss {np.mean(losses):.3f}  valid AUROC {valid_auc:.3f}",
              flush=True)
        if valid_auc > best_valid:
            best_valid, best_epoch = valid_auc, epoch
            best_state = copy.deepcopy(model.state_dict())
    model.load_state_dict(best_state)
    return model, float(best_valid), best_epoch


def auroc(model: nn.Module, split: Split) -> float:
    """AUROC of the model's test-time-augmented scores."""
    return float(roc_auc_score(split.labels, predict_tta(model, split.images)))


def main() -> None:
    defaults = SynthConfig()
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--difficulty", type=float, default=defaults.difficulty)
    parser.add_argument("--n-patients", type=int, default=defaults.n_patients)
    parser.add_argument("--size", type=int, default=defaults.size, help="generated image side")
    parser.add_argument("--input-size", type=int, default=128, help="side the CNN sees")
    parser.add_argument("--epochs", type=int, default=20)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="dataset seeds; each gives its own dataset and training run")
    parser.add_argument("--fresh-patients", type=int, default=150,
                        help="unseen patients to score as well (0: none)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.use_deterministic_algorithms(True)

    scores: dict[str, list[float]] = {"test": [], "fresh": []}
    for seed in args.seeds:
        config = SynthConfig(seed=seed, n_patients=args.n_patients, size=args.size,
                             difficulty=args.difficulty)
        with tempfile.TemporaryDirectory() as tmp:
            start = time.perf_counter()
            summary = generate_dataset(Path(tmp) / "synth", config)
            generated = time.perf_counter() - start
            print(f"{summary}\n  generated in {generated:.1f} s", flush=True)
            splits = load_splits(Path(tmp) / "synth", args.input_size)
        start = time.perf_counter()
        model, valid_auc, epoch = train(splits, args.epochs, seed)
        trained = time.perf_counter() - start
        scores["test"].append(auroc(model, splits["test"]))
        line = (f"seed {seed}: difficulty={args.difficulty} test AUROC {scores['test'][-1]:.3f} "
                f"(n={len(splits['test'].labels)}; epoch {epoch}, valid AUROC {valid_auc:.3f}; "
                f"trained in {trained:.0f} s)")
        if args.fresh_patients:
            fresh = fresh_patients(config, args.fresh_patients, args.input_size)
            scores["fresh"].append(auroc(model, fresh))
            line += f"; fresh-patient AUROC {scores['fresh'][-1]:.3f} (n={len(fresh.labels)})"
        print(line, flush=True)
    if len(args.seeds) > 1:
        for name, values in scores.items():
            if values:
                print(f"difficulty={args.difficulty}: mean {name} AUROC {np.mean(values):.3f} "
                      f"(min {np.min(values):.3f}, max {np.max(values):.3f}, "
                      f"{len(values)} seeds)")


if __name__ == "__main__":
    main()
