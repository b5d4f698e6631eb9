"""Benchmark the `prepare` stage on the real dataset against a bare PIL decode+resize loop.

Usage: .venv/bin/python benchmarks/prepare.py [--data PATH] [--size 128]

Prints wall time, images/s and peak RSS (the whole process tree, sampled every 20 ms) of
`fraclab prepare` run as a subprocess, and the same figures for a bare single-process loop
that opens each file with PIL, converts to grayscale and resizes to SIZE x SIZE.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import psutil
from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data" / "bone-fracture-detection"


def run_and_measure(cmd: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MiB) of a command and all its children."""
    start = time.perf_counter()
    proc = psutil.Popen(cmd, stdout=subprocess.DEVNULL)
    peak = 0
    done = threading.Event()

    def sample() -> None:
        nonlocal peak
        while not done.is_set():
            try:
                procs = [proc, *proc.children(recursive=True)]
                peak = max(peak, sum(p.memory_info().rss for p in procs))
            except psutil.Error:
                pass
            time.sleep(0.02)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    code = proc.wait()
    elapsed = time.perf_counter() - start
    done.set()
    sampler.join()
    if code != 0:
        sys.exit(f"command failed with exit code {code}: {' '.join(cmd)}")
    return elapsed, peak / 2**20


def bare_loop(files: list[Path], size: int) -> float:
    start = time.perf_counter()
    for path in files:
        with Image.open(path) as image:
            image.convert("L").resize((size, size), Image.Resampling.BILINEAR)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--size", type=int, default=128)
    args = parser.parse_args()
    files = sorted(p for p in args.data.glob("*/images/*") if p.is_file())
    with tempfile.TemporaryDirectory() as tmp:
        params = Path(tmp) / "params.yaml"
        params.write_text(f"seed: 0\ndata:\n  path: {args.data}\n  image_size: {args.size}\n"
                          "  resplit: true\n")
        cmd = [str(Path(sys.executable).with_name("fraclab")), "prepare", "--params", str(params),
               "--out", f"{tmp}/out", "--metrics", f"{tmp}/data.json", "--plots", f"{tmp}/plots"]
        stage_s, stage_mib = run_and_measure(cmd)
    bare_s = bare_loop(files, args.size)
    n = len(files)
    print(f"images: {n}  size: {args.size}px  cores: {psutil.cpu_count()}")
    print(f"fraclab prepare : {stage_s:6.1f} s  {n / stage_s:7.0f} images/s  "
          f"peak RSS {stage_mib:6.0f} MiB (process tree)")
    print(f"bare PIL loop   : {bare_s:6.1f} s  {n / bare_s:7.0f} images/s  (decode+gray+resize, "
          f"1 process, no checks or outputs)")
    print("goal: <= 60 s and <= 2048 MiB for prepare")


if __name__ == "__main__":
    main()
