"""Deterministic synthetic radiographs: the pipeline's embedded default dataset.

`generate_dataset` writes a Roboflow YOLOv8 export (``data.yaml``, ``{train,valid,test}/images``
and ``/labels``) plus ``meta.csv`` (one row per image: patient, site, view, fractured) and
``synth.json`` (the config and generator version, for provenance).

How an image is made
--------------------
Every patient has one anatomical site (the class), a laterality and 2 to 4 views. The anatomy
is a set of bones, each a tube around a quadratic Bézier centreline in 3-D limb coordinates
(``y`` along the limb, ``x`` across it, ``z`` front to back; the image spans about [-1, 1]).
A view projects the limb at a beam angle (AP 0°, oblique 45°, lateral 90°, PA 180°), so in a
lateral view the radius and ulna overlap and the carpal row collapses, and then poses it in the
image (rotation, scale, shift). Each pixel's attenuation is the X-ray path length through soft
tissue and bone (chord lengths through cylinders: a bright cortical shell, a darker marrow
cavity, textured cancellous ends), which an exposure curve, heel effect, blur, quantum noise,
collimation and a burned-in side marker turn into an 8-bit image.

A fracture is a jagged lucent gap across one bone, optionally with the distal fragment shifted
and angulated and with extra comminution lines. Its plane has an orientation, so it is crisp in
views whose beam lies near that plane, fainter in others and invisible (no label) when the beam
is nearly perpendicular to it. ``difficulty`` sets how conspicuous fractures are and how noisy
images are; it does not change which patients are fractured or their anatomy.

Determinism: patient ``k`` draws only from ``SeedSequence(seed, spawn_key=(0, k, ...))``, so its
images are the same whatever ``n_patients`` is, and every random draw happens whatever the
difficulty, so a config always gives byte-identical files.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import math
import os
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image
from scipy import ndimage

GENERATOR_VERSION = "fraclab-synth/1.0"

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
    n_patients : int, default=180
        Number of patients (about 3 views each, so about 540 images).
    size : int, default=256
        Side of the square images, in pixels.
    difficulty : float, default=0.5
        Fracture conspicuity and image quality (see `conspicuity`): 0 gives wide gaps with
        large displacement, angulation and swelling on clean images; 1 gives thin, faint,
        mostly undisplaced lines on noisy, blurred images with more fracture mimics (growth
        plates, skin folds). The default was tuned with ``benchmarks/synth_difficulty.py``.
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
    n_patients: int = 180
    size: int = 256
    difficulty: float = 0.5
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


# --------------------------------------------------------------------------------------------
# Anatomy
# --------------------------------------------------------------------------------------------

Point3 = tuple[float, float, float]


@dataclass(frozen=True)
class Bone:
    """A bone: a tube of varying radius around a quadratic Bézier centreline.

    Parameters
    ----------
    name : str
        Unique within a site; fractures refer to bones by name.
    control_points : tuple of three (x, y, z) points
        Proximal end, Bézier control point and distal end, in limb coordinates.
    radii : tuple of float
        Radius at the proximal end, along the shaft and at the distal end. Ends are rounded
        (hemispherical caps of the end radius).
    flare : tuple of float
        Fraction of the length over which each end widens from the shaft radius.
    cortex : tuple of float
        Cortical thickness as a fraction of the radius, at the ends and mid-shaft.
    long_bone : bool
        Long bones have a marrow cavity mid-shaft; short bones (carpals, plates) are cancellous
        throughout.
    density : float
        Attenuation multiplier (thin plates such as the scapula are below 1).
    trabecular : float
        Strength of the trabecular texture (thin plates show little).
    group : str
        Articulated group; the elbow's forearm bones flex with the view.
    """

    name: str
    control_points: tuple[Point3, Point3, Point3]
    radii: tuple[float, float, float]
    flare: tuple[float, float] = (0.2, 0.2)
    cortex: tuple[float, float] = (0.12, 0.36)
    long_bone: bool = True
    density: float = 1.0
    trabecular: float = 1.0
    group: str = ""


@dataclass(frozen=True)
class SoftTissue:
    """An elliptic soft-tissue cylinder around a quadratic Bézier axis.

    ``radius_x`` is the half-width seen in an AP view and ``radius_z`` the half-depth (the
    half-width seen laterally).
    """

    control_points: tuple[Point3, Point3, Point3]
    radius_x: float
    radius_z: float
    group: str = ""


@dataclass(frozen=True)
class FractureSite:
    """Where a site fractures: a bone, a range of positions along it and a relative weight."""

    bone: str
    position_range: tuple[float, float]
    weight: float


@dataclass(frozen=True)
class SiteTemplate:
    """A site's anatomy, the places it fractures and how it is usually framed."""

    bones: tuple[Bone, ...]
    soft_tissue: tuple[SoftTissue, ...]
    fracture_sites: tuple[FractureSite, ...]
    scale_range: tuple[float, float]
    base_rotations: tuple[float, ...]  # degrees; one is drawn per view
    second_fracture_probability: float = 0.0


def _point3(point: Sequence[float]) -> Point3:
    """An (x, y) or (x, y, z) point as (x, y, z), z defaulting to 0."""
    x, y, z = (*(float(v) for v in point), 0.0)[:3]
    return (x, y, z)


def _bone(name: str, p0: Sequence[float], p2: Sequence[float], radii: Sequence[float], *,
          bow: Sequence[float] = (0.0, 0.0, 0.0), **kwargs: object) -> Bone:
    """Make a bone from its two ends; ``bow`` moves the Bézier control point off the chord."""
    p0, p2 = _point3(p0), _point3(p2)
    p1 = tuple((a + b) / 2 + float(c) for a, b, c in zip(p0, p2, bow, strict=True))
    r = tuple(map(float, radii))
    if len(r) == 1:
        r = (r[0], r[0], r[0])
    return Bone(name, (p0, p1, p2), r, **kwargs)  # type: ignore[arg-type]


def _tissue(p0: Sequence[float], p2: Sequence[float], radius_x: float, radius_z: float, *,
            bow: Sequence[float] = (0.0, 0.0, 0.0), group: str = "") -> SoftTissue:
    p0, p2 = _point3(p0), _point3(p2)
    p1 = tuple((a + b) / 2 + float(c) for a, b, c in zip(p0, p2, bow, strict=True))
    return SoftTissue((p0, p1, p2), radius_x, radius_z, group)  # type: ignore[arg-type]


def _forearm() -> SiteTemplate:
    return SiteTemplate(
        bones=(
            _bone("radius", (-0.15, -1.2, 0.03), (-0.17, 1.15, 0.0), (0.065, 0.055, 0.11),
                  bow=(-0.06, 0, 0.03), flare=(0.12, 0.2)),
            _bone("ulna", (0.13, -1.25, -0.04), (0.12, 1.1, 0.0), (0.095, 0.05, 0.055),
                  bow=(0.03, 0, 0.01), flare=(0.18, 0.1)),
        ),
        soft_tissue=(_tissue((0, -1.5), (0, 1.5), 0.36, 0.27, bow=(-0.03, 0, 0)),),
        fracture_sites=(FractureSite("radius", (0.2, 0.85), 0.55),
                        FractureSite("ulna", (0.2, 0.85), 0.45)),
        scale_range=(0.78, 0.98),
        base_rotations=(0.0, 0.0, 90.0, -90.0),
        second_fracture_probability=0.3,
    )


def _humerus() -> SiteTemplate:
    return SiteTemplate(
        bones=(
            _bone("humerus", (0.0, -1.35, 0.0), (-0.02, 1.08, 0.0), (0.17, 0.085, 0.2),
                  bow=(0.05, 0, 0.03), flare=(0.16, 0.2), cortex=(0.1, 0.38)),
            _bone("radius", (0.1, 1.3, 0.03), (0.13, 2.5, 0.0), (0.075, 0.055, 0.06),
                  flare=(0.08, 0.2)),
            _bone("ulna", (-0.08, 1.2, -0.06), (-0.1, 2.5, 0.0), (0.11, 0.05, 0.05),
                  flare=(0.12, 0.2)),
        ),
        soft_tissue=(_tissue((0, -1.7), (0, 1.7), 0.46, 0.4, bow=(0.03, 0, 0)),
                     _tissue((0, 1.2), (0.03, 2.6), 0.38, 0.3)),
        fracture_sites=(FractureSite("humerus", (0.2, 0.8), 1.0),),
        scale_range=(0.62, 0.8),
        base_rotations=(0.0, 0.0, 90.0, -90.0, 30.0),
    )


