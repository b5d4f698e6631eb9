"""One YOLOv8 training run with Ultralytics: offline-safe, every core used, same arguments.

Ultralytics on CPU sets torch to ``cpu_count - 1`` threads and forces 0 dataloader workers,
leaving a core idle, and steps Adam/SGD one tensor at a time in Python. The stage's trainer
(:func:`stage_trainer`) gives torch every core (:func:`resources`), keeps dataloader workers
where cores remain, steps the optimiser with torch's fused CPU kernel and lays convolutions out
channels-last; the hyperparameters are the ones passed to ``YOLO.train``, unchanged. Worker
processes would normally change the augmentation (each worker has its own random state and its
own mosaic buffer), so every training sample here carries its own seed, drawn in the main
process: sample *k* of epoch *e* is augmented identically with 0, 1 or 8 workers.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

# Before torch loads OpenMP: idle threads spin between parallel regions instead of sleeping. At
# these image sizes a training step is thousands of tiny parallel regions; on 2 idle cores a
# 2-thread step took 86 ms spinning, 89 ms with OpenMP's default and 170 ms sleeping (PASSIVE).
# Spinning costs on cores shared with other jobs (354 ms against a busy core; 179 ms PASSIVE):
# there, OMP_WAIT_POLICY=PASSIVE in the environment wins and changes speed only, not results.
os.environ.setdefault("OMP_WAIT_POLICY", "ACTIVE")

import numpy as np
import torch

from fraclab.models import offline

offline.configure()  # must precede the first `import ultralytics`

from ultralytics import YOLO  # noqa: E402
from ultralytics.data.augment import Mosaic  # noqa: E402
from ultralytics.data.build import InfiniteDataLoader, seed_worker  # noqa: E402
from ultralytics.data.dataset import YOLODataset  # noqa: E402
from ultralytics.engine import trainer as trainer_module  # noqa: E402
from ultralytics.models.yolo.detect import DetectionTrainer  # noqa: E402
from ultralytics.utils.torch_utils import strip_optimizer  # noqa: E402

offline.restore_pil_open()  # a corrupt image stays PIL's clear error

from fraclab.params import YOLO_OPTIMIZERS, DetectParams  # noqa: E402
from fraclab.runtime import available_cores, select_device  # noqa: E402


def _no_amp_download(model: torch.nn.Module) -> bool:
    """AMP on CUDA, without Ultralytics' check that downloads yolo26n.pt to compare outputs."""
    return next(model.parameters()).device.type == "cuda"


# Ultralytics' AMP check fetches weights from GitHub on CUDA; offline that is a failed request.
trainer_module.check_amp = _no_amp_download


# The optimisers the stage offers; torch has a fused CPU kernel for each of them.
FUSED_ON_CPU = tuple(getattr(torch.optim, name) for name in YOLO_OPTIMIZERS.values())


@dataclass(frozen=True)
class Resources:
    """Where and how wide training runs."""

    device: str  # Ultralytics' device string: cpu, mps or a CUDA index
    threads: int  # torch intra-op threads on CPU
    workers: int  # dataloader worker processes


def resources(cfg: DetectParams) -> Resources:
    """Device, threads and workers for ``cfg`` on this machine.

    On CPU, ``auto`` threads are every core given (at most 8) and ``auto`` workers the cores
    left over (none on up to 8 cores): a worker process competes with the torch threads for a
    core (on 2 idle cores, 2 threads + 1 worker ran epochs 9 % slower than 2 threads + 0). On
    CUDA or MPS the torch threads hardly matter and ``auto`` workers are one per core, to keep
    the accelerator fed. The thread count changes float rounding (results are reproducible on
    one machine, not bit-equal across core counts); workers do not change results.
    """
    device = select_device(cfg.device, "detect.device")
    cores = available_cores()
    threads = min(8, cores) if cfg.threads == "auto" else cfg.threads
    if cfg.workers != "auto":
        workers = cfg.workers
    else:
        workers = cores - threads if device.type == "cpu" else cores
    name = {"cuda": "0", "mps": "mps"}.get(device.type, "cpu")
    return Resources(device=name, threads=threads, workers=workers)


