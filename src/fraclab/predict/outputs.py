"""What `fraclab predict` reads and writes: the inputs it expands and the files it leaves.

``OUT/predictions.csv`` (one row for every input, ``status`` ok or error), ``predictions.jsonl``
(everything, boxes included), ``overlays/<n>_<name>.png`` (the image with its boxes and
decision), ``index.html`` (a self-contained page) and ``run.json`` (arguments, bundle hash,
versions, timing).
"""

from __future__ import annotations

import base64
import csv
import dataclasses
import glob
import html
import io
import json
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np

from fraclab.predict.predictor import Prediction

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".dcm", ".dicom"}
CSV_COLUMNS = ("source", "status", "error", "probability", "fold_sd", "fold_min", "fold_max",
               "operating_point", "decision", "n_boxes", "boxes")


def expand_inputs(arguments: Iterable[str]) -> list[Path]:
    """Files as given; folders searched recursively for image and DICOM files (DICOM often
    has no suffix, so files without one are taken too); globs expanded. Sorted within each
    argument, in argument order, without repeats."""
    found: list[Path] = []
    for argument in arguments:
        path = Path(argument)
        if path.is_dir():
            found += sorted(p for p in path.rglob("*") if p.is_file()
                            and not p.name.startswith(".")
                            and (p.suffix.lower() in IMAGE_SUFFIXES or not p.suffix))
        elif path.exists() or not glob.has_magic(argument):
            found.append(path)  # a missing file gets its own error row
        else:
            found += sorted(Path(p) for p in glob.glob(argument, recursive=True)
                            if Path(p).is_file())
    seen: set[Path] = set()
    return [p for p in found if not (p in seen or seen.add(p))]


def csv_row(p: Prediction) -> dict[str, Any]:
    d = p.as_dict()
    return {**{k: d.get(k) for k in CSV_COLUMNS[:-2]}, "n_boxes": len(p.boxes),
            "boxes": ";".join(f"{b.label} {b.confidence:.3f} {b.x1:.1f} {b.y1:.1f} "
                              f"{b.x2:.1f} {b.y2:.1f}" for b in p.boxes)}


class OutputWriter:
    """Writes each prediction as it comes (nothing is held but the index's rows)."""

    def __init__(self, out_dir: Path, overlays: bool = True, explain: bool = False) -> None:
        self.out_dir = out_dir
        out_dir.mkdir(parents=True, exist_ok=True)
        self._csv_file = (out_dir / "predictions.csv").open("w", newline="")
        self._csv = csv.DictWriter(self._csv_file, CSV_COLUMNS, lineterminator="\n")
        self._csv.writeheader()
        self._jsonl = (out_dir / "predictions.jsonl").open("w")
        self.overlays = overlays
        if overlays:
            (out_dir / "overlays").mkdir(exist_ok=True)
        self.explain = explain
        if explain:
            (out_dir / "explain").mkdir(exist_ok=True)
        self.rows: list[tuple[Prediction, str]] = []
        self.count = 0

    def write(self, prediction: Prediction) -> None:
        self._csv.writerow(csv_row(prediction))
        self._jsonl.write(json.dumps(prediction.as_dict()) + "\n")
        overlay = ""
        if self.overlays and prediction.status == "ok" and Path(prediction.source).is_file():
            name = f"{self.count:05d}_{Path(prediction.source).stem}.png"
            draw_overlay(prediction).save(self.out_dir / "overlays" / name)
            overlay = f"overlays/{name}"
        if self.explain and prediction.saliency is not None:
            name = f"{self.count:05d}_{Path(prediction.source).stem}.png"
            draw_explanation(prediction).save(self.out_dir / "explain" / name)
        # Kept for index.html without its pixels, so memory stays flat.
        self.rows.append((dataclasses.replace(prediction, image=None), overlay))
        self.count += 1

    def close(self, run: dict[str, Any]) -> None:
        self._csv_file.close()
        self._jsonl.close()
        (self.out_dir / "run.json").write_text(json.dumps(run, indent=2) + "\n")
        (self.out_dir / "index.html").write_text(index_html(self.rows, self.out_dir, run))


