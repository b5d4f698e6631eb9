"""Training throughput of the classify-cv loop against the best bare loop for each backbone.

Usage: .venv/bin/python benchmarks/classify.py [--backbones resnet18 ...] [--images 512]
           [--rounds 4] [--threads N] [--precision fp32|bf16] [--clock cpu|wall]

For each backbone, at `data.image_size`, `classify.batch_size` and `classify.threads` from
params.yaml (``--threads`` overrides), prints the training images/s of:

- the stage: `fraclab.classify.train.train_fold` on a uint8 array in memory (batch conversion,
  tensor augmentation, normalisation, BCE, AdamW), in the memory format the stage picks,
  timed over its training steps as the stage reports them;
- two bare loops: pre-made random float tensors of the same shape through the same model,
  loss and optimiser, once contiguous and once channels-last;
- the input pipeline alone (conversion, augmentation, normalisation of the same batches).

Measurements alternate in rounds (stage, bare, bare, stage, then reversed) so that a drifting
machine speed cancels; medians are printed. The ratio is the stage against the faster bare
loop: the goal is >= 0.95. The input pipeline's share is what the stage pays on top of the
model: batch time = 1 / pipeline rate + 1 / bare rate, per image.

``--clock cpu`` (the default) times every loop, the stage's own per-epoch timer included, by
the process's CPU seconds (``time.process_time``) instead of the wall clock: a process that
another job descheduled is not charged for the wait, so the ratio holds on a shared machine
(a bare mobilenet_v3_small loop at 1 thread, repeated while another job held both cores:
435-517 images/s by the wall clock, 623-680 by CPU seconds). At N threads a CPU-second rate
is about N times below the wall-clock one, for both loops alike; ``--clock wall`` gives
wall-clock rates.
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
import types
from collections.abc import Callable
from functools import partial
from unittest import mock

import numpy as np
import torch
import torch.nn.functional as F

from fraclab.classify import train as train_module
from fraclab.classify.train import train_fold
from fraclab.models.backbones import BACKBONES, build_backbone, prefers_channels_last
from fraclab.models.inputs import InputPipeline
from fraclab.params import ClassifyParams, DataParams, load_params, section
from fraclab.runtime import select_device

CLOCKS = {"cpu": time.process_time, "wall": time.perf_counter}
Clock = Callable[[], float]


def bare_loop(name: str, size: int, batch: int, steps: int, device: torch.device,
              channels_last: bool, precision: str, clock: Clock) -> float:
    """Images/s of forward+backward+AdamW on one pre-made batch, after two warm-up steps.

    ``precision`` ``bf16`` autocasts the forward pass as the stage does; anything else is
    float32 (this loop is for the CPU, where ``auto`` means float32).
    """
    torch.manual_seed(0)
    fmt = torch.channels_last if channels_last else torch.contiguous_format
    model, _ = build_backbone(name)
    model.to(device, memory_format=fmt).train()
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-4)
    x = torch.randn(batch, 3, size, size, device=device).contiguous(memory_format=fmt)
    y = (torch.rand(batch, device=device) < 0.4).float()
    for step in range(steps + 2):
        if step == 2:
            started = clock()
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=precision == "bf16"):
            loss = F.binary_cross_entropy_with_logits(model(x).float().squeeze(1), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
    return steps * batch / (clock() - started)


def stage_loop(name: str, cfg: ClassifyParams, images: np.ndarray, labels: np.ndarray,
               device: torch.device, precision: str, clock: Clock) -> float:
    """Images/s of the stage's training loop, epoch 2 (epoch 1 is warm-up)."""
    n_train = len(images) - 16
    torch.manual_seed(0)
    model, head = build_backbone(name)
    # Long patience so every epoch runs.
    run = dataclasses.replace(cfg, epochs=2, freeze_epochs=0, patience=10)
    with mock.patch.object(train_module, "time", types.SimpleNamespace(perf_counter=clock)):
        result = train_fold(model, head, images, labels, np.arange(n_train),
                            np.arange(n_train, len(images)), run, seed=0, device=device,
                            channels_last=prefers_channels_last(name, device),
                            precision=precision)
    return result.history[-1]["train_images_per_second"]


def pipeline_rate(cfg: ClassifyParams, images: np.ndarray, device: torch.device,
                  channels_last: bool, clock: Clock) -> float:
    """Images/s of the stage's batch conversion + augmentation + normalisation alone."""
    inputs = InputPipeline(device, channels_last=channels_last)
    generator = torch.Generator().manual_seed(0)
    order = torch.randperm(len(images), generator=generator).numpy()
    started = clock()
    for start in range(0, len(order), cfg.batch_size):
        inputs(images[order[start:start + cfg.batch_size]], cfg.augment, generator)
    return len(order) / (clock() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--images", type=int, default=512, help="training images per epoch")
    parser.add_argument("--rounds", type=int, default=4)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch threads (default: classify.threads, 0 = every core)")
    parser.add_argument("--precision", choices=["params", "fp32", "bf16"], default="params",
                        help="stage and bare loops in this precision (default: each backbone's "
                             "classify.precision, where 'auto' is float32 on the CPU)")
    parser.add_argument("--clock", choices=list(CLOCKS), default="cpu",
                        help="time by the process's CPU seconds or by the wall clock")
    args = parser.parse_args()
    clock = CLOCKS[args.clock]
    params = load_params()
    cfg = section(ClassifyParams, params, "classify")
    size = section(DataParams, params, "data").image_size
    threads = cfg.threads if args.threads is None else args.threads
    if threads:
        torch.set_num_threads(threads)
    device = select_device(cfg.device)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (args.images + 16, size, size), dtype=np.uint8)
    labels = (rng.random(len(images)) < 0.4).astype(int)
    labels[:2] = [0, 1]
    steps = max(4, args.images // cfg.batch_size)
    print(f"device {device}, {torch.get_num_threads()} thread(s), {size}px, {args.clock} clock, "
          f"batch {cfg.batch_size}, {args.images} images per measurement, {args.rounds} rounds")
    for name in args.backbones:
        precision = cfg.precision_of(name) if args.precision == "params" else args.precision
        stage_cl = prefers_channels_last(name, device)
        runs = {
            "stage": partial(stage_loop, name, cfg, images, labels, device, precision, clock),
            "bare contiguous": partial(bare_loop, name, size, cfg.batch_size, steps, device,
                                       False, precision, clock),
            "bare channels-last": partial(bare_loop, name, size, cfg.batch_size, steps, device,
                                          True, precision, clock),
        }
        rates: dict[str, list[float]] = {key: [] for key in runs}
        for r in range(args.rounds):
            for key in (list(runs) if r % 2 == 0 else list(runs)[::-1]):
                rates[key].append(runs[key]())
        median = {key: statistics.median(values) for key, values in rates.items()}
        best = max(("bare contiguous", "bare channels-last"), key=median.get)
        pipeline = pipeline_rate(cfg, images[:args.images], device, stage_cl, clock)
        print(f"{name:<20} {precision:<4} stage ({'channels-last' if stage_cl else 'contiguous'}) "
              f"{median['stage']:6.1f}   bare contiguous {median['bare contiguous']:6.1f}   "
              f"bare channels-last {median['bare channels-last']:6.1f} images/s   "
              f"ratio to best ({best.split()[1]}) {median['stage'] / median[best]:5.3f}   "
              f"input pipeline alone {pipeline:7.0f} images/s "
              f"(expected ratio {1 / (1 + median[best] / pipeline):5.3f})")


if __name__ == "__main__":
    main()