def _elbow() -> SiteTemplate:
    return SiteTemplate(
        bones=(
            _bone("humerus", (0.0, -1.7, 0.0), (0.0, -0.16, 0.0), (0.11, 0.1, 0.17),
                  bow=(0.04, 0, 0.02), flare=(0.1, 0.35), cortex=(0.1, 0.38)),
            _bone("condyles", (-0.2, -0.08, 0.0), (0.2, -0.08, 0.02), (0.09, 0.1, 0.085),
                  bow=(0, 0.03, 0), long_bone=False, cortex=(0.12, 0.12)),
            _bone("radius", (0.17, 0.12, 0.04), (0.22, 1.8, 0.03), (0.085, 0.058, 0.06),
                  bow=(0.02, 0, 0.01), flare=(0.07, 0.2), group="forearm"),
            _bone("ulna", (-0.08, -0.02, -0.1), (-0.14, 1.8, -0.02), (0.12, 0.058, 0.055),
                  bow=(-0.02, 0, 0), flare=(0.16, 0.2), group="forearm"),
        ),
        soft_tissue=(_tissue((0, -1.8), (0, 0.0), 0.44, 0.4),
                     _tissue((0, -0.1), (0.02, 1.9), 0.4, 0.32, group="forearm")),
        fracture_sites=(FractureSite("humerus", (0.6, 0.8), 0.35),
                        FractureSite("radius", (0.08, 0.3), 0.35),
                        FractureSite("ulna", (0.12, 0.4), 0.3)),
        scale_range=(1.1, 1.4),
        base_rotations=(0.0, 0.0, 90.0, -90.0),
    )


def _wrist() -> SiteTemplate:
    carpals = (  # name, centre (x, y, z), half-length vector, radius
        ("scaphoid", (-0.17, 0.2, 0.02), (0.04, 0.08, 0.0), 0.06),
        ("lunate", (-0.02, 0.18, 0.0), (0.0, 0.02, 0.0), 0.068),
        ("triquetrum", (0.13, 0.21, -0.03), (0.02, 0.02, 0.0), 0.058),
        ("pisiform", (0.17, 0.25, -0.1), (0.0, 0.0, 0.0), 0.042),
        ("trapezium", (-0.23, 0.43, 0.04), (0.02, 0.03, 0.0), 0.062),
        ("trapezoid", (-0.1, 0.44, 0.02), (0.0, 0.02, 0.0), 0.052),
        ("capitate", (0.02, 0.42, 0.0), (0.0, 0.06, 0.0), 0.062),
        ("hamate", (0.15, 0.42, -0.02), (0.01, 0.05, 0.0), 0.062),
    )
    bones = [
        _bone("radius", (-0.15, -1.6, 0.03), (-0.14, 0.0, 0.02), (0.07, 0.068, 0.17),
              bow=(-0.03, 0, 0.02), flare=(0.1, 0.3)),
        _bone("ulna", (0.19, -1.6, -0.05), (0.17, -0.06, -0.02), (0.06, 0.055, 0.07),
              flare=(0.1, 0.15)),
    ]
    for name, (cx, cy, cz), (hx, hy, hz), radius in carpals:
        bones.append(_bone(name, (cx - hx, cy - hy, cz - hz), (cx + hx, cy + hy, cz + hz),
                           (radius,), long_bone=False, cortex=(0.16, 0.16)))
    for i, x in enumerate((-0.28, -0.12, 0.01, 0.13, 0.25)):
        if i == 0:  # the thumb metacarpal diverges
            bones.append(_bone("mc1", (-0.3, 0.58, 0.08), (-0.58, 1.08, 0.12),
                               (0.065, 0.05, 0.065), flare=(0.2, 0.2)))
        else:
            bones.append(_bone(f"mc{i + 1}", (x, 0.6, 0.0), (x * 1.45, 1.6, 0.0),
                               (0.06, 0.042, 0.06), bow=(0, 0, 0.03), flare=(0.15, 0.15)))
    return SiteTemplate(
        bones=tuple(bones),
        soft_tissue=(_tissue((0, -1.8), (0, 0.35), 0.36, 0.27),
                     _tissue((0.02, 0.3), (0.06, 1.8), 0.46, 0.17),
                     _tissue((-0.3, 0.5), (-0.7, 1.3), 0.14, 0.13)),
        fracture_sites=(FractureSite("radius", (0.72, 0.9), 0.8),
                        FractureSite("ulna", (0.7, 0.9), 0.1),
                        FractureSite("scaphoid", (0.35, 0.65), 0.1)),
        scale_range=(1.3, 1.6),
        base_rotations=(0.0, 0.0, 0.0, 90.0, -90.0),
    )


def _fingers() -> SiteTemplate:
    bones = []
    tissues = [_tissue((0, -1.8), (0, -0.55), 0.62, 0.2)]
    # (x, z, length scale): index .. little finger; a lateral view stacks them.
    fingers = ((-0.42, 0.21, 0.95), (-0.14, 0.07, 1.05), (0.14, -0.07, 1.0), (0.42, -0.21, 0.85))
    for j, (x, z, k) in enumerate(fingers):
        def at(y: float, x: float = x, z: float = z, k: float = k) -> Point3:
            return (x * (1.0 + 0.18 * (y + 0.5) * (y > -0.5)), y * k, z)
        segments = (  # name, proximal y, distal y, radii
            ("mc", -1.5, -0.66, (0.06, 0.048, 0.075)),
            ("pp", -0.46, 0.0, (0.068, 0.05, 0.058)),
            ("mp", 0.17, 0.48, (0.055, 0.042, 0.05)),
            ("dp", 0.6, 0.8, (0.045, 0.03, 0.04)),
        )
        for name, y0, y1, radii in segments:
            bones.append(_bone(f"{name}{j + 2}", at(y0), at(y1), radii, bow=(0, 0, 0.02),
                               flare=(0.22, 0.22)))
        tissues.append(_tissue(at(-0.7), at(0.92), 0.115, 0.1))
    return SiteTemplate(
        bones=tuple(bones),
        soft_tissue=tuple(tissues),
        fracture_sites=tuple(
            FractureSite(f"{name}{j}", (0.55, 0.85) if name == "mc" else (0.2, 0.8),
                         0.2 if name == "dp" else 1.0)
            for j in range(2, 6) for name in ("mc", "pp", "mp", "dp")
        ),
        scale_range=(1.6, 2.0),
        base_rotations=(0.0, 0.0, 0.0, 90.0, -90.0, 180.0),
    )


def _shoulder() -> SiteTemplate:
    bones = [
        _bone("humerus", (0.02, -0.36, 0.0), (0.32, 1.6, 0.0), (0.25, 0.12, 0.12),
              bow=(0.06, 0, 0.02), flare=(0.16, 0.1), cortex=(0.07, 0.34)),
        _bone("glenoid", (-0.3, -0.5, 0.06), (-0.3, -0.18, 0.06), (0.08, 0.09, 0.08),
              bow=(-0.04, 0, 0), long_bone=False, cortex=(0.2, 0.2), trabecular=0.6),
        _bone("scapula", (-0.42, -0.5, 0.12), (-0.85, 1.1, 0.22), (0.17, 0.23, 0.1),
              bow=(-0.05, 0, 0), long_bone=False, cortex=(0.08, 0.08), density=0.3,
              trabecular=0.2),
        _bone("scapula_border", (-0.32, -0.15, 0.1), (-0.62, 1.05, 0.2), (0.04,),
              bow=(0.05, 0, 0), long_bone=False, cortex=(0.3, 0.3), density=0.8),
        _bone("clavicle", (-1.35, -1.0, 0.3), (0.05, -0.86, 0.1), (0.07, 0.055, 0.075),
              bow=(0.1, 0.22, 0), flare=(0.15, 0.15)),
        _bone("acromion", (-0.5, -0.74, -0.05), (0.16, -0.62, -0.05), (0.06, 0.05, 0.07),
              bow=(0, -0.08, 0), long_bone=False, cortex=(0.18, 0.18)),
        _bone("coracoid", (-0.4, -0.56, 0.25), (-0.15, -0.46, 0.32), (0.05, 0.04, 0.045),
              long_bone=False, cortex=(0.2, 0.2)),
    ]
    for i, y in enumerate((-0.45, 0.05, 0.55, 1.05)):  # faint ribs at the chest wall
        bones.append(_bone(f"rib{i + 1}", (-1.6, y - 0.3, 0.4), (-0.65, y + 0.45, 0.2), (0.045,),
                           bow=(0.05, -0.2, 0), cortex=(0.25, 0.3), density=0.45))
    return SiteTemplate(
        bones=tuple(bones),
        soft_tissue=(_tissue((-1.7, -2.2, -1.0), (-1.2, 2.2, -1.0), 0.95, 0.55),
                     _tissue((-0.2, -0.65), (0.15, -0.1), 0.45, 0.4),
                     _tissue((0.05, -0.4), (0.38, 1.8), 0.42, 0.38)),
        fracture_sites=(FractureSite("humerus", (0.08, 0.3), 0.7),
                        FractureSite("clavicle", (0.35, 0.7), 0.3)),
        scale_range=(0.72, 0.9),
        base_rotations=(0.0, 0.0, 0.0, 20.0, -20.0),
    )


