"""How `prepare` and `classify-cv` grow with the dataset: wall time and peak RSS at 1x, 4x, 16x.

Usage: .venv/bin/python benchmarks/cost_growth.py [--scales 1 4 16] [--work /tmp/cost_growth]
       [--out benchmarks/cost_growth.json]

For each scale, `fraclab synth` writes ``scale x 600`` patients (the default data's count, at
its 128 px), then a scratch project runs the real stage commands, each as its own process
under ``/usr/bin/time -v`` (its wall time and peak resident memory): ``fraclab prepare`` at
the default 64 px and ``fraclab classify-cv --backbone mobilenet_v3_small`` for a short
budget (2 folds x 1 repeat, 2 epochs, serial executor, every core), the rest of params.yaml
as committed. Then it fits ``log(cost) = a + b log(images)``: ``b`` near 1 is linear.

Goal (scale-out issue): time linear in images; RSS dominated by the memory-mapped image
array (``images.npy``, printed beside it), not by copies of it.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import yaml

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
DEFAULT_PATIENTS = 600
CLASSIFY = {"backbones": ["mobilenet_v3_small"], "folds": 2, "repeats": 1, "epochs": 2,
            "n_boot": 200}


def timed(cmd: list[str], cwd: Path, env: dict[str, str]) -> dict[str, float]:
    """Run ``cmd`` under GNU time; its wall seconds and peak RSS in MiB."""
    result = subprocess.run(["/usr/bin/time", "-v", *cmd], cwd=cwd, env=env,
                            capture_output=True, text=True, check=False)
    if result.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{result.stdout[-2000:]}\n"
                         f"{result.stderr[-4000:]}")
    wall = re.search(r"Elapsed \(wall clock\) time.*: (?:(\d+):)?(\d+):([\d.]+)", result.stderr)
    hours, minutes, secs = (float(g) if g else 0.0 for g in wall.groups())
    rss = re.search(r"Maximum resident set size \(kbytes\): (\d+)", result.stderr)
    return {"seconds": round(hours * 3600 + minutes * 60 + secs, 1),
            "peak_rss_mib": round(int(rss.group(1)) / 1024, 1)}


def project(work: Path, scale: int) -> Path:
    root = work / f"x{scale}"
    data = root / "data"
    if not data.exists():
        root.mkdir(parents=True, exist_ok=True)
        subprocess.run([str(BIN / "fraclab"), "synth", "--out", str(data), "--n-patients",
                        str(scale * DEFAULT_PATIENTS)], check=True, stdout=subprocess.DEVNULL)
    params = yaml.safe_load((ROOT / "params.yaml").read_text())
    params["classify"].update(CLASSIFY)
    (root / "params.yaml").write_text(yaml.safe_dump(params, sort_keys=False))
    if not (root / ".git").exists():  # DVCLive, inside classify-cv, wants a repository
        (root / ".gitignore").write_text("/data/\n/artifacts/\n")
        for cmd in (["git", "init", "-q"], ["git", "add", "-A"],
                    ["git", "commit", "-qm", "cost growth"]):
            subprocess.run(cmd, cwd=root, check=True)
    return root


def fit_exponent(images: list[int], costs: list[float]) -> float:
    """Least-squares slope of log(cost) on log(images)."""
    return float(np.polyfit(np.log(images), np.log(costs), 1)[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--scales", type=int, nargs="+", default=[1, 4, 16])
    parser.add_argument("--work", type=Path, default=Path("/tmp/cost_growth"))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "cost_growth.json")
    args = parser.parse_args()
    env = {**os.environ, "PATH": f"{BIN}:{os.environ['PATH']}", "PYTHONPATH": str(ROOT / "src"),
           "FRACLAB_EXECUTOR": "serial"}
    rows = []
    for scale in args.scales:
        root = project(args.work, scale)
        prepare = timed([str(BIN / "fraclab"), "prepare"], root, env)
        images = json.loads((root / "metrics" / "data.json").read_text())["images"]
        array_mib = (root / "artifacts" / "prepared" / "images.npy").stat().st_size / 2**20
        classify = timed([str(BIN / "fraclab"), "classify-cv", "--backbone",
                          CLASSIFY["backbones"][0]], root, env)
        rows.append({"scale": scale, "images": images, "images_npy_mib": round(array_mib, 1),
                     "prepare": prepare, "classify_cv": classify})
        print(f"x{scale}: {images} images ({array_mib:.0f} MiB array): prepare "
              f"{prepare['seconds']} s, {prepare['peak_rss_mib']} MiB; classify-cv "
              f"{classify['seconds']} s, {classify['peak_rss_mib']} MiB", flush=True)
    images = [r["images"] for r in rows]
    summary = {"settings": {"patients_per_scale": DEFAULT_PATIENTS, "classify": CLASSIFY,
                            "executor": "serial", "cores": len(os.sched_getaffinity(0))},
               "rows": rows}
    if len(rows) >= 2:
        summary["exponent"] = {
            f"{stage}_{what}": round(fit_exponent(images, [r[stage][what] for r in rows]), 3)
            for stage in ("prepare", "classify_cv") for what in ("seconds", "peak_rss_mib")}
        print("fitted exponent of cost against images:", summary["exponent"])
    args.out.write_text(json.dumps(summary, indent=2) + "\n")
    print(f"-> {args.out}")


if __name__ == "__main__":
    main()
