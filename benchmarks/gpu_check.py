"""The CUDA paths in one short run, for a machine with a GPU (a few minutes there).

Usage: python benchmarks/gpu_check.py [--work /tmp/gpu_check] [--json FILE]
           [--steps classify,ray,detect,predict] [--device cuda|cpu]

Each step prints one line of figures and records them in ``--json``:

1. ``classify``: a 2-fold study of resnet18 on CUDA (AMP, channels-last, strict determinism)
   run twice in this process: train images/s, seconds per study, and whether the two runs'
   predictions and fold weights are bit-identical;
2. ``ray``: the same study, 2 folds x 2 repeats, on the Ray executor with half a GPU per fold
   (``FRACLAB_GPUS_PER_TASK=0.5``) against the serial executor: whether their predictions are
   bit-identical (skipped, and said so, where Ray is not installed);
3. ``detect``: the detect stage's training and evaluation of YOLOv8n for one epoch on CUDA:
   seconds, train images/s, val and test mAP@0.5;
4. ``predict``: a bundle made of step 1's fold models and step 3's detector, applied by
   `fraclab predict` on CUDA and on the CPU to the same test images: the largest probability
   difference, whether every decision agrees, and the boxes found by each.

A step that fails prints its error and the others still run (a GPU lease is too short to
rerun everything for one broken step); the exit code is 1 when any step failed.
``--device cpu`` runs the same steps on the CPU at smaller sizes: a check that the script
itself works (tests/test_gpu_check.py), not a measurement.

Nothing here downloads: the data are synthetic and every model starts from scratch. On this
workplace's GPU machines (no package registry), ``benchmarks/gpu_kit.py`` builds the wheels
to carry there; the README's "GPU check" section gives the command.
"""

from __future__ import annotations

import argparse
import json
import os
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from fraclab.predict.bundle import sha256_file

STEPS = ("classify", "ray", "detect", "predict")


def _quiet(_: str) -> None:
    pass


def _ran_on(recorded: str, asked: str, what: str) -> None:
    if not recorded.startswith(asked):
        raise RuntimeError(f"{what} was asked for {asked} but ran on {recorded}")


class Check:
    """The shared inputs of the steps: where they write, on which device, at what size."""

    def __init__(self, work: Path, device: str) -> None:
        self.work, self.device = work, device
        self.small = device == "cpu"
        self.data = work / "data"
        self.prepared = work / "prepared"

    def make_data(self) -> None:
        from fraclab.data.synth import SynthConfig, generate_dataset
        from fraclab.params import DataParams
        from fraclab.prepare.stage import prepare_dataset

        if not self.data.is_dir():
            generate_dataset(self.data, SynthConfig(n_patients=60 if self.small else 120,
                                                    size=96 if self.small else 320))
        if not (self.prepared / "prepared.json").is_file():
            prepare_dataset(DataParams(path=str(self.data), image_size=64), 0, self.prepared,
                            log=_quiet)

    def classify_params(self, repeats: int, epochs: int) -> Any:
        from fraclab.params import ClassifyParams

        return ClassifyParams(folds=2, repeats=repeats, epochs=epochs, patience=epochs,
                              batch_size=32, n_boot=100, device=self.device, threads=1)

    def study(self, name: str, cfg: Any, executor: str = "serial") -> tuple[dict, Path]:
        from fraclab.classify.stage import run_classify_cv

        out = self.work / name
        metrics = run_classify_cv("resnet18", cfg, 0, self.prepared, out / "artifacts",
                                  out / "metrics.json", out / "plots", log=_quiet,
                                  executor=executor)
        _ran_on(metrics["device"], self.device, "classify-cv")
        return metrics, out / "artifacts"


def classify(check: Check) -> dict[str, Any]:
    cfg = check.classify_params(repeats=1, epochs=1 if check.small else 2)
    runs = []
    for k in range(2):
        started = time.perf_counter()
        metrics, artifacts = check.study(f"classify{k}", cfg)
        runs.append((time.perf_counter() - started, artifacts))
    files = ["oof.csv", "test.csv", *sorted(
        p.relative_to(runs[0][1]).as_posix() for p in (runs[0][1] / "weights").glob("*.pt"))]
    same = all(sha256_file(runs[0][1] / f) == sha256_file(runs[1][1] / f) for f in files)
    figures = {"train_images_per_second": metrics["training"]["train_images_per_second"],
               "seconds_per_study": round(runs[0][0], 1), "bit_identical": same,
               "compared": files}
    print(f"1. classify resnet18 on {check.device}: {figures['train_images_per_second']} train "
          f"images/s, {figures['seconds_per_study']} s per 2-fold study; two runs "
          f"bit-identical ({len(files)} files): {same}", flush=True)
    return figures


