"""Every pair of backbones compared on the same images (DeLong and a paired bootstrap).

Uses :func:`fraclab.report.compare.compare_backbones` on the calibrated prediction
files, exactly as ``fraclab compare-backbones A B`` does, so the report's p-values and
intervals can be reproduced from the command line.
"""

from __future__ import annotations

from itertools import combinations
from pathlib import Path
from typing import Any

from fraclab.artifacts.predictions import PredictionFileError
from fraclab.report.compare import compare_backbones


def compare_all(backbones: list[str], calibrate_root: Path, manifest: Path, *, n_boot: int,
                seed: int) -> list[dict[str, Any]]:
    """One entry per pair (A, B) in params order: ``a``, ``b`` and the comparison, or
    ``error`` when a test is undefined on these predictions (e.g. a perfect separator).

    A missing or malformed prediction file is not such a case: its
    :class:`~fraclab.artifacts.predictions.PredictionFileError` propagates.
    """
    results = []
    for a, b in combinations(backbones, 2):
        try:
            result = compare_backbones(calibrate_root / a, calibrate_root / b, manifest,
                                       n_boot=n_boot, seed=seed)
        except PredictionFileError:
            raise
        except ValueError as err:
            results.append({"a": a, "b": b, "error": str(err)})
        else:
            results.append({"a": a, "b": b, **result})
    return results
