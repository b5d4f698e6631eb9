"""Training one fold model: a loop you can read top to bottom.

Images arrive as the uint8 array that `prepare` decoded once; batches are converted,
augmented and normalised as tensors. Early stopping watches the inner-validation loss and
keeps the best weights; nothing here ever sees the outer fold.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from fraclab.evaluate.calibration import positive_weight
from fraclab.models.inputs import InputPipeline, predict_logits
from fraclab.params import ClassifyParams


@dataclass
class FoldTraining:
    """What training one fold produced."""

    best_epoch: int  # 1-based epoch whose weights were kept
    epochs_run: int
    history: list[dict[str, float]] = field(default_factory=list)
    train_seconds: float = 0.0
    train_images: int = 0

    @property
    def images_per_second(self) -> float:
        return self.train_images / self.train_seconds if self.train_seconds else 0.0


def _set_trainable(model: nn.Module, head: nn.Module, head_only: bool) -> list[nn.Parameter]:
    head_ids = {id(p) for p in head.parameters()}
    for p in model.parameters():
        p.requires_grad_(not head_only or id(p) in head_ids)
    return [p for p in model.parameters() if p.requires_grad]


def _optimizer(params: list[nn.Parameter], cfg: ClassifyParams, lr: float):
    if cfg.optimizer == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=cfg.weight_decay,
                               nesterov=True)
    return torch.optim.AdamW(params, lr=lr, weight_decay=cfg.weight_decay)


def _schedule(optimizer: torch.optim.Optimizer, cfg: ClassifyParams, n_train: int,
              head_only: bool) -> torch.optim.lr_scheduler.LRScheduler:
    """Per-step learning rate: constant, or cosine decay to 0 over the full-network epochs.

    Cosine runs out at ``cfg.epochs``; early stopping may end training before that.
    """
    if head_only or cfg.lr_schedule == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda step: 1.0)
    full, rest = divmod(n_train, cfg.batch_size)
    steps_per_epoch = full + (rest >= 2)  # a last batch of one image is skipped
    total = max(1, steps_per_epoch * (cfg.epochs - cfg.freeze_epochs))
    return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)


def train_fold(model: nn.Module, head: nn.Module, images: np.ndarray, labels: np.ndarray,
               train_idx: np.ndarray, val_idx: np.ndarray, cfg: ClassifyParams, *,
               seed: int, device: torch.device, channels_last: bool | None = None,
               precision: str = "auto",
               on_epoch: Callable[[dict[str, float]], None] | None = None,
               desc: str = "") -> FoldTraining:
    """Train ``model`` on ``train_idx``; early-stop on the loss over ``val_idx``.

    Epochs ``1..freeze_epochs`` train only ``head`` at ``lr_head``; later epochs train the
    whole network at ``lr`` (held, or decayed by a cosine to 0, per ``lr_schedule``).
    Patience counts only full-network epochs. The weights of the epoch with the lowest
    validation loss are loaded back into ``model`` before returning.
    ``channels_last`` (default: on CUDA only) picks the memory format of model and batches.
    ``precision`` (see :data:`fraclab.params.PRECISIONS`) sets the forward pass's autocast:
    ``auto`` float16 with gradient scaling on CUDA and float32 elsewhere, ``fp32``, or
    ``bf16`` (bfloat16, whose float32 range needs no scaling). The validation loss and every
    prediction are float32.
    """
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    use_cuda = device.type == "cuda"
    channels_last = use_cuda if channels_last is None else channels_last
    model.to(device, memory_format=torch.channels_last if channels_last else torch.preserve_format)
    inputs = InputPipeline(device, channels_last=channels_last)
    half = precision == "auto" and use_cuda
    autocast_dtype = torch.bfloat16 if precision == "bf16" else torch.float16
    scaler = torch.amp.GradScaler("cuda", enabled=half)
    y_train = torch.from_numpy(labels[train_idx].astype(np.float32))
    y_val = torch.from_numpy(labels[val_idx].astype(np.float32))
    pos_weight = torch.tensor(positive_weight(labels[train_idx], cfg.pos_weight), device=device)

    result = FoldTraining(best_epoch=0, epochs_run=0)
    best_loss, best_state, stale = math.inf, None, 0
    optimizer = None
    bar = tqdm(range(1, cfg.epochs + 1), desc=desc, leave=False, disable=None)
    for epoch in bar:
        if epoch == 1 or epoch == cfg.freeze_epochs + 1:
            head_only = epoch <= cfg.freeze_epochs
            trainable = _set_trainable(model, head, head_only)
            optimizer = _optimizer(trainable, cfg, cfg.lr_head if head_only else cfg.lr)
            schedule = _schedule(optimizer, cfg, len(train_idx), head_only)
        model.train()
        started = time.perf_counter()
        order = torch.randperm(len(train_idx), generator=generator).numpy()
        total, seen = 0.0, 0
        for start in range(0, len(order), cfg.batch_size):
            batch = order[start:start + cfg.batch_size]
            if len(batch) < 2:  # BatchNorm cannot train on a single image
                continue
            x = inputs(images[train_idx[batch]], cfg.augment, generator)
            y = y_train[batch].to(device)
            with torch.autocast(device.type, dtype=autocast_dtype,
                                enabled=half or precision == "bf16"):
                logits = model(x).float().squeeze(1)
                loss = F.binary_cross_entropy_with_logits(logits, y, pos_weight=pos_weight)
            optimizer.zero_grad(set_to_none=True)
            scaler.scale(loss).backward()
            scaler.step(optimizer)
            scaler.update()
            schedule.step()
            total += loss.item() * len(batch)
            seen += len(batch)
        seconds = time.perf_counter() - started
        result.train_seconds += seconds
        result.train_images += seen

        val_logits = torch.from_numpy(predict_logits(model, images, val_idx, inputs))
        # The loss being minimised, positive weight included: with the unweighted loss a
        # pos_weight-trained model looks worse the more it learns (its probabilities sit
        # above the base rate by design), and early stopping kept epoch 1-2 in some folds.
        val_loss = F.binary_cross_entropy_with_logits(
            val_logits, y_val.double(), pos_weight=pos_weight.double().cpu()).item()
        row = {"epoch": epoch, "train_loss": total / max(seen, 1), "val_loss": val_loss,
               "train_images_per_second": seen / seconds}
        result.history.append(row)
        result.epochs_run = epoch
        if on_epoch is not None:
            on_epoch(row)
        bar.set_postfix(train=f"{row['train_loss']:.3f}", val=f"{val_loss:.3f}")
        if val_loss < best_loss - cfg.min_delta:
            best_loss, stale, result.best_epoch = val_loss, 0, epoch
            best_state = copy.deepcopy(model.state_dict())
        elif epoch > cfg.freeze_epochs:
            stale += 1
            if stale >= cfg.patience:
                break
    bar.close()
    if best_state is None:  # no epoch gave a finite validation loss
        where = f" ({desc})" if desc else ""
        raise FloatingPointError(
            f"fold model{where}: the inner-validation loss was not a finite number in any of "
            f"{result.epochs_run} epochs (last {result.history[-1]['val_loss']!r}); the "
            "learning rate may be too high (classify.lr), or an image may be broken")
    model.load_state_dict(best_state)
    return result
