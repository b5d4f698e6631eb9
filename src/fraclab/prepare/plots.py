"""Data-distribution plots for `dvc plots` (CSV) and for people (PNG)."""

from __future__ import annotations

from pathlib import Path

from fraclab.io import atomic_write_bytes, atomic_write_text, png_bytes, table_text

SPLIT_ORDER = ("train", "valid", "test")


def distribution_tables(audit: dict) -> tuple[list[dict], list[dict]]:
    """Rows (split, label, images) and (split, class, boxes) from an audit dict."""
    split_rows, class_rows = [], []
    for split in SPLIT_ORDER:
        counts = audit["splits"].get(split)
        if counts is None:
            continue
        for label in ("fractured", "normal"):
            split_rows.append({"split": split, "label": label, "images": counts[label]})
        for name, boxes in counts["boxes"].items():
            class_rows.append({"split": split, "class": name, "boxes": boxes})
    return split_rows, class_rows


def _csv(rows: list[dict]) -> str:
    return table_text({name: [row[name] for row in rows] for name in rows[0]})


def write_distribution_plots(audit: dict, plots_dir: Path) -> None:
    """Write split/label and class/box distributions as CSV and one PNG figure."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    split_rows, class_rows = distribution_tables(audit)
    atomic_write_text(plots_dir / "split_distribution.csv", _csv(split_rows))
    atomic_write_text(plots_dir / "class_distribution.csv", _csv(class_rows))

    splits = [s for s in SPLIT_ORDER if s in audit["splits"]]
    classes = list(audit["dataset"]["classes"])
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4), constrained_layout=True)
    for offset, label in ((0, "fractured"), (1, "normal")):
        values = [audit["splits"][s][label] for s in splits]
        left.bar([i + 0.4 * offset for i in range(len(splits))], values, width=0.4, label=label)
    left.set_xticks([i + 0.2 for i in range(len(splits))], splits)
    left.set_ylabel("images")
    left.set_title("Images per split and label")
    left.legend()
    height = 0.8 / len(splits)
    for k, split in enumerate(splits):
        values = [audit["splits"][split]["boxes"][c] for c in classes]
        right.barh([i + k * height for i in range(len(classes))], values, height=height,
                   label=split)
    right.set_yticks([i + 0.4 - height / 2 for i in range(len(classes))], classes)
    right.set_xlabel("fracture boxes")
    right.set_title("Boxes per anatomical class")
    right.legend()
    atomic_write_bytes(plots_dir / "distribution.png", png_bytes(fig))
