"""Configuration of the synthetic generator: `SynthConfig`, its validation and the constants
(class, view and split names, size limits) shared by the other modules.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

GENERATOR_VERSION = "fraclab-synth/1.1"

#: Class names in Roboflow's order; a label's class id is the site's index here.
SITE_NAMES: tuple[str, ...] = ("elbow", "fingers", "forearm", "humerus", "shoulder", "wrist")
#: Beam angle of each view around the limb axis, in degrees (PA is AP seen from behind).
VIEW_ANGLES: dict[str, float] = {"ap": 0.0, "lat": 90.0, "obl": 45.0, "pa": 180.0}
VIEW_NAMES: tuple[str, ...] = tuple(VIEW_ANGLES)
SPLIT_NAMES: tuple[str, ...] = ("train", "valid", "test")
META_COLUMNS: tuple[str, ...] = ("file_name", "split", "patient_id", "site", "view", "fractured")

# A fracture is drawn (and labelled) in a view only when the beam is this close to its plane:
# visibility = |cos(beam angle - fracture plane angle)|.
MIN_VISIBILITY = 0.45
# Fracture centres are moved (by shifting the pose) into this central part of the image, so a
# label never sits on the border.
SAFE_MARGIN = 0.14
MIN_SIZE = 64
MAX_SIZE = 2048
MIN_PATIENTS = 12


@dataclass(frozen=True)
class SynthConfig:
    """Settings of the synthetic dataset.

    Parameters
    ----------
    seed : int, default=0
        Root seed; the same config always gives byte-identical files.
    n_patients : int, default=600
        Number of patients (about 3 views each, so about 1,800 images). CNNs trained from
        scratch need this many: with 180 patients (~370 training images per fold) the three
        torchvision backbones memorised their folds and scored near chance out of fold.
    size : int, default=128
        Side of the square images, in pixels. Fractures stay visible when `prepare` shrinks
        the images to 64 px for classification; small files keep the dataset and detection
        quick on a CPU.
    difficulty : float, default=0.25
        Fracture conspicuity and image quality (see `conspicuity`): 0 gives very wide gaps
        with large displacement, angulation and swelling on clean images; 1 gives thin, faint,
        mostly undisplaced lines on noisy, blurred images with more fracture mimics (growth
        plates, skin folds). The default is chosen so that the default pipeline (CNNs and
        YOLOv8n trained from scratch on 2 CPU cores) learns within minutes; 0.5 is subtler.
    min_views, max_views : int, default=2, 4
        Range of views per patient. AP and lateral are always taken (so every fracture shows
        in at least one view); oblique and PA are added at random.
    fracture_prevalence : float, default=0.6
        Probability that a patient has a fracture. About 70 % of a fractured patient's views
        show it, so roughly 40 % of images are fractured.
    split_fractions : tuple of float, default=(0.7, 0.15, 0.15)
        Train, valid and test shares of the patients, applied separately to fractured and
        normal patients.
    marker_probability : float, default=0.5
        Probability that an image carries a burned-in L/R marker.
    collimation_probability : float, default=0.35
        Probability that an image shows a collimated (darkened) border.
    """

    seed: int = 0
    n_patients: int = 600
    size: int = 128
    difficulty: float = 0.25
    min_views: int = 2
    max_views: int = 4
    fracture_prevalence: float = 0.6
    split_fractions: tuple[float, float, float] = (0.7, 0.15, 0.15)
    marker_probability: float = 0.5
    collimation_probability: float = 0.35

    def __post_init__(self) -> None:
        _check_int("seed", self.seed, minimum=0)
        _check_int("n_patients", self.n_patients, minimum=MIN_PATIENTS,
                   why="so that each of the three splits gets fractured and normal patients")
        _check_int("size", self.size, minimum=MIN_SIZE)
        if self.size > MAX_SIZE:
            raise ValueError(f"size must be at most {MAX_SIZE} px, got {self.size}")
        _check_unit_interval("difficulty", self.difficulty)
        _check_int("min_views", self.min_views, minimum=2, why="(AP and lateral are always taken)")
        _check_int("max_views", self.max_views, minimum=self.min_views,
                   why=f"(min_views is {self.min_views})")
        if self.max_views > len(VIEW_NAMES):
            raise ValueError(f"max_views must be at most {len(VIEW_NAMES)}"
                             f" ({', '.join(VIEW_NAMES)}), got {self.max_views}")
        _check_unit_interval("fracture_prevalence", self.fracture_prevalence, open_interval=True)
        _check_unit_interval("marker_probability", self.marker_probability)
        _check_unit_interval("collimation_probability", self.collimation_probability)
        fractions = self.split_fractions
        if (not isinstance(fractions, tuple) or len(fractions) != 3
                or not all(isinstance(f, int | float) and not isinstance(f, bool)
                           for f in fractions)):
            raise ValueError("split_fractions must be a tuple of three numbers"
                             f" (train, valid, test), got {fractions!r}")
        if not all(math.isfinite(f) and f > 0 for f in fractions) or abs(sum(fractions) - 1) > 1e-6:
            raise ValueError("split_fractions must be three positive numbers summing to 1,"
                             f" got {fractions!r}")


def _check_int(name: str, value: object, *, minimum: int, why: str = "") -> None:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{name} must be an integer, got {value!r}")
    if value < minimum:
        reason = f" {why}" if why else ""
        raise ValueError(f"{name} must be at least {minimum}{reason}, got {value}")


def _check_unit_interval(name: str, value: object, *, open_interval: bool = False) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float | np.floating):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or not 0 <= value <= 1:
        raise ValueError(f"{name} must be in [0, 1], got {value!r}")
    if open_interval and value in (0, 1):
        raise ValueError(f"{name} must be strictly between 0 and 1, got {value!r}")
