"""Reliability diagrams: CSV points for `dvc plots` and one PNG for people."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from fraclab.evaluate.metrics import reliability_table
from fraclab.io import atomic_write_bytes, atomic_write_text, png_bytes, table_text

if TYPE_CHECKING:
    pass

Sets = dict[str, tuple[np.ndarray, np.ndarray, np.ndarray]]  # split -> (y, before, after)
RELIABILITY_COLUMNS = ("bin", "lower", "upper", "mean_predicted", "observed_fraction", "count")


def write_reliability_plots(sets: Sets, n_bins: int, binning: str, plots_dir: Path,
                            title: str) -> None:
    """``reliability/<split>_<before|after>.csv`` and ``reliability.png`` under ``plots_dir``.

    Each CSV holds one row per non-empty bin (:func:`reliability_table`). The PNG shows, per
    split, the reliability curves before and after calibration over the diagonal, and the
    histogram of predicted probabilities under them.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tables = {}
    for split, (y, before, after) in sets.items():
        for when, p in (("before", before), ("after", after)):
            table = reliability_table(y, p, n_bins, binning)
            tables[split, when] = table
            atomic_write_text(plots_dir / "reliability" / f"{split}_{when}.csv",
                              table_text({c: table[c] for c in RELIABILITY_COLUMNS}))

    fig, axes = plt.subplots(2, len(sets), figsize=(5 * len(sets), 6.5), sharex=True,
                             gridspec_kw={"height_ratios": [3, 1]}, squeeze=False,
                             constrained_layout=True)
    edges = np.linspace(0.0, 1.0, 41)
    for column, (split, (_, before, after)) in enumerate(sets.items()):
        top, bottom = axes[0, column], axes[1, column]
        top.plot([0, 1], [0, 1], color="grey", linestyle=":", linewidth=1)
        for when, p, style in (("before", before, "o--"), ("after", after, "s-")):
            table = tables[split, when]
            top.plot(table["mean_predicted"], table["observed_fraction"], style, label=when)
            bottom.hist(p, bins=edges, histtype="step", label=when)
        top.set_title(f"{split} ({binning} bins, n={len(before)})")
        top.set_ylabel("observed fraction fractured")
        top.set_xlim(0, 1)
        top.set_ylim(0, 1)
        top.legend(loc="upper left")
        bottom.set_xlabel("predicted probability")
        bottom.set_ylabel("images")
    fig.suptitle(title)
    atomic_write_bytes(plots_dir / "reliability.png", png_bytes(fig))
