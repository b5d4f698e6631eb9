"""Wall time of a fresh clone's default study, per stage: what `make repro` costs.

Usage: .venv/bin/python benchmarks/repro.py [--source .] [--work /tmp/repro-bench]
           [--json benchmarks/repro.json]

Clones ``--source`` (its committed HEAD) into ``--work``, writes the synthetic default data
(`fraclab synth`, timed apart) and runs `dvc repro` there with this environment's tools,
stamping each "Running stage" line as DVC prints it. A stage's time runs from its line to
the next one (or to the end), so it includes DVC's own hashing and lock writes for it.
Prints one row per stage, the sum per stage family (``classify-cv@*`` etc.), the total and
the peak resident memory of the largest child process. Run it on an idle machine: another
job on the cores makes every figure larger, and Ultralytics' spinning OpenMP threads
(`detect`) much larger.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STAGE_LINE = re.compile(r"^Running stage '([^']+)'")


def stage_times(lines: list[tuple[float, str]], end: float) -> dict[str, float]:
    """Stage name -> seconds from its "Running stage" line to the next one (or ``end``)."""
    starts = [(t, m.group(1)) for t, line in lines if (m := STAGE_LINE.match(line))]
    return {name: (starts[k + 1][0] if k + 1 < len(starts) else end) - t
            for k, (t, name) in enumerate(starts)}


def families(times: dict[str, float]) -> dict[str, float]:
    """Seconds per stage family: ``classify-cv@resnet18`` counts under ``classify-cv``."""
    out: dict[str, float] = defaultdict(float)
    for name, seconds in times.items():
        out[name.split("@")[0]] += seconds
    return dict(out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=ROOT)
    parser.add_argument("--work", type=Path, default=Path("/tmp/repro-bench"))
    parser.add_argument("--json", type=Path, default=None, help="also write the figures here")
    args = parser.parse_args()
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}
    shutil.rmtree(args.work, ignore_errors=True)
    subprocess.run(["git", "clone", "-q", str(args.source.resolve()), str(args.work)],
                   check=True)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=args.work, check=True,
                            capture_output=True, text=True).stdout.strip()
    env["PYTHONPATH"] = str(args.work / "src")
    started = time.perf_counter()
    subprocess.run(["fraclab", "synth", "--out", "data"], cwd=args.work, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    synth_seconds = time.perf_counter() - started

    started = time.perf_counter()
    lines: list[tuple[float, str]] = []
    with subprocess.Popen(["dvc", "repro"], cwd=args.work, env=env, text=True, bufsize=1,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT) as proc:
        for line in proc.stdout:
            lines.append((time.perf_counter() - started, line))
            if STAGE_LINE.match(line):
                print(f"{lines[-1][0]:7.1f} s  {line.strip()}", flush=True)
    total = time.perf_counter() - started
    if proc.returncode:
        tail = "".join(line for _, line in lines[-40:])
        sys.exit(f"{tail}\ndvc repro failed ({proc.returncode})")
    times = stage_times(lines, total)
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"\ncommit {commit}, {os.cpu_count()} cores; synth {synth_seconds:.0f} s (not in "
          "the total: make repro writes it once)\n")
    print("| stage | seconds |\n|---|---|")
    for name, seconds in times.items():
        print(f"| {name} | {seconds:.0f} |")
    print("\n| stages | seconds | minutes |\n|---|---|---|")
    for name, seconds in families(times).items():
        print(f"| {name} | {seconds:.0f} | {seconds / 60:.1f} |")
    print(f"| **dvc repro** | **{total:.0f}** | **{total / 60:.1f}** |")
    print(f"\npeak RSS of the largest child process: {peak_mb:.0f} MB")
    if args.json:
        args.json.write_text(json.dumps({
            "commit": commit, "cores": os.cpu_count(), "synth_seconds": round(synth_seconds, 1),
            "stages": {k: round(v, 1) for k, v in times.items()},
            "total_seconds": round(total, 1), "peak_rss_mb": round(peak_mb)}, indent=1) + "\n")


if __name__ == "__main__":
    main()
