"""torchvision backbones with a single-logit head, and offline-safe ImageNet weights.

``pretrained`` is ``"none"`` (random init), ``"imagenet"`` (torchvision's weights API, which
reads ``$TORCH_HOME/hub/checkpoints/<file>`` and downloads only when the file is absent), or a
path to a state dict of the same torchvision architecture.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision.models import get_model, get_model_weights

from fraclab.runtime import PretrainedWeightsError, reachable

# ImageNet statistics: the normalisation the pretrained weights expect. Grayscale radiographs
# are repeated over three channels and normalised with them (also for random init, so a run
# differs from its ImageNet twin only in the weights).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# torchvision's MobileNetV3 uses BatchNorm momentum 0.01, tuned for ImageNet schedules of
# hundreds of thousands of steps. A fold here trains a few hundred steps, after which running
# statistics at 0.01 still average over long-gone weights, so eval-mode predictions (early
# stopping, OOF, test) see stale normalisation. 0.1 (PyTorch's default, already used by
# ResNet and EfficientNet-B0) tracks them.
BATCHNORM_MOMENTUM = 0.1


def _replace_resnet_head(model: nn.Module) -> nn.Module:
    model.fc = nn.Linear(model.fc.in_features, 1)
    return model.fc


def _replace_classifier_head(model: nn.Module) -> nn.Module:
    last = model.classifier[-1]
    model.classifier[-1] = nn.Linear(last.in_features, 1)
    return model.classifier


# name -> function that swaps in a single-logit head and returns the head module
# (the part trained alone during the frozen warm-up epochs).
HEADS: dict[str, Callable[[nn.Module], nn.Module]] = {
    "resnet18": _replace_resnet_head,
    "mobilenet_v3_small": _replace_classifier_head,
    "efficientnet_b0": _replace_classifier_head,
}
BACKBONES = tuple(HEADS)


# Measured with torch 2.14 on 1 and 2 CPU threads at 64 px, batch 32 (forward + backward +
# step; benchmarks/classify.py): channels-last makes the depthwise convolutions of MobileNetV3
# ~1.7x and EfficientNet ~1.6x faster, and ResNet-18 ~1.1x in float32 (about equal in
# bfloat16). On CUDA it pays for every backbone (tensor cores).
CPU_CHANNELS_LAST = frozenset({"resnet18", "mobilenet_v3_small", "efficientnet_b0"})


def prefers_channels_last(name: str, device: torch.device) -> bool:
    """Whether ``name`` trains faster with channels-last tensors on ``device``."""
    return device.type == "cuda" or (device.type == "cpu" and name in CPU_CHANNELS_LAST)


def check_backbone(name: str) -> None:
    """Raise ValueError naming the valid backbones when ``name`` is not one of them."""
    if name not in HEADS:
        raise ValueError(f"unknown backbone {name!r}; valid: {', '.join(BACKBONES)}")


def imagenet_checkpoint(name: str) -> tuple[Path, str]:
    """Where torchvision caches ``name``'s ImageNet weights, and the URL it downloads from."""
    check_backbone(name)
    weights = get_model_weights(name).IMAGENET1K_V1
    file_name = Path(urlparse(weights.url).path).name
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name, weights.url


def build_backbone(name: str, pretrained: str = "none") -> tuple[nn.Module, nn.Module]:
    """The model with a single-logit head, and that head.

    Raises
    ------
    ValueError
        Unknown backbone name.
    PretrainedWeightsError
        ``imagenet`` requested while the checkpoint is absent and its host is unreachable
        (fails within seconds, naming the file and the folder to put it in), or a
        ``pretrained`` path that does not exist or does not fit the architecture.
    """
    check_backbone(name)
    if pretrained == "imagenet":
        checkpoint, url = imagenet_checkpoint(name)
        if not checkpoint.is_file() and not reachable(urlparse(url).hostname or ""):
            raise PretrainedWeightsError(
                f"ImageNet weights for {name} are not cached and {urlparse(url).hostname} "
                f"cannot be reached: put {checkpoint.name} (from {url}) into "
                f"{checkpoint.parent}/ (or set TORCH_HOME), or set classify.pretrained: none"
            )
        model = get_model(name, weights=get_model_weights(name).IMAGENET1K_V1)
    else:
        model = get_model(name, weights=None)
        if pretrained != "none":
            _load_state_dict_file(model, Path(pretrained), name)
    head = HEADS[name](model)
    set_batchnorm_momentum(model, BATCHNORM_MOMENTUM)
    return model, head


def set_batchnorm_momentum(model: nn.Module, momentum: float) -> None:
    """Set the running-statistics momentum of every BatchNorm layer in ``model``."""
    for module in model.modules():
        if isinstance(module, nn.modules.batchnorm._BatchNorm):
            module.momentum = momentum


def _load_state_dict_file(model: nn.Module, path: Path, name: str) -> None:
    if not path.is_file():
        raise PretrainedWeightsError(f"{path}: pretrained weights file not found "
                                     f"(classify.pretrained is none, imagenet or a path)")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        model.load_state_dict(state)
    except (RuntimeError, OSError, KeyError, TypeError) as err:
        raise PretrainedWeightsError(
            f"{path}: not a {name} state dict with the ImageNet head ({err})".strip()
        ) from None
