"""Grad-CAM maps per second against a bare forward+backward pass of the same model.

Usage: .venv/bin/python benchmarks/explain.py [--backbones resnet18 ...] [--images 128]

For each backbone, at ``data.image_size`` from params.yaml and the layer the explain stage
chooses, prints maps/s of ``fraclab.models.gradcam.grad_cam`` (Captum's LayerGradCam plus the
bilinear upsampling) and images/s of a bare loop that runs the model forward on the same batch
and takes the gradient of its summed logit with respect to that layer's output (the least work
a map needs), in alternating rounds so drift cancels. The ratio says what Captum's hooks, the
channel weighting and the upsampling cost (goal >= 0.8).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from fraclab.models.backbones import BACKBONES, build_backbone
from fraclab.models.gradcam import grad_cam, target_layer
from fraclab.params import DataParams, load_params, section
from fraclab.runtime import available_cores


def bare(model: torch.nn.Module, layer: str, x: torch.Tensor) -> float:
    """Forward, then the gradient of the summed logit with respect to ``layer``'s output
    only: the least work a Grad-CAM map needs (a full backward also computes every weight's
    gradient and runs back to the input)."""
    module = dict(model.named_modules())[layer]
    seen: list[torch.Tensor] = []
    hook = module.register_forward_hook(lambda _m, _i, out: seen.append(out))
    started = time.perf_counter()
    with torch.enable_grad():
        logits = model(x)
        torch.autograd.grad(logits.sum(), seen[0])
    elapsed = time.perf_counter() - started
    hook.remove()
    return elapsed


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
        maps(model, layer, x), bare(model, layer, x)  # warm-up
        times = {"gradcam": [], "bare": []}
        for _ in range(args.rounds):
            times["gradcam"].append(sum(maps(model, layer, x) for _ in range(steps)))
            times["bare"].append(sum(bare(model, layer, x) for _ in range(steps)))
        rate = {k: steps * args.batch / float(np.median(v)) for k, v in times.items()}
        print(f"{name:20s} layer {layer:12s} Grad-CAM {rate['gradcam']:7.1f} maps/s   bare "
              f"forward+backward to the layer {rate['bare']:7.1f} img/s   ratio "
              f"{rate['gradcam'] / rate['bare']:.2f}")


if __name__ == "__main__":
    main()
