"""A step's deadline and its escalation ladder (processes.md, "What every step has").

Level 1 at the deadline; level 2 at deadline + half the allowance (at least 1 WD, 1 d or 1 h); level 3
at deadline + the full allowance. A step may override the two offsets (crisis intervention does).
Half a calendar allowance is counted as a supervisor says it: half a year is 6 months, half an even number
of months that many months, and half an odd number in days at 15 a half month (3M → 45d: level 2 at one
and a half months, not two; 1M → 15d, so that level 2 still comes before level 3).
Day, month and year deadlines fall at the end of the local day (Asia/Shanghai); hour-based ones are exact.
A month on from the 31st is the month's last day (31 January + 1M = 28/29 February).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from domain.months import add_months, every_months, month_start
from domain.policy import Allowance, Anchor, Unit
from domain.workdays import WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")


class StepDeadlines(BaseModel):
    due_at: datetime
    level2_at: datetime
    level3_at: datetime
    provisional: bool = False
    allowance: str = ""  # e.g. "3WD", for the timeline and the page

    def escalation_time(self, level: int) -> datetime | None:
        """When the step moves from `level` to level + 1 (None once at level 3)."""
        return {0: self.due_at, 1: self.level2_at, 2: self.level3_at}.get(level)


def local_date(at: datetime) -> date:
    return at.astimezone(SHANGHAI).date()


def start_of_local_day(d: date) -> datetime:
    return datetime.combine(d, time(0, 0), tzinfo=SHANGHAI).astimezone(UTC)


def end_of_local_day(d: date) -> datetime:
    return datetime.combine(d, time(23, 59, 59), tzinfo=SHANGHAI).astimezone(UTC)


def first_of_next_month(at: date | datetime) -> date:
    """The first day of the month after the local date of `at` (a datetime must be timezone-aware)."""
    return month_start(_as_local_date(at), 1)


def start_of_next_month(at: date | datetime) -> datetime:
    """Local midnight (Asia/Shanghai) starting the month after `at`, in UTC: "from the next month"."""
    return start_of_local_day(first_of_next_month(at))


def _as_local_date(at: date | datetime) -> date:
    if not isinstance(at, datetime):
        return at
    if at.tzinfo is None:
        raise ValueError("at must be timezone-aware")
    return local_date(at)


def _months(allowance: Allowance) -> int | None:
    return {Unit.months: allowance.amount, Unit.years: 12 * allowance.amount}.get(allowance.unit)


def date_after(d: date | datetime, allowance: Allowance) -> date:
    """The local date `allowance` after `d`: days, months or years on; for '1M@start' the first day of the
    next month. Working days need the calendar and hours a time of day: those go through compute_deadlines."""
    months = _months(allowance)
    if allowance.anchor == Anchor.month_start:
        return month_start(_as_local_date(d), allowance.amount)
    if allowance.unit == Unit.days:
        return _as_local_date(d) + timedelta(days=allowance.amount)
    if months is not None:
        return add_months(_as_local_date(d), months)
    raise ValueError(f"{allowance} is not a calendar allowance")


def cadence(start: date | datetime, every: Allowance, until: date | datetime) -> list[date]:
    """The due dates of something done every `every` (months or years) from `start` up to `until`, each
    counted from `start` so that month-end clamping does not drift (domain/months.py)."""
    months = _months(every)
    if months is None or every.anchor != Anchor.none:
        raise ValueError(f"{every} is not a cadence in months or years")
    return every_months(_as_local_date(start), months, _as_local_date(until))


def _half(amount: int) -> int:
    return max(1, math.ceil(amount / 2))


Ladder = tuple[Allowance, Allowance]  # the offsets of levels 2 and 3 from the deadline


def escalation_ladder(allowance: Allowance, own: Ladder | None = None) -> Ladder:
    """A step's ladder: its own when the process sets one (crisis intervention), else half the step's
    allowance (at least one unit; months and years as in the module's docstring) and the full one. The one
    place that decides it: a step's opening (compute_deadlines) and a supervisor's extension
    (`ladder_request`) both ask here."""
    if own is not None:
        return own
    if allowance.unit == Unit.years:
        return Allowance(6 * allowance.amount, Unit.months), allowance
    if allowance.unit == Unit.months and allowance.amount % 2:
        return Allowance(15 * allowance.amount, Unit.days), allowance
    if allowance.unit == Unit.months:
        return Allowance(allowance.amount // 2, Unit.months), allowance
    return Allowance(_half(allowance.amount), allowance.unit), allowance


def ladder_request(own: Ladder | None, allowance: str | None) -> tuple[str, str] | None:
    """The ladder of a step whose allowance is known (e.g. "15WD"), as a DeadlineRequest carries it, so that
    a deadline counted from something else (an extension of "2WD") still escalates on the step's own
    ladder. None when the step has neither: the computation then takes the allowance it counts."""
    if own is None:
        if not allowance:
            return None
        own = escalation_ladder(Allowance.parse(allowance))
    return str(own[0]), str(own[1])


def _after(at: datetime, allowance: Allowance, cal: WorkCalendar) -> tuple[datetime, bool]:
    """`at` moved on by `allowance`; day, month and year units land at the end of the local day."""
    if allowance.kind != "duration":
        raise ValueError(f"{allowance} is not a duration")
    if allowance.unit == Unit.hours:
        return at + timedelta(hours=allowance.amount), False
    if allowance.unit == Unit.working_days:
        d, provisional = cal.add_working_days(local_date(at), allowance.amount)
        return end_of_local_day(d), provisional
    return end_of_local_day(date_after(local_date(at), allowance)), False


def compute_deadlines(
    base: datetime,
    allowance: Allowance,
    cal: WorkCalendar,
    *,
    ladder: Ladder | None = None,
) -> StepDeadlines:
    if base.tzinfo is None:
        raise ValueError("base must be timezone-aware")
    due, p1 = _after(base, allowance, cal)
    l2_off, l3_off = escalation_ladder(allowance, ladder)
    level2, p2 = _after(due, l2_off, cal)
    level3, p3 = _after(due, l3_off, cal)
    return StepDeadlines(
        due_at=due.astimezone(UTC),
        level2_at=level2.astimezone(UTC),
        level3_at=level3.astimezone(UTC),
        provisional=p1 or p2 or p3,
        allowance=str(allowance),
    )


def birthday(birth_date: date, age: int = 18) -> date:
    """The day a child born on `birth_date` reaches `age` (a 29 February birthday counts from 1 March
    in a common year)."""
    try:
        return birth_date.replace(year=birth_date.year + age)
    except ValueError:
        return date(birth_date.year + age, 3, 1)
