"""Heat-map overlays: the radiograph, the Grad-CAM map where the decision is positive, the
true boxes (green) and the detector's top box (red)."""

from __future__ import annotations

import io
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from fraclab.artifacts.manifest import ManifestImage
from fraclab.data.images import full_resolution_gray
from fraclab.evaluate.saliency import Box

SIDE = 384  # the longer side of a drawn figure, pixels


def overlay(gray: np.ndarray, saliency: np.ndarray, draw_map: bool) -> Image.Image:
    """RGB image: ``gray`` with the positive part of ``saliency`` blended in (inferno colour
    map, opacity rising with the value) when ``draw_map``."""
    from matplotlib import colormaps

    base = np.repeat(gray[..., None].astype(np.float64) / 255, 3, axis=2)
    if draw_map:
        positive = np.clip(saliency, 0, None)
        peak = positive.max()
        if peak > 0:
            weight = positive / peak
            colour = colormaps["inferno"](weight)[..., :3]
            alpha = 0.6 * weight[..., None]
            base = base * (1 - alpha) + colour * alpha
    return Image.fromarray((base * 255).round().astype(np.uint8), mode="RGB")


def heatmap_png(image: ManifestImage, saliency: np.ndarray, positive: bool,
                predicted: Sequence[Box]) -> bytes:
    """The overlay of one test image as PNG bytes, with a caption line on the decision."""
    gray = np.asarray(full_resolution_gray(Path(image.source_path)), dtype=np.uint8)
    picture = overlay(gray, saliency, positive)
    scale = SIDE / max(picture.size)
    picture = picture.resize((max(1, round(picture.width * scale)),
                              max(1, round(picture.height * scale))), Image.Resampling.BILINEAR)
    draw = ImageDraw.Draw(picture)
    for x1, y1, x2, y2 in image.boxes:
        draw.rectangle([x1 * scale, y1 * scale, x2 * scale, y2 * scale], outline=(0, 200, 0),
                       width=2)
    if predicted:
        x1, y1, x2, y2 = predicted[0]
        draw.rectangle([x1 * scale, y1 * scale, x2 * scale, y2 * scale], outline=(230, 30, 30),
                       width=2)
    caption = ("decision: fracture (map drawn)" if positive
               else "decision: no fracture (map not drawn)")
    draw.text((4, 4), caption, fill=(255, 255, 0))
    buffer = io.BytesIO()
    picture.save(buffer, format="PNG", optimize=False)
    return buffer.getvalue()
