"""The study's models applied to new radiographs: ``Predictor.load("model").predict(paths)``.

For each image: the classifier ensemble's calibrated probability of a fracture (the mean of
the fold models' calibrated probabilities, exactly the test ensemble the study reports), the
fold models' spread, the decision at every operating point the bundle ships (``p >=`` the
operating point's threshold: :func:`fraclab.evaluate.thresholds.ensemble_decision`, the rule
the study's test set was scored with), and the
detector's boxes in the original image's pixels. Images are decoded by the code ``prepare``
uses, so inference cannot drift from training.
"""

from __future__ import annotations

import statistics
import sys
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from fraclab.data.images import letterbox, to_uint8_gray
from fraclab.data.records import ImageError
from fraclab.evaluate.thresholds import ensemble_decision
from fraclab.predict.bundle import BundleError, FoldModel, fold_models, read_manifest

Input = str | Path | np.ndarray


@dataclass(frozen=True)
class Box:
    """A predicted box in the original image's pixels (x to the right, y down)."""

    label: str
    confidence: float
    x1: float
    y1: float
    x2: float
    y2: float


@dataclass(frozen=True)
class Prediction:
    """What the bundle says about one input; ``status`` is ``ok`` or ``error``."""

    source: str
    status: str
    error: str = ""
    width: int = 0
    height: int = 0
    probability: float | None = None  # calibrated ensemble probability of a fracture
    fold_probabilities: tuple[float, ...] = ()
    operating_point: str = ""  # the default one
    decision: bool | None = None  # at the default operating point
    decisions: dict[str, bool] = field(default_factory=dict)  # every operating point
    boxes: tuple[Box, ...] = ()
    # The decoded full-resolution 8-bit grayscale, only with ``predict(keep_images=True)``
    # (for overlays without decoding again); never serialised.
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    # The ensemble's raw Grad-CAM on the original pixels, only with ``predict(explain=True)``.
    saliency: np.ndarray | None = field(default=None, repr=False, compare=False)

    @property
    def saliency_peak(self) -> tuple[int, int] | None:
        """(x, y) of the map's maximum in the original image's pixels."""
        if self.saliency is None:
            return None
        row, col = np.unravel_index(int(np.argmax(self.saliency)), self.saliency.shape)
        return int(col), int(row)

    @property
    def fold_sd(self) -> float | None:
        p = self.fold_probabilities
        return statistics.stdev(p) if len(p) > 1 else None

    def as_dict(self) -> dict[str, Any]:
        p = self.fold_probabilities
        return {"source": self.source, "status": self.status, "error": self.error,
                "width": self.width, "height": self.height, "probability": self.probability,
                "fold_sd": self.fold_sd, "fold_min": min(p) if p else None,
                "fold_max": max(p) if p else None, "fold_probabilities": list(p),
                "operating_point": self.operating_point, "decision": self.decision,
                "decisions": self.decisions,
                "boxes": [vars(b) for b in self.boxes],
                **({"saliency_peak": list(self.saliency_peak)} if self.saliency is not None
                   else {})}


@dataclass
class _Decoded:
    source: str
    pixels: np.ndarray  # (S, S) uint8, letterboxed: the classifier's input
    gray: np.ndarray | None  # (H, W) uint8, full resolution: the detector's input
    width: int
    height: int


