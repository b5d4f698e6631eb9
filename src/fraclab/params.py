"""params.yaml -> typed, validated settings; a wrong key or value is a clear error."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from pathlib import Path
from typing import Any, TypeVar

from ruamel.yaml import YAML, YAMLError


class ParamsError(ValueError):
    """A params.yaml entry that is missing, unknown or out of range."""


T = TypeVar("T")


def load_params(path: Path | str = "params.yaml") -> dict[str, Any]:
    """The whole params file as a dict."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"{path}: params file not found")
    # YAML 1.2, as DVC reads and writes params.yaml: under PyYAML's YAML 1.1 a value that
    # `dvc exp run -S` wrote back unquoted would change type (`yes` -> True, `1e-3` -> str).
    try:
        params = YAML(typ="safe", pure=True).load(path.read_text()) or {}
    except YAMLError as err:
        raise ParamsError(f"{path}: not valid YAML ({err})") from None
    if not isinstance(params, dict):
        raise ParamsError(f"{path}: top level must be a mapping")
    return params


def params_digest(params: dict[str, Any]) -> str:
    """First 12 hex digits of SHA-256 over the params as canonical JSON (key order ignored)."""
    text = json.dumps(params, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def section(cls: type[T], params: dict[str, Any], name: str) -> T:
    """Build dataclass ``cls`` from ``params[name]``, rejecting unknown keys and bad types."""
    values = params.get(name)
    values = {} if values is None else values
    if not isinstance(values, dict):
        raise ParamsError(f"params.yaml: `{name}` must be a mapping")
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(fields))
    if unknown:
        raise ParamsError(f"params.yaml: unknown key(s) {unknown} in `{name}`; "
                          f"valid: {sorted(fields)}")
    for key, value in values.items():
        expected = fields[key].type
        if expected == "float" and isinstance(value, int) and not isinstance(value, bool):
            values = {**values, key: float(value)}
        elif expected in ("int", "float", "bool", "str") and type(value).__name__ != expected:
            raise ParamsError(f"params.yaml: `{name}.{key}` must be {expected}, got {value!r}")
    try:
        return cls(**values)
    except ParamsError:
        raise
    except ValueError as err:
        raise ParamsError(f"params.yaml: `{name}`: {err}") from None


def _choice(name: str, value: str, valid: tuple[str, ...]) -> None:
    if value not in valid:
        raise ValueError(f"{name} must be one of {', '.join(valid)}; got {value!r}")


# Class-folder names are compared after normalise_folder (case, spaces, "-" and "_" ignored).
DEFAULT_POSITIVE_FOLDERS = ("fractured", "fracture", "fractures", "positive", "abnormal",
                            "broken", "yes", "1")
DEFAULT_NEGATIVE_FOLDERS = ("not fractured", "non fractured", "nonfractured", "unfractured",
                            "no fracture", "normal", "negative", "healthy", "no", "0")


def normalise_folder(name: str) -> str:
    """A folder name for matching: lower case, without spaces, hyphens and underscores."""
    return "".join(c for c in name.lower() if c not in " -_")


@dataclasses.dataclass(frozen=True)
class DataParams:
    """The `data:` section: which dataset, how to read, group, split and decode it."""

    path: str = "data"
    format: str = "auto"
    image_size: int = 64
    test_fraction: float = 0.15
    val_fraction: float = 0.15
    group_by: str = "auto"
    resplit: bool = False
    on_bad: str = "error"
    classes: list = dataclasses.field(default_factory=list)
    dedupe: str = "report"
    dedupe_distance: int = 32
    positive_folders: list = dataclasses.field(
        default_factory=lambda: list(DEFAULT_POSITIVE_FOLDERS))
    negative_folders: list = dataclasses.field(
        default_factory=lambda: list(DEFAULT_NEGATIVE_FOLDERS))

    def __post_init__(self) -> None:
        _choice("group_by", self.group_by, ("auto", "stem", "image"))
        _choice("on_bad", self.on_bad, ("error", "skip"))
        _choice("dedupe", self.dedupe, ("report", "group"))
        if not 0 <= self.dedupe_distance <= 128:
            raise ValueError(f"dedupe_distance is a Hamming distance between 256-bit hashes "
                             f"in 0..128, got {self.dedupe_distance}")
        for key in ("classes", "positive_folders", "negative_folders"):
            value = getattr(self, key)
            if not isinstance(value, list) or not all(
                    isinstance(v, str | int) and not isinstance(v, bool) for v in value):
                raise ValueError(f"{key} must be a list of names, got {value!r}")
            # YAML reads a folder called 0 or 1 as a number; the folder name is what we match.
            object.__setattr__(self, key, [str(v) for v in value])
        if len(set(self.classes)) != len(self.classes):
            raise ValueError(f"classes are listed twice: {self.classes}")
        if not self.positive_folders or not self.negative_folders:
            raise ValueError("positive_folders and negative_folders need at least one name each")
        both = ({normalise_folder(f) for f in self.positive_folders}
                & {normalise_folder(f) for f in self.negative_folders})
        if both:
            raise ValueError(f"folder name(s) {sorted(both)} are in both positive_folders and "
                             f"negative_folders")
        if not 32 <= self.image_size <= 1024:
            raise ValueError(f"image_size must be in 32..1024, got {self.image_size}")
        for key in ("test_fraction", "val_fraction"):
            if not 0 < getattr(self, key) <= 0.5:
                raise ValueError(f"{key} must be in (0, 0.5], got {getattr(self, key)}")


