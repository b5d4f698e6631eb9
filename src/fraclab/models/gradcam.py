"""Grad-CAM of the single-logit classifiers (Captum's LayerGradCam), the layer it is taken
at, the way back from the letterboxed input to the original image, and the cascading
model-parameter randomisation check of Adebayo et al. (2018).

Why a middle layer: at the classification sizes the backbones' last feature maps are tiny
(output stride 32: 2 x 2 at 64 px), which cannot point at anything. :func:`target_layer` takes
the deepest of a backbone's stages whose output is still at least ``min_side`` pixels across at
the image size used, found with forward hooks on a dummy input, so the choice follows
``data.image_size`` (resnet18: ``layer2`` at 64 px, ``layer3`` at 128-224 px).

Maps are kept raw: Captum's Grad-CAM without the ReLU, so a region that argues against a
fracture stays negative and a confident "normal" is not drawn as hot as a fracture.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Sequence

import numpy as np
import torch
from captum.attr import LayerAttribution, LayerGradCam
from torch import nn

# The candidate layers of each backbone, input to output: its stages (torchvision names).
_STAGE_PARENTS = {"resnet18": None, "mobilenet_v3_small": "features",
                  "efficientnet_b0": "features"}
_RESNET_STAGES = ("layer1", "layer2", "layer3", "layer4")


def stage_names(model: nn.Module, backbone: str) -> list[str]:
    """Qualified names of ``backbone``'s stages, input to output."""
    if backbone not in _STAGE_PARENTS:
        raise ValueError(f"no Grad-CAM layers known for backbone {backbone!r}")
    parent = _STAGE_PARENTS[backbone]
    if parent is None:
        return list(_RESNET_STAGES)
    return [f"{parent}.{name}" for name, _ in getattr(model, parent).named_children()]


def output_sides(model: nn.Module, names: Sequence[str], image_size: int) -> dict[str, int]:
    """The spatial side of each named module's output for one ``image_size`` input."""
    sides: dict[str, int] = {}
    modules = dict(model.named_modules())
    hooks = [modules[n].register_forward_hook(
        lambda _m, _i, out, n=n: sides.__setitem__(n, int(out.shape[-1]))) for n in names]
    was_training = model.training
    try:
        model.eval()
        with torch.no_grad():
            model(torch.zeros(1, 3, image_size, image_size,
                              device=next(model.parameters()).device))
    finally:
        for hook in hooks:
            hook.remove()
        model.train(was_training)
    return sides


def target_layer(model: nn.Module, backbone: str, image_size: int, min_side: int = 8,
                 override: str | None = None) -> str:
    """The deepest stage whose output is at least ``min_side`` pixels across at
    ``image_size`` (``override``, a qualified module name, wins if given)."""
    names = stage_names(model, backbone)
    if override is not None:
        if override not in dict(model.named_modules()):
            raise ValueError(f"{backbone} has no module {override!r}; its stages: "
                             f"{', '.join(names)}")
        return override
    sides = output_sides(model, names, image_size)
    fitting = [n for n in names if sides[n] >= min_side]
    if not fitting:
        raise ValueError(f"{backbone} at {image_size} px: no stage output is >= {min_side} "
                         f"px across (sides: {sides})")
    return fitting[-1]


def grad_cam(model: nn.Module, layer_name: str, inputs: torch.Tensor) -> np.ndarray:
    """Raw (signed) Grad-CAM of the logit at ``layer_name`` for a batch ``inputs`` (B, 3, H,
    W), upsampled bilinearly to (B, H, W), float64."""
    layer = dict(model.named_modules())[layer_name]
    model.eval()
    cam = LayerGradCam(model, layer)
    with torch.enable_grad():
        maps = cam.attribute(inputs, target=0, relu_attributions=False)
    maps = LayerAttribution.interpolate(maps.detach(), tuple(inputs.shape[-2:]), "bilinear")
    return maps[:, 0].double().cpu().numpy()


def ensemble_maps(models: Sequence[nn.Module], layer_name: str, pixels: np.ndarray,
                  inputs: Callable[[np.ndarray], torch.Tensor], batch: int = 32) -> np.ndarray:
    """The mean over ``models`` of their raw Grad-CAM maps of uint8 images ``pixels`` (N, S,
    S), in the same letterboxed frame; ``inputs`` turns a uint8 batch into the models' input
    (``fraclab.classify.train.InputPipeline``)."""
    total = np.zeros(pixels.shape, dtype=np.float64)
    for model in models:
        for start in range(0, len(pixels), batch):
            chunk = np.asarray(pixels[start:start + batch])
            total[start:start + len(chunk)] += grad_cam(model, layer_name, inputs(chunk))
    return total / len(models)


def from_letterbox(saliency: np.ndarray, width: int, height: int) -> np.ndarray:
    """A map over a letterboxed square (``fraclab.data.images.letterbox``) back on the
    original ``height`` x ``width`` image: the padding cut off, the rest resized bilinearly."""
    size = saliency.shape[-1]
    scale = size / max(width, height)
    new_w, new_h = max(1, round(width * scale)), max(1, round(height * scale))
    top, left = (size - new_h) // 2, (size - new_w) // 2
    inner = torch.from_numpy(np.ascontiguousarray(saliency[top:top + new_h, left:left + new_w]))
    resized = torch.nn.functional.interpolate(inner[None, None], size=(height, width),
                                              mode="bilinear", align_corners=False)
    return resized[0, 0].numpy()


def _reinitialise(module: nn.Module, generator_seed: int) -> None:
    torch.manual_seed(generator_seed)
    for child in module.modules():
        if hasattr(child, "reset_parameters"):
            child.reset_parameters()


_HEADS = {"resnet18": "fc", "mobilenet_v3_small": "classifier",
          "efficientnet_b0": "classifier"}


def randomisation_blocks(model: nn.Module, backbone: str) -> list[str]:
    """``backbone``'s blocks from the output down: the head, then its stages deepest first."""
    return [_HEADS[backbone], *reversed(stage_names(model, backbone))]


def cascading_randomisation(model: nn.Module, blocks: Sequence[str],
                            saliency: Callable[[nn.Module], np.ndarray],
                            compare: Callable[[np.ndarray, np.ndarray], float],
                            seed: int = 0) -> list[tuple[str, float]]:
    """Re-initialise ``blocks`` of a copy of ``model`` one more at a time, in the order given
    (output first), and after each step compare ``saliency(copy)`` with ``saliency(model)``
    image by image with ``compare``. Returns ``[(block, mean score), ...]``; ``model`` itself
    is left unchanged. A map that does not move as the weights go explains nothing (Adebayo
    et al. 2018)."""
    trained = saliency(model)
    randomised = copy.deepcopy(model)
    modules = dict(randomised.named_modules())
    curve = []
    for step, name in enumerate(blocks):
        _reinitialise(modules[name], seed + step)
        maps = saliency(randomised)
        curve.append((name, float(np.nanmean([compare(a, b) for a, b in
                                              zip(trained, maps, strict=True)]))))
    return curve
