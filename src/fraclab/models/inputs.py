"""What a classifier sees: the prepared uint8 images as normalised tensors, augmented when
training, and the logits it gives them."""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from fraclab.models.backbones import IMAGENET_MEAN, IMAGENET_STD
from fraclab.params import AugmentParams


def affine_grid(theta: torch.Tensor, height: int, width: int) -> torch.Tensor:
    """``F.affine_grid(theta, (B, C, height, width), align_corners=False)`` by broadcasting.

    The same sums in the same order (x * a + y * b + c per output coordinate) as the batched
    matrix product torch uses, which on the CPU is ~2.5x slower at an inner size of 3 and was
    half of the augmentation's time; equal to it bit for bit on the one machine measured
    (2,000 random batches), within rounding wherever torch's product fuses multiply-adds.
    """
    xs = (torch.linspace(-1, 1, width) * (width - 1) / width).view(1, 1, width)
    ys = (torch.linspace(-1, 1, height) * (height - 1) / height).view(1, height, 1)
    t = theta.view(-1, 2, 3, 1, 1)
    return torch.stack([xs * t[:, 0, 0] + ys * t[:, 0, 1] + t[:, 0, 2],
                        xs * t[:, 1, 0] + ys * t[:, 1, 1] + t[:, 1, 2]], dim=-1)


def augment_batch(x: torch.Tensor, aug: AugmentParams, generator: torch.Generator) -> torch.Tensor:
    """Random flip, small affine and brightness/contrast, drawn per image.

    ``x`` is (B, 1, H, W) in [0, 1] on the CPU; every draw comes from ``generator`` so a
    seeded run augments identically.
    """
    b = x.shape[0]
    u = torch.rand((b, 6), generator=generator) * 2 - 1  # uniform in [-1, 1]
    flip = torch.rand(b, generator=generator) < aug.flip
    x = torch.where(flip[:, None, None, None], x.flip(-1), x)
    angle = u[:, 0] * math.radians(aug.rotate_deg)
    zoom = 1 + u[:, 1] * aug.scale
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom
    theta = torch.stack([torch.stack([cos, -sin, u[:, 2] * aug.translate * 2], 1),
                         torch.stack([sin, cos, u[:, 3] * aug.translate * 2], 1)], 1)
    grid = affine_grid(theta, x.shape[-2], x.shape[-1])
    x = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    mean = x.mean(dim=(1, 2, 3), keepdim=True)
    contrast = (1 + u[:, 4] * aug.contrast)[:, None, None, None]
    brightness = (u[:, 5] * aug.brightness)[:, None, None, None]
    return ((x - mean) * contrast + mean + brightness).clamp(0, 1)


class InputPipeline:
    """uint8 (B, H, W) -> normalised float (B, 3, H, W) on the training device."""

    def __init__(self, device: torch.device, channels_last: bool) -> None:
        self.device = device
        self.memory_format = torch.channels_last if channels_last else torch.contiguous_format
        self.mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)

    def __call__(self, pixels: np.ndarray, augment: AugmentParams | None = None,
                 generator: torch.Generator | None = None) -> torch.Tensor:
        x = torch.from_numpy(np.ascontiguousarray(pixels)).unsqueeze(1).float().div_(255)
        if augment is not None:
            x = augment_batch(x, augment, generator)
        x = x.to(self.device, non_blocking=True).expand(-1, 3, -1, -1)
        return ((x - self.mean) / self.std).contiguous(memory_format=self.memory_format)


@torch.inference_mode()
def predict_logits(model: nn.Module, images: np.ndarray, indices: np.ndarray,
                   inputs: InputPipeline, batch_size: int = 128) -> np.ndarray:
    """The model's logits for ``images[indices]``, in that order (float64)."""
    model.eval()
    out = []
    for start in range(0, len(indices), batch_size):
        batch = indices[start:start + batch_size]
        with torch.autocast(inputs.device.type, enabled=inputs.device.type == "cuda"):
            logits = model(inputs(images[batch])).float().squeeze(1)
        out.append(logits.cpu().numpy())
    return np.concatenate(out).astype(np.float64) if out else np.zeros(0)
