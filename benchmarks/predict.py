"""Inference throughput of `Predictor.predict` against its bare parts, and its memory.

Usage: .venv/bin/python benchmarks/predict.py [--model model] [--images 300]
           [--data ../shared/data/bone-fracture-detection] [--batch-size 32]

Takes the first ``--images`` files of the dataset's test, valid and train image folders (real
X-rays of any size; the bundle's own training data does not matter for speed) and, in one
process, prints:

- end to end: images/s of ``Predictor.load(model).predict(paths)`` consumed to the last
  prediction (decoding, the fold models' batched forward passes, calibration, the decision,
  the detector);
- the bare parts on the same files: decoding alone (``decode_views``), every fold model's
  forward pass alone on the decoded batches (``predict_logits``), and ``YOLO.predict`` alone on
  the decoded grayscale images; their summed time gives the bare throughput, and the ratio
  end to end / bare is the predictor's overhead (goal >= 0.9);
- the resident memory after the first batch, at half way and at the end, and the peak: flat
  in the number of images when predictions are streamed, not held.

The end-to-end pass runs between two bare passes (bare, whole, bare; the faster bare pass
counts) so that a warm cache or a drifting machine speed favours neither.
"""

from __future__ import annotations

import argparse
import resource
import time
from pathlib import Path

import numpy as np

from fraclab.data.images import decode_views
from fraclab.predict.predictor import Predictor

SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm"}


def rss_mb() -> float:
    """Current resident set size in MB (Linux /proc)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def image_paths(data: Path, n: int) -> list[Path]:
    paths: list[Path] = []
    for split in ("test", "valid", "train"):
        folder = data / split / "images"
        if folder.is_dir():
            paths += sorted(p for p in folder.iterdir() if p.suffix.lower() in SUFFIXES)
    if len(paths) < n:
        raise SystemExit(f"{data}: only {len(paths)} images, asked for {n}")
    return paths[:n]


def bare_parts(predictor: Predictor, paths: list[Path], batch_size: int) -> dict[str, float]:
    """Seconds spent decoding, in the fold models' forward passes and in YOLO.predict."""
    from fraclab.models.inputs import predict_logits

    seconds = {"decode": 0.0, "classifiers": 0.0, "detector": 0.0}
    for start in range(0, len(paths), batch_size):
        chunk = paths[start:start + batch_size]
        t0 = time.perf_counter()
        views = [decode_views(p, predictor.image_size, full=predictor.detector is not None)
                 for p in chunk]
        t1 = time.perf_counter()
        pixels = np.stack([v[0] for v in views])
        for model in predictor.models:
            predict_logits(model, pixels, np.arange(len(chunk)), predictor.inputs)
        t2 = time.perf_counter()
        if predictor.detector is not None:
            spec = predictor.detector_spec
            predictor.detector.predict([np.repeat(v[1][:, :, None], 3, axis=2) for v in views],
                                       imgsz=int(spec["imgsz"]), conf=float(spec["conf"]),
                                       verbose=False, device=str(predictor.device))
        t3 = time.perf_counter()
        seconds["decode"] += t1 - t0
        seconds["classifiers"] += t2 - t1
        seconds["detector"] += t3 - t2
    return seconds


def end_to_end(predictor: Predictor, paths: list[Path], batch_size: int
               ) -> tuple[float, list[float]]:
    rss, started = [], time.perf_counter()
    for k, prediction in enumerate(predictor.predict(paths, batch_size), start=1):
        if prediction.status != "ok":
            raise SystemExit(f"{prediction.source}: {prediction.error}")
        if k % batch_size == 0 or k == len(paths):
            rss.append(rss_mb())
    return time.perf_counter() - started, rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=Path("model"))
    parser.add_argument("--data", type=Path,
                        default=Path(__file__).resolve().parents[2] / "shared" / "data"
                        / "bone-fracture-detection")
    parser.add_argument("--images", type=int, default=300)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()

    paths = image_paths(args.data, args.images)
    predictor = Predictor.load(args.model)
    bare_parts(predictor, paths[:args.batch_size], args.batch_size)  # warm-up
    print(f"{len(paths)} images from {args.data}; bundle {args.model} "
          f"({len(predictor.models)} fold models at {predictor.image_size} px, detector "
          f"{'imgsz ' + str(predictor.detector_spec['imgsz']) if predictor.detector else 'none'}"
          f", device {predictor.device}, batch {args.batch_size})")
    before = bare_parts(predictor, paths, args.batch_size)
    whole, rss = end_to_end(predictor, paths, args.batch_size)
    after = bare_parts(predictor, paths, args.batch_size)
    bare = min((before, after), key=lambda s: sum(s.values()))
    n = len(paths)
    print(f"end to end:  {n / whole:7.1f} images/s ({whole:.1f} s)")
    print(f"bare parts:  {n / sum(bare.values()):7.1f} images/s ("
          + ", ".join(f"{k} {v:.1f} s" for k, v in bare.items()) + ")")
    print(f"ratio end to end / bare: {sum(bare.values()) / whole:.2f} (goal >= 0.9)")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"RSS after the first batch {rss[0]:.0f} MB, half way {rss[len(rss) // 2]:.0f} MB, "
          f"at the end {rss[-1]:.0f} MB; peak {peak:.0f} MB")


if __name__ == "__main__":
    main()
