"""What the CSV-driven importers share: required files and columns, safe paths, bad rows."""

from __future__ import annotations

import csv
import os
import re
from collections.abc import Sequence
from pathlib import Path

from fraclab.data.records import BadFile, DatasetError


def require(path: Path, what: str) -> Path:
    """``path`` itself, or a DatasetError naming the missing marker file or folder."""
    if not (path.is_dir() if what.endswith("folder") else path.is_file()):
        raise DatasetError(f"{path}: {what} not found")
    return path


def read_table(path: Path, required: Sequence[str]) -> list[dict[str, str]]:
    """Rows of a CSV file with a header, as dicts; every column in ``required`` must exist.

    Raises
    ------
    DatasetError
        The file is missing, not UTF-8 text, or lacks a required column (the message lists
        the missing and the present columns).
    """
    require(path, "CSV file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            reader = csv.DictReader(f)
            columns = [c.strip() for c in reader.fieldnames or []]
            missing = [c for c in required if c not in columns]
            if missing:
                raise DatasetError(f"{path}: missing column(s) {', '.join(missing)} "
                                   f"(found: {', '.join(columns) or 'no header'})")
            return [{(k or "").strip(): (v or "").strip() for k, v in row.items()}
                    for row in reader]
    except UnicodeDecodeError as err:
        raise DatasetError(f"{path}: not UTF-8 text ({err})") from None
    except csv.Error as err:
        raise DatasetError(f"{path}: not a readable CSV file ({err})") from None


def read_headerless(path: Path, n_columns: int) -> list[list[str]]:
    """Rows of a CSV file without a header; each non-blank row needs ``n_columns`` values.

    Raises
    ------
    DatasetError
        Missing or unreadable file, or a row with a different number of values (with its
        1-based line number).
    """
    require(path, "CSV file")
    try:
        with path.open(newline="", encoding="utf-8-sig") as f:
            rows = [(n, [v.strip() for v in row]) for n, row in enumerate(csv.reader(f), 1)]
    except (UnicodeDecodeError, csv.Error) as err:
        raise DatasetError(f"{path}: not a readable CSV file ({err})") from None
    out = []
    for number, row in rows:
        if not any(row):
            continue
        if len(row) != n_columns:
            raise DatasetError(f"{path}: line {number}: expected {n_columns} value(s), "
                               f"got {len(row)}")
        out.append(row)
    return out


def inside(root: Path, relative: str, source: Path) -> Path:
    """``root / relative``, refusing a path that is absolute or escapes ``root``.

    ``source`` is the file the path was read from, named in the error.
    """
    if not relative or os.path.isabs(relative) or Path(relative).drive:
        raise DatasetError(f"{source}: path {relative!r} must be relative to {root}")
    normal = os.path.normpath(relative)
    if normal == ".." or normal.startswith(".." + os.sep):
        raise DatasetError(f"{source}: path {relative!r} escapes the dataset folder {root}")
    return root / normal


class BadRows:
    """Apply ``data.on_bad`` to problems found row by row: raise, or collect as skipped."""

    def __init__(self, on_bad: str) -> None:
        self.on_bad = on_bad
        self.skipped: list[BadFile] = []

    def __call__(self, path: Path | str, problem: str) -> None:
        """Report ``problem`` with ``path``: a DatasetError, or a counted skip."""
        if self.on_bad == "error":
            raise DatasetError(f"{path}: {problem}")
        self.skipped.append(BadFile(str(path), problem))


def parse_flag(value: str, where: str) -> int:
    """A 0/1 flag as FracAtlas and GRAZPEDWRI-DX write it: 1, 1.0, 0, 0.0 or blank (= 0)."""
    if value in ("", "0", "0.0"):
        return 0
    if value in ("1", "1.0"):
        return 1
    raise DatasetError(f"{where}: flag {value!r} is not 0, 1 or blank")


IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp", ".tif", ".tiff", ".webp", ".dcm"}


# Roboflow renames every exported file to `<source stem>_<ext>.rf.<hash>`; augmented copies of
# one X-ray share the source stem, so it is the group that must not straddle splits.
_ROBOFLOW_SUFFIX = re.compile(r"(?:_(?:jpe?g|png|bmp|tiff?|webp))?\.rf\.[0-9a-fA-F]+$",
                              re.IGNORECASE)


def source_stem(file_name: str) -> str:
    """The source image's stem: a Roboflow file name before ``_jpg.rf.<hash>``/``.rf.<hash>``."""
    stem = Path(file_name).stem
    return _ROBOFLOW_SUFFIX.sub("", stem) or stem
