"""Working days on the statutory calendar (domain/workdays.py) and a step's deadline with its escalation
ladder (domain/deadlines.py), on known dates: the Spring Festival and National Day with their 调休
make-up days, hours, calendar days, and a year whose schedule is not known yet."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from domain.deadlines import birthday, compute_deadlines, end_of_local_day, escalation_ladder, local_date
from domain.policy import Allowance, Unit
from domain.workdays import WorkCalendar, YearSchedule

SH = ZoneInfo("Asia/Shanghai")
CAL = WorkCalendar()


def sh(y: int, m: int, d: int, hh: int = 23, mm: int = 59, ss: int = 59) -> datetime:
    """A moment in Asia/Shanghai (by default the end of that local day, where day deadlines fall)."""
    return datetime(y, m, d, hh, mm, ss, tzinfo=SH)


# ---------------------------------------------------------------------------- working days


@pytest.mark.parametrize(
    ("d", "working"),
    [
        (date(2026, 2, 13), True),  # Friday before the Spring Festival
        (date(2026, 2, 14), True),  # Saturday, a make-up working day (调休)
        (date(2026, 2, 15), False),  # the holiday: 15-23 February 2026
        (date(2026, 2, 23), False),  # Monday, still the holiday
        (date(2026, 2, 24), True),
        (date(2026, 2, 28), True),  # Saturday, the second make-up day
        (date(2026, 3, 1), False),  # an ordinary Sunday
        (date(2025, 9, 28), True),  # Sunday, made up for National Day 2025
        (date(2025, 10, 8), False),  # Wednesday, the last day of the National Day holiday 2025
        (date(2025, 10, 11), True),  # Saturday, made up
        (date(2026, 9, 25), False),  # Friday, Mid-Autumn 2026
        (date(2026, 10, 10), True),  # Saturday, made up for National Day 2026
    ],
)
def test_the_statutory_calendar(d: date, working: bool) -> None:
    assert CAL.is_working_day(d) is working


def test_working_days_across_the_spring_festival() -> None:
    # Friday 13 February 2026 + 3: Saturday 14 (make-up), then nine days off, then 24 and 25.
    assert CAL.add_working_days(date(2026, 2, 13), 3) == (date(2026, 2, 25), False)
    # 15 working days from the eve: 24 Feb .. 13 Mar with Saturday 28 Feb among them.
    assert CAL.add_working_days(date(2026, 2, 14), 15) == (date(2026, 3, 13), False)


def test_working_days_across_national_day() -> None:
    # Friday 26 September 2025 + 3: Sunday 28 (make-up), Monday 29, Tuesday 30.
    assert CAL.add_working_days(date(2025, 9, 26), 3) == (date(2025, 9, 30), False)
    # From 30 September 2025, 5: 1-8 October off; 9, 10, Saturday 11 (make-up), 13, 14.
    assert CAL.add_working_days(date(2025, 9, 30), 5) == (date(2025, 10, 14), False)
    # National Day 2026 (1-7 October, Saturday 10 made up).
    assert CAL.add_working_days(date(2026, 9, 30), 3) == (date(2026, 10, 10), False)


def test_the_start_day_itself_does_not_count() -> None:
    assert CAL.add_working_days(date(2026, 3, 2), 1) == (date(2026, 3, 3), False)  # Monday → Tuesday
    assert CAL.add_working_days(date(2026, 3, 6), 1) == (date(2026, 3, 9), False)  # Friday → Monday
    with pytest.raises(ValueError):
        CAL.add_working_days(date(2026, 3, 2), 0)


def test_a_year_the_package_does_not_know_is_provisional() -> None:
    assert CAL.is_exact(2026) and not CAL.is_exact(2027)
    # 2027: weekdays work and the fixed-date holidays (元旦, 劳动节, 国庆节) are skipped.
    assert CAL.add_working_days(date(2026, 12, 31), 1) == (date(2027, 1, 4), True)  # 1 Jan, weekend
    assert CAL.add_working_days(date(2027, 4, 30), 1) == (date(2027, 5, 3), True)  # 1-2 May, Sunday
    assert CAL.add_working_days(date(2027, 9, 30), 1) == (date(2027, 10, 4), True)  # 1-3 October
    # Ending in 2026 on days that are known, the answer is exact.
    assert CAL.add_working_days(date(2026, 12, 28), 3) == (date(2026, 12, 31), False)


def test_a_loaded_schedule_makes_the_year_exact_and_wins() -> None:
    # The State Council's 2027 schedule as an admin would load it (here: a made-up Spring Festival).
    spring = frozenset(date(2027, 2, d) for d in range(6, 13))  # Saturday 6 .. Friday 12
    cal = WorkCalendar({2027: YearSchedule(2027, holidays=spring, workdays=frozenset({date(2027, 2, 14)}))})
    assert cal.is_exact(2027)
    assert not cal.is_working_day(date(2027, 2, 8)) and cal.is_working_day(date(2027, 2, 14))  # a Sunday
    assert not cal.is_working_day(date(2027, 2, 13))  # an ordinary Saturday
    # Friday 5 February + 2: Sunday 14 (make-up), Monday 15.
    assert cal.add_working_days(date(2027, 2, 5), 2) == (date(2027, 2, 15), False)
    # A loaded year knows only what was loaded: 1 January is a working day unless listed.
    assert cal.is_working_day(date(2027, 1, 1))


# ---------------------------------------------------------------------------- deadlines and the ladder


def test_a_working_day_deadline_ends_the_local_day_and_its_ladder_counts_working_days() -> None:
    d = compute_deadlines(sh(2026, 2, 13, 10, 0), Allowance(3, Unit.working_days), CAL)
    assert d.due_at == sh(2026, 2, 25).astimezone(UTC) == datetime(2026, 2, 25, 15, 59, 59, tzinfo=UTC)
    assert d.level2_at == sh(2026, 2, 27)  # half of 3 → 2 WD after the deadline
    assert d.level3_at == sh(2026, 2, 28)  # 3 WD after: the make-up Saturday
    assert (d.provisional, d.allowance) == (False, "3WD")
    assert [d.escalation_time(n) for n in range(4)] == [d.due_at, d.level2_at, d.level3_at, None]


def test_hours_are_exact_and_ignore_holidays() -> None:
    base = sh(2026, 2, 16, 22, 15, 0)  # in the middle of the Spring Festival
    d = compute_deadlines(base, Allowance(24, Unit.hours), CAL)
    assert (d.due_at, d.level2_at, d.level3_at) == (
        sh(2026, 2, 17, 22, 15, 0),
        sh(2026, 2, 18, 10, 15, 0),
        sh(2026, 2, 18, 22, 15, 0),
    )
    assert d.due_at.tzinfo == UTC


def test_calendar_days_end_the_local_day() -> None:
    # 23:30 UTC is already the next day in Shanghai: the count starts from the local date.
    d = compute_deadlines(datetime(2026, 1, 20, 23, 30, tzinfo=UTC), Allowance(30, Unit.days), CAL)
    assert (d.due_at, d.level2_at, d.level3_at) == (sh(2026, 2, 20), sh(2026, 3, 7), sh(2026, 3, 22))


def test_the_ladder_is_half_the_allowance_at_least_one_unit() -> None:
    assert escalation_ladder(Allowance(3, Unit.working_days)) == (
        Allowance(2, Unit.working_days),
        Allowance(3, Unit.working_days),
    )
    assert escalation_ladder(Allowance(1, Unit.working_days)) == (
        Allowance(1, Unit.working_days),
        Allowance(1, Unit.working_days),
    )
    assert escalation_ladder(Allowance(15, Unit.days)) == (Allowance(8, Unit.days), Allowance(15, Unit.days))
    d = compute_deadlines(sh(2026, 3, 2, 9, 0), Allowance(1, Unit.working_days), CAL)
    assert (d.due_at, d.level2_at, d.level3_at) == (sh(2026, 3, 3), sh(2026, 3, 4), sh(2026, 3, 4))


def test_a_steps_own_ladder_replaces_the_default() -> None:
    ladder = (Allowance(2, Unit.hours), Allowance(1, Unit.working_days))
    d = compute_deadlines(sh(2026, 3, 6, 9, 0, 0), Allowance(24, Unit.hours), CAL, ladder=ladder)
    assert d.due_at == sh(2026, 3, 7, 9, 0, 0)  # Saturday 09:00
    assert d.level2_at == sh(2026, 3, 7, 11, 0, 0)
    assert d.level3_at == sh(2026, 3, 9)  # the next working day, Monday


def test_a_deadline_reaching_an_unknown_year_is_provisional() -> None:
    d = compute_deadlines(sh(2026, 12, 10, 9, 0), Allowance(15, Unit.working_days), CAL)
    assert (d.due_at, d.provisional) == (sh(2026, 12, 31), True)  # the deadline itself is known; level 3 is not
    assert d.level2_at == sh(2027, 1, 13)  # 8 WD: 4-8 and 11-13 January (1 January off)
    assert d.level3_at == sh(2027, 1, 22)  # 15 WD: three full weeks of January
    # Calendar days and hours are never provisional.
    assert not compute_deadlines(sh(2026, 12, 10, 9, 0), Allowance(90, Unit.days), CAL).provisional


def test_a_naive_base_and_a_count_are_refused() -> None:
    with pytest.raises(ValueError):
        compute_deadlines(datetime(2026, 3, 2, 9, 0), Allowance(3, Unit.working_days), CAL)
    with pytest.raises(ValueError):
        compute_deadlines(sh(2026, 3, 2, 9, 0), Allowance(3, Unit.count), CAL)


def test_local_days() -> None:
    assert local_date(datetime(2026, 2, 16, 16, 0, tzinfo=UTC)) == date(2026, 2, 17)
    assert end_of_local_day(date(2026, 2, 17)) == datetime(2026, 2, 17, 15, 59, 59, tzinfo=UTC)


def test_birthdays() -> None:
    assert birthday(date(2010, 6, 15)) == date(2028, 6, 15)
    assert birthday(date(2008, 2, 29)) == date(2026, 3, 1)  # a common year: from 1 March
    assert birthday(date(2012, 2, 29), 16) == date(2028, 2, 29)  # a leap year
    assert birthday(date(2010, 9, 1), 17) == date(2027, 9, 1)
    assert timedelta(0) == birthday(date(2010, 1, 1)) - date(2028, 1, 1)