def ray(check: Check) -> dict[str, Any]:
    try:
        import ray as _ray  # noqa: F401
    except ImportError:
        print("2. ray: skipped, Ray is not installed here", flush=True)
        return {"skipped": "Ray is not installed"}
    os.environ["FRACLAB_GPUS_PER_TASK"] = "0.5"
    cfg = check.classify_params(repeats=2, epochs=1)
    digests = {}
    for executor in ("serial", "ray"):
        _, artifacts = check.study(f"ray_{executor}", cfg, executor)
        digests[executor] = [sha256_file(artifacts / f) for f in ("oof.csv", "test.csv")]
    same = digests["serial"] == digests["ray"]
    print(f"2. ray, 4 folds at num_gpus 0.5 each: bit-identical to serial: {same}", flush=True)
    return {"gpus_per_task": 0.5, "bit_identical": same}


def _results_csv_without_polars() -> None:
    """Where polars is absent, Ultralytics' trainer reads its results.csv with the standard
    library: it imports polars for nothing else in training, only to copy that file into the
    checkpoint, and polars is too large to carry to this workplace's GPU machines."""
    import importlib.util

    if importlib.util.find_spec("polars") is not None:
        return
    import csv

    from fraclab.models import offline

    offline.configure()  # before the first `import ultralytics`, as the stages do
    from ultralytics.engine.trainer import BaseTrainer

    def read_results_csv(trainer: Any) -> dict[str, list]:
        try:
            rows = list(csv.DictReader(trainer.csv.read_text().splitlines()))
            return {key: [float(row[key]) for row in rows] for key in rows[0]}
        except Exception:  # the same fallback as the polars reader's
            return {}

    BaseTrainer.read_results_csv = read_results_csv


def detect(check: Check) -> dict[str, Any]:
    from fraclab.detect.stage import run_detect
    from fraclab.params import DetectParams

    _results_csv_without_polars()

    cfg = DetectParams(sizes=["n"], epochs=1, imgsz=64 if check.small else 320,
                       batch=8 if check.small else 32, nbs=8 if check.small else 32,
                       device=check.device, n_plot_images=1)
    out = check.work / "detect"
    started = time.perf_counter()
    metrics = run_detect("n", cfg, 0, check.prepared, out / "artifacts", out / "metrics.json",
                         out / "plots", log=_quiet)
    _ran_on(metrics["training"]["device"], check.device, "detect")
    figures = {"seconds": round(time.perf_counter() - started, 1), "imgsz": cfg.imgsz,
               "train_images_per_second": metrics["training"]["train_images_per_second"],
               "val_map50": metrics["val"]["map50"], "test_map50": metrics["test"]["map50"]}
    print(f"3. detect YOLOv8n, 1 epoch at {cfg.imgsz} px on {check.device}: "
          f"{figures['seconds']} s with evaluation, {figures['train_images_per_second']} "
          f"train images/s; val mAP@0.5 {figures['val_map50']:.3f}, test "
          f"{figures['test_map50']:.3f}", flush=True)
    return figures