SITE_TEMPLATES: dict[str, SiteTemplate] = {
    "elbow": _elbow(), "fingers": _fingers(), "forearm": _forearm(),
    "humerus": _humerus(), "shoulder": _shoulder(), "wrist": _wrist(),
}


# --------------------------------------------------------------------------------------------
# Patients
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class FractureSpec:
    """One fracture, in terms that do not depend on the view or the difficulty.

    The ``*_draw`` fields are uniform draws in [0, 1) that the difficulty turns into
    probabilities and magnitudes at render time, so that every config consumes the same random
    numbers.
    """

    bone: str
    position: float  # along the bone, 0 = proximal end, 1 = distal end
    obliquity: float  # radians between the fracture line and the bone's cross-section
    plane_angle: float  # radians; the beam angle at which the fracture is seen edge-on
    displacement_draw: float
    displacement_size_draw: float
    displacement_angle: float  # radians; direction of the shift in the cross-section
    angulation_draw: float
    angulation_size_draw: float
    angulation_angle: float
    comminution_draw: float
    comminution_lines: tuple[tuple[float, float, float], ...]  # (offset, angle, length) each
    jag_phases: tuple[float, float]
    jag_frequencies: tuple[float, float]
    conspicuity_draw: float


@dataclass(frozen=True)
class PatientSpec:
    """A synthetic patient: anatomy, views and fractures (everything but the per-view pose)."""

    index: int
    patient_id: str
    site: str
    side: str  # "L" or "R"
    views: tuple[str, ...]
    bones: tuple[Bone, ...]
    soft_tissue: tuple[SoftTissue, ...]
    fractures: tuple[FractureSpec, ...]
    # Uniform draw; below `Conspicuity.growth_plate_share` the patient is a child whose open
    # growth plates are lucent lines that are not fractures.
    maturity_draw: float

    @property
    def fractured(self) -> bool:
        """Whether the patient has a fracture (it shows in at least one view)."""
        return bool(self.fractures)


def patient_seed(seed: int, patient_index: int) -> np.random.SeedSequence:
    """Seed of one patient; independent of how many patients the dataset has."""
    return np.random.SeedSequence(seed, spawn_key=(0, patient_index))


def sample_patient(config: SynthConfig, patient_index: int) -> PatientSpec:
    """Draw patient ``patient_index`` of the dataset ``config`` describes.

    Parameters
    ----------
    config : SynthConfig
        Only ``seed``, ``min_views``, ``max_views`` and ``fracture_prevalence`` matter.
    patient_index : int
        Zero-based; the patient id is ``P{index + 1:05d}``.

    Returns
    -------
    PatientSpec
    """
    rng = np.random.default_rng(patient_seed(config.seed, patient_index))
    site = SITE_NAMES[int(rng.integers(len(SITE_NAMES)))]
    template = SITE_TEMPLATES[site]
    side = "L" if rng.random() < 0.5 else "R"
    n_views = int(rng.integers(config.min_views, config.max_views + 1))
    extra_views = [VIEW_NAMES[i] for i in (2, 3)]  # obl, pa
    order = rng.permutation(len(extra_views))
    chosen = {"ap", "lat", *(extra_views[i] for i in order[: n_views - 2])}
    views = tuple(v for v in VIEW_NAMES if v in chosen)
    bones, tissues = _jitter_anatomy(template, rng)
    maturity_draw = float(rng.random())
    fractured = bool(rng.random() < config.fracture_prevalence)
    second = bool(rng.random() < template.second_fracture_probability)
    first_site = _pick_fracture_site(template.fracture_sites, rng, exclude=())
    second_site = _pick_fracture_site(template.fracture_sites, rng, exclude=(first_site.bone,))
    first = _sample_fracture(first_site, rng)
    second_fracture = _sample_fracture(second_site, rng) if second_site else None
    fractures: tuple[FractureSpec, ...] = ()
    if fractured:
        fractures = (first,)
        if second and second_fracture is not None:
            # Both-bone fractures share a level and a plane, as they do in real forearms.
            fractures += (dataclasses.replace(
                second_fracture,
                position=float(np.clip(first.position + 0.05 * (second_fracture.position - 0.5),
                                       0.05, 0.95)),
                plane_angle=first.plane_angle),)
    return PatientSpec(
        index=patient_index,
        patient_id=f"P{patient_index + 1:05d}",
        site=site,
        side=side,
        views=views,
        bones=bones,
        soft_tissue=tissues,
        fractures=fractures,
        maturity_draw=maturity_draw,
    )


def _jitter_anatomy(template: SiteTemplate, rng: np.random.Generator,
                    ) -> tuple[tuple[Bone, ...], tuple[SoftTissue, ...]]:
    """Give a patient its own proportions: overall size, bone calibre and small shape changes."""
    build = rng.uniform(0.9, 1.1)
    tissue_build = build * rng.uniform(0.85, 1.2)  # some patients carry more soft tissue
    bones = []
    for bone in template.bones:
        offsets = rng.normal(0.0, 0.015, size=(3, 3))
        calibre = build * rng.uniform(0.93, 1.07)
        points = tuple(tuple(float(v) for v in np.asarray(p) + o)
                       for p, o in zip(bone.control_points, offsets, strict=True))
        bones.append(dataclasses.replace(
            bone, control_points=points, radii=tuple(r * calibre for r in bone.radii)))
    tissues = []
    for tissue in template.soft_tissue:
        factor = tissue_build * rng.uniform(0.95, 1.05)
        tissues.append(dataclasses.replace(tissue, radius_x=tissue.radius_x * factor,
                                           radius_z=tissue.radius_z * factor))
    return tuple(bones), tuple(tissues)


def _pick_fracture_site(sites: tuple[FractureSite, ...], rng: np.random.Generator,
                        exclude: tuple[str, ...]) -> FractureSite | None:
    """Draw a fracture site by weight (one draw even when nothing is left, to keep streams)."""
    draw = rng.random()
    candidates = [s for s in sites if s.bone not in exclude]
    if not candidates:
        return None
    weights = np.array([s.weight for s in candidates])
    cumulative = np.cumsum(weights / weights.sum())
    return candidates[min(int(np.searchsorted(cumulative, draw, side="right")),
                          len(candidates) - 1)]


def _sample_fracture(site: FractureSite | None, rng: np.random.Generator) -> FractureSpec | None:
    """Draw a fracture's view- and difficulty-independent description (fixed number of draws)."""
    draws = rng.random(17)
    lines = rng.random((3, 3))
    if site is None:
        return None
    lo, hi = site.position_range
    n_lines = 1 + int(draws[10] * 3)
    return FractureSpec(
        bone=site.bone,
        position=float(lo + (hi - lo) * draws[0]),
        # 60 % oblique (up to ±34°), the rest near-transverse.
        obliquity=float((draws[1] - 0.5) * (1.2 if draws[2] < 0.6 else 0.3)),
        plane_angle=float(draws[3] * math.pi),
        displacement_draw=float(draws[4]),
        displacement_size_draw=float(draws[5]),
        displacement_angle=float(draws[6] * 2 * math.pi),
        angulation_draw=float(draws[7]),
        angulation_size_draw=float(draws[8]),
        angulation_angle=float(draws[9] * 2 * math.pi),
        comminution_draw=float(draws[11]),
        comminution_lines=tuple(
            (float(o * 1.6 - 0.8), float((a - 0.5) * 2.0), float(0.6 + 1.0 * ln))
            for o, a, ln in lines[:n_lines]),
        jag_phases=(float(draws[12] * 2 * math.pi), float(draws[13] * 2 * math.pi)),
        jag_frequencies=(float(0.8 + 1.2 * draws[14]), float(2.5 + 2.5 * draws[15])),
        conspicuity_draw=float(draws[16]),
    )


# --------------------------------------------------------------------------------------------
# Difficulty
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Conspicuity:
    """Rendering settings derived from ``difficulty`` (lengths in image half-widths)."""

    line_depth: float  # fraction of the bone's attenuation missing at the line's centre
    line_width: float
    displacement_probability: float
    displacement_max: float  # in bone radii
    angulation_probability: float
    angulation_max: float  # radians
    comminution_probability: float
    shortening: float  # axial overlap of the fragments, as a share of the displacement
    swelling: float  # extra soft tissue over the fracture (haematoma), limb units
    growth_plate_share: float  # share of patients with open growth plates (fracture mimics)
    skin_fold_probability: float  # share of images with a skin fold (another mimic)
    noise: float  # standard deviation of quantum noise at full brightness
    blur: float  # in image half-widths


