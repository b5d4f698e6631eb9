"""Training throughput of the classify-cv loop against a bare forward+backward+step loop.

Usage: .venv/bin/python benchmarks/classify.py [--backbones resnet18 ...] [--images 256]

For each backbone, at `data.image_size` and `classify.batch_size` from params.yaml, prints the
training images/s of `fraclab.classify.train.train_fold` (uint8 array in memory, batched tensor
augmentation, normalisation, BCE, AdamW; timed over training steps as the stage reports it) and
of a bare loop that feeds pre-made random float tensors of the same shape through the same
model, loss and optimiser in the default (contiguous) memory format. The ratio is the stage's
overhead, less what the stage gains from channels-last where it uses it; the goal is >= 0.95.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
import torch
import torch.nn.functional as F

from fraclab.classify.train import train_fold
from fraclab.models.backbones import BACKBONES, build_backbone, prefers_channels_last
from fraclab.params import ClassifyParams, DataParams, load_params, section
from fraclab.runtime import available_cores, select_device


def bare_loop(name: str, size: int, batch: int, steps: int, device: torch.device) -> float:
    torch.manual_seed(0)
    model, _ = build_backbone(name)
    model.to(device).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size, device=device)
    y = (torch.rand(batch, device=device) < 0.4).float()
    for step in range(steps + 2):  # two warm-up steps
        if step == 2:
            started = time.perf_counter()
        loss = F.binary_cross_entropy_with_logits(model(x).squeeze(1), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * batch / (time.perf_counter() - started)


def stage_loop(name: str, cfg: ClassifyParams, size: int, n_images: int,
               device: torch.device) -> float:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n_images + 16, size, size), dtype=np.uint8)
    labels = (rng.random(n_images + 16) < 0.4).astype(int)
    labels[:2] = [0, 1]
    torch.manual_seed(0)
    model, head = build_backbone(name)
    # Long patience so every epoch runs; the first epoch is warm-up and not counted.
    run = dataclasses.replace(cfg, epochs=2, freeze_epochs=0, patience=10)
    result = train_fold(model, head, images, labels, np.arange(n_images),
                        np.arange(n_images, n_images + 16), run, seed=0, device=device,
                        channels_last=prefers_channels_last(name, device))
    return result.history[-1]["train_images_per_second"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--images", type=int, default=256, help="training images per epoch")
    args = parser.parse_args()
    params = load_params()
    cfg = section(ClassifyParams, params, "classify")
    size = section(DataParams, params, "data").image_size
    torch.set_num_threads(available_cores())
    device = select_device(cfg.device)
    print(f"device {device}, {torch.get_num_threads()} threads, {size}px, batch {cfg.batch_size}")
    for name in args.backbones:
        stage = stage_loop(name, cfg, size, args.images, device)
        bare = bare_loop(name, size, cfg.batch_size, max(4, args.images // cfg.batch_size),
                         device)
        print(f"{name:<20} stage {stage:7.1f} images/s   bare {bare:7.1f} images/s   "
              f"ratio {stage / bare:5.2f}")


if __name__ == "__main__":
    main()
