"""The same report as Markdown: the tables inline, each figure a linked PNG file."""

from __future__ import annotations

from fraclab.report.document import Block, Bullets, Document, Figure, Paragraph, Table


def _cell(text: str) -> str:
    # A pipe would end the cell; a newline would end the row.
    return text.replace("|", "\\|").replace("\n", " ")


def _table(table: Table) -> str:
    lines = [f"**{_cell(table.caption)}**", "",
             "| " + " | ".join(_cell(h) for h in table.header) + " |",
             "|" + "|".join("---" for _ in table.header) + "|"]
    lines += ["| " + " | ".join(_cell(c) for c in row) + " |" for row in table.rows]
    if table.note:
        lines += ["", f"_{table.note}_"]
    return "\n".join(lines)


def _block(block: Block, figure_dir: str) -> str:
    if isinstance(block, Paragraph):
        return block.text + (f" [{block.link[0]}]({block.link[1]})" if block.link else "")
    if isinstance(block, Bullets):
        return "\n".join(f"- {item}" for item in block.items)
    if isinstance(block, Table):
        return _table(block)
    assert isinstance(block, Figure)
    path = f"{figure_dir}/{block.name}.png"
    return f"[![{_cell(block.alt)}]({path})]({path})\n\n*{block.caption}*"


def render_markdown(doc: Document, figure_dir: str = "figures") -> str:
    """The report as Markdown; figures link to ``<figure_dir>/<name>.png``."""
    doc.figures()
    parts = [f"# {doc.title}", "", doc.subtitle]
    for k, section in enumerate(doc.sections, start=1):
        parts += ["", f"## {k}. {section.title}"]
        for block in section.blocks:
            parts += ["", _block(block, figure_dir)]
    return "\n".join(parts) + "\n"
