"""跨地区审批's days left: working days on the statutory calendar for a step of working days, calendar days
otherwise (api/cross_region/service.py `_days_left`, domain/workdays.py `working_days_between`)."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest

from api.cross_region.service import _days_left
from domain.deadlines import end_of_local_day, start_of_local_day
from domain.workdays import WorkCalendar, YearSchedule

CAL = WorkCalendar()


@pytest.mark.parametrize("start", [date(2026, 2, 6) + timedelta(days=i) for i in range(14)])  # into 春节 2026
@pytest.mark.parametrize("n", [1, 3, 15])
def test_working_days_between_undoes_adding_them(start: date, n: int) -> None:
    due, _ = CAL.add_working_days(start, n)
    assert CAL.working_days_between(start, due) == n
    assert CAL.working_days_between(due, start) == -n  # overdue by as many
    assert CAL.working_days_between(start, start) == 0


def test_across_the_spring_festival_fewer_working_days_than_calendar_days() -> None:
    start = date(2026, 2, 10)
    due, _ = CAL.add_working_days(start, 15)
    assert (due - start).days > 21  # the holiday week is not counted
    assert CAL.working_days_between(start, due) == 15


def test_a_loaded_schedule_is_what_counts() -> None:
    # An admin-loaded year: Friday 2030-05-03 a holiday, Saturday 2030-05-04 a make-up working day.
    cal = WorkCalendar({2030: YearSchedule(2030, frozenset({date(2030, 5, 3)}), frozenset({date(2030, 5, 4)}))})
    assert cal.working_days_between(date(2030, 5, 2), date(2030, 5, 6)) == 2  # Sat 4th and Mon 6th


def test_days_left_in_the_steps_own_unit() -> None:
    now = start_of_local_day(date(2026, 2, 10)) + timedelta(hours=10)
    due_wd = end_of_local_day(CAL.add_working_days(date(2026, 2, 10), 15)[0])
    assert _days_left(due_wd, "15WD", now, CAL) == (15, "WD")
    due_d = end_of_local_day(date(2026, 3, 12))
    assert _days_left(due_d, "30d", now, CAL) == (30, "d")
    assert _days_left(due_d, "1y", now, CAL) == (30, "d")
    assert _days_left(None, "15WD", now, CAL) == (None, None)
    past: datetime = end_of_local_day(date(2026, 2, 9))
    assert _days_left(past, "3WD", now, CAL) == (-1, "WD")
    assert _days_left(past, "not-a-value", now, CAL) == (-1, "d")