def conspicuity(difficulty: float) -> Conspicuity:
    """Map ``difficulty`` in [0, 1] to fracture conspicuity and image quality.

    Piecewise linear through three anchors: 0 (glaring: wide gaps, large displacement and
    angulation, clean images), 0.5 (the default, tuned with ``benchmarks/synth_difficulty.py``
    so that a small CNN trained from scratch at 128 px reaches a test AUROC near 0.8) and 1
    (thin, faint, undisplaced lines on noisy images, with more fracture mimics).
    """

    def anchors(easy: float, default: float, hard: float) -> float:
        if difficulty <= 0.5:
            return easy + (default - easy) * difficulty / 0.5
        return default + (hard - default) * (difficulty - 0.5) / 0.5

    return Conspicuity(
        line_depth=anchors(1.0, 1.0, 0.35),
        line_width=anchors(0.09, 0.07, 0.012),
        displacement_probability=anchors(1.0, 1.0, 0.1),
        displacement_max=anchors(3.5, 2.5, 0.3),
        angulation_probability=anchors(1.0, 0.9, 0.05),
        angulation_max=math.radians(anchors(50.0, 40.0, 5.0)),
        comminution_probability=anchors(0.9, 0.7, 0.05),
        shortening=anchors(0.5, 0.5, 0.1),
        swelling=anchors(0.8, 0.4, 0.0),
        growth_plate_share=anchors(0.02, 0.1, 0.35),
        skin_fold_probability=anchors(0.02, 0.1, 0.3),
        noise=anchors(0.005, 0.008, 0.045),
        blur=anchors(0.0025, 0.003, 0.008),
    )


# --------------------------------------------------------------------------------------------
# Geometry of one view
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Pose:
    """Similarity transform from projected limb coordinates to pixels."""

    rotation: float  # radians
    scale: float  # pixels per limb unit
    centre: tuple[float, float]  # pixel position of the limb origin

    def apply(self, points: np.ndarray) -> np.ndarray:
        """Map (..., 2) limb points to (..., 2) pixel points (x right, y down)."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        x, y = points[..., 0], points[..., 1]
        return np.stack([self.centre[0] + self.scale * (c * x - s * y),
                         self.centre[1] + self.scale * (s * x + c * y)], axis=-1)


def _project(points: np.ndarray, beam_angle: float, side: str) -> np.ndarray:
    """Project (..., 3) limb points onto the detector for a beam at ``beam_angle`` radians."""
    mirror = -1.0 if side == "L" else 1.0  # a left limb is the mirror image of a right one
    x = mirror * points[..., 0] * math.cos(beam_angle) + points[..., 2] * math.sin(beam_angle)
    return np.stack([x, points[..., 1]], axis=-1)


def _rotate_about(points: np.ndarray, pivot: np.ndarray, angle: float) -> np.ndarray:
    c, s = math.cos(angle), math.sin(angle)
    d = points - pivot
    return np.stack([pivot[0] + c * d[..., 0] - s * d[..., 1],
                     pivot[1] + s * d[..., 0] + c * d[..., 1]], axis=-1)


def _bezier(control: np.ndarray, t: np.ndarray) -> np.ndarray:
    """Points (len(t), 2) of the quadratic Bézier curve with (3, 2) control points."""
    t = t[:, None]
    return (1 - t) ** 2 * control[0] + 2 * (1 - t) * t * control[1] + t**2 * control[2]


def _bezier_tangent(control: np.ndarray, t: float) -> np.ndarray:
    d = 2 * (1 - t) * (control[1] - control[0]) + 2 * t * (control[2] - control[1])
    norm = float(np.hypot(*d))
    return d / norm if norm > 1e-9 else np.array([0.0, 1.0])


@dataclass(frozen=True)
class BoneGeometry:
    """A bone in pixels: a polyline through its Bézier centreline and its radius profile."""

    control: np.ndarray  # (3, 2) Bézier control points in pixels
    vertices: np.ndarray  # (n, 2) polyline approximating the centreline to a fraction of a pixel
    radii: tuple[float, float, float]  # pixels: proximal end, shaft, distal end
    flare: tuple[float, float]
    cortex: tuple[float, float]
    end_zone: float  # fraction of the length at each end that is cancellous (no marrow)
    long_bone: bool
    density: float
    trabecular: float

    def profile(self, t: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Outer radius, inner (medullary) radius and marrow share at positions ``t`` in [0, 1].

        The radius widens smoothly towards each end (squared, so that it meets the shaft
        tangentially); the marrow share is 1 on the diaphysis and 0 in the cancellous ends.
        """
        r_prox, r_shaft, r_dist = self.radii
        prox = np.clip(1 - t / max(self.flare[0], 1e-6), 0, 1) ** 2
        dist = np.clip(1 - (1 - t) / max(self.flare[1], 1e-6), 0, 1) ** 2
        radius = r_shaft + (r_prox - r_shaft) * prox + (r_dist - r_shaft) * dist
        if self.long_bone:
            marrow = np.clip(np.minimum(t, 1 - t) / self.end_zone, 0, 1)
        else:
            marrow = np.zeros_like(t)
        cortex = self.cortex[0] + (self.cortex[1] - self.cortex[0]) * marrow
        return radius, radius * (1 - cortex), marrow

    def radius_at(self, t: float) -> float:
        """Outer radius (pixels) at position ``t`` along the bone."""
        return float(self.profile(np.array([t]))[0][0])

    @property
    def max_radius(self) -> float:
        return max(self.radii)

    @property
    def sagitta(self) -> float:
        """Upper bound (pixels) on how far the centreline strays from its chord."""
        return float(np.hypot(*(self.control[0] - 2 * self.control[1] + self.control[2]))) / 4


def _bone_geometry(bone: Bone, control_px: np.ndarray, pixels_per_unit: float) -> BoneGeometry:
    """Lay a bone out in pixels (``control_px`` is its projected, posed Bézier control polygon)."""
    length_px = float(np.hypot(*(control_px[2] - control_px[0])))
    sagitta = float(np.hypot(*(control_px[0] - 2 * control_px[1] + control_px[2]))) / 4
    # A polyline of n segments strays at most sagitta / n^2 from the curve: keep that < 0.1 px.
    n_segments = int(np.clip(math.ceil(math.sqrt(sagitta / 0.1)), 1, 16))
    radii = tuple(r * pixels_per_unit for r in bone.radii)
    end_zone = float(np.clip(3.0 * radii[1] / max(length_px, 1e-6), 0.05, 0.45))
    return BoneGeometry(
        control=control_px,
        vertices=_bezier(control_px, np.linspace(0.0, 1.0, n_segments + 1)),
        radii=radii,  # type: ignore[arg-type]
        flare=bone.flare,
        cortex=bone.cortex,
        end_zone=end_zone,
        long_bone=bone.long_bone,
        density=bone.density,
        trabecular=bone.trabecular,
    )


def _nearest_on_polyline(px: np.ndarray, py: np.ndarray, vertices: np.ndarray,
                         ) -> tuple[np.ndarray, np.ndarray]:
    """Distance to, and position (0 at the first vertex, 1 at the last) of, the nearest point.

    ``px`` and ``py`` are 1-D. The ends are clamped, so the distance field is a capsule's
    (rounded ends). Loops over the (few) segments to keep temporaries small.
    """
    n_segments = len(vertices) - 1
    best_d2 = np.full(px.shape, np.inf)
    best_t = np.zeros(px.shape)
    for k in range(n_segments):
        ax, ay = vertices[k]
        bx, by = vertices[k + 1] - vertices[k]
        length2 = max(bx * bx + by * by, 1e-12)
        dx, dy = px - ax, py - ay
        t = np.clip((dx * bx + dy * by) / length2, 0.0, 1.0)
        ex, ey = dx - t * bx, dy - t * by
        d2 = ex * ex + ey * ey
        closer = d2 < best_d2
        best_d2 = np.where(closer, d2, best_d2)
        best_t = np.where(closer, (k + t) / n_segments, best_t)
    return np.sqrt(best_d2), best_t


# Linear attenuation (per limb unit) of cortical bone, cancellous bone, marrow and soft tissue.
MU_CORTEX = 7.0
MU_CANCELLOUS = 2.6
MU_MARROW = 1.0
MU_SOFT = 0.6


