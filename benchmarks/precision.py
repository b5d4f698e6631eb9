"""classify-cv in bfloat16 against float32 on the CPU: wall time and the pooled OOF AUROC.

Usage: .venv/bin/python benchmarks/precision.py [--prepared artifacts/prepared]
           [--backbones resnet18 ...] [--out /tmp/bench_precision] [--json FILE]

For each backbone, with the default params (params.yaml) otherwise, runs the whole
classify-cv study once per precision in this process (``fp32`` then ``bf16`` unless
``--precisions`` says otherwise; bf16 is a bfloat16 autocast of the training forward pass,
predictions stay float32), on the default executor. The two precisions train different
models, so the AUROC difference is to be read against the seed-to-seed SD of the README's
noise table, not as an effect of its own.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import time
from pathlib import Path

from fraclab.classify.stage import run_classify_cv
from fraclab.params import ClassifyParams, load_params, section, seed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--prepared", type=Path, default=Path("artifacts/prepared"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--backbones", nargs="+", default=None)
    parser.add_argument("--out", type=Path, default=Path("/tmp/bench_precision"))
    parser.add_argument("--precisions", nargs="+", default=["fp32", "bf16"])
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()

    params = load_params(args.params)
    cfg = section(ClassifyParams, params, "classify")
    print(f"{cfg.threads} thread(s) per fold; {cfg.repeats} x {cfg.folds} folds, "
          f"{cfg.epochs} epochs")
    figures = {}
    for backbone in args.backbones or cfg.backbones:
        runs = {}
        for precision in args.precisions:
            out = args.out / backbone / precision
            started = time.perf_counter()
            metrics = run_classify_cv(
                backbone, dataclasses.replace(cfg, precision=precision), seed(params),
                args.prepared, out / "artifacts", out / "metrics.json", out / "plots",
                log=lambda _: None)
            runs[precision] = {
                "wall_seconds": round(time.perf_counter() - started, 1),
                "train_images_per_second": metrics["training"]["train_images_per_second"],
                "oof_auroc": metrics["oof_pooled"]["auroc"]["value"],
                "test_auroc": metrics["test_ensemble"]["auroc"]["value"]}
        figures[backbone] = runs
        print(f"{backbone}: " + "; ".join(
            f"{p} {r['wall_seconds']:.0f} s ({r['train_images_per_second']:.0f} img/s), OOF "
            f"AUROC {r['oof_auroc']:.3f}" for p, r in runs.items()))
    if args.json:
        args.json.write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
