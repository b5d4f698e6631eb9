"""Plot files for `dvc plots`: per-epoch curves, per-class AP@0.5, PR points, drawn test images."""

from __future__ import annotations

import csv
import io
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

TRUE_COLOUR, PREDICTED_COLOUR = (0, 200, 0), (230, 40, 40)


def _csv(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(header)
    writer.writerows([f"{v:.6g}" if isinstance(v, float) else v for v in row] for row in rows)
    return buffer.getvalue()


def curve_files(epochs: list[dict[str, float]]) -> dict[str, str]:
    """``train_loss.csv``, ``val_loss.csv`` (total and parts) and ``val_map.csv`` per epoch."""
    files = {}
    for split in ("train", "val"):
        parts = [f"{split}_{p}_loss" for p in ("box", "cls", "dfl")]
        files[f"{split}_loss.csv"] = _csv(
            ("epoch", "loss", "box", "cls", "dfl"),
            [(int(e["epoch"]), sum(e[p] for p in parts), *(e[p] for p in parts))
             for e in epochs])
    files["val_map.csv"] = _csv(
        ("epoch", "map50", "map50_95", "precision", "recall"),
        [(int(e["epoch"]), e["val_map50"], e["val_map50_95"], e["val_precision"],
          e["val_recall"]) for e in epochs])
    return files


def ap50_file(per_split: dict[str, dict]) -> str:
    """``ap50_per_class.csv``: one bar per class and split (classes with boxes in that split)."""
    rows = [(f"{name} ({split})", name, split, values["map50"])
            for split, summary in per_split.items()
            for name, values in summary["per_class"].items() if values["map50"] is not None]
    return _csv(("label", "class", "split", "ap50"), rows)


def pr_file(points: list[tuple[float, float]]) -> str:
    """``pr_<split>.csv``: the mean precision-recall curve at IoU 0.5."""
    return _csv(("recall", "precision"), points)


Box = tuple[int, float, float, float, float]  # class, x0, y0, x1, y1


def yolo_boxes(label: Path, width: int, height: int) -> list[Box]:
    """(class, x0, y0, x1, y1) in pixels from a YOLO box label file (absent file: no boxes)."""
    if not label.is_file():
        return []
    boxes = []
    for line in label.read_text().splitlines():
        if line.strip():
            k, *xywh = line.split()[:5]
            cx, cy, w, h = (float(v) * side for v, side in zip(xywh, (width, height) * 2,
                                                                strict=True))
            boxes.append((int(k), cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2))
    return boxes


def draw_boxes(image: Path, truth: list, predicted: list, names: Sequence[str]) -> Image.Image:
    """The image with true boxes (green, class) and predicted boxes (red, class and confidence)."""
    canvas = Image.open(image).convert("RGB")
    scale = max(1, 384 // max(canvas.size))  # small radiographs: enlarge so labels stay legible
    canvas = canvas.resize((canvas.width * scale, canvas.height * scale), Image.NEAREST)
    draw = ImageDraw.Draw(canvas)
    for k, *xyxy in truth:
        box = [v * scale for v in xyxy]
        draw.rectangle(box, outline=TRUE_COLOUR, width=2)
        draw.text((box[0] + 2, box[3] + 1), f"true {names[k]}", fill=TRUE_COLOUR)
    for k, conf, *xyxy in predicted:
        box = [v * scale for v in xyxy]
        draw.rectangle(box, outline=PREDICTED_COLOUR, width=2)
        draw.text((box[0] + 2, max(0, box[1] - 11)), f"{names[k]} {conf:.2f}",
                  fill=PREDICTED_COLOUR)
    return canvas
