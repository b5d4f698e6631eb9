"""The report as data: sections of paragraphs, lists, tables and figures.

Both writers (:mod:`~fraclab.report.html`, :mod:`~fraclab.report.markdown`) render the
same :class:`Document`, so the HTML page and the Markdown file can never disagree.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Paragraph:
    """Plain text (no markup; the writers escape it), optionally ending in one link
    (``link``: the text shown and the target, relative to ``report/``)."""

    text: str
    link: tuple[str, str] | None = None


@dataclass(frozen=True)
class Bullets:
    """An unordered list of plain-text items."""

    items: tuple[str, ...]


@dataclass(frozen=True)
class Table:
    """A table of already formatted cells; ``caption`` says what it shows."""

    caption: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    note: str = ""  # how to read it (units, what the intervals are)

    def __post_init__(self) -> None:
        for row in self.rows:
            if len(row) != len(self.header):
                raise ValueError(f"table {self.caption!r}: row {row} has {len(row)} cells, "
                                 f"header has {len(self.header)}")


@dataclass(frozen=True)
class Figure:
    """A PNG figure; ``name`` is its file stem in the Markdown report's ``figures/``."""

    name: str
    caption: str
    png: bytes
    alt: str


Block = Paragraph | Bullets | Table | Figure


@dataclass
class Section:
    """A numbered section of the report."""

    title: str
    blocks: list[Block] = field(default_factory=list)


@dataclass
class Document:
    """The whole report."""

    title: str
    subtitle: str
    sections: list[Section]

    def figures(self) -> list[Figure]:
        """Every figure, in document order (names must be unique)."""
        found = [b for s in self.sections for b in s.blocks if isinstance(b, Figure)]
        names = [f.name for f in found]
        if len(set(names)) != len(names):
            raise ValueError(f"figure names must be unique: {names}")
        return found
