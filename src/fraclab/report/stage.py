"""The `report` stage: read every metrics and plots file, write the report and the headline.

Writes, each atomically:

- ``report/``: ``index.html`` (self-contained: figures as PNG data, no external URL),
  ``report.md`` (the same tables; figures as ``figures/<name>.png``), ``comparisons.json``
  (the backbone comparisons behind the report's table);
- ``metrics/summary.json``: the headline numbers (:func:`~fraclab.study.summary.headline`);
- ``plots/report/``: the combined files behind ``dvc.yaml``'s top-level plots.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from fraclab.io import atomic_directory, atomic_write_json
from fraclab.report.comparisons import compare_all
from fraclab.report.dvcplots import write_plot_files
from fraclab.report.html import render_html
from fraclab.report.markdown import render_markdown
from fraclab.report.sections import build_document
from fraclab.study.facts import load_facts
from fraclab.study.summary import headline, limitations


def run_report(root: Path, params: dict[str, Any], *, out_dir: Path, summary_path: Path,
               plots_dir: Path, log: Callable[[str], None] = print) -> dict[str, Any]:
    """Build and write everything; returns the headline written to ``summary_path``.

    Raises :class:`~fraclab.study.facts.ReportInputError` (a ValueError) naming the file
    when a required metrics or plots file is missing or unreadable.
    """
    facts = load_facts(root, params)
    classify = params.get("classify", {})
    comparisons = compare_all(facts.backbones, root / "artifacts" / "calibrate",
                              root / "artifacts" / "prepared" / "manifest.csv",
                              n_boot=int(classify.get("n_boot", 1000)),
                              seed=int(params.get("seed", 0)))
    doc = build_document(facts, comparisons)
    summary = headline(facts)
    with atomic_directory(out_dir) as tmp:
        (tmp / "index.html").write_text(render_html(doc), encoding="utf-8")
        (tmp / "report.md").write_text(render_markdown(doc, "figures"), encoding="utf-8")
        (tmp / "figures").mkdir()
        for figure in doc.figures():
            (tmp / "figures" / f"{figure.name}.png").write_bytes(figure.png)
        (tmp / "comparisons.json").write_text(json.dumps(comparisons, indent=2) + "\n")
        # For the model card: the same limitations, as data.
        (tmp / "limitations.json").write_text(json.dumps(limitations(facts), indent=2) + "\n")
    write_plot_files(facts, plots_dir)
    atomic_write_json(summary_path, summary)
    log(f"report: {out_dir / 'index.html'} ({len(doc.figures())} figures); best backbone "
        f"{summary['best_backbone']} (pooled OOF AUROC {summary['oof_auroc']['value']:.3f})"
        + (f", best YOLO size {summary['best_yolo_size']} (test mAP@0.5 "
           f"{summary['test_map50']:.3f})" if "best_yolo_size" in summary else
           f"; localisation {summary.get('localisation')}"))
    return summary
