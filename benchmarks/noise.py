"""How far the gated metrics move between runs that differ only in training noise.

Another machine's CPU rounds float sums differently, and a model trained for a few epochs
turns that into a different model, just as another seed would. This measures that noise: the
same profile run with several seeds (every core) and once with one torch thread (other
rounding), then, per gated metric, the mean and SD over seeds, the largest move between the
thread counts, and the tolerance the gate needs (the larger of the rule's and 3 x SD and the
thread move).

    # run every variant of a profile in a fresh project (the tiny one: ~20 min on 2 cores)
    python benchmarks/noise.py run --profile tests/tiny/profile.yaml --out /tmp/noise/tiny
    python benchmarks/noise.py run --profile default --out /tmp/noise/default   # ~70 min
    # the spread, as a Markdown table and a JSON file (benchmarks/noise/*.json)
    python benchmarks/noise.py summarize /tmp/noise/tiny --rules tests/tiny/metrics_rules.yaml \
        --json benchmarks/noise/tiny.json
    # any metrics, gated or not, per seed with mean and SD (globs as the gate's rules use)
    python benchmarks/noise.py table /tmp/noise/tiny 'metrics/classify/*:oof_pooled.*.value'

Each variant's metrics land in ``OUT/<variant>/metrics`` (``seed0``, ``seed1``, ...,
``threads1``: seed 0 with one thread), so a sweep made another way (e.g. queued
`dvc exp run`) can be summarized too.
"""

from __future__ import annotations

import argparse
import fnmatch
import json
import math
import shutil
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from project_shell import load_profile, make_project, run  # noqa: E402

from fraclab.gate.compare import flatten  # noqa: E402
from fraclab.gate.rules import load_rules, rule_for  # noqa: E402
from fraclab.params import load_params  # noqa: E402
from fraclab.study.facts import settings_digest  # noqa: E402


def variants(seeds: list[int], one_thread_seed: int | None) -> dict[str, dict[str, object]]:
    """Variant name -> the params it sets (seed and both torch thread counts)."""
    out = {f"seed{s}": {"seed": s, "classify.threads": "auto", "detect.threads": "auto"}
           for s in seeds}
    if one_thread_seed is not None:
        out["threads1"] = {"seed": one_thread_seed, "classify.threads": 1, "detect.threads": 1}
    return out


def run_sweep(profile: dict, source: Path, out: Path, work: Path, seeds: list[int],
              one_thread_seed: int | None) -> None:
    project = make_project(work, profile, source=source)
    for name, values in variants(seeds, one_thread_seed).items():
        started = time.perf_counter()
        run(["dvc", "exp", "run", "-n", name,
             *[arg for key, value in values.items() for arg in ("-S", f"{key}={value}")]],
            project)
        seconds = time.perf_counter() - started
        shutil.rmtree(out / name, ignore_errors=True)
        shutil.copytree(project / "metrics", out / name / "metrics")
        shutil.copy(project / "params.yaml", out / name / "params.yaml")
        (out / name / "run.json").write_text(json.dumps({**values, "seconds": seconds}))
        print(f"{name}: {seconds:.0f} s", flush=True)


def collect(metrics_dir: Path) -> dict[str, float]:
    """Every number in the metrics files under ``metrics_dir``, named as the gate names them."""
    values = {}
    for path in sorted(metrics_dir.rglob("*.json")):
        name = f"metrics/{path.relative_to(metrics_dir).as_posix()}"
        for key, value in flatten(json.loads(path.read_text())).items():
            if isinstance(value, int | float) and not isinstance(value, bool):
                values[f"{name}:{key}"] = float(value)
    return values


def spread(runs: dict[str, dict[str, float]], rules: list, seed_runs: list[str],
           thread_pair: tuple[str, str] | None) -> list[dict]:
    """Per gated metric: mean and SD over ``seed_runs``, the move between ``thread_pair``,
    the rule's tolerance and the tolerance the measured noise asks for."""
    rows = []
    names = sorted(set.union(*(set(runs[r]) for r in seed_runs)))
    for name in names:
        rule = rule_for(name, rules)
        if not rule.gated:
            continue
        # A run may hold only some files (e.g. another machine's classify and detect metrics).
        values = [runs[r][name] for r in seed_runs if name in runs[r]]
        if len(values) < 2 or not all(math.isfinite(v) for v in values):
            continue
        mean = statistics.fmean(values)
        sd = statistics.stdev(values) if len(values) > 1 else 0.0
        move = (abs(runs[thread_pair[0]][name] - runs[thread_pair[1]][name])
                if thread_pair and all(name in runs[r] for r in thread_pair) else 0.0)
        allowed = rule.allowed(mean)
        rows.append({"metric": name, "rule": rule.match[0], "direction": rule.direction,
                     "runs": len(values), "mean": mean, "sd": sd,
                     "min": min(values), "max": max(values), "thread_move": move,
                     "rule_tolerance": allowed, "needed": max(3 * sd, move),
                     "holds": allowed >= max(3 * sd, move)})
    return rows


def per_rule(rows: list[dict]) -> list[dict]:
    """Per rule (named by its first glob): its metrics' largest need and where it is."""
    out: dict[str, dict] = {}
    for r in rows:
        entry = out.setdefault(r["rule"], {"rule": r["rule"], "metrics": 0, "needed": 0.0,
                                           "worst": "", "rule_tolerance": r["rule_tolerance"]})
        entry["metrics"] += 1
        if r["needed"] >= entry["needed"]:
            entry.update(needed=r["needed"], worst=r["metric"])
    return list(out.values())


