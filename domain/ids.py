"""Workflow IDs are built from the case number only: no names or ID numbers in workflow IDs.

A case number is `{code}-{year}-{county}-{n:05d}`, e.g. `XX-2026-140403-00001`: the process's code, the
year (in Shanghai), the county and the case's place in that process's count for the county and year
(db/case_numbers.py). Cases opened before that count existed keep their numbers, `XX-2026-000123` (one
count shared by every process); nothing parses a number beyond the workflow-ID prefix, so both stay valid.
"""

from __future__ import annotations

from datetime import datetime

from domain.deadlines import local_date

PREFIX = "case-"
# One event's outbound delivery (workflows/outbound.py): `outbound-{case_no}-{seq}`. Not a case's workflow:
# case_no_of does not read it, so the activity interceptor leaves a failing delivery to its own hour rule.
OUTBOUND_PREFIX = "outbound-"


def workflow_id(case_no: str) -> str:
    return f"{PREFIX}{case_no}"


def outbound_workflow_id(case_no: str, seq: int) -> str:
    return f"{OUTBOUND_PREFIX}{case_no}-{seq}"


def case_no_of(wid: str | None) -> str | None:
    return wid[len(PREFIX) :] if wid and wid.startswith(PREFIX) else None


def case_year(at: datetime) -> int:
    """The year a case opened at `at` is numbered in: the year in Shanghai."""
    return local_date(at).year


def case_number(process_code: str, county: str, n: int, at: datetime) -> str:
    """`XX-2026-140403-00001`: the process's code, the year, the county and the number in their count."""
    return f"{process_code}-{case_year(at)}-{county}-{n:05d}"
