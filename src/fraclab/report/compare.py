"""Two backbones compared on the same images, from their calibrated prediction files.

Applies :mod:`fraclab.evaluate.compare` where the pairing holds: within one repeat every
development image is scored exactly once out-of-fold by each backbone (the CV plan depends
only on the seed and the data, not on the backbone), and every test image once by each
ensemble. Repeats are compared separately because pooling them would count each image
several times. The scores are the calibrated probabilities (``prob``): per-fold calibration
changes how folds rank against each other in a pooled set, and calibrated probabilities are
what the pipeline reports.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from fraclab.artifacts.predictions import Manifest, PredictionFileError, ensemble, read_predictions
from fraclab.evaluate.compare import clustered_delong_test, delong_test, paired_auroc_bootstrap


def _align(ids_a: np.ndarray, ids_b: np.ndarray, where: str
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Sorted common ids and the positions of each in ``ids_a`` and ``ids_b``."""
    order_a, order_b = np.argsort(ids_a), np.argsort(ids_b)
    if not np.array_equal(ids_a[order_a], ids_b[order_b]):
        raise PredictionFileError(f"{where}: the two backbones predicted different images; "
                                  "they must share the seed and the data")
    return ids_a[order_a], order_a, order_b


def _compare(y: np.ndarray, pa: np.ndarray, pb: np.ndarray, groups: np.ndarray,
             n_boot: int, seed: int) -> dict:
    return {"n_images": int(y.size), "delong": delong_test(y, pa, pb),
            "delong_clustered": clustered_delong_test(y, pa, pb, groups),
            "bootstrap": paired_auroc_bootstrap(y, pa, pb, groups, n_boot=n_boot, seed=seed)}


def compare_backbones(dir_a: Path, dir_b: Path, manifest_path: Path, *, n_boot: int = 1000,
                      seed: int = 0) -> dict:
    """AUROC(A) - AUROC(B) per repeat (pooled out-of-fold) and on the test ensemble.

    Returns ``{"oof_repeat_<r>": ..., "test_ensemble": ...}``, each with ``n_images``,
    ``delong`` (:func:`~fraclab.evaluate.compare.delong_test`, images independent),
    ``delong_clustered`` (:func:`~fraclab.evaluate.compare.clustered_delong_test`, patients
    from the manifest as clusters) and ``bootstrap``
    (:func:`~fraclab.evaluate.compare.paired_auroc_bootstrap`, groups from the manifest).
    """
    manifest = Manifest.load(manifest_path)
    oof = [read_predictions(d / "oof.csv", label=True, prob=True) for d in (dir_a, dir_b)]
    test = [read_predictions(d / "test.csv", label=False, prob=True) for d in (dir_a, dir_b)]
    result = {}
    repeats = sorted(set(oof[0].repeat.tolist()))
    if repeats != sorted(set(oof[1].repeat.tolist())):
        raise PredictionFileError(f"{oof[0].path} and {oof[1].path} hold different repeats")
    for repeat in repeats:
        ra, rb = (np.flatnonzero(t.repeat == repeat) for t in oof)
        ids, order_a, order_b = _align(oof[0].image_id[ra], oof[1].image_id[rb],
                                       f"{oof[0].path} vs {oof[1].path}, repeat {repeat}")
        ra, rb = ra[order_a], rb[order_b]
        if not np.array_equal(oof[0].label[ra], oof[1].label[rb]):
            raise PredictionFileError(f"{oof[0].path} vs {oof[1].path}: labels disagree")
        _, groups = manifest.lookup(ids, oof[0].path)
        result[f"oof_repeat_{repeat}"] = _compare(oof[0].label[ra], oof[0].prob[ra],
                                                  oof[1].prob[rb], groups, n_boot, seed)
    (ids_a, pa), (ids_b, pb) = (ensemble(t, t.prob) for t in test)
    ids, order_a, order_b = _align(ids_a, ids_b, f"{test[0].path} vs {test[1].path}")
    y, groups = manifest.lookup(ids, test[0].path)
    result["test_ensemble"] = _compare(y, pa[order_a], pb[order_b], groups, n_boot, seed)
    return result
