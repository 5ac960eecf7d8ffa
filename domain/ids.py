"""Workflow IDs are built from the case number only: no names or ID numbers in workflow IDs."""

from __future__ import annotations

PREFIX = "case-"


def workflow_id(case_no: str) -> str:
    return f"{PREFIX}{case_no}"


def case_no_of(wid: str | None) -> str | None:
    return wid[len(PREFIX) :] if wid and wid.startswith(PREFIX) else None