def markdown(rows: list[dict]) -> str:
    lines = ["| metric | mean | SD over seeds | 1 vs all threads | rule allows | 3 SD or move "
             "| holds |", "|---|---|---|---|---|---|---|"]
    lines += [f"| `{r['metric']}` | {r['mean']:.3f} | {r['sd']:.3f} | {r['thread_move']:.3f} "
              f"| {r['rule_tolerance']:.3f} | {r['needed']:.3f} | {'yes' if r['holds'] else 'NO'} |"
              for r in rows]
    return "\n".join(lines) + "\n"


def seed_table(runs: dict[str, dict[str, float]], patterns: list[str]) -> list[dict]:
    """Per metric matching any of ``patterns`` (shell globs): its value in every run, with
    the mean and SD over the runs that hold it."""
    names = sorted(n for n in set().union(*runs.values())
                   if any(fnmatch.fnmatchcase(n, p) for p in patterns))
    rows = []
    for name in names:
        values = {r: runs[r][name] for r in runs if name in runs[r]}
        finite = [v for v in values.values() if math.isfinite(v)]
        rows.append({"metric": name, "values": values,
                     "mean": statistics.fmean(finite) if finite else math.nan,
                     "sd": statistics.stdev(finite) if len(finite) > 1 else math.nan})
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    go = sub.add_parser("run", help="run every variant of a profile in a fresh project")
    go.add_argument("--profile", required=True,
                    help="a profile YAML (tests/tiny/profile.yaml) or 'default'")
    go.add_argument("--out", type=Path, required=True)
    go.add_argument("--work", type=Path, default=None, help="project folder (default OUT/project)")
    go.add_argument("--source", type=Path, default=ROOT, help="the repository whose code runs")
    go.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    go.add_argument("--one-thread-seed", type=int, default=0)
    summ = sub.add_parser("summarize", help="the spread of a finished sweep")
    summ.add_argument("sweep", type=Path)
    summ.add_argument("--rules", type=Path, default=ROOT / "metrics_rules.yaml")
    summ.add_argument("--json", type=Path, default=None, help="also write the rows here")
    tab = sub.add_parser("table", help="chosen metrics of a finished sweep, per seed")
    tab.add_argument("sweep", type=Path)
    tab.add_argument("patterns", nargs="+", help="metric names or globs (file:key.path)")
    tab.add_argument("--json", type=Path, default=None, help="also write the rows here")
    args = parser.parse_args()

    if args.command == "run":
        profile = {} if args.profile == "default" else load_profile(Path(args.profile))
        args.out.mkdir(parents=True, exist_ok=True)
        run_sweep(profile, args.source.resolve(), args.out, args.work or args.out / "project",
                  args.seeds, args.one_thread_seed)
        return
    runs = {d.name: collect(d / "metrics") for d in sorted(args.sweep.iterdir())
            if (d / "metrics").is_dir()}
    if args.command == "table":
        seeds = {r: v for r, v in runs.items() if r.startswith("seed")}
        rows = seed_table(seeds, args.patterns)
        if not rows:
            parser.error(f"{args.sweep}: no metric matches {args.patterns}")
        print("| metric | " + " | ".join(seeds) + " | mean | SD over seeds |")
        print("|---|" + "---|" * (len(seeds) + 2))
        for r in rows:
            cells = [f"{r['values'][s]:.3f}" if s in r["values"] else "" for s in seeds]
            print(f"| `{r['metric']}` | " + " | ".join(cells)
                  + f" | {r['mean']:.3f} | {r['sd']:.3f} |")
        if args.json:
            args.json.parent.mkdir(parents=True, exist_ok=True)
            args.json.write_text(json.dumps({"seed_runs": list(seeds), "rows": rows},
                                            indent=1) + "\n")
        return
    seed_runs = sorted(r for r in runs if r.startswith("seed"))
    if len(seed_runs) < 2:
        parser.error(f"{args.sweep}: need at least two seedN/ runs, found {seed_runs}")
    pair = ("seed0", "threads1") if {"seed0", "threads1"} <= set(runs) else None
    rows = spread(runs, load_rules(args.rules), seed_runs, pair)
    print(f"{len(seed_runs)} seeds ({', '.join(seed_runs)}); thread pair: {pair}\n")
    print(markdown(rows), end="")
    print("\n| rule (first glob) | metrics | largest 3 SD or move | at | rule allows |\n"
          "|---|---|---|---|---|")
    for r in per_rule(rows):
        print(f"| `{r['rule']}` | {r['metrics']} | {r['needed']:.3f} | `{r['worst']}` | "
              f"{r['rule_tolerance']:.3f} |")
    failing = [r["metric"] for r in rows if not r["holds"]]
    print(f"\n{len(rows)} gated metrics; the rules' tolerance is below the noise for "
          f"{len(failing)}")
    if args.json:
        # The report shows this spread only beside runs of the same settings.
        params = args.sweep / seed_runs[0] / "params.yaml"
        digest = settings_digest(load_params(params)) if params.is_file() else None
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"settings_digest": digest, "seed_runs": seed_runs,
                                         "thread_pair": pair, "rules": str(args.rules),
                                         "rows": rows}, indent=1) + "\n")


if __name__ == "__main__":
    main()
