"""Epoch time of the detect stage's training against bare Ultralytics with the same arguments.

Usage: .venv/bin/python benchmarks/detect.py [--size n] [--epochs 3] [--rounds 2]
           [--threads T] [--workers W] [--params params.yaml] [--view artifacts/prepared/yolo]

Both runs train YOLOv8-<size> from scratch on a prepared YOLO view (``--view``) for
``--epochs`` epochs with every argument the stage passes (``train_args``, from ``--params``),
each in a fresh process: the stage's ``fraclab.detect.train.train`` (its threads, workers,
seeded samples, fused optimiser step, channels-last layout and OpenMP wait policy) and a plain
``YOLO(...).train(**same_args)`` (Ultralytics' own choices: ``cpu_count - 1`` torch threads and
0 dataloader workers on CPU). Epoch times come from Ultralytics' ``results.csv`` (training plus
the per-epoch validation); the first epoch (worker start-up, image caching) is left out, unless
``--epochs 1`` (for large data, where one epoch is what there is time for). Shared
machines drift by 10-20 % over minutes, so the runs go in rounds ordered bare, stage, stage,
bare, ... (a linear drift cancels) and each role's epochs are pooled. Prints both medians and
the ratio stage / bare: the goal is <= 0.7 on 2 CPU cores and never above 1.05. Run it on idle
cores: the stage's torch threads spin while waiting and lose much more than bare Ultralytics'
single thread when another job takes a core.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path


def epoch_seconds(results_csv: Path) -> list[float]:
    """Per-epoch seconds from Ultralytics' cumulative ``time`` column."""
    with results_csv.open(newline="") as f:
        elapsed = [float(row["time"]) for row in csv.DictReader(f)]
    return [b - a for a, b in zip([0.0, *elapsed], elapsed, strict=False)]


def run_role(role: str, args: argparse.Namespace) -> None:
    """Inside a child process: one training run; writes its epoch times as JSON to ``args.out``."""
    if role == "bare":
        # Loaded before fraclab.detect.train sets OMP_WAIT_POLICY: bare keeps OpenMP's default.
        import torch
    from fraclab.models import offline

    offline.configure()
    from fraclab.detect.data import load_view, private_view
    from fraclab.detect.train import resources, train, train_args
    from fraclab.params import DetectParams, load_params, section, seed

    params = load_params(args.params)
    cfg = section(DetectParams, params, "detect")
    size = args.size
    cfg = dataclasses.replace(
        cfg, epochs=args.epochs, patience=args.epochs + 1, weights="scratch",
        threads=cfg.threads if args.threads == "params" else int(args.threads),
        workers=cfg.workers if args.workers == "params" else int(args.workers))
    with tempfile.TemporaryDirectory(prefix="fraclab-bench-") as tmp:
        data_yaml = private_view(load_view(args.view), Path(tmp) / "data")
        if role == "stage":
            result = train(cfg, size, seed(params), f"yolov8{size}.yaml", data_yaml,
                           Path(tmp) / "runs", log=lambda _: None)
            csv_path, info = result.results_csv, dataclasses.asdict(result.resources)
        else:
            from ultralytics import YOLO

            model = YOLO(f"yolov8{size}.yaml")
            kwargs = train_args(cfg, size, seed(params), data_yaml, Path(tmp) / "runs",
                                resources(cfg))
            model.train(**kwargs)
            import torch

            csv_path = Path(model.trainer.save_dir) / "results.csv"
            info = {"threads": torch.get_num_threads(),
                    "workers": model.trainer.train_loader.num_workers}
        args.out.write_text(json.dumps({"epochs": epoch_seconds(csv_path), **info}))


def child(role: str, args: argparse.Namespace) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as out:
        subprocess.run([sys.executable, __file__, "--role", role, "--size", args.size,
                        "--epochs", str(args.epochs), "--threads", args.threads,
                        "--workers", args.workers, "--params", str(args.params),
                        "--view", str(args.view), "--out", out.name],
                       check=True, stdout=subprocess.DEVNULL,
                       env={**os.environ, "YOLO_VERBOSE": "false"})
        return json.loads(Path(out.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="n")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=2, help="bare+stage pairs, order alternating")
    parser.add_argument("--threads", default="params", help="torch threads for the stage run")
    parser.add_argument("--workers", default="params", help="dataloader workers, stage run")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--view", type=Path, default=Path("artifacts/prepared/yolo"),
                        help="a YOLO view as prepare writes it (data.yaml + split folders)")
    parser.add_argument("--role", choices=("stage", "bare"), help=argparse.SUPPRESS)
    parser.add_argument("--out", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.role:
        run_role(args.role, args)
        return
    if args.epochs < 1 or args.rounds < 1:
        parser.error("--epochs and --rounds must be >= 1")
    skip = 1 if args.epochs > 1 else 0  # the first epoch also caches images and starts workers
    timed: dict[str, list[float]] = {"bare": [], "stage": []}
    for round_ in range(args.rounds):
        for role in ("bare", "stage") if round_ % 2 == 0 else ("stage", "bare"):
            run = child(role, args)
            timed[role] += run["epochs"][skip:]
            times = ", ".join(f"{t:.2f}" for t in run["epochs"])
            print(f"{role:>5}: {run['threads']} threads, {run['workers']} workers, "
                  f"epoch seconds [{times}]", flush=True)
    bare, stage = (statistics.median(timed[role]) for role in ("bare", "stage"))
    which = "after the first" if skip else "the only one, image caching included"
    print(f"YOLOv8{args.size}, median epoch ({which}): bare {bare:.2f} s, "
          f"stage {stage:.2f} s, ratio stage/bare {stage / bare:.3f} (goal <= 0.7 on 2 cores)")


if __name__ == "__main__":
    main()
