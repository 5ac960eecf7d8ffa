"""Calendar months on local dates: a date some months on (clamped to that month's last day), the first day
of a later month, and a cadence counted from its start.

Dates only: a datetime is refused, because its own calendar fields (often UTC) are not the local date;
domain/deadlines.py turns a moment into the Asia/Shanghai date first.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta


def _local(d: date) -> date:
    if isinstance(d, datetime):
        raise TypeError("pass the local date (domain.deadlines.local_date), not a datetime")
    return d


def _month_index(d: date) -> int:
    return d.year * 12 + d.month - 1


def add_months(d: date, months: int) -> date:
    """31 January + 1 month = the last day of February; 29 February + 12 months = 28 February."""
    first = month_start(d, months)
    last_day = (month_start(first, 1) - timedelta(days=1)).day
    return first.replace(day=min(d.day, last_day))


def month_start(d: date, months_after: int = 0) -> date:
    """The first day of the month `months_after` months after the one holding `d`."""
    year, month = divmod(_month_index(_local(d)) + months_after, 12)
    return date(year, month + 1, 1)


def every_months(start: date, months: int, until: date) -> list[date]:
    """The dates every `months` months after `start`, up to and including `until`. Each is counted from
    `start` itself, not from the one before, so a cadence from 31 August keeps returning to the 31st
    (28/29 February, 31 August, ...) instead of drifting to the 28th."""
    if months <= 0:
        raise ValueError("months must be positive")
    out: list[date] = []
    k = 1
    while (d := add_months(start, k * months)) <= _local(until):
        out.append(d)
        k += 1
    return out
