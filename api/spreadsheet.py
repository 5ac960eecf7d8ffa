"""Every spreadsheet the system writes or reads, through one module: a typed table (columns with a header, a
width and a kind) written as xlsx for people (openpyxl: frozen header row, column widths, dates as dates) or
as CSV for machines, and an uploaded xlsx or CSV read back as rows of text.

A cell of user text that a spreadsheet would read as a formula (`=HYPERLINK(...)` typed as a child's name)
never runs: in xlsx it is a text cell marked with Excel's own quote prefix, in CSV it is written with a
leading single quote, which Excel and WPS show as text."""

from __future__ import annotations

import csv
import io
import re
import zipfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum
from urllib.parse import quote

from fastapi.responses import Response
from openpyxl import Workbook, load_workbook
from openpyxl.styles import Font
from openpyxl.utils import get_column_letter

from domain.deadlines import SHANGHAI
from domain.errors import DomainError

Cell = str | int | date | datetime | None

# What Excel, WPS and LibreOffice take as the start of a formula (OWASP "CSV injection").
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")

XLSX_MEDIA_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
CSV_MEDIA_TYPE = "text/csv; charset=utf-8"


class ColumnKind(StrEnum):
    text = "text"
    int = "int"
    date = "date"
    datetime = "datetime"


class Format(StrEnum):
    xlsx = "xlsx"
    csv = "csv"


# How a date reads in a cell; the value stays a date that sorts and filters as one.
_NUMBER_FORMATS = {ColumnKind.date: "yyyy-mm-dd", ColumnKind.datetime: "yyyy-mm-dd hh:mm"}


@dataclass(frozen=True)
class Column:
    header: str
    width: float = 14  # in Excel's character widths; a CJK character takes about two
    kind: ColumnKind = ColumnKind.text


@dataclass(frozen=True)
class Table:
    columns: tuple[Column, ...]
    rows: list[Sequence[Cell]]
    sheet: str = "Sheet1"

    @property
    def headers(self) -> list[str]:
        return [c.header for c in self.columns]


@dataclass(frozen=True)
class Export:
    """What an export answers: the table and the name its file takes (without the extension)."""

    table: Table
    name: str
    formats: tuple[Format, ...] = (Format.xlsx, Format.csv)


def safe_cell(value: Cell) -> Cell:
    """The value as a spreadsheet shows it without running it; numbers and dates are left as they are."""
    if isinstance(value, str) and value.startswith(FORMULA_START):
        return "'" + value
    return value


def read_cell(value: str) -> str:
    """A cell of a file this system wrote, read back: the quote safe_cell added is dropped."""
    if value.startswith("'") and value[1:].startswith(FORMULA_START):
        return value[1:]
    return value


def local_time(value: datetime) -> datetime:
    """A moment as the clerks read it: Beijing time, without a zone (a spreadsheet has none)."""
    return value.astimezone(SHANGHAI).replace(tzinfo=None) if value.tzinfo else value


def _csv_value(value: Cell) -> Cell:
    if isinstance(value, datetime):
        return local_time(value).strftime("%Y-%m-%d %H:%M")
    if isinstance(value, date):
        return value.isoformat()
    return safe_cell(value)


def csv_text(header: Sequence[str], rows: Iterable[Sequence[Cell]]) -> str:
    """UTF-8 CSV with a BOM so that Excel reads the Chinese; every cell through safe_cell."""
    out = io.StringIO()
    out.write("\ufeff")
    w = csv.writer(out)
    w.writerow([safe_cell(c) for c in header])
    for row in rows:
        w.writerow([_csv_value(c) for c in row])
    return out.getvalue()


def table_csv(table: Table) -> str:
    return csv_text(table.headers, table.rows)


def table_xlsx(table: Table) -> bytes:
    """The table as an xlsx workbook: a bold frozen header row, the columns' widths, dates as dates (naive
    local times: Excel has no time zones) and every text cell stored as text."""
    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = re.sub(r"[\[\]:*?/\\]", "-", table.sheet)[:31] or "Sheet1"
    bold = Font(bold=True)
    for i, col in enumerate(table.columns, start=1):
        cell = ws.cell(row=1, column=i, value=col.header)
        cell.font = bold
        ws.column_dimensions[get_column_letter(i)].width = col.width
    for r, row in enumerate(table.rows, start=2):
        for i, (col, value) in enumerate(zip(table.columns, row, strict=True), start=1):
            cell = ws.cell(row=r, column=i)
            if value is None or value == "":
                continue
            if isinstance(value, datetime):
                cell.value = local_time(value)
            else:
                cell.value = value
            if col.kind in _NUMBER_FORMATS and isinstance(value, date):
                cell.number_format = _NUMBER_FORMATS[col.kind]
            if isinstance(value, str):
                # openpyxl takes a string starting with "=" as a formula; it is the user's text.
                cell.data_type = "s"
                if value.startswith(FORMULA_START):
                    cell.quotePrefix = True
    ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def parse_format(value: str | None) -> Format:
    """The `?format=` of an export: xlsx when not given."""
    if not value:
        return Format.xlsx
    try:
        return Format(value.lower())
    except ValueError:
        raise DomainError("invalid_format", "导出格式只能是 xlsx 或 csv", field="format") from None


def export_response(export: Export, fmt: Format) -> Response:
    """The export as a download in the format asked for."""
    if fmt not in export.formats:
        raise DomainError("invalid_format", "不支持该导出格式", field="format")
    filename = quote(f"{export.name}.{fmt.value}")
    disposition = {"Content-Disposition": f"attachment; filename*=UTF-8''{filename}"}
    if fmt == Format.csv:
        return Response(table_csv(export.table).encode("utf-8"), media_type=CSV_MEDIA_TYPE, headers=disposition)
    return Response(table_xlsx(export.table), media_type=XLSX_MEDIA_TYPE, headers=disposition)


# ---------------------------------------------------------------------------- reading an upload


def is_xlsx(data: bytes) -> bool:
    """An xlsx file is a zip archive; a CSV never starts with the zip signature."""
    return data.startswith(b"PK\x03\x04")


def _text_of(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat(sep=" ")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def xlsx_rows(data: bytes, *, max_rows: int) -> list[list[str]]:
    """The first sheet of an uploaded xlsx as rows of text (numbers as Excel shows them, dates ISO). Reads
    at most `max_rows` + 1 rows so that an oversized sheet is refused, not loaded."""
    try:
        wb = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError):
        raise DomainError("file_invalid", "文件不是有效的Excel（xlsx）文件", field="file") from None
    try:
        ws = wb.worksheets[0] if wb.worksheets else None
        if ws is None:
            return []
        out: list[list[str]] = []
        for row in ws.iter_rows(values_only=True):
            out.append([_text_of(v) for v in row])
            if len(out) > max_rows + 1:
                break
        return out
    finally:
        wb.close()
