"""classify-cv wall time: serial on every core against the local pool of one-thread folds.

Usage: .venv/bin/python benchmarks/executors.py [--prepared artifacts/prepared]
           [--backbones resnet18 ...] [--out /tmp/bench_executors]

For each backbone, with the default params (params.yaml) otherwise, times the whole
classify-cv study twice in this process: ``serial`` with ``classify.threads`` = every core,
then ``local`` with one thread per fold and as many folds at once as there are cores. Small
convolutions at 64 px use two threads poorly, so the pool may win; the two runs round floats
differently (the thread count is a tracked param), so only their times are compared.
"""

from __future__ import annotations

import argparse
import dataclasses
import time
from pathlib import Path

from fraclab.classify.stage import run_classify_cv
from fraclab.params import ClassifyParams, load_params, section, seed
from fraclab.runtime import available_cores


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, default=Path("artifacts/prepared"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--backbones", nargs="+", default=None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_executors"))
    args = parser.parse_args()

    params = load_params(args.params)
    cfg = section(ClassifyParams, params, "classify")
    cores = available_cores()
    print(f"{cores} cores; {cfg.repeats} x {cfg.folds} folds, {cfg.epochs} epochs")
    for backbone in args.backbones or cfg.backbones:
        seconds = {}
        for executor, threads in (("serial", cores), ("local", 1)):
            out = args.out / backbone / executor
            started = time.perf_counter()
            run_classify_cv(backbone, dataclasses.replace(cfg, threads=threads), seed(params),
                            args.prepared, out / "artifacts", out / "metrics.json",
                            out / "plots", log=lambda _: None, executor=executor)
            seconds[executor] = time.perf_counter() - started
        print(f"{backbone}: serial ({cores} threads) {seconds['serial']:.0f} s, local "
              f"({cores} folds x 1 thread) {seconds['local']:.0f} s, speed-up "
              f"{seconds['serial'] / seconds['local']:.2f}x")


if __name__ == "__main__":
    main()
