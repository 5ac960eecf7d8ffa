"""School days on the school calendar (domain/school_calendar.py): a term's working days, less its
holidays; nothing between terms; the statutory working days where no calendar is set."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import DomainError
from domain.school_calendar import Holiday, SchoolCalendar, SchoolTerm, check_no_overlap, check_term, parse_holidays

SPRING = SchoolTerm("2026年春季学期", date(2026, 3, 2), date(2026, 7, 10))
AUTUMN = SchoolTerm(
    "2026年秋季学期", date(2026, 9, 1), date(2027, 1, 22), holidays=(Holiday(date(2026, 11, 16), date(2026, 11, 20)),)
)
CAL = SchoolCalendar(terms=(SPRING, AUTUMN))


def test_the_summer_between_two_terms_has_no_school_days() -> None:
    days = CAL.school_days_between(date(2026, 7, 13), date(2026, 8, 31))
    assert days.count == 0 and days.fallback is False  # 35 statutory working days


def test_a_holiday_within_a_term_is_no_school_day_and_weekends_stay_off() -> None:
    # Mon 9 Nov to Sun 22 Nov 2026: ten working days, five of them the term's holiday.
    assert CAL.school_days_between(date(2026, 11, 9), date(2026, 11, 22)).count == 5
    # 国庆节 is off on the statutory calendar, within the term too; a make-up working day (调休) is a school day.
    assert CAL.is_school_day(date(2026, 10, 1)) is False
    statutory = SchoolCalendar().school_days_between(date(2026, 9, 28), date(2026, 10, 11))
    assert CAL.school_days_between(date(2026, 9, 28), date(2026, 10, 11)).count == statutory.count


def test_dates_no_calendar_covers_fall_back_to_working_days_and_say_so() -> None:
    days = CAL.school_days_between(date(2027, 1, 18), date(2027, 2, 5))
    assert days.fallback is True
    assert SchoolCalendar().school_days_between(date(2026, 7, 13), date(2026, 7, 24)) == type(days)(10, True)


def test_a_term_is_checked_and_holidays_parsed() -> None:
    assert parse_holidays("2026-10-01 至 2026-10-08 国庆节\n\n2026-11-12 运动会") == (
        Holiday(date(2026, 10, 1), date(2026, 10, 8), "国庆节"),
        Holiday(date(2026, 11, 12), date(2026, 11, 12), "运动会"),
    )
    with pytest.raises(DomainError, match="第1行"):
        parse_holidays("10月1日至7日")
    with pytest.raises(DomainError, match="不在学期起止日期之内"):
        check_term(
            SchoolTerm("秋季", date(2026, 9, 1), date(2027, 1, 22), (Holiday(date(2027, 2, 1), date(2027, 2, 3)),))
        )
    with pytest.raises(DomainError, match="早于"):
        check_term(SchoolTerm("秋季", date(2026, 9, 1), date(2026, 8, 1)))
    with pytest.raises(DomainError, match="重叠"):
        check_no_overlap(SchoolTerm("x", date(2026, 7, 1), date(2026, 9, 5)), (SPRING, AUTUMN))