def seed(params: dict[str, Any]) -> int:
    """The project-wide seed (top-level `seed`)."""
    value = params.get("seed", 0)
    if not isinstance(value, int) or isinstance(value, bool):
        raise ParamsError(f"params.yaml: `seed` must be an integer, got {value!r}")
    return value


@dataclasses.dataclass(frozen=True)
class AugmentParams:
    """Augmentation applied to training batches on tensors (never to validation or test)."""

    flip: float = 0.5  # probability of a horizontal flip
    rotate_deg: float = 8.0  # uniform in +-rotate_deg
    translate: float = 0.05  # fraction of the image side, uniform in +-translate
    scale: float = 0.08  # zoom factor uniform in 1 +- scale
    brightness: float = 0.08  # additive, uniform in +-brightness (intensities in [0, 1])
    contrast: float = 0.15  # multiplicative around the image mean, uniform in 1 +- contrast

    def __post_init__(self) -> None:
        if not 0 <= self.flip <= 1:
            raise ValueError(f"augment.flip is a probability, got {self.flip}")
        for key in ("rotate_deg", "translate", "scale", "brightness", "contrast"):
            if getattr(self, key) < 0:
                raise ValueError(f"augment.{key} must be >= 0, got {getattr(self, key)}")


#: Training precisions: auto (float16 mixed precision on CUDA, float32 elsewhere), fp32, and
#: bf16 (bfloat16 autocast on CPU or CUDA). Predictions are float32 in every case.
PRECISIONS = ("auto", "fp32", "bf16")


@dataclasses.dataclass(frozen=True)
class ClassifyParams:
    """The `classify:` section: backbones, CV protocol, transfer-learning schedule."""

    backbones: list = dataclasses.field(
        default_factory=lambda: ["resnet18", "mobilenet_v3_small", "efficientnet_b0"])
    pretrained: str = "none"
    folds: int = 3
    repeats: int = 2
    val_fraction: float = 0.2
    epochs: int = 6
    freeze_epochs: int = 0
    patience: int = 3
    min_delta: float = 0.0
    batch_size: int = 32
    optimizer: str = "adamw"
    lr_head: float = 1e-3
    lr: float = 1e-3
    weight_decay: float = 1e-4
    lr_schedule: str = "cosine"
    pos_weight: float | str = "auto"
    augment: AugmentParams = dataclasses.field(default_factory=AugmentParams)
    device: str = "auto"
    threads: int | str = 1
    # bfloat16 trains ResNet-18 ~1.4x faster on CPUs with AVX-512 BF16 (README, "classify-cv");
    # it slows the depthwise convolutions of the other two.
    precision: str | dict = dataclasses.field(default_factory=lambda: {"resnet18": "bf16"})
    n_boot: int = 1000
    ece_bins: int = 10

    def precision_of(self, backbone: str) -> str:
        """The training precision of ``backbone``: ``precision`` itself, or its entry in a
        per-backbone mapping (``auto`` where the mapping does not name it)."""
        if isinstance(self.precision, dict):
            return self.precision.get(backbone, "auto")
        return self.precision

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):
            object.__setattr__(self, "augment",
                               section(AugmentParams, {"classify.augment": self.augment},
                                       "classify.augment"))
        _choice("optimizer", self.optimizer, ("adamw", "sgd"))
        _choice("lr_schedule", self.lr_schedule, ("constant", "cosine"))
        _choice("device", self.device, ("auto", "cpu", "cuda", "mps"))
        if self.folds < 2 or self.repeats < 1:
            raise ValueError(f"need folds >= 2 and repeats >= 1, got {self.folds}, {self.repeats}")
        if not 0 < self.val_fraction <= 0.5:
            raise ValueError(f"val_fraction must be in (0, 0.5], got {self.val_fraction}")
        if not 0 <= self.freeze_epochs <= self.epochs or self.epochs < 1:
            raise ValueError("need 1 <= epochs and 0 <= freeze_epochs <= epochs")
        if self.patience < 1 or self.batch_size < 2 or self.n_boot < 100:
            raise ValueError("need patience >= 1, batch_size >= 2 and n_boot >= 100")
        if self.pos_weight != "auto" and not (
                isinstance(self.pos_weight, int | float) and self.pos_weight > 0):
            raise ValueError(f"pos_weight is 'auto' or a positive number, got {self.pos_weight!r}")
        if not isinstance(self.backbones, list) or not self.backbones:
            raise ValueError("backbones must be a non-empty list")
        check_threads(self.threads)
        # A mapping may name backbones this run leaves out (`-S classify.backbones=[...]`
        # keeps the default mapping); the classify stage rejects names no backbone has.
        given = self.precision if isinstance(self.precision, dict) else {}
        for value in given.values() if given else [self.precision]:
            _choice("precision", value, PRECISIONS)


