"""Every CSV the system writes, through one function: a cell of user text that a spreadsheet would read
as a formula (`=HYPERLINK(...)` typed as a child's name) is written with a leading single quote, which
Excel and WPS show as text and do not run."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence

Cell = str | int | None

# What Excel, WPS and LibreOffice take as the start of a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def safe_cell(value: Cell) -> Cell:
    """The value as a spreadsheet shows it without running it; numbers are left as numbers."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def read_cell(value: str) -> str:
    """A cell of a file this system wrote, read back: the quote safe_cell added is dropped."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """UTF-8 CSV with a BOM so that Excel reads the Chinese; every cell through safe_cell."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow([safe_cell(c) for c in header])
    for row in rows:
        w.writerow([safe_cell(c) for c in row])
    return out.getvalue()
