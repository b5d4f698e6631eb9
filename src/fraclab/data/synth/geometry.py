"""Geometry of one view: projection and pose, bone centrelines and profiles, X-ray attenuation
of intact and fractured bone, fracture planes and the label polygons (hull, clipping).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from fraclab.data.synth.anatomy import Bone

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