@dataclasses.dataclass(frozen=True)
class CalibrateParams:
    """The `calibrate:` section: how each fold model's logits become probabilities."""

    method: str = "temperature"  # temperature | platt | none
    n_bins: int = 10  # reliability-diagram and ECE bins
    binning: str = "uniform"  # uniform | quantile
    n_boot: int = 1000  # grouped bootstrap resamples for the per-site AUROC intervals

    def __post_init__(self) -> None:
        _choice("method", self.method, ("temperature", "platt", "none"))
        _choice("binning", self.binning, ("uniform", "quantile"))
        if not 2 <= self.n_bins <= 100:
            raise ValueError(f"n_bins must be in 2..100, got {self.n_bins}")
        if self.n_boot < 100:
            raise ValueError(f"n_boot must be >= 100, got {self.n_boot}")


@dataclasses.dataclass(frozen=True)
class ThresholdParams:
    """The `threshold:` section: which operating points to choose, and their targets."""

    criteria: list = dataclasses.field(
        default_factory=lambda: ["youden", "f1", "sens", "spec", "fixed"])
    sens_target: float = 0.9  # `sens`: the highest threshold with sensitivity >= this
    spec_target: float = 0.9  # `spec`: the lowest threshold with specificity >= this
    fixed: float = 0.5  # `fixed`: the untuned reference threshold
    n_boot: int = 1000  # grouped bootstrap resamples for the test-set intervals

    def __post_init__(self) -> None:
        valid = ("youden", "f1", "sens", "spec", "fixed")
        if not isinstance(self.criteria, list) or not self.criteria:
            raise ValueError(f"criteria must be a non-empty list of {', '.join(valid)}")
        for criterion in self.criteria:
            _choice("each of criteria", criterion, valid)
        if len(set(self.criteria)) != len(self.criteria):
            raise ValueError(f"criteria are listed twice: {self.criteria}")
        for key in ("sens_target", "spec_target"):
            if not 0 < getattr(self, key) <= 1:
                raise ValueError(f"{key} must be in (0, 1], got {getattr(self, key)}")
        if not 0 <= self.fixed <= 1:
            raise ValueError(f"fixed must be in [0, 1], got {self.fixed}")
        if self.n_boot < 100:
            raise ValueError(f"n_boot must be >= 100, got {self.n_boot}")

    def target(self, criterion: str) -> float | None:
        """The target of ``criterion`` (None for youden and f1)."""
        return {"sens": self.sens_target, "spec": self.spec_target,
                "fixed": self.fixed}.get(criterion)


YOLO_SIZES = ("n", "s", "m", "l", "x")  # YOLOv8 model scales (yolov8<size>.yaml)
YOLO_OPTIMIZERS = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW"}  # ours -> Ultralytics' name