def _gray(prediction: Prediction) -> np.ndarray:
    from fraclab.data.images import full_resolution_gray

    return (prediction.image if prediction.image is not None
            else np.asarray(full_resolution_gray(Path(prediction.source))))


def _framed(image: Any, prediction: Prediction, side: int, header: str, labels: bool,
            resample: Any = None) -> Any:
    """``image`` scaled so its longer side is ``side``, with the prediction's boxes (and
    their labels) and a one-line ``header``."""
    from PIL import ImageDraw

    scale = side / max(image.size)
    image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                         resample)
    draw = ImageDraw.Draw(image)
    for b in prediction.boxes:
        draw.rectangle([b.x1 * scale, b.y1 * scale, b.x2 * scale, b.y2 * scale],
                       outline=(255, 64, 64), width=2)
        if labels:
            draw.text((b.x1 * scale + 2, b.y1 * scale + 2), f"{b.label} {b.confidence:.2f}",
                      fill=(255, 64, 64))
    draw.rectangle([0, 0, image.width, 16], fill=(0, 0, 0))
    draw.text((4, 2), header, fill=(255, 255, 0))
    return image


def draw_overlay(prediction: Prediction, side: int = 512) -> Any:
    """The image (grayscale as RGB, longer side ``side``) with its boxes and the decision."""
    from PIL import Image

    verdict = "FRACTURE" if prediction.decision else "no fracture"
    return _framed(Image.fromarray(_gray(prediction), mode="L").convert("RGB"), prediction,
                   side, f"{verdict}  p = {prediction.probability:.3f} "
                         f"({prediction.operating_point})", labels=True)


def draw_explanation(prediction: Prediction, side: int = 512) -> Any:
    """The image with the ensemble's positive Grad-CAM blended in where the decision is
    positive (a negative decision shows the image and says so), and the boxes."""
    from PIL import Image

    from fraclab.models.heatmaps import overlay

    caption = ("FRACTURE: Grad-CAM drawn" if prediction.decision
               else "no fracture: map not drawn")
    return _framed(overlay(_gray(prediction), prediction.saliency, bool(prediction.decision)),
                   prediction, side, f"{caption}  p = {prediction.probability:.3f}",
                   labels=False, resample=Image.Resampling.BILINEAR)


def index_html(rows: list[tuple[Prediction, str]], out_dir: Path, run: dict[str, Any]) -> str:
    """A self-contained page: thumbnails inline as PNG data, no script, no URL."""
    from PIL import Image

    body = []
    for p, overlay in rows:
        thumb = ""
        if overlay:
            with Image.open(out_dir / overlay) as image:
                image.thumbnail((160, 160))
                buffer = io.BytesIO()
                image.save(buffer, "PNG")
            thumb = (f'<img alt="{html.escape(p.source)}" src="data:image/png;base64,'
                     f'{base64.b64encode(buffer.getvalue()).decode()}">')
        verdict = ("" if p.status != "ok" else "fracture" if p.decision else "no fracture")
        detail = (html.escape(p.error) if p.status != "ok" else
                  f"{p.probability:.3f}" + (f" (fold SD {p.fold_sd:.3f})" if p.fold_sd else ""))
        boxes = ", ".join(f"{b.label} {b.confidence:.2f}" for b in p.boxes)
        body.append(f"<tr><td>{thumb}</td><td>{html.escape(p.source)}</td>"
                    f"<td>{p.status}</td><td>{detail}</td><td>{verdict}</td>"
                    f"<td>{html.escape(boxes)}</td></tr>")
    return ("<!doctype html><html><head><meta charset='utf-8'><title>fraclab predictions"
            "</title><style>body{font-family:sans-serif}td{padding:4px;vertical-align:top}"
            "</style></head><body><h1>fraclab predictions</h1>"
            f"<p>{len(rows)} inputs; bundle {html.escape(str(run.get('model')))} "
            f"(sha256 {html.escape(str(run.get('bundle_sha256', ''))[:12])}); operating point "
            f"{html.escape(str(run.get('operating_point')))}. Research use only.</p>"
            "<table><tr><th></th><th>input</th><th>status</th><th>probability</th>"
            "<th>decision</th><th>boxes</th></tr>" + "".join(body) + "</table></body></html>")
