"""A model bundle on disk: its manifest, the checks that it is whole, and loading its parts.

A bundle (``model/``, written by the ``bundle`` stage) holds

- ``model.json``: the manifest: versions, the input/output spec, the preprocessing, every
  fold model of the classifier (weights file, calibration map, thresholds), the ensemble
  rule with its operating points, the detector, and the SHA-256 of every other file;
- ``classifier/<fold>.pt``: state dicts (tensors only);
- ``detector/weights.pt`` (a state dict) and ``detector/yolov8<size>.yaml`` (the architecture);
- ``MODEL_CARD.md`` and ``model_card.json``.

Nothing here unpickles code: state dicts load with ``torch.load(weights_only=True)``, the
detector is rebuilt from its YAML, and a file whose hash differs from the manifest's is
refused before anything reads it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

MANIFEST = "model.json"
FORMAT = "fraclab-bundle/1"


class BundleError(ValueError):
    """A bundle that is missing, incomplete, damaged or of another format."""


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_hashes(root: Path, exclude: tuple[str, ...] = (MANIFEST,)) -> dict[str, str]:
    """``relative path -> sha256`` of every file under ``root`` but ``exclude``, sorted."""
    return {p.relative_to(root).as_posix(): sha256_file(p)
            for p in sorted(root.rglob("*")) if p.is_file()
            and p.relative_to(root).as_posix() not in exclude}


def read_manifest(root: Path) -> dict[str, Any]:
    """The manifest of the bundle at ``root``, after checking every file against it.

    Raises
    ------
    BundleError
        No such folder or manifest, a manifest of another format, a file listed but absent,
        a file whose SHA-256 differs from the manifest's (named), or a file not listed.
    """
    root = Path(root)
    path = root / MANIFEST
    if not path.is_file():
        raise BundleError(f"{root}: not a fraclab model bundle (no {MANIFEST}); `dvc repro "
                          "bundle` writes one to model/")
    try:
        manifest = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as err:
        raise BundleError(f"{path}: not readable JSON ({err})") from None
    found = manifest.get("format") if isinstance(manifest, dict) else None
    if found != FORMAT:
        raise BundleError(f"{path}: format is {found!r}, this fraclab reads {FORMAT!r}")
    listed = manifest.get("files", {})
    present = file_hashes(root)
    for name, digest in listed.items():
        if name not in present:
            raise BundleError(f"{root / name}: listed in {MANIFEST} but missing")
        if present[name] != digest:
            raise BundleError(f"{root / name}: damaged (SHA-256 {present[name][:12]}... is not "
                              f"the {digest[:12]}... recorded in {MANIFEST})")
    extra = sorted(set(present) - set(listed))
    if extra:
        raise BundleError(f"{root / extra[0]}: not listed in {MANIFEST}; a bundle holds only "
                          "the files it lists")
    return manifest


@dataclass(frozen=True)
class FoldModel:
    """One fold model of the classifier as the manifest lists it."""

    key: str  # r<repeat>_f<fold>
    weights: str  # file, relative to the bundle
    slope: float  # calibrated probability = sigmoid(slope * logit + intercept)
    intercept: float
    thresholds: dict[str, float]  # criterion label -> this model's own threshold


def fold_models(manifest: dict[str, Any]) -> list[FoldModel]:
    """The classifier's fold models as the manifest lists them.

    Raises
    ------
    BundleError
        The manifest lists none: an ensemble of no models has no probability to give.
    """
    folds = manifest["classifier"]["folds"]
    if not folds:
        raise BundleError(f"{MANIFEST}: the classifier lists no fold models")
    return [FoldModel(f["key"], f["weights"], float(f["calibration"]["slope"]),
                      float(f["calibration"]["intercept"]),
                      {k: float(v) for k, v in f["thresholds"].items()})
            for f in folds]
