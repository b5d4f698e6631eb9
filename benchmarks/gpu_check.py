"""The CUDA paths in one short run, for a machine with a GPU (about 5 minutes there).

Usage: .venv/bin/python benchmarks/gpu_check.py [--work /tmp/gpu_check]

Prints, each as one line:

1. a classify fold on CUDA (AMP, channels-last, strict determinism) trained twice in this
   process: its images/s and whether the two runs' weights are bit-identical;
2. the same 2 x 2-fold study on the Ray executor with fractional ``num_gpus`` against the
   serial one: whether their predictions are bit-identical;
3. one YOLOv8n epoch at imgsz 320 on CUDA: seconds and images/s;
4. a trained fold model's inference on CUDA against the CPU on the same images: the largest
   probability difference (AMP is training-only, so it should be rounding-level).

Nothing here downloads: the data are synthetic and every model starts from scratch.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

import numpy as np
import torch


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:16]


def classify_twice(prepared: Path, work: Path) -> None:
    from fraclab.classify.stage import run_classify_cv
    from fraclab.params import ClassifyParams

    cfg = ClassifyParams(folds=2, repeats=1, epochs=2, patience=2, batch_size=32, n_boot=100,
                         device="cuda", threads=1)
    runs = []
    for k in range(2):
        out = work / f"classify{k}"
        started = time.perf_counter()
        metrics = run_classify_cv("resnet18", cfg, 0, prepared, out / "artifacts",
                                  out / "metrics.json", out / "plots", log=lambda _: None)
        runs.append((time.perf_counter() - started, out))
    same = all(_digest(runs[0][1] / "artifacts" / f) == _digest(runs[1][1] / "artifacts" / f)
               for f in ("oof.csv", "test.csv"))
    print(f"1. classify on CUDA: {metrics['training']['train_images_per_second']} train "
          f"images/s, {runs[0][0]:.1f} s per study; two runs bit-identical: {same}")


def ray_fractional(prepared: Path, work: Path) -> None:
    from fraclab.classify.stage import run_classify_cv
    from fraclab.params import ClassifyParams

    os.environ["FRACLAB_GPUS_PER_TASK"] = "0.5"
    cfg = ClassifyParams(folds=2, repeats=2, epochs=1, patience=1, batch_size=32, n_boot=100,
                         device="cuda", threads=1)
    digests = {}
    for executor in ("serial", "ray"):
        out = work / f"ray_{executor}"
        run_classify_cv("resnet18", cfg, 0, prepared, out / "artifacts", out / "metrics.json",
                        out / "plots", log=lambda _: None, executor=executor)
        digests[executor] = _digest(out / "artifacts" / "oof.csv")
    print(f"2. Ray with num_gpus 0.5 per fold: bit-identical to serial: "
          f"{digests['serial'] == digests['ray']}")


def yolo_epoch(data: Path, work: Path) -> None:
    from ultralytics import YOLO

    model = YOLO("yolov8n.yaml")  # from scratch: nothing to download
    started = time.perf_counter()
    model.train(data=str(data / "data.yaml"), epochs=1, imgsz=320, batch=32, device=0,
                project=str(work / "yolo"), name="n", exist_ok=True, verbose=False, plots=False,
                amp=False, workers=2)
    seconds = time.perf_counter() - started
    n = len(list((data / "train" / "images").iterdir()))
    print(f"3. YOLOv8n, 1 epoch at 320 on CUDA: {seconds:.1f} s ({n / seconds:.0f} images/s "
          "including validation)")


def inference_cuda(prepared: Path, work: Path) -> None:
    """One saved fold model's probabilities on CUDA vs on the CPU."""
    from fraclab.models.backbones import build_backbone
    from fraclab.models.inputs import InputPipeline, predict_logits

    images = np.load(prepared / "images.npy", mmap_mode="r")[:64]
    state = torch.load(work / "classify0" / "artifacts" / "weights" / "r0_f0.pt",
                       weights_only=True)
    probs = {}
    for device in ("cpu", "cuda"):
        model, _ = build_backbone("resnet18")
        model.load_state_dict(state)
        model.to(device).eval()
        logits = predict_logits(model, np.asarray(images), np.arange(len(images)),
                                InputPipeline(torch.device(device), channels_last=False))
        probs[device] = 1 / (1 + np.exp(-logits))
    print(f"4. fold model on CUDA vs CPU, 64 images: largest probability difference "
          f"{np.abs(probs['cuda'] - probs['cpu']).max():.2e}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=Path("/tmp/gpu_check"))
    args = parser.parse_args()
    if not torch.cuda.is_available():
        raise SystemExit("no CUDA device: run this on a GPU machine")
    from fraclab.data.synth import SynthConfig, generate_dataset
    from fraclab.params import DataParams
    from fraclab.prepare.stage import prepare_dataset

    work = args.work
    data = work / "data"
    if not data.is_dir():
        generate_dataset(data, SynthConfig(n_patients=120, size=320))
    prepared = work / "prepared"
    prepare_dataset(DataParams(path=str(data), image_size=64), 0, prepared, log=lambda _: None)
    print(f"GPU: {torch.cuda.get_device_name(0)}; torch {torch.__version__}")
    classify_twice(prepared, work)
    ray_fractional(prepared, work)
    yolo_epoch(data, work)
    inference_cuda(prepared, work)


if __name__ == "__main__":
    main()
