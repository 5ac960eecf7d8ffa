"""A step's deadline and its escalation ladder (processes.md, "What every step has").

Level 1 at the deadline; level 2 at deadline + half the allowance (at least 1 WD, 1 d or 1 h); level 3
at deadline + the full allowance. A step may override the two offsets (crisis intervention does).
Day-based deadlines fall at the end of the local day (Asia/Shanghai); hour-based ones are exact.
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel

from domain.policy import Allowance, Unit
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


def _half(amount: int) -> int:
    return max(1, math.ceil(amount / 2))


Ladder = tuple[Allowance, Allowance]  # the offsets of levels 2 and 3 from the deadline


def escalation_ladder(allowance: Allowance, own: Ladder | None = None) -> Ladder:
    """A step's ladder: its own when the process sets one (crisis intervention), else half the step's
    allowance (at least one unit) and the full one. The one place that decides it: a step's opening
    (compute_deadlines) and a supervisor's extension (`ladder_request`) both ask here."""
    if own is not None:
        return own
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


def _after(at: datetime, amount: int, unit: Unit, cal: WorkCalendar) -> tuple[datetime, bool]:
    """`at` moved on by `amount` of `unit`; day units land at the end of the local day."""
    if unit == Unit.hours:
        return at + timedelta(hours=amount), False
    if unit == Unit.days:
        return end_of_local_day(local_date(at) + timedelta(days=amount)), False
    if unit == Unit.working_days:
        d, provisional = cal.add_working_days(local_date(at), amount)
        return end_of_local_day(d), provisional
    raise ValueError(f"{unit} is not a duration")


def compute_deadlines(
    base: datetime,
    allowance: Allowance,
    cal: WorkCalendar,
    *,
    ladder: Ladder | None = None,
) -> StepDeadlines:
    if base.tzinfo is None:
        raise ValueError("base must be timezone-aware")
    due, p1 = _after(base, allowance.amount, allowance.unit, cal)
    l2_off, l3_off = escalation_ladder(allowance, ladder)
    level2, p2 = _after(due, l2_off.amount, l2_off.unit, cal)
    level3, p3 = _after(due, l3_off.amount, l3_off.unit, cal)
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