def _bone_attenuation(px: np.ndarray, py: np.ndarray, geometry: BoneGeometry,
                      texture: np.ndarray, pixels_per_unit: float) -> np.ndarray:
    """X-ray attenuation of one bone at pixel positions (1-D arrays), in limb units.

    Chord lengths through a hollow cylinder: the cortex is long in projection near the bone's
    edges, which makes the bright cortical lines of a real radiograph.
    """
    attenuation = np.zeros(px.shape)
    # Cheap pre-filter: only pixels near the chord can be inside the bone.
    chord_distance, _ = _nearest_on_polyline(px, py, geometry.control[[0, 2]])
    near = chord_distance <= geometry.max_radius + geometry.sagitta + 1.0
    if not near.any():
        return attenuation
    distance, t = _nearest_on_polyline(px[near], py[near], geometry.vertices)
    radius, inner, marrow = geometry.profile(t)
    d2 = distance * distance
    outer_chord = 2 * np.sqrt(np.maximum(radius * radius - d2, 0.0))
    inner_chord = 2 * np.sqrt(np.maximum(inner * inner - d2, 0.0))
    medulla = MU_CANCELLOUS + (MU_MARROW - MU_CANCELLOUS) * marrow
    # Trabeculae: band-limited texture in cancellous bone, fading in the marrow cavity.
    medulla = medulla * (1 + geometry.trabecular * (0.2 - 0.12 * marrow) * texture[near])
    attenuation[near] = MU_CORTEX * (outer_chord - inner_chord) + medulla * inner_chord
    return geometry.density * attenuation / pixels_per_unit


@dataclass(frozen=True)
class FractureGeometry:
    """A fracture in pixels for one view."""

    centre: np.ndarray  # where the line crosses the bone axis
    along: np.ndarray  # unit vector along the fracture line
    normal: np.ndarray  # unit vector across it, pointing to the distal fragment
    half_length: float  # from the axis to where the line leaves the bone (+ a little)
    width: float
    depth: float
    shift: np.ndarray  # displacement of the distal fragment, pixels
    angulation: float  # rotation of the distal fragment about the centre, radians
    jag_amplitude: float
    jag_frequencies: tuple[float, float]  # cycles per bone diameter
    jag_phases: tuple[float, float]
    extra_lines: tuple[tuple[np.ndarray, np.ndarray], ...]  # comminution segments (start, end)

    def side(self, px: np.ndarray, py: np.ndarray) -> np.ndarray:
        """Signed distance (pixels) from the jagged fracture line, positive on the distal side."""
        dx, dy = px - self.centre[0], py - self.centre[1]
        along = dx * self.along[0] + dy * self.along[1]
        across = dx * self.normal[0] + dy * self.normal[1]
        phase = along / max(self.half_length, 1.0) * math.pi
        jag = (np.sin(self.jag_frequencies[0] * phase + self.jag_phases[0])
               + 0.45 * np.sin(self.jag_frequencies[1] * phase + self.jag_phases[1]))
        return across + self.jag_amplitude * jag

    def to_fragment(self, px: np.ndarray, py: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Where an image point of the distal fragment was before it moved."""
        c, s = math.cos(-self.angulation), math.sin(-self.angulation)
        dx = px - self.centre[0] - self.shift[0]
        dy = py - self.centre[1] - self.shift[1]
        return self.centre[0] + c * dx - s * dy, self.centre[1] + s * dx + c * dy

    def from_fragment(self, points: np.ndarray) -> np.ndarray:
        """Where (..., 2) points of the distal fragment end up after it moved."""
        return _rotate_about(points, self.centre, self.angulation) + self.shift

    def polygon(self, margin: float) -> np.ndarray:
        """Convex hull (n, 2) around the fracture line, the moved fragment and comminution."""
        pad = self.width + margin
        ends = np.array([self.centre - self.along * (self.half_length + margin),
                         self.centre + self.along * (self.half_length + margin)])
        points = [ends - self.normal * pad, ends + self.normal * pad,
                  self.from_fragment(ends + self.normal * pad),
                  self.from_fragment(ends - self.normal * 0.5 * pad)]
        corners = margin * np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
        for start, end in self.extra_lines:
            points += [start + corners, end + corners]
        return _convex_hull(np.concatenate(points))


def _gap_factor(side: np.ndarray, width: float, depth: float) -> np.ndarray:
    """Fraction of attenuation kept across a smooth lucent band (growth plate, skin fold)."""
    return 1 - depth * np.exp(-((side / width) ** 2))


def _crack_factor(side: np.ndarray, width: float, depth: float) -> np.ndarray:
    """Fraction of attenuation kept across a fracture line of full ``width`` (pixels).

    Unlike a growth plate a fracture is a crisp gap: flat-bottomed, with one-pixel edges.
    """
    inside = np.clip(width / 2 + 0.5 - np.abs(side), 0.0, 1.0)
    return 1 - depth * inside


def _segment_distance(px: np.ndarray, py: np.ndarray, start: np.ndarray,
                      end: np.ndarray) -> np.ndarray:
    distance, _ = _nearest_on_polyline(px, py, np.stack([start, end]))
    return distance


def _fractured_bone_attenuation(px: np.ndarray, py: np.ndarray, geometry: BoneGeometry,
                                fracture: FractureGeometry, texture: np.ndarray,
                                pixels_per_unit: float) -> np.ndarray:
    """Attenuation of a broken bone: two fragments meeting at a lucent, jagged gap."""
    soft_edge = 0.7  # pixels; keeps the fragment edges anti-aliased

    proximal = _bone_attenuation(px, py, geometry, texture, pixels_per_unit)
    side = fracture.side(px, py)
    proximal *= np.clip(0.5 - side / soft_edge, 0, 1) * _crack_factor(side, fracture.width,
                                                                      fracture.depth)
    fx, fy = fracture.to_fragment(px, py)
    distal = _bone_attenuation(fx, fy, geometry, texture, pixels_per_unit)
    fragment_side = fracture.side(fx, fy)
    distal *= (np.clip(0.5 + fragment_side / soft_edge, 0, 1)
               * _crack_factor(fragment_side, fracture.width, fracture.depth))
    attenuation = proximal + distal
    for start, end in fracture.extra_lines:
        distance = _segment_distance(px, py, start, end)
        attenuation *= _crack_factor(distance, 0.7 * fracture.width, 0.8 * fracture.depth)
    return attenuation


def _convex_hull(points: np.ndarray) -> np.ndarray:
    """Counter-clockwise convex hull (Andrew's monotone chain) of (n, 2) points."""
    pts = sorted({(float(x), float(y)) for x, y in points})
    if len(pts) < 3:
        return np.array(pts)

    def cross(o: tuple[float, float], a: tuple[float, float], b: tuple[float, float]) -> float:
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower: list[tuple[float, float]] = []
    for p in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], p) <= 0:
            lower.pop()
        lower.append(p)
    upper: list[tuple[float, float]] = []
    for p in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], p) <= 0:
            upper.pop()
        upper.append(p)
    return np.array(lower[:-1] + upper[:-1])


def clip_polygon_to_box(polygon: np.ndarray, low: float, high: float) -> np.ndarray:
    """Clip a convex polygon (n, 2) to the square [low, high]^2 (Sutherland-Hodgman).

    Parameters
    ----------
    polygon : ndarray of shape (n, 2)
    low, high : float
        The box's bounds, the same on both axes.

    Returns
    -------
    ndarray of shape (m, 2)
        The clipped polygon; empty (0, 2) when nothing is inside.
    """
    result = [tuple(p) for p in polygon]
    for axis in (0, 1):
        for bound, keep_below in ((low, False), (high, True)):
            if not result:
                break
            clipped = []
            for i, current in enumerate(result):
                previous = result[i - 1]
                inside_now = current[axis] <= bound if keep_below else current[axis] >= bound
                inside_before = previous[axis] <= bound if keep_below else previous[axis] >= bound
                if inside_now != inside_before:
                    f = (bound - previous[axis]) / (current[axis] - previous[axis])
                    crossing = [previous[0] + f * (current[0] - previous[0]),
                                previous[1] + f * (current[1] - previous[1])]
                    crossing[axis] = bound
                    clipped.append(tuple(crossing))
                if inside_now:
                    clipped.append(current)
            result = clipped
    return np.array(result, dtype=float).reshape(-1, 2)


def _at_least_four_vertices(polygon: np.ndarray) -> np.ndarray:
    """Split the longest edges until the polygon has 4 vertices (same shape, YOLO-seg needs 4)."""
    polygon = np.asarray(polygon, dtype=float)
    while 3 <= len(polygon) < 4:
        edges = np.roll(polygon, -1, axis=0) - polygon
        i = int(np.argmax(np.hypot(edges[:, 0], edges[:, 1])))
        midpoint = polygon[i] + edges[i] / 2
        polygon = np.insert(polygon, i + 1, midpoint, axis=0)
    return polygon


