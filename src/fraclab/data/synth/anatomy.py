"""Anatomy and patients: bones, soft tissue and fracture sites per anatomical site (the
``SITE_TEMPLATES``), and the seeded sampling of a patient and its fractures (`sample_patient`).
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from fraclab.data.synth.config import SITE_NAMES, VIEW_NAMES, SynthConfig

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
