"""Rendering one view: difficulty-dependent conspicuity, which fractures a view shows, and
`render_view` (exposure, noise, collimation, side marker) producing a `RenderedView`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import ndimage

from fraclab.data.synth.anatomy import SITE_TEMPLATES, FractureSpec, PatientSpec, SoftTissue
from fraclab.data.synth.config import (
    MIN_VISIBILITY,
    SAFE_MARGIN,
    SITE_NAMES,
    VIEW_ANGLES,
    VIEW_NAMES,
    SynthConfig,
)
from fraclab.data.synth.geometry import (
    MU_SOFT,
    BoneGeometry,
    FractureGeometry,
    Pose,
    _at_least_four_vertices,
    _bezier,
    _bezier_tangent,
    _bone_attenuation,
    _bone_geometry,
    _fractured_bone_attenuation,
    _gap_factor,
    _nearest_on_polyline,
    _project,
    _rotate_about,
    clip_polygon_to_box,
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

    Piecewise linear through four anchors:

    - 0: glaring (very wide gaps, fragments shifted by up to three bone widths, marked
      swelling, clean images);
    - 0.25: the default. Chosen so that the default pipeline learns within its CPU budget:
      ResNet18 from scratch at 64 px reaches a pooled out-of-fold AUROC near 0.9 in 12 epochs
      (0.93 measured) and YOLOv8n from scratch at 128 px a val mAP@0.5 near 0.6 in 10 epochs;
    - 0.5: subtle (narrow gaps, moderate swelling). A small CNN trained from scratch at 128 px
      reaches a test AUROC near 0.8 (``benchmarks/synth_difficulty.py``), but ResNet18 at 64 px
      only 0.71 in 20 epochs and YOLOv8n a val mAP@0.5 of 0.04 in 8;
    - 1: thin, faint, undisplaced lines on noisy images, with more fracture mimics.
    """
    knots = (0.0, 0.25, 0.5, 1.0)

    def anchors(glaring: float, default: float, subtle: float, hard: float) -> float:
        return float(np.interp(difficulty, knots, (glaring, default, subtle, hard)))

    return Conspicuity(
        line_depth=anchors(1.0, 1.0, 1.0, 0.35),
        line_width=anchors(0.3, 0.22, 0.07, 0.012),
        displacement_probability=anchors(1.0, 1.0, 1.0, 0.1),
        displacement_max=anchors(6.0, 5.0, 2.5, 0.3),
        angulation_probability=anchors(1.0, 1.0, 0.9, 0.05),
        angulation_max=math.radians(anchors(50.0, 50.0, 40.0, 5.0)),
        comminution_probability=anchors(0.9, 0.9, 0.7, 0.05),
        shortening=anchors(0.5, 0.5, 0.5, 0.1),
        swelling=anchors(2.2, 1.6, 0.4, 0.0),
        growth_plate_share=anchors(0.02, 0.02, 0.1, 0.35),
        skin_fold_probability=anchors(0.02, 0.02, 0.1, 0.3),
        noise=anchors(0.005, 0.005, 0.008, 0.045),
        blur=anchors(0.0025, 0.0025, 0.003, 0.008),
    )


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