# --------------------------------------------------------------------------------------------
# Rendering one view
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RenderedView:
    """One image, its labels and what each pixel shows.

    ``labels`` holds ``(class_id, polygon)`` pairs, the polygon an (n >= 4, 2) array of
    normalised (x, y) image coordinates in [0, 1], one pair per visible fracture.
    ``tissue`` (not written to disk; for tests and debugging) is 0 where the beam crosses only
    air, 1 soft tissue only and 2 bone.
    """

    image: np.ndarray  # (size, size) uint8
    labels: tuple[tuple[int, np.ndarray], ...]
    tissue: np.ndarray  # (size, size) uint8


def visible_fractures(patient: PatientSpec, view: str) -> tuple[FractureSpec, ...]:
    """The patient's fractures that show (and are labelled) in ``view``.

    A fracture shows when the beam lies within about 63° of its plane
    (``|cos(beam - plane)| >= MIN_VISIBILITY``); AP and lateral are 90° apart, so every
    fracture shows in at least one of them.
    """
    beam = math.radians(VIEW_ANGLES[view])
    return tuple(f for f in patient.fractures
                 if abs(math.cos(beam - f.plane_angle)) >= MIN_VISIBILITY)


def view_seed(seed: int, patient_index: int, view: str) -> np.random.SeedSequence:
    """Seed of one view of one patient (fixed per view name, not per position in the list)."""
    return np.random.SeedSequence(seed, spawn_key=(0, patient_index, 1 + VIEW_NAMES.index(view)))


def _band_limited_noise(rng: np.random.Generator, shape: tuple[int, int], fine: float,
                        coarse: float) -> np.ndarray:
    """Unit-variance noise with structure between ``fine`` and ``coarse`` pixels."""
    white = rng.standard_normal(shape)
    band = ndimage.gaussian_filter(white, fine) - ndimage.gaussian_filter(white, coarse)
    return band / max(float(band.std()), 1e-9)


def _soft_tissue_length(size: int, tissues: Sequence[SoftTissue],
                        controls_px: Sequence[np.ndarray], beam_angle: float,
                        pixels_per_unit: float) -> np.ndarray:
    """Path length (limb units) through the union of the soft-tissue cylinders, (size, size).

    Soft tissue is smooth, so it is computed on a half-resolution grid and upsampled.
    """
    coarse = (size + 1) // 2
    centres = 2.0 * np.arange(coarse) + 1.0  # centres of 2x2 pixel blocks
    cy, cx = np.meshgrid(centres, centres, indexing="ij")
    px, py = cx.ravel(), cy.ravel()
    length = np.zeros(px.shape)
    c, s = math.cos(beam_angle), math.sin(beam_angle)
    for tissue, control in zip(tissues, controls_px, strict=True):
        half_width = math.hypot(tissue.radius_x * c, tissue.radius_z * s) * pixels_per_unit
        half_depth = math.hypot(tissue.radius_x * s, tissue.radius_z * c)
        distance, _ = _nearest_on_polyline(px, py, _bezier(control, np.linspace(0, 1, 5)))
        chord = 2 * half_depth * np.sqrt(np.maximum(1 - (distance / half_width) ** 2, 0.0))
        length = np.maximum(length, chord)
    full = ndimage.zoom(length.reshape(coarse, coarse), 2, order=1, grid_mode=True,
                        mode="nearest")
    return full[:size, :size]


def _marker_glyph(letter: str) -> np.ndarray:
    """5x7 bitmap of the letter L or R (lead markers), 1 = ink."""
    rows = {
        "L": ("10000", "10000", "10000", "10000", "10000", "10000", "11111"),
        "R": ("11110", "10001", "10001", "11110", "10100", "10010", "10001"),
    }[letter]
    return np.array([[c == "1" for c in row] for row in rows], dtype=float)


def render_view(patient: PatientSpec, view: str, config: SynthConfig, *,
                draw_fractures: bool = True) -> RenderedView:
    """Render one radiograph of ``patient`` and its fracture polygons.

    Parameters
    ----------
    patient : PatientSpec
        From `sample_patient`.
    view : str
        One of ``patient.views``.
    config : SynthConfig
        ``size``, ``difficulty`` and the marker/collimation probabilities are used.
    draw_fractures : bool, default=True
        False renders the same image (same pose, noise and all) without the fractures and with
        no labels; tests use it to check that the lucent line lies inside the label.

    Returns
    -------
    RenderedView
    """
    if view not in patient.views:
        raise ValueError(f"patient {patient.patient_id} has no {view!r} view ({patient.views})")
    rng = np.random.default_rng(view_seed(config.seed, patient.index, view))
    size = config.size
    look = conspicuity(config.difficulty)
    template = SITE_TEMPLATES[patient.site]
    beam = math.radians(VIEW_ANGLES[view])

    # Every draw below happens unconditionally and in a fixed order (stable streams).
    rotation = math.radians(float(rng.choice(template.base_rotations)) + rng.normal(0, 12))
    scale_draw = rng.uniform(*template.scale_range)
    shift_draw = rng.uniform(-0.12, 0.12, size=2)
    flexion_draw = rng.random()
    exposure = rng.uniform(1.1, 1.7)
    gamma = rng.uniform(0.8, 1.25)
    background = rng.uniform(0.03, 0.16)
    heel = rng.uniform(0.0, 0.15)
    heel_angle = rng.uniform(0, 2 * math.pi)
    texture = _band_limited_noise(rng, (size, size), 0.8 * size / 256, 3.0 * size / 256)
    skin_texture = ndimage.zoom(rng.standard_normal((12, 12)), size / 12, order=1,
                                grid_mode=True, mode="reflect")[:size, :size]
    skin_fold_draws = rng.random(4)
    collimation_draws = rng.random(6)
    marker_draws = rng.random(3)
    noise_field = rng.standard_normal((size, size))
    quantum_scale = rng.uniform(0.8, 1.2)

    half = size / 2
    pixels_per_unit = half * scale_draw
    flexion = _flexion(patient.site, view, flexion_draw)

    def to_image(points3: np.ndarray, group: str) -> np.ndarray:
        projected = _project(np.asarray(points3, dtype=float), beam, patient.side)
        if group == "forearm" and flexion:
            sign = -1.0 if patient.side == "L" else 1.0
            projected = _rotate_about(projected, np.array([0.0, 0.0]), sign * flexion)
        return projected

    bone_controls = [to_image(np.array(b.control_points), b.group) for b in patient.bones]
    tissue_controls = [to_image(np.array(t.control_points), t.group) for t in patient.soft_tissue]

    # Place the limb; then shift it so that visible fractures sit well inside the frame.
    pose = Pose(rotation, pixels_per_unit, (half * (1 + shift_draw[0]), half * (1 + shift_draw[1])))
    bones_by_name = {b.name: i for i, b in enumerate(patient.bones)}
    visible = visible_fractures(patient, view)
    fracture_centres = np.empty((0, 2))
    if visible:
        centres = np.array([pose.apply(_bezier(bone_controls[bones_by_name[f.bone]],
                                               np.array([f.position])))[0] for f in visible])
        low, high = SAFE_MARGIN * size, (1 - SAFE_MARGIN) * size
        move = np.clip(centres.min(axis=0), low, None) - centres.min(axis=0)
        move += np.clip(centres.max(axis=0) + move, None, high) - (centres.max(axis=0) + move)
        pose = Pose(rotation, pixels_per_unit, (pose.centre[0] + move[0], pose.centre[1] + move[1]))
        fracture_centres = centres + move

    bone_px = [pose.apply(c) for c in bone_controls]
    tissue_px = [pose.apply(c) for c in tissue_controls]
    yy, xx = np.mgrid[0:size, 0:size].astype(float) + 0.5

    # Soft tissue, with uneven thickness and the odd skin fold (a lucent line that is no fracture).
    soft = _soft_tissue_length(size, patient.soft_tissue, tissue_px, beam, pixels_per_unit)
    soft *= 1 + 0.06 * skin_texture
    if skin_fold_draws[0] < look.skin_fold_probability:
        a = skin_fold_draws[1] * math.pi
        offset = (skin_fold_draws[2] - 0.5) * size * 0.6
        dist = (xx - half) * math.cos(a) + (yy - half) * math.sin(a) - offset
        soft *= _gap_factor(dist, 1.5 * size / 256, 0.25)
    if draw_fractures:
        # Soft-tissue swelling (haematoma) over each fracture, a few bone widths across.
        for centre in fracture_centres:
            spread = 0.12 * pixels_per_unit
            bump = np.exp(-((xx - centre[0]) ** 2 + (yy - centre[1]) ** 2) / (2 * spread**2))
            soft += look.swelling * bump * np.clip(soft / 0.1, 0, 1)
    attenuation = MU_SOFT * soft
    bone_path = np.zeros_like(attenuation)

    line_width = max(look.line_width * half, 1.0)
    labels: list[tuple[int, np.ndarray]] = []
    fractures_by_bone = {f.bone: f for f in visible} if draw_fractures else {}
    for bone, control in zip(patient.bones, bone_px, strict=True):
        geometry = _bone_geometry(bone, control, pixels_per_unit)
        fracture_spec = fractures_by_bone.get(bone.name)
        fracture = None
        if fracture_spec is not None:
            fracture = _fracture_geometry(fracture_spec, geometry, beam, look, line_width)
        box = _bone_box(geometry, fracture, size)
        if box is None:
            continue
        y0, y1, x0, x1 = box
        sub_x, sub_y = xx[y0:y1, x0:x1].ravel(), yy[y0:y1, x0:x1].ravel()
        sub_texture = texture[y0:y1, x0:x1].ravel()
        if fracture is None:
            bone_att = _bone_attenuation(sub_x, sub_y, geometry, sub_texture, pixels_per_unit)
        else:
            bone_att = _fractured_bone_attenuation(sub_x, sub_y, geometry, fracture, sub_texture,
                                                   pixels_per_unit)
        if patient.maturity_draw < look.growth_plate_share and bone.long_bone:
            bone_att *= _physis_factor(sub_x, sub_y, geometry, 0.012 * size)
        attenuation[y0:y1, x0:x1] += bone_att.reshape(y1 - y0, x1 - x0)
        bone_path[y0:y1, x0:x1] += bone_att.reshape(y1 - y0, x1 - x0)
        if fracture is not None:
            polygon = fracture.polygon(margin=max(3.0, 0.15 * geometry.radius_at(0.5)))
            polygon = clip_polygon_to_box(polygon / size, 0.0, 1.0)
            if len(polygon) >= 3:
                labels.append((SITE_NAMES.index(patient.site), _at_least_four_vertices(polygon)))

    # Exposure: attenuation -> brightness (bone white, air dark), then the detector's response.
    image = 1 - np.exp(-exposure * attenuation)
    gx, gy = (xx - half) / half, (yy - half) / half
    image = background + (0.97 - background) * image
    image *= 1 - heel * (0.5 + 0.5 * (gx * math.cos(heel_angle) + gy * math.sin(heel_angle)))
    image = np.clip(image, 0, 1) ** gamma

    if collimation_draws[0] < config.collimation_probability:
        image = _collimate(image, collimation_draws[1:], xx, yy, size)
    if marker_draws[0] < config.marker_probability:
        _burn_marker(image, patient.side, marker_draws[1:], fracture_centres, size)

    image = ndimage.gaussian_filter(image, look.blur * half)
    # Quantum noise: its spread grows with the signal (photon counts), plus a detector floor.
    noise = look.noise * quantum_scale * (np.sqrt(np.clip(image, 0, 1)) + 0.15)
    image = image + noise * noise_field
    pixels = np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
    tissue = np.where(bone_path > 0.02, 2, np.where(soft > 0.02, 1, 0)).astype(np.uint8)
    return RenderedView(pixels, tuple(labels), tissue)