def make_bundle(check: Check) -> Path:
    """A bundle of step 1's fold models (temperature 1, threshold 0.5) and step 3's detector,
    in the format `fraclab predict` reads; its numbers are placeholders, its code paths real."""
    import shutil

    from fraclab.bundle.stage import _detector  # the checkpoint -> state dict + YAML step
    from fraclab.predict.bundle import FORMAT, MANIFEST, file_hashes

    root = check.work / "bundle"
    shutil.rmtree(root, ignore_errors=True)
    (root / "classifier").mkdir(parents=True)
    folds = []
    fold_weights = sorted((check.work / "classify0" / "artifacts" / "weights").glob("*.pt"))
    if not fold_weights:
        raise RuntimeError("no fold models from step 1 (classify) to bundle")
    for weights in fold_weights:
        shutil.copyfile(weights, root / "classifier" / weights.name)
        folds.append({"key": weights.stem, "weights": f"classifier/{weights.name}",
                      "calibration": {"method": "temperature", "temperature": 1.0,
                                      "slope": 1.0, "intercept": 0.0},
                      "thresholds": {"fixed50": 0.5}})
    detector = _detector(check.work / "detect" / "artifacts" / "best.pt", root / "detector", "n")
    detect_metrics = json.loads((check.work / "detect" / "metrics.json").read_text())
    manifest = {
        "format": FORMAT,
        "preprocessing": {"image_size": 64},
        "classifier": {"backbone": "resnet18", "folds": folds,
                       "operating_points": {"fixed50": 0.5},
                       "default_operating_point": "fixed50"},
        "detector": {"size": "n", "imgsz": detect_metrics["imgsz"], "conf": 0.01, **detector},
    }
    manifest["files"] = file_hashes(root)
    (root / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return root


def predict(check: Check) -> dict[str, Any]:
    from fraclab.predict.cli import run_predict

    bundle = make_bundle(check)
    images = sorted((check.data / "test" / "images").iterdir())[:64]
    rows = {}
    for device in dict.fromkeys((check.device, "cpu")):
        out = check.work / f"predict_{device}"
        code = run_predict(tuple(map(str, images)), bundle, out, None, device, 32,
                           overlays=False, quiet=True)
        if code != 0:
            raise RuntimeError(f"fraclab predict on {device} exited with {code}")
        rows[device] = [json.loads(line)
                        for line in (out / "predictions.jsonl").read_text().splitlines()]
        _ran_on(json.loads((out / "run.json").read_text())["device"], device, "predict")
    here, cpu = rows[check.device], rows["cpu"]
    figures = {
        "images": len(here),
        "largest_probability_difference": max(abs(a["probability"] - b["probability"])
                                              for a, b in zip(here, cpu, strict=True)),
        "decisions_agree": all(a["decision"] == b["decision"]
                               for a, b in zip(here, cpu, strict=True)),
        "boxes": {check.device: sum(len(r["boxes"]) for r in here),
                  "cpu": sum(len(r["boxes"]) for r in cpu)},
    }
    print(f"4. fraclab predict on {check.device} vs cpu, {figures['images']} images: largest "
          f"probability difference {figures['largest_probability_difference']:.2e}, decisions "
          f"agree: {figures['decisions_agree']}, boxes {figures['boxes']}", flush=True)
    return figures


def run_steps(check: Check, steps: list[str],
              functions: dict[str, Callable[[Check], dict[str, Any]]]) -> dict[str, Any]:
    """Each step's figures, or its error; one failing step does not stop the others."""
    results: dict[str, Any] = {}
    for number, name in enumerate(STEPS, 1):
        if name not in steps:
            continue
        started = time.perf_counter()
        try:
            results[name] = {"status": "ok", **functions[name](check)}
        except Exception as err:  # reported, and the next step still runs
            traceback.print_exc()
            print(f"{number}. {name}: FAILED: {type(err).__name__}: {err}", flush=True)
            results[name] = {"status": "failed", "error": f"{type(err).__name__}: {err}"}
        results[name]["wall_seconds"] = round(time.perf_counter() - started, 1)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_check"))
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    parser.add_argument("--steps", default=",".join(STEPS),
                        help=f"comma-separated, from {', '.join(STEPS)}")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cpu: the same steps, smaller, to check the script itself")
    args = parser.parse_args()
    steps = [s.strip() for s in args.steps.split(",") if s.strip()]
    unknown = sorted(set(steps) - set(STEPS))
    if unknown:
        parser.error(f"unknown steps {unknown}; choose from {', '.join(STEPS)}")
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this on a GPU machine (or --device cpu)")
    check = Check(args.work, args.device)
    check.make_data()
    machine = (f"{torch.cuda.get_device_name(0)}, CUDA {torch.version.cuda}"
               if args.device == "cuda" else "cpu")
    print(f"device: {machine}; torch {torch.__version__}", flush=True)
    results = {"device": machine, "torch": torch.__version__,
               "steps": run_steps(check, steps, {name: globals()[name] for name in STEPS})}
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")
    if any(r["status"] == "failed" for r in results["steps"].values()):
        raise SystemExit(1)


if __name__ == "__main__":
    main()
