"""Grad-CAM maps per second against a bare forward+backward pass of the same model.

Usage: .venv/bin/python benchmarks/explain.py [--backbones resnet18 ...] [--images 128]

For each backbone, at ``data.image_size`` from params.yaml and the layer the explain stage
chooses, prints maps/s of ``fraclab.explain.gradcam.grad_cam`` (Captum's LayerGradCam plus the
bilinear upsampling) and images/s of a bare loop that runs the model forward on the same batch
and back-propagates its summed logit, in alternating rounds so drift cancels. A map needs one
forward and one backward pass, so the ratio says what Captum's hooks and the upsampling cost
(goal >= 0.8).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fraclab.classify.backbones import BACKBONES, build_backbone
from fraclab.explain.gradcam import grad_cam, target_layer
from fraclab.params import DataParams, load_params, section
from fraclab.runtime import available_cores


def bare(model: torch.nn.Module, x: torch.Tensor) -> float:
    started = time.perf_counter()
    model.zero_grad(set_to_none=True)
    model(x).sum().backward()
    return time.perf_counter() - started


def maps(model: torch.nn.Module, layer: str, x: torch.Tensor) -> float:
    started = time.perf_counter()
    grad_cam(model, layer, x)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backbones", nargs="+", default=list(BACKBONES))
    parser.add_argument("--images", type=int, default=128)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--rounds", type=int, default=4)
    args = parser.parse_args()
    size = section(DataParams, load_params(), "data").image_size
    torch.set_num_threads(available_cores())
    print(f"{size} px, batch {args.batch}, {args.images} images x {args.rounds} rounds, "
          f"{torch.get_num_threads()} threads")
    for name in args.backbones:
        torch.manual_seed(0)
        model, _ = build_backbone(name)
        model.eval()
        layer = target_layer(model, name, size)
        x = torch.randn(args.batch, 3, size, size)
        steps = max(1, args.images // args.batch)
        maps(model, layer, x), bare(model, x)  # warm-up
        times = {"gradcam": [], "bare": []}
        for _ in range(args.rounds):
            times["gradcam"].append(sum(maps(model, layer, x) for _ in range(steps)))
            times["bare"].append(sum(bare(model, x) for _ in range(steps)))
        rate = {k: steps * args.batch / float(np.median(v)) for k, v in times.items()}
        print(f"{name:20s} layer {layer:12s} Grad-CAM {rate['gradcam']:7.1f} maps/s   bare "
              f"forward+backward {rate['bare']:7.1f} img/s   ratio "
              f"{rate['gradcam'] / rate['bare']:.2f}")


if __name__ == "__main__":
    main()