def _flexion(site: str, view: str, draw: float) -> float:
    """Elbow flexion (radians) of the forearm group: straight for AP/PA, bent for lateral."""
    if site != "elbow":
        return 0.0
    low, high = {"ap": (0, 12), "pa": (0, 12), "obl": (25, 50), "lat": (70, 100)}[view]
    return math.radians(low + (high - low) * draw)


def _fracture_geometry(spec: FractureSpec, geometry: BoneGeometry, beam: float,
                       look: Conspicuity, line_width: float) -> FractureGeometry:
    """Place a fracture on a bone in one view; what shows depends on the beam angle."""
    t = spec.position
    centre = _bezier(geometry.control, np.array([t]))[0]
    tangent = _bezier_tangent(geometry.control, t)
    across_bone = np.array([-tangent[1], tangent[0]])
    # Seen edge-on (beam in the fracture plane) the line is crisp; tilted away it smears out.
    visibility = abs(math.cos(beam - spec.plane_angle))
    obliquity = spec.obliquity * (0.4 + 0.6 * visibility)
    c, s = math.cos(obliquity), math.sin(obliquity)
    along = c * across_bone + s * tangent
    normal = np.array([along[1], -along[0]])
    if float(normal @ tangent) < 0:
        normal = -normal
    radius = geometry.radius_at(t)
    # Tilted away from the beam, the line is wider and fainter.
    tilt = (1 - visibility) / (1 - MIN_VISIBILITY)
    width = line_width * (0.8 + 0.4 * spec.conspicuity_draw) * (1 + 0.4 * tilt)
    depth = min(1.0, look.line_depth * (0.85 + 0.3 * spec.conspicuity_draw) * (1 - 0.3 * tilt))

    shift = np.zeros(2)
    if spec.displacement_draw < look.displacement_probability:
        magnitude = look.displacement_max * radius * (0.3 + 0.7 * spec.displacement_size_draw)
        # A sideways shift projects with the cosine of the beam angle; fragments are rarely
        # aligned in any projection, hence the floor.
        shift = across_bone * magnitude * _projected(beam - spec.displacement_angle)
        # Overriding fragments shorten the bone: a dense overlap band, seen in every view.
        shift = shift - tangent * look.shortening * magnitude
    angulation = 0.0
    if spec.angulation_draw < look.angulation_probability:
        angulation = (look.angulation_max * (0.3 + 0.7 * spec.angulation_size_draw)
                      * _projected(beam - spec.angulation_angle))
    extra_lines: list[tuple[np.ndarray, np.ndarray]] = []
    if spec.comminution_draw < look.comminution_probability:
        for offset, angle, length in spec.comminution_lines:
            start = centre + along * offset * radius
            direction = _rotate_about(tangent[None] * (1 if angle >= 0 else -1), np.zeros(2),
                                      angle * 0.8)[0]
            extra_lines.append((start, start + direction * length * radius))
    half_length = radius / max(math.cos(obliquity), 0.3)
    return FractureGeometry(
        centre=centre, along=along, normal=normal, half_length=half_length, width=width,
        depth=depth, shift=shift, angulation=angulation,
        jag_amplitude=0.12 * radius, jag_frequencies=spec.jag_frequencies,
        jag_phases=spec.jag_phases, extra_lines=tuple(extra_lines),
    )


def _projected(angle: float, floor: float = 0.5) -> float:
    """Cosine of ``angle``, pushed away from zero: how much of an offset a view shows."""
    cosine = math.cos(angle)
    return math.copysign(max(abs(cosine), floor), cosine)


def _bone_box(geometry: BoneGeometry, fracture: FractureGeometry | None,
              size: int) -> tuple[int, int, int, int] | None:
    """Pixel box (y0, y1, x0, x1) holding the bone and any moved fragment; None if off-image."""
    points = geometry.vertices
    if fracture is not None:
        points = np.concatenate([points, fracture.from_fragment(points)])
    pad = geometry.max_radius + 2
    x0 = max(math.floor(points[:, 0].min() - pad), 0)
    x1 = min(math.ceil(points[:, 0].max() + pad), size)
    y0 = max(math.floor(points[:, 1].min() - pad), 0)
    y1 = min(math.ceil(points[:, 1].max() + pad), size)
    if x0 >= x1 or y0 >= y1:
        return None
    return y0, y1, x0, x1


def _physis_factor(px: np.ndarray, py: np.ndarray, geometry: BoneGeometry,
                   width: float) -> np.ndarray:
    """Open growth plates: smooth lucent bands across both ends of a long bone."""
    factor = np.ones_like(px)
    for t in (0.07, 0.93):
        centre = _bezier(geometry.control, np.array([t]))[0]
        tangent = _bezier_tangent(geometry.control, t)
        across = (px - centre[0]) * tangent[0] + (py - centre[1]) * tangent[1]
        along = (px - centre[0]) * -tangent[1] + (py - centre[1]) * tangent[0]
        # Gently wavy, as real physes are.
        wave = 0.15 * geometry.radius_at(t) * np.cos(along / max(geometry.radius_at(t), 1) * 2.5)
        factor *= _gap_factor(across + wave, width, 0.4)
    return factor


def _collimate(image: np.ndarray, draws: np.ndarray, xx: np.ndarray, yy: np.ndarray,
               size: int) -> np.ndarray:
    """Darken everything outside a slightly rotated collimator rectangle."""
    half = size / 2
    angle = (draws[0] - 0.5) * math.radians(10)
    c, s = math.cos(angle), math.sin(angle)
    u = (xx - half) * c + (yy - half) * s
    v = -(xx - half) * s + (yy - half) * c
    inset = 0.02 + 0.1 * draws[1:5]  # left, right, top, bottom, as fractions of the side
    inside = ((u > (-0.5 + inset[0]) * size) & (u < (0.5 - inset[1]) * size)
              & (v > (-0.5 + inset[2]) * size) & (v < (0.5 - inset[3]) * size))
    return np.where(inside, image, 0.25 * image)


