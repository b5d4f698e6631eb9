"""Scores of a saliency map against the true fracture boxes of one image, and the chance
baselines they are read against.

Every function takes one map (a 2-D float array in the image's own pixels, signed: positive
means "evidence for fracture") and the image's true boxes as ``(x1, y1, x2, y2)`` pixel
corners, and returns a float; NaN where the score is undefined for that image (e.g. no
positive attribution at all). The scores follow cheXlocalize (Saporta et al. 2022) and the
pointing game (Zhang et al. 2018):

- :func:`pointing_hit`: 1.0 when the map's maximum lies inside a box grown by a tolerance;
- :func:`energy_in_boxes`: the share of positive attribution that falls inside the boxes;
- :func:`otsu_iou`: IoU between the map thresholded by Otsu's method and the union of boxes.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

Box = tuple[float, float, float, float]


def _check_map(saliency: ArrayLike) -> NDArray[np.float64]:
    values = np.asarray(saliency, dtype=np.float64)
    if values.ndim != 2 or values.size == 0:
        raise ValueError(f"a saliency map must be a non-empty 2-D array, got shape "
                         f"{values.shape}")
    if not np.all(np.isfinite(values)):
        raise ValueError("a saliency map must be finite")
    return values


def box_mask(shape: tuple[int, int], boxes: Sequence[Box], grow: float = 0.0) -> NDArray[np.bool_]:
    """Pixels (row, column) of an image of ``shape`` whose centres lie inside any box grown by
    ``grow`` pixels on every side."""
    height, width = shape
    rows = np.arange(height)[:, None] + 0.5
    cols = np.arange(width)[None, :] + 0.5
    mask = np.zeros(shape, dtype=bool)
    for x1, y1, x2, y2 in boxes:
        if not (x2 > x1 and y2 > y1):
            raise ValueError(f"a box needs x2 > x1 and y2 > y1, got {(x1, y1, x2, y2)}")
        mask |= ((cols >= x1 - grow) & (cols <= x2 + grow)
                 & (rows >= y1 - grow) & (rows <= y2 + grow))
    return mask


def pointing_hit(saliency: ArrayLike, boxes: Sequence[Box], tolerance: float = 15.0) -> float:
    """1.0 when the map's maximum (the first, in row-major order, on ties) lies within
    ``tolerance`` pixels of a box, else 0.0; NaN without boxes."""
    values = _check_map(saliency)
    if not boxes:
        return float("nan")
    row, col = np.unravel_index(int(np.argmax(values)), values.shape)
    inside = box_mask(values.shape, boxes, grow=tolerance)[row, col]
    return float(inside)


def energy_in_boxes(saliency: ArrayLike, boxes: Sequence[Box]) -> float:
    """Sum of the map's positive part inside the boxes over its sum everywhere; NaN without
    boxes or without any positive attribution."""
    values = _check_map(saliency)
    positive = np.clip(values, 0.0, None)
    total = positive.sum()
    if not boxes or total <= 0:
        return float("nan")
    return float(positive[box_mask(values.shape, boxes)].sum() / total)


def otsu_threshold(values: ArrayLike, bins: int = 256) -> float:
    """Otsu's threshold of ``values``: the cut between histogram bins that maximises the
    between-class variance (Otsu 1979). A constant input returns its value."""
    flat = np.asarray(values, dtype=np.float64).ravel()
    low, high = float(flat.min()), float(flat.max())
    if high <= low:
        return low
    counts, edges = np.histogram(flat, bins=bins, range=(low, high))
    centres = (edges[:-1] + edges[1:]) / 2
    weight_low = np.cumsum(counts)[:-1]
    weight_high = flat.size - weight_low
    mass = np.cumsum(counts * centres)
    mean_low = mass[:-1] / np.maximum(weight_low, 1)
    mean_high = (mass[-1] - mass[:-1]) / np.maximum(weight_high, 1)
    between = weight_low * weight_high * (mean_low - mean_high) ** 2
    return float(edges[1:-1][int(np.argmax(between))])


def otsu_iou(saliency: ArrayLike, boxes: Sequence[Box]) -> float:
    """IoU between {map > Otsu threshold of its positive part} and the union of boxes; NaN
    without boxes or without any positive attribution."""
    values = _check_map(saliency)
    positive = np.clip(values, 0.0, None)
    if not boxes or positive.max() <= 0:
        return float("nan")
    predicted = positive > otsu_threshold(positive)
    truth = box_mask(values.shape, boxes)
    union = np.logical_or(predicted, truth).sum()
    return float(np.logical_and(predicted, truth).sum() / union)


def uniform_random_map(shape: tuple[int, int], rng: np.random.Generator) -> NDArray[np.float64]:
    """A map of independent U(0, 1) values: what a map that knows nothing scores."""
    return rng.random(shape)


def centre_prior_map(shape: tuple[int, int], width: float = 0.25) -> NDArray[np.float64]:
    """An isotropic Gaussian at the image centre with SD ``width`` x the shorter side: what
    "fractures are near the middle" scores without looking at the image."""
    height, width_px = shape
    rows = np.arange(height)[:, None] + 0.5 - height / 2
    cols = np.arange(width_px)[None, :] + 0.5 - width_px / 2
    sd = width * min(shape)
    return np.exp(-(rows ** 2 + cols ** 2) / (2 * sd ** 2))


def box_centre_map(shape: tuple[int, int], box: Box) -> NDArray[np.float64]:
    """A map peaking at the centre of one box (e.g. the detector's top box), falling off over
    the box's size: the detector's answer in the form the scores take."""
    x1, y1, x2, y2 = box
    rows = np.arange(shape[0])[:, None] + 0.5 - (y1 + y2) / 2
    cols = np.arange(shape[1])[None, :] + 0.5 - (x1 + x2) / 2
    sx, sy = max((x2 - x1) / 2, 1.0), max((y2 - y1) / 2, 1.0)
    return np.exp(-((cols / sx) ** 2 + (rows / sy) ** 2) / 2)


def rank_correlation(a: ArrayLike, b: ArrayLike) -> float:
    """Spearman's rank correlation of two maps' values (average ranks for ties); NaN when
    either map is constant."""
    from scipy.stats import spearmanr

    x = np.asarray(a, dtype=np.float64).ravel()
    y = np.asarray(b, dtype=np.float64).ravel()
    if x.shape != y.shape:
        raise ValueError(f"maps differ in size: {x.size} and {y.size} values")
    if np.ptp(x) == 0 or np.ptp(y) == 0:
        return float("nan")
    return float(spearmanr(x, y).statistic)