@dataclasses.dataclass(frozen=True)
class DetectAugmentParams:
    """Ultralytics' training augmentation (train batches only); grayscale: no hue/saturation."""

    mosaic: float = 0.0  # probability of a 2x2 mosaic of four training images
    fliplr: float = 0.5  # probability of a horizontal flip
    degrees: float = 0.0  # rotation, uniform in +-degrees
    translate: float = 0.1  # translation, fraction of the image side
    scale: float = 0.2  # zoom gain, uniform in 1 +- scale
    hsv_v: float = 0.4  # brightness gain fraction

    def __post_init__(self) -> None:
        for key in ("mosaic", "fliplr"):
            if not 0 <= getattr(self, key) <= 1:
                raise ValueError(f"augment.{key} is a probability, got {getattr(self, key)}")
        for key in ("degrees", "translate", "scale", "hsv_v"):
            if getattr(self, key) < 0:
                raise ValueError(f"augment.{key} must be >= 0, got {getattr(self, key)}")
        if self.translate > 1 or self.scale >= 1 or self.hsv_v > 1:
            raise ValueError("need augment.translate <= 1, augment.scale < 1, augment.hsv_v <= 1")


@dataclasses.dataclass(frozen=True)
class DetectParams:
    """The `detect:` section: YOLOv8 sizes, weights and every Ultralytics training knob we set."""

    sizes: list = dataclasses.field(default_factory=lambda: ["n", "s", "m"])
    weights: str = "scratch"
    imgsz: int = 96
    epochs: int | dict = dataclasses.field(default_factory=lambda: {"n": 14, "s": 1, "m": 1})
    patience: int = 10
    batch: int = 8
    nbs: int = 8
    optimizer: str = "adamw"
    lr0: float = 0.002
    lrf: float = 0.1
    momentum: float = 0.9
    weight_decay: float = 0.0005
    warmup_epochs: float = 1.0
    close_mosaic: int = 0
    augment: DetectAugmentParams = dataclasses.field(default_factory=DetectAugmentParams)
    cache: bool = True
    device: str = "auto"
    workers: int | str = "auto"
    threads: int | str = "auto"
    n_plot_images: int = 6

    def __post_init__(self) -> None:
        if isinstance(self.augment, dict):
            object.__setattr__(self, "augment",
                               section(DetectAugmentParams, {"detect.augment": self.augment},
                                       "detect.augment"))
        if not isinstance(self.sizes, list) or not self.sizes:
            raise ValueError("sizes must be a non-empty list of YOLOv8 size letters")
        for size in self.sizes:
            check_yolo_size(size)
        if self.weights not in ("scratch", "pretrained") and not self.weights.strip():
            raise ValueError("weights is scratch, pretrained or a path")
        if self.imgsz % 32 or not 32 <= self.imgsz <= 2048:
            lower, upper = max(32, self.imgsz // 32 * 32), max(32, -(-self.imgsz // 32) * 32)
            raise ValueError(f"imgsz must be a multiple of 32 (YOLOv8's largest stride) in "
                             f"32..2048, got {self.imgsz}; use {lower} or {upper}")
        epochs = self.epochs if isinstance(self.epochs, dict) else {"any size": self.epochs}
        for key, value in epochs.items():
            if key != "any size":
                check_yolo_size(key)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"epochs ({key}) must be an integer >= 1, got {value!r}")
        _choice("optimizer", self.optimizer, tuple(YOLO_OPTIMIZERS))
        _choice("device", self.device, ("auto", "cpu", "cuda", "mps"))
        if self.patience < 1 or self.batch < 1 or self.nbs < 1 or self.n_plot_images < 0:
            raise ValueError("need patience >= 1, batch >= 1, nbs >= 1, n_plot_images >= 0")
        if self.lr0 <= 0 or not 0 < self.lrf <= 1 or not 0 <= self.momentum < 1:
            raise ValueError("need lr0 > 0, 0 < lrf <= 1 and 0 <= momentum < 1")
        if self.weight_decay < 0 or self.warmup_epochs < 0 or self.close_mosaic < 0:
            raise ValueError("weight_decay, warmup_epochs and close_mosaic must be >= 0")
        if self.workers != "auto" and (not isinstance(self.workers, int)
                                       or isinstance(self.workers, bool) or self.workers < 0):
            raise ValueError(f"workers is 'auto' or an integer (>= 0), got {self.workers!r}")
        check_threads(self.threads)

    def epochs_for(self, size: str) -> int:
        """Epochs for one model size (``epochs`` is one number or a mapping size -> number)."""
        if isinstance(self.epochs, int):
            return self.epochs
        if size not in self.epochs:
            raise ParamsError(f"params.yaml: detect.epochs has no entry for size {size!r}")
        return self.epochs[size]