class Predictor:
    """A loaded bundle. Build it with :meth:`load`."""

    def __init__(self, root: Path, manifest: dict[str, Any], device: str = "auto") -> None:
        import torch
        from scipy.special import expit

        from fraclab.models.backbones import build_backbone, prefers_channels_last
        from fraclab.models.inputs import InputPipeline
        from fraclab.runtime import select_device

        self.root, self.manifest = root, manifest
        self._expit = expit
        self.device = select_device(device, "--device")
        classifier = manifest["classifier"]
        self.backbone = classifier["backbone"]
        self.image_size = int(manifest["preprocessing"]["image_size"])
        self.folds: list[FoldModel] = fold_models(manifest)
        self.operating_points: dict[str, float] = {
            k: float(v) for k, v in classifier["operating_points"].items()}
        self.default_point: str = classifier["default_operating_point"]
        self.inputs = InputPipeline(self.device, prefers_channels_last(self.backbone,
                                                                       self.device))
        self.models = []
        for fold in self.folds:
            model, _ = build_backbone(self.backbone, "none")
            state = torch.load(root / fold.weights, map_location="cpu", weights_only=True)
            model.load_state_dict(state)
            model.to(self.device)
            if self.inputs.memory_format == torch.channels_last:
                model = model.to(memory_format=torch.channels_last)
            self.models.append(model.eval())
        self.detector = None
        spec = manifest.get("detector")
        if spec:
            self.detector = _load_detector(root, spec, self.device)
            self.detector_spec = spec

    @classmethod
    def load(cls, path: str | Path, device: str = "auto") -> Predictor:
        """Check every file of the bundle at ``path`` against its manifest, then load it.

        Raises
        ------
        BundleError
            Not a bundle, a file missing or damaged (named), or an unusable manifest.
        """
        root = Path(path)
        manifest = read_manifest(root)
        try:
            return cls(root, manifest, device)
        except (KeyError, TypeError) as err:
            raise BundleError(f"{root / 'model.json'}: incomplete manifest ({err!r})") from None

    def predict(self, inputs: Iterable[Input], batch_size: int = 32,
                operating_point: str | None = None, *,
                keep_images: bool = False, explain: bool = False) -> Iterator[Prediction]:
        """One :class:`Prediction` per input, in order, ``batch_size`` images at a time
        (memory stays flat however many there are). An input that cannot be read gives a
        prediction with ``status == "error"`` and the reason; it never stops the others.
        Each file is read once (see :func:`fraclab.data.images.decode_views`); with
        ``keep_images`` each prediction carries its decoded grayscale (``image``); with
        ``explain``, the fold models' mean raw Grad-CAM on the original pixels (``saliency``)
        at the layer the study's explain stage used (the bundle's ``explain_layer``; else
        :func:`fraclab.models.gradcam.target_layer` at the bundle's image size).
        """
        point = operating_point or self.default_point
        if point not in self.operating_points:
            raise BundleError(f"unknown operating point {point!r}; this bundle has "
                              f"{', '.join(self.operating_points)}")
        batch: list[_Decoded | Prediction] = []
        for item in inputs:
            batch.append(self._decode(item, keep_images))
            if len(batch) == batch_size:
                yield from self._run(batch, point, keep_images, explain)
                batch = []
        if batch:
            yield from self._run(batch, point, keep_images, explain)

    def _decode(self, item: Input, keep_image: bool) -> _Decoded | Prediction:
        from PIL import Image

        from fraclab.data.images import decode_views

        if isinstance(item, np.ndarray):
            source = f"array {tuple(item.shape)}"
            try:
                image = Image.fromarray(item)
            except (TypeError, ValueError) as err:
                return Prediction(source, "error", f"not an image array ({err})")
            gray = to_uint8_gray(image)
            return _Decoded(source, letterbox(gray, self.image_size), np.asarray(gray),
                            gray.width, gray.height)
        path = Path(item)
        try:
            pixels, gray, width, height = decode_views(
                path, self.image_size, full=self.detector is not None or keep_image)
        except ImageError as err:
            return Prediction(str(path), "error", err.problem)
        return _Decoded(str(path), pixels, gray, width, height)

    def fold_probabilities(self, pixels: np.ndarray) -> np.ndarray:
        """Every fold model's calibrated probability, shape (folds, N), for ``pixels``: (N, S,
        S) uint8 classifier inputs, letterboxed at the bundle's ``image_size`` (as
        :func:`fraclab.data.images.decode_image` makes them). Their mean over axis 0 is the
        ensemble probability :meth:`predict` reports."""
        from fraclab.models.inputs import predict_logits

        pixels = np.asarray(pixels)
        if pixels.ndim != 3 or pixels.shape[1:] != (self.image_size, self.image_size):
            raise ValueError(f"pixels must be (N, {self.image_size}, {self.image_size}) "
                             f"uint8, got shape {pixels.shape}")
        probs = np.zeros((len(self.folds), len(pixels)))
        if len(pixels):
            for k, (fold, model) in enumerate(zip(self.folds, self.models, strict=True)):
                logits = predict_logits(model, pixels, np.arange(len(pixels)), self.inputs)
                probs[k] = self._expit(fold.slope * logits + fold.intercept)
        return probs

    def _run(self, batch: list[_Decoded | Prediction], point: str,
             keep_images: bool, explain: bool = False) -> list[Prediction]:
        good = [b for b in batch if isinstance(b, _Decoded)]
        probs = self.fold_probabilities(
            np.stack([b.pixels for b in good]) if good
            else np.zeros((0, self.image_size, self.image_size), np.uint8))
        boxes = self._detect([b.gray for b in good]) if self.detector and good else None
        maps = self._explain(good) if explain and good else [None] * len(good)
        out, j = [], 0
        for item in batch:
            if isinstance(item, Prediction):
                out.append(item)
                continue
            p = float(np.mean(probs[:, j]))
            decisions = {name: bool(ensemble_decision(p, t))
                         for name, t in self.operating_points.items()}
            out.append(Prediction(item.source, "ok", width=item.width, height=item.height,
                                  probability=p,
                                  fold_probabilities=tuple(float(v) for v in probs[:, j]),
                                  operating_point=point, decision=decisions[point],
                                  decisions=decisions,
                                  boxes=boxes[j] if boxes is not None else (),
                                  image=item.gray if keep_images else None,
                                  saliency=maps[j]))
            j += 1
        return out

    def _explain(self, good: list[_Decoded]) -> list[np.ndarray]:
        from fraclab.models.gradcam import ensemble_maps, from_letterbox, target_layer

        layer = (self.manifest["classifier"].get("explain_layer")
                 or target_layer(self.models[0], self.backbone, self.image_size))
        maps = ensemble_maps(self.models, layer, np.stack([b.pixels for b in good]),
                             self.inputs)
        return [from_letterbox(m, b.width, b.height) for m, b in zip(maps, good, strict=True)]

    def _detect(self, grays: list[np.ndarray]) -> list[tuple[Box, ...]]:
        spec = self.detector_spec
        # Ultralytics reads a NumPy array as BGR 8-bit: the decoded grayscale, three times.
        images = [np.repeat(g[:, :, None], 3, axis=2) for g in grays]
        results = self.detector.predict(images, imgsz=int(spec["imgsz"]),
                                        conf=float(spec["conf"]), verbose=False,
                                        device=str(self.device))
        names = spec["names"]
        return [tuple(Box(names[int(c)], float(s), *(float(v) for v in xyxy))
                      for xyxy, c, s in zip(r.boxes.xyxy.tolist(), r.boxes.cls.tolist(),
                                            r.boxes.conf.tolist(), strict=True))
                for r in results]


def _load_detector(root: Path, spec: dict[str, Any], device: Any) -> Any:
    """Ultralytics' YOLO built from the bundle's YAML with the bundle's state dict."""
    import torch

    from fraclab.models import offline

    # Before Ultralytics is imported: its settings in a cache folder of ours, no downloads
    # (inside a process that already configured it, e.g. a test run, that choice stands).
    offline.configure(None if "ultralytics" in sys.modules
                      else Path.home() / ".cache" / "fraclab" / "yolo")
    from ultralytics import YOLO

    offline.restore_pil_open()
    yolo = YOLO(str(root / spec["model_yaml"]), task="detect")
    state = torch.load(root / spec["weights"], map_location="cpu", weights_only=True)
    yolo.model.load_state_dict(state)
    yolo.model.names = dict(enumerate(spec["names"]))
    return yolo