class SeededOrder(torch.utils.data.Sampler):
    """Shuffled sample order in which every index carries its own augmentation seed.

    Yields ``seed * n + index``; the dataset (see :func:`seed_samples`) splits it again. The
    order and the seeds of pass *e* depend only on (seed, e), so neither worker prefetching nor
    the loader restart when mosaic closes can shift them.
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n, self.seed, self.passes = n, seed, 0

    def __len__(self) -> int:
        return self.n

    def restart_at(self, epoch: int) -> None:
        """The next pass serves ``epoch`` (called when the loader is rebuilt mid-training)."""
        self.passes = epoch

    def __iter__(self):
        state = np.random.SeedSequence([self.seed, self.passes]).generate_state(2)
        self.passes += 1
        rng = np.random.default_rng(state)
        order = rng.permutation(self.n)
        seeds = rng.integers(0, 2**31 - 1, size=self.n)
        return iter((int(s) * self.n + int(i) for i, s in zip(order, seeds, strict=True)))


class SeededYOLODataset(YOLODataset):
    """YOLODataset whose key ``seed * n + index`` seeds every RNG, then returns sample ``index``."""

    def __getitem__(self, key: int):
        seed, index = divmod(int(key), len(self))
        random.seed(seed)
        np.random.seed(seed)  # noqa: NPY002 (Ultralytics' augmentations draw from the legacy RNG)
        # The CPU generator only: torch.manual_seed also queues a CUDA seeding call, with its
        # stack trace, on every sample while CUDA is uninitialised (3.7 s of a 3-epoch profile).
        torch.random.default_generator.manual_seed(seed)
        return super().__getitem__(index)


def seed_samples(dataset: YOLODataset) -> None:
    """Make ``dataset`` take seeded keys (see :class:`SeededOrder`), in place.

    Also turns off the mosaic "buffer" (partners drawn from images recently loaded by the same
    process, so from a worker-dependent pool): partners are drawn from the whole dataset.
    """
    if type(dataset) is not YOLODataset:
        raise TypeError(f"expected Ultralytics' YOLODataset, got {type(dataset).__name__}")
    # A module-level subclass (not a wrapper): Ultralytics sets attributes on the dataset, and
    # spawned workers (macOS, Windows) must be able to unpickle its class by name.
    dataset.__class__ = SeededYOLODataset
    stack = [dataset.transforms]
    while stack:
        transform = stack.pop()
        if isinstance(transform, Mosaic):
            transform.buffer_enabled = False
        stack.extend(getattr(transform, "transforms", []) or [])
        if getattr(transform, "pre_transform", None) is not None:
            stack.append(transform.pre_transform)


def stage_trainer(res: Resources, seed: int) -> type[DetectionTrainer]:
    """Ultralytics' DetectionTrainer with our threads, workers and seeded training samples.

    On CPU it also lays the model out channels-last (Ultralytics does that on CUDA only; here
    a YOLOv8n step at imgsz 96 took 7 % less) and steps the optimiser with torch's fused CPU
    kernel (Ultralytics fuses on CUDA only; the per-tensor Python loop it uses on CPU took
    20 ms of a ~100 ms step, the fused kernel 3 ms). Checkpoints are saved contiguous either way.
    """

    class StageTrainer(DetectionTrainer):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            # Ultralytics just set workers to 0 and torch to cpu_count - 1 threads on CPU.
            self.args.workers = res.workers
            if self.device.type == "cpu":
                torch.set_num_threads(res.threads)

        def setup_model(self):
            checkpoint = super().setup_model()
            if self.device.type == "cpu":
                self.model.to(memory_format=torch.channels_last)
            return checkpoint

        def build_optimizer(self, model, *args, **kwargs):
            optimizer = super().build_optimizer(model, *args, **kwargs)
            if self.device.type != "cpu" or type(optimizer) not in FUSED_ON_CPU:
                return optimizer
            # Same groups and hyperparameters; fused must go to the constructor.
            groups = [{**group, "fused": True, "foreach": None} for group in optimizer.param_groups]
            return type(optimizer)(groups, fused=True)

        def get_dataloader(self, dataset_path, batch_size=16, rank=0, mode="train"):
            if mode != "train":
                return super().get_dataloader(dataset_path, batch_size, rank, mode)
            dataset = self.build_dataset(dataset_path, mode, batch_size)
            seed_samples(dataset)
            batches = -(-len(dataset) // batch_size)
            workers = min(res.workers, batches if batches > 1 else 0)
            generator = torch.Generator().manual_seed(seed)
            return InfiniteDataLoader(
                dataset=dataset, batch_size=min(batch_size, len(dataset)),
                sampler=SeededOrder(len(dataset), seed), num_workers=workers,
                prefetch_factor=4 if workers else None, pin_memory=self.device.type == "cuda",
                collate_fn=dataset.collate_fn, worker_init_fn=seed_worker, generator=generator)

        def _close_dataloader_mosaic(self) -> None:
            super()._close_dataloader_mosaic()
            self.train_loader.sampler.restart_at(self.epoch)

        def final_eval(self) -> None:
            # The stage evaluates best.pt itself (val and test); here only drop optimizer state.
            ckpt = strip_optimizer(self.last) if self.last.exists() else {}
            if self.best.exists():
                strip_optimizer(self.best, updates={"train_results": ckpt.get("train_results")})

    return StageTrainer


@dataclass(frozen=True)
class TrainResult:
    """What one training run produced."""

    best: Path  # best.pt (highest val fitness, Ultralytics' mAP@0.5:0.95)
    results_csv: Path  # Ultralytics' per-epoch log
    epochs: int  # the budget
    epochs_trained: int
    best_epoch: int  # 1-based
    train_seconds: float
    train_images: int
    resources: Resources


def train_args(cfg: DetectParams, size: str, seed: int, data_yaml: Path, run_dir: Path,
               res: Resources) -> dict:
    """Every argument the stage passes to ``YOLO.train`` (the benchmark reuses them)."""
    aug = cfg.augment
    return dict(
        data=str(data_yaml), epochs=cfg.epochs_for(size), patience=cfg.patience,
        batch=cfg.batch, nbs=cfg.nbs, imgsz=cfg.imgsz, optimizer=YOLO_OPTIMIZERS[cfg.optimizer],
        lr0=cfg.lr0, lrf=cfg.lrf, momentum=cfg.momentum, weight_decay=cfg.weight_decay,
        warmup_epochs=cfg.warmup_epochs, close_mosaic=cfg.close_mosaic,
        mosaic=aug.mosaic, fliplr=aug.fliplr, degrees=aug.degrees, translate=aug.translate,
        scale=aug.scale, hsv_v=aug.hsv_v, hsv_h=0.0, hsv_s=0.0,  # grayscale: no hue/saturation
        cache="ram" if cfg.cache else False, device=res.device, workers=res.workers,
        seed=seed, deterministic=True, project=str(run_dir), name="train", exist_ok=True,
        plots=False, val=True, verbose=False, pretrained=cfg.weights != "scratch",
    )


def train(cfg: DetectParams, size: str, seed: int, model_source: str, data_yaml: Path,
          run_dir: Path, log: Callable[[str], None] = print) -> TrainResult:
    """Train YOLOv8-``size`` on ``data_yaml``'s train split, early-stopping on val."""
    res = resources(cfg)
    epochs = cfg.epochs_for(size)
    # Ultralytics turns mosaic off for the last close_mosaic epochs (all of them when
    # close_mosaic >= epochs), and warms up for at most epochs - 1: say what will happen.
    mosaic_epochs = max(0, epochs - cfg.close_mosaic) if cfg.augment.mosaic > 0 else 0
    log(f"detect {size}: {model_source}, {res.device}, {res.threads} threads, "
        f"{res.workers} workers, {epochs} epochs at imgsz {cfg.imgsz} "
        f"({mosaic_epochs} with mosaic, {epochs - mosaic_epochs} without; "
        f"warm-up {min(cfg.warmup_epochs, epochs - 1):g} epochs)")
    model = YOLO(model_source)
    images = {}

    def count_images(trainer) -> None:
        images["n"] = len(trainer.train_loader.dataset)

    model.add_callback("on_train_start", count_images)
    start = time.perf_counter()
    model.train(trainer=stage_trainer(res, seed),
                **train_args(cfg, size, seed, data_yaml, run_dir, res))
    seconds = time.perf_counter() - start
    trainer = model.trainer
    return TrainResult(
        best=Path(trainer.best), results_csv=Path(trainer.save_dir) / "results.csv",
        epochs=cfg.epochs_for(size), epochs_trained=trainer.epoch + 1,
        best_epoch=int(trainer.stopper.best_epoch), train_seconds=seconds,
        train_images=images.get("n", 0), resources=res)
