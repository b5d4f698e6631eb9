"""`fraclab predict`: expand the inputs, load the bundle, predict, write, choose the exit code."""

from __future__ import annotations

import platform
import sys
import time
from importlib import metadata
from pathlib import Path

import click

from fraclab.predict.bundle import MANIFEST, BundleError, sha256_file
from fraclab.predict.outputs import OutputWriter, expand_inputs

OK, SOME_FAILED, USAGE = 0, 1, 2


def run_predict(arguments: tuple[str, ...], model_dir: Path, out_dir: Path,
                operating_point: str | None, device: str, batch_size: int, *,
                overlays: bool = True, explain: bool = False, quiet: bool = False) -> int:
    """The whole command; returns its exit code. Usage errors print one line, no traceback."""
    from tqdm import tqdm

    from fraclab.predict.predictor import Predictor

    def usage(message: str) -> int:
        click.echo(f"Error: {message}", err=True)
        return USAGE

    paths = expand_inputs(arguments)
    if not paths:
        return usage("no inputs (give image files, folders or globs)")
    started = time.perf_counter()
    try:
        predictor = Predictor.load(model_dir, device)
        if operating_point and operating_point not in predictor.operating_points:
            return usage(f"unknown operating point {operating_point!r}; this bundle has "
                         f"{', '.join(predictor.operating_points)}")
    except (BundleError, RuntimeError) as err:
        return usage(str(err))
    loaded = time.perf_counter()
    writer = OutputWriter(out_dir, overlays=overlays, explain=explain)
    failed = 0
    for prediction in tqdm(predictor.predict(paths, batch_size, operating_point,
                                             keep_images=overlays or explain,
                                             explain=explain),
                           total=len(paths), disable=quiet, desc="predict", unit="image"):
        writer.write(prediction)
        failed += prediction.status != "ok"
    done = time.perf_counter()
    writer.close({
        "arguments": list(arguments), "inputs": len(paths), "failed": failed,
        "model": str(model_dir), "bundle_sha256": sha256_file(model_dir / MANIFEST),
        "operating_point": operating_point or predictor.default_point,
        "explain": explain,
        "device": str(predictor.device), "batch_size": batch_size,
        "versions": {"fraclab": metadata.version("fraclab"),
                     "python": platform.python_version()},
        "command": " ".join(sys.argv),
        "seconds": {"load": round(loaded - started, 3), "predict": round(done - loaded, 3)},
    })
    if not quiet:
        click.echo(f"{len(paths) - failed} of {len(paths)} inputs predicted -> {out_dir}")
    return SOME_FAILED if failed else OK