@dataclasses.dataclass(frozen=True)
class BundleParams:
    """The `bundle:` section: which of the study's models `fraclab predict` ships."""

    backbone: str = "auto"  # auto: the report's best backbone (pooled out-of-fold AUROC)
    detector: str = "auto"  # auto: the report's best YOLO size; none: no detector
    operating_point: str = "youden"  # the default decision (a threshold-stage label)
    box_conf: float = 0.25  # boxes below this confidence are not reported

    def __post_init__(self) -> None:
        if not 0 <= self.box_conf < 1:
            raise ValueError(f"box_conf must be in [0, 1), got {self.box_conf}")
        if self.detector not in ("auto", "none"):
            check_yolo_size(self.detector)


@dataclasses.dataclass(frozen=True)
class ExplainParams:
    """The `explain:` section: Grad-CAM maps scored against the true boxes."""

    min_side: int = 8  # the map's layer: the deepest stage at least this many pixels across
    layers: dict = dataclasses.field(default_factory=dict)  # backbone -> module name override
    tolerance_px: float = 4.0  # pointing game: pixels of the original image around a box
    n_boot: int = 1000  # grouped bootstrap resamples for the score intervals
    sanity_images: int = 16  # test images with boxes in the randomisation check
    sanity_max_correlation: float = 0.5  # passed: fully randomised maps correlate below this
    n_plot_images: int = 6  # test images with boxes drawn with their maps

    def __post_init__(self) -> None:
        if self.min_side < 1 or self.tolerance_px < 0 or self.n_plot_images < 0:
            raise ValueError("need min_side >= 1, tolerance_px >= 0 and n_plot_images >= 0")
        if self.n_boot < 100 or self.sanity_images < 1:
            raise ValueError("need n_boot >= 100 and sanity_images >= 1")
        if not -1 < self.sanity_max_correlation <= 1:
            raise ValueError("sanity_max_correlation must be in (-1, 1]")
        if not isinstance(self.layers, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.layers.items()):
            raise ValueError("layers maps a backbone name to a module name, e.g. "
                             "{resnet18: layer3}")


@dataclasses.dataclass(frozen=True)
class ExternalParams:
    """One entry of the `external:` mapping: a labelled dataset the study's bundle is scored on."""

    path: str  # dataset root, read by the same importers and checks as `prepare`
    format: str = "auto"  # as data.format
    classes: dict = dataclasses.field(default_factory=dict)  # its class -> the detector's
    on_bad: str = "error"  # error | skip (skipped files are counted in the metrics)
    recalibrate: bool = False  # also score a Platt map fitted on a seeded half (a variant)
    n_boot: int = 1000  # grouped bootstrap resamples for every interval

    def __post_init__(self) -> None:
        if not isinstance(self.path, str) or not self.path:
            raise ValueError("path (the dataset folder) is required")
        _choice("on_bad", self.on_bad, ("error", "skip"))
        if self.n_boot < 100:
            raise ValueError(f"n_boot must be >= 100, got {self.n_boot}")
        if not isinstance(self.classes, dict) or not all(
                isinstance(k, str) and isinstance(v, str) for k, v in self.classes.items()):
            raise ValueError("classes maps a class name of this dataset to one of the "
                             "bundle's detector classes, e.g. {fracture: elbow positive}")


def external_entry(params: dict[str, Any], name: str) -> ExternalParams:
    """The `external.<name>` entry of params.yaml, validated."""
    entries = params.get("external") or {}
    if not isinstance(entries, dict):
        raise ParamsError("params.yaml: `external` must be a mapping of name -> "
                          "{path, format, ...}")
    if name not in entries:
        raise ParamsError(f"params.yaml: no `external.{name}` (have: "
                          f"{', '.join(entries) or 'none'})")
    key = f"external.{name}"
    if not isinstance(entries[name], dict) or "path" not in entries[name]:
        raise ParamsError(f"params.yaml: `{key}` needs at least a `path`")
    return section(ExternalParams, {key: entries[name]}, key)


def check_threads(value: object) -> None:
    """Raise ValueError unless ``value`` is ``"auto"`` or an integer >= 1 (torch CPU threads)."""
    if value != "auto" and (not isinstance(value, int) or isinstance(value, bool) or value < 1):
        raise ValueError(f"threads is 'auto' or an integer (>= 1), got {value!r}")


def check_yolo_size(size: object) -> None:
    """Raise ValueError naming the valid letters when ``size`` is not a YOLOv8 scale."""
    if size not in YOLO_SIZES:
        raise ValueError(f"unknown YOLOv8 size {size!r}; valid: {', '.join(YOLO_SIZES)}")
