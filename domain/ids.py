"""Workflow IDs are built from the case number only: no names or ID numbers in workflow IDs."""

from __future__ import annotations

from datetime import datetime

from domain.deadlines import local_date

PREFIX = "case-"


def workflow_id(case_no: str) -> str:
    return f"{PREFIX}{case_no}"


def case_no_of(wid: str | None) -> str | None:
    return wid[len(PREFIX) :] if wid and wid.startswith(PREFIX) else None


def case_number(process_code: str, n: int, at: datetime) -> str:
    """`JH-2026-000123`: the process's code, the year (in Shanghai) and the number from the sequence."""
    return f"{process_code}-{local_date(at).year}-{n:06d}"
