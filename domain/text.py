"""What any text a person or client sends must be, wherever it goes (a form field, a note, a search, a
header): no NUL character (PostgreSQL text cannot hold it) and no lone surrogate (not a character, it
cannot be encoded). One check, used at the edge (web/limits.py) and by the form field kinds."""

from __future__ import annotations

import re

from domain.errors import DomainError

_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")

# Bounds on anything a client sends (web/limits.py): ids and numbers fit PostgreSQL's integer, lists and
# strings are of a size a person could fill, and a whole request stays far below Temporal's 2 MB payload.
INT_MAX = 2**31 - 1
INT_MIN = -(2**31)
LIST_LIMIT = 500
STRING_LIMIT = 10_000
BODY_LIMIT = 256 * 1024
FILE_LIMIT = 3 * 1024 * 1024
DEPTH_LIMIT = 32
# What one message to a workflow (a start, an action) may weigh: Temporal refuses a payload over 2 MB and
# warns from 256 KB; the history keeps every message, so a case stays far below its limits too.
PAYLOAD_LIMIT = 128 * 1024


def unstorable(text: str) -> bool:
    return _UNSTORABLE.search(text) is not None


def check_text(text: str, label: str, field: str | None = None) -> str:
    """`text` itself, or a refusal naming `label` when it holds a character no record can keep."""
    if unstorable(text):
        raise DomainError("text_invalid", f"“{label}”含有无法保存的字符（如空字符），请删除后重试", field=field)
    return text


def check_payload_size(encoded: bytes | str) -> None:
    """Refuses a message to a workflow heavier than PAYLOAD_LIMIT (checked before it is sent)."""
    size = len(encoded.encode() if isinstance(encoded, str) else encoded)
    if size > PAYLOAD_LIMIT:
        raise DomainError("payload_too_large", f"提交的内容过多（不能超过{PAYLOAD_LIMIT // 1024}KB），请精简后重试")
