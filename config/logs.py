"""Logs as one JSON object a line, for a log collector. A record carries its message and the request
fields the web app adds (request id, route template, status, latency), never a query string, a form, a
case's facts or SQL parameters. An exception is logged by its types and frames only: its message may
quote what was sent (PostgreSQL's "invalid input syntax for type integer: «a name»", a validation
error's input), so it stays out of the log."""

from __future__ import annotations

import json
import logging
import traceback
from datetime import UTC, datetime
from typing import Literal

# The `extra=` fields a record may carry into the JSON line; anything else passed as extra is dropped.
FIELDS = ("request_id", "method", "route", "status", "latency_ms")
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, object] = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for name in FIELDS:
            if hasattr(record, name):
                out[name] = getattr(record, name)
        if record.exc_info and record.exc_info[1] is not None:
            out["exception"] = exception_chain(record.exc_info[1])
        return json.dumps(out, ensure_ascii=False)


def exception_chain(exc: BaseException) -> list[dict[str, object]]:
    """Each exception of the chain (the last raised first): its type and where it passed, no message."""
    out: list[dict[str, object]] = []
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen and len(out) < 10:
        seen.add(id(current))
        frames = traceback.extract_tb(current.__traceback__)
        out.append(
            {
                "type": f"{type(current).__module__}.{type(current).__qualname__}",
                "frames": [f"{f.filename}:{f.lineno} {f.name}" for f in frames],
            }
        )
        current = current.__cause__ or current.__context__
    return out


def configure_logging(level: str, fmt: Literal["json", "text"]) -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    logging.getLogger("temporalio").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