def _burn_marker(image: np.ndarray, side: str, draws: np.ndarray, avoid: np.ndarray,
                 size: int) -> None:
    """Burn a boxed L/R marker into the corner farthest from the ``avoid`` points (in place).

    The points are the fracture centres (pixels) whether or not fractures are drawn, so the
    marker sits in the same place in an image and its fracture-free twin.
    """
    glyph = _marker_glyph(side)
    cell = max(1, round(size / 110))
    bitmap = np.kron(glyph, np.ones((cell, cell)))
    h, w = bitmap.shape
    frame = np.zeros((h + 4 * cell, w + 4 * cell))
    frame[2 * cell: 2 * cell + h, 2 * cell: 2 * cell + w] = bitmap
    frame[:cell, :] = frame[-cell:, :] = frame[:, :cell] = frame[:, -cell:] = 1.0
    fh, fw = frame.shape
    inset = int(size * (0.03 + 0.04 * draws[0]))
    corners = [(inset, inset), (inset, size - inset - fw), (size - inset - fh, inset),
               (size - inset - fh, size - inset - fw)]
    targets = list(avoid) or [np.array([size / 2, size / 2])]
    order = int(draws[1] * 4)
    # Farthest from every fracture; ties (no fracture: all corners alike) broken at random.
    scores = [min(float(np.hypot(x + fw / 2 - t[0], y + fh / 2 - t[1])) for t in targets)
              for y, x in corners]
    best = max(range(4), key=lambda i: (round(scores[i], 6), (i - order) % 4 == 0))
    y, x = corners[best]
    region = image[y: y + fh, x: x + fw]
    image[y: y + fh, x: x + fw] = np.maximum(region, 0.93 * frame + (1 - frame) * region)


# --------------------------------------------------------------------------------------------
# The dataset on disk
# --------------------------------------------------------------------------------------------


def assign_splits(patients: Sequence[PatientSpec], config: SynthConfig) -> dict[str, str]:
    """Split patients into train/valid/test, separately for fractured and normal patients.

    Parameters
    ----------
    patients : sequence of PatientSpec
    config : SynthConfig
        ``seed`` and ``split_fractions`` are used.

    Returns
    -------
    dict
        Patient id -> split name.

    Raises
    ------
    ValueError
        If fractured or normal patients are too few to put at least one in every split.
    """
    rng = np.random.default_rng(np.random.SeedSequence(config.seed, spawn_key=(1,)))
    _, valid_fraction, test_fraction = config.split_fractions
    splits: dict[str, str] = {}
    for fractured in (True, False):
        group = [p.patient_id for p in patients if p.fractured == fractured]
        n = len(group)
        n_valid = max(1, round(valid_fraction * n))
        n_test = max(1, round(test_fraction * n))
        if n - n_valid - n_test < 1:
            kind = "fractured" if fractured else "normal"
            raise ValueError(
                f"n_patients={config.n_patients} gives only {n} {kind} patients, too few to put"
                " one in each of train, valid and test; increase n_patients")
        order = rng.permutation(n)
        for rank, i in enumerate(order):
            split = "valid" if rank < n_valid else "test" if rank < n_valid + n_test else "train"
            splits[group[i]] = split
    return splits


def format_label(labels: Sequence[tuple[int, np.ndarray]], trailing_newline: bool) -> str:
    """YOLO segmentation label text: ``cls x1 y1 ... xn yn`` per line, 6 decimals."""
    lines = [" ".join([str(class_id), *(f"{v:.6f}" for v in polygon.ravel())])
             for class_id, polygon in labels]
    text = "\n".join(lines)
    return text + "\n" if text and trailing_newline else text


def data_yaml_text(config: SynthConfig) -> str:
    """The Roboflow-style ``data.yaml`` (fixed key order, byte-stable)."""
    names = ", ".join(f"'{n}'" for n in SITE_NAMES)
    return (
        f"# generated by `fraclab synth` (seed={config.seed}, n_patients={config.n_patients},"
        f" size={config.size}, difficulty={config.difficulty}); see synth.json\n"
        "train: ../train/images\n"
        "val: ../valid/images\n"
        "test: ../test/images\n"
        "\n"
        f"nc: {len(SITE_NAMES)}\n"
        f"names: [{names}]\n"
    )


def provenance(config: SynthConfig) -> dict[str, object]:
    """What ``synth.json`` holds: the generator version and the full config."""
    return {"generator": GENERATOR_VERSION, "config": dataclasses.asdict(config)}


def image_name(patient: PatientSpec, view: str) -> str:
    """Unique file name of a view, e.g. ``P00012_wrist_lat.png``."""
    return f"{patient.patient_id}_{patient.site}_{view}.png"


def _write_png(path: Path, pixels: np.ndarray) -> None:
    # Fixed settings and no metadata (no pnginfo, no timestamps): byte-stable output.
    # Level 3: within 15 % of the smallest file at a third of level 6's time (noisy images).
    Image.fromarray(pixels).save(path, format="PNG", compress_level=3)


def generate_dataset(out_dir: Path, config: SynthConfig) -> str:
    """Write the synthetic dataset to ``out_dir`` in Roboflow YOLOv8 export layout.

    The dataset is built in a temporary sibling directory and renamed into place at the end,
    so an interrupted run never leaves a half-written ``out_dir``.

    Parameters
    ----------
    out_dir : Path
        Must not exist, or be an empty directory.
    config : SynthConfig

    Returns
    -------
    str
        A one-paragraph summary (image counts per split, fractured share).

    Raises
    ------
    FileExistsError
        If ``out_dir`` exists and is not an empty directory.
    ValueError
        If the patients cannot be split (see `assign_splits`).
    """
    out_dir = Path(out_dir)
    if out_dir.exists() and (not out_dir.is_dir() or any(out_dir.iterdir())):
        raise FileExistsError(f"{out_dir} exists and is not an empty directory")
    patients = [sample_patient(config, k) for k in range(config.n_patients)]
    splits = assign_splits(patients, config)

    out_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out_dir.name}.", dir=out_dir.parent))
    try:
        for split in SPLIT_NAMES:
            (staging / split / "images").mkdir(parents=True)
            (staging / split / "labels").mkdir(parents=True)
        rows = []
        counts = {s: [0, 0] for s in SPLIT_NAMES}  # images, fractured images
        for patient in patients:
            split = splits[patient.patient_id]
            for view in patient.views:
                rendered = render_view(patient, view, config)
                name = image_name(patient, view)
                _write_png(staging / split / "images" / name, rendered.image)
                trailing_newline = _label_newline(config.seed, patient.index, view)
                label = format_label(rendered.labels, trailing_newline)
                (staging / split / "labels" / f"{Path(name).stem}.txt").write_bytes(
                    label.encode("ascii"))
                fractured = int(bool(rendered.labels))
                rows.append((name, split, patient.patient_id, patient.site, view, fractured))
                counts[split][0] += 1
                counts[split][1] += fractured
        with open(staging / "meta.csv", "w", newline="", encoding="ascii") as f:
            writer = csv.writer(f, lineterminator="\n")
            writer.writerow(META_COLUMNS)
            writer.writerows(rows)
        (staging / "data.yaml").write_text(data_yaml_text(config), encoding="ascii")
        (staging / "synth.json").write_text(json.dumps(provenance(config), indent=2) + "\n",
                                            encoding="ascii")
        os.chmod(staging, 0o755)  # mkdtemp makes it private; a dataset is meant to be shared
        if out_dir.exists():
            out_dir.rmdir()
        os.replace(staging, out_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise

    n_images = sum(c[0] for c in counts.values())
    n_fractured = sum(c[1] for c in counts.values())
    per_split = ", ".join(f"{s} {counts[s][0]} ({counts[s][1]} fractured)" for s in SPLIT_NAMES)
    return (f"Wrote {n_images} synthetic radiographs of {len(patients)} patients to {out_dir}: "
            f"{per_split}; {100 * n_fractured / max(n_images, 1):.1f}% fractured "
            f"(seed={config.seed}, size={config.size}, difficulty={config.difficulty}).")


def _label_newline(seed: int, patient_index: int, view: str) -> bool:
    """Whether a label file ends with a newline; about a third do not, as in Roboflow exports."""
    rng = np.random.default_rng(np.random.SeedSequence(
        seed, spawn_key=(2, patient_index, VIEW_NAMES.index(view))))
    return bool(rng.random() >= 1 / 3)
