"""One self-contained HTML page: inline CSS, figures as base64 PNG ``data:`` URIs.

Nothing is fetched when the page opens (no script, font, stylesheet or image URL), so it
renders the same offline, from an e-mail attachment or from a CI artifact.
"""

from __future__ import annotations

import base64
from html import escape

from fraclab.report.document import Block, Bullets, Document, Figure, Paragraph, Table

STYLE = """
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto;
       max-width: 72rem; padding: 0 1rem; color: #1a1a1a; line-height: 1.45; }
h1 { margin-bottom: 0.2rem; } .subtitle { color: #555; margin-top: 0; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: 0.2rem; margin-top: 2.5rem; }
table { border-collapse: collapse; margin: 0.5rem 0 0.3rem; font-size: 0.88rem; }
caption { text-align: left; font-weight: 600; padding-bottom: 0.3rem; }
th, td { border: 1px solid #d0d0d0; padding: 0.25rem 0.5rem; text-align: left;
         vertical-align: top; }
th { background: #f3f3f3; } td.num { text-align: right; font-variant-numeric: tabular-nums; }
.note { color: #555; font-size: 0.85rem; margin-top: 0; }
figure { margin: 1rem 0 1.5rem; } figure img { max-width: 100%; height: auto;
         border: 1px solid #e0e0e0; }
figcaption { color: #333; font-size: 0.9rem; }
nav ol { columns: 2; }
"""


def _is_number(cell: str) -> bool:
    head = cell.split(" ", 1)[0].replace("−", "-").rstrip("%")
    try:
        float(head)
    except ValueError:
        return False
    return True


def _table(table: Table) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in table.header)
    body = "\n".join(
        "<tr>" + "".join(f'<td class="num">{escape(c)}</td>' if _is_number(c)
                         else f"<td>{escape(c)}</td>" for c in row) + "</tr>"
        for row in table.rows)
    note = f'<p class="note">{escape(table.note)}</p>' if table.note else ""
    return (f"<table>\n<caption>{escape(table.caption)}</caption>\n<thead><tr>{head}</tr>"
            f"</thead>\n<tbody>\n{body}\n</tbody>\n</table>\n{note}")


def _figure(figure: Figure) -> str:
    data = base64.b64encode(figure.png).decode("ascii")
    return (f'<figure id="fig-{escape(figure.name)}"><img alt="{escape(figure.alt)}" '
            f'src="data:image/png;base64,{data}">\n'
            f"<figcaption>{escape(figure.caption)}</figcaption></figure>")


def _block(block: Block) -> str:
    if isinstance(block, Paragraph):
        link = (f' <a href="{escape(block.link[1])}">{escape(block.link[0])}</a>'
                if block.link else "")
        return f"<p>{escape(block.text)}{link}</p>"
    if isinstance(block, Bullets):
        return "<ul>\n" + "\n".join(f"<li>{escape(i)}</li>" for i in block.items) + "\n</ul>"
    if isinstance(block, Table):
        return _table(block)
    return _figure(block)


def render_html(doc: Document) -> str:
    """The whole page as one string."""
    doc.figures()  # checks that figure names are unique (they become element ids)
    nav = "".join(f'<li><a href="#s{k}">{escape(s.title)}</a></li>'
                  for k, s in enumerate(doc.sections, start=1))
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{escape(doc.title)}</title><style>{STYLE}</style></head><body>",
        f"<h1>{escape(doc.title)}</h1>",
        f'<p class="subtitle">{escape(doc.subtitle)}</p>',
        f"<nav><ol>{nav}</ol></nav>",
    ]
    for k, section in enumerate(doc.sections, start=1):
        parts.append(f'<section><h2 id="s{k}">{k}. {escape(section.title)}</h2>')
        parts.extend(_block(b) for b in section.blocks)
        parts.append("</section>")
    parts.append("</body></html>\n")
    return "\n".join(parts)
