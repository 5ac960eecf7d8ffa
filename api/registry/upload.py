"""An uploaded list read as rows of text: xlsx (openpyxl, as the agencies send it) or CSV (UTF-8). Anything
else, a PDF, a picture, a GBK CSV, is refused with what to do, before a row is looked at."""

from __future__ import annotations

import csv
import io

from api.spreadsheet import is_xlsx, xlsx_rows
from domain.errors import DomainError
from domain.text import FILE_LIMIT, check_text

MAX_ROWS = 20_000
NOT_A_SHEET = "文件不是电子表格：请上传Excel（xlsx）或CSV文件，可先下载导入模板"


def rows_of(data: bytes) -> list[list[str]]:
    """Every row of the file's first sheet (the header first)."""
    if len(data) > FILE_LIMIT:
        raise DomainError("file_too_large", f"文件不能超过{FILE_LIMIT // (1024 * 1024)}MB，请分批导入", field="file")
    if not data.strip():
        raise DomainError("file_invalid", "文件是空的", field="file")
    if is_xlsx(data):
        rows = xlsx_rows(data, max_rows=MAX_ROWS)
    else:
        rows = _csv_rows(data)
    if len(rows) > MAX_ROWS + 1:
        raise DomainError("file_too_large", f"一次最多导入{MAX_ROWS}行，请分批导入", field="file")
    return [[check_text(c, "文件", "file") for c in row] for row in rows]


def _csv_rows(data: bytes) -> list[list[str]]:
    if b"\x00" in data[:4096]:
        raise DomainError("file_invalid", NOT_A_SHEET, field="file")
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError:
        try:
            data.decode("gb18030")
        except UnicodeDecodeError:
            raise DomainError("file_invalid", NOT_A_SHEET, field="file") from None
        # Excel's plain "CSV" on a Chinese Windows is GBK: guessing the encoding could garble names.
        raise DomainError(
            "file_encoding", "CSV文件不是UTF-8编码：请在Excel中“另存为”时选择“CSV UTF-8（逗号分隔）”", field="file"
        ) from None
    if text.startswith("%PDF") or "\ufffd" in text[:4096]:
        raise DomainError("file_invalid", NOT_A_SHEET, field="file")
    try:
        return list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error:
        raise DomainError("file_invalid", NOT_A_SHEET, field="file") from None
