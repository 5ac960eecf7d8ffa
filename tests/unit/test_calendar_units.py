"""Calendar months and years in policy values, and "from the first day of the next month": dates as a
civil-affairs clerk would count them on a wall calendar in Changzhi (Asia/Shanghai, no daylight saving,
local midnight is 16:00 UTC the day before)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest

from domain.deadlines import (
    birthday,
    cadence,
    compute_deadlines,
    date_after,
    escalation_ladder,
    first_of_next_month,
    start_of_next_month,
)
from domain.errors import DomainError
from domain.months import add_months, every_months, month_start
from domain.policy import Allowance, Anchor, Unit
from domain.workdays import WorkCalendar

SHANGHAI = ZoneInfo("Asia/Shanghai")


def sh(y: int, m: int, d: int, hh: int = 23, mm: int = 59, ss: int = 59) -> datetime:
    return datetime(y, m, d, hh, mm, ss, tzinfo=SHANGHAI)


def deadlines(base: datetime, value: str):
    return compute_deadlines(base, Allowance.parse(value), WorkCalendar())


def test_a_month_on_from_a_day_the_next_month_lacks_is_that_months_last_day() -> None:
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert add_months(date(2028, 1, 31), 1) == date(2028, 2, 29)  # leap year
    assert add_months(date(2026, 1, 30), 1) == date(2026, 2, 28)
    assert add_months(date(2026, 3, 31), 1) == date(2026, 4, 30)
    assert add_months(date(2026, 8, 31), 6) == date(2027, 2, 28)
    assert add_months(date(2026, 11, 30), 3) == date(2027, 2, 28)  # across the year end
    assert add_months(date(2026, 12, 15), 1) == date(2027, 1, 15)
    assert add_months(date(2026, 3, 31), -1) == date(2026, 2, 28)
    # As a step's deadline: the end of that local day.
    d = deadlines(sh(2026, 1, 31, 10, 0, 0), "1M")
    assert d.due_at == datetime(2026, 2, 28, 15, 59, 59, tzinfo=UTC) == sh(2026, 2, 28)
    assert d.allowance == "1M" and d.provisional is False


def test_a_yearly_review_from_29_february_falls_on_28_february() -> None:
    assert date_after(date(2024, 2, 29), Allowance.parse("1y")) == date(2025, 2, 28)
    assert date_after(date(2024, 2, 29), Allowance.parse("4y")) == date(2028, 2, 29)
    assert date_after(date(2024, 2, 29), Allowance.parse("12M")) == date(2025, 2, 28)
    assert cadence(date(2024, 2, 29), Allowance.parse("1y"), date(2029, 3, 1)) == [
        date(2025, 2, 28), date(2026, 2, 28), date(2027, 2, 28), date(2028, 2, 29), date(2029, 2, 28),
    ]  # fmt: skip
    assert deadlines(sh(2024, 2, 29, 9, 30, 0), "1y").due_at == sh(2025, 2, 28)


def test_a_six_monthly_home_visit_over_sixteen_years_does_not_drift_from_the_31st() -> None:
    """A key child put on the list on 31 August 2024 (aged 0) until their 16th birthday: a home visit due
    every 6 months, counted from the start each time, so August's stay on the 31st."""
    start = date(2024, 8, 31)
    visits = cadence(start, Allowance.parse("6M"), birthday(start, 16))
    assert len(visits) == 32
    assert visits[:5] == [date(2025, 2, 28), date(2025, 8, 31), date(2026, 2, 28), date(2026, 8, 31), date(2027, 2, 28)]
    assert visits[6] == date(2028, 2, 29)  # leap
    assert visits[-2:] == [date(2040, 2, 29), date(2040, 8, 31)]
    assert {(v.month, v.day) for v in visits} == {(2, 28), (2, 29), (8, 31)}
    # Counting each from the one before would lose three days for good after the first February.
    chained = [start]
    for _ in range(3):
        chained.append(add_months(chained[-1], 6))
    assert chained[1:] == [date(2025, 2, 28), date(2025, 8, 28), date(2026, 2, 28)]
    assert every_months(start, 6, date(2025, 8, 30)) == [date(2025, 2, 28)]  # `until` is inclusive, not past it
    # Contact every 3 months from 30 November: 28 February, then back to the 30th.
    assert cadence(date(2026, 11, 30), Allowance.parse("3M"), date(2027, 12, 1)) == [
        date(2027, 2, 28), date(2027, 5, 30), date(2027, 8, 30), date(2027, 11, 30),
    ]  # fmt: skip


def test_the_first_day_of_the_next_month() -> None:
    assert first_of_next_month(date(2026, 12, 31)) == date(2027, 1, 1)
    assert first_of_next_month(date(2026, 3, 1)) == date(2026, 4, 1)
    assert first_of_next_month(date(2024, 2, 29)) == date(2024, 3, 1)
    assert first_of_next_month(date(2026, 1, 31)) == date(2026, 2, 1)
    assert month_start(date(2026, 3, 17)) == date(2026, 3, 1)
    assert month_start(date(2026, 11, 17), 3) == date(2027, 2, 1)


def test_the_next_month_starts_at_local_midnight_which_is_16_utc_the_day_before() -> None:
    # 31 December 23:59:59 in Changzhi: the next month is January.
    last_second = datetime(2026, 12, 31, 15, 59, 59, tzinfo=UTC)
    assert first_of_next_month(last_second) == date(2027, 1, 1)
    assert start_of_next_month(last_second) == datetime(2026, 12, 31, 16, 0, 0, tzinfo=UTC) == sh(2027, 1, 1, 0, 0, 0)
    # One second later it is already 1 January there (still 31 December in UTC): the next month is February.
    new_year = datetime(2026, 12, 31, 16, 0, 0, tzinfo=UTC)
    assert first_of_next_month(new_year) == date(2027, 2, 1)
    assert start_of_next_month(new_year) == datetime(2027, 1, 31, 16, 0, 0, tzinfo=UTC)
    assert start_of_next_month(sh(2026, 3, 1, 0, 0, 0)) == datetime(2026, 3, 31, 16, 0, 0, tzinfo=UTC)
    assert start_of_next_month(date(2026, 3, 1)) == sh(2026, 4, 1, 0, 0, 0)
    with pytest.raises(ValueError):
        first_of_next_month(datetime(2026, 12, 31, 16, 0, 0))  # naive: which zone?
    with pytest.raises(TypeError):
        month_start(new_year)  # type: ignore[arg-type]  # its own fields are UTC's, not the local date
    with pytest.raises(TypeError):
        add_months(new_year, 1)  # type: ignore[arg-type]


def test_from_the_month_after_approval_and_until_the_month_after_the_18th_birthday() -> None:
    start = Allowance.parse("1M@start")
    assert (start.amount, start.unit, start.anchor, start.kind) == (1, Unit.months, Anchor.month_start, "month_start")
    # The allowance starts the month after approval, whatever the day of approval.
    assert date_after(date(2026, 3, 1), start) == date(2026, 4, 1)
    assert date_after(date(2026, 3, 31), start) == date(2026, 4, 1)
    assert date_after(date(2026, 12, 31), start) == date(2027, 1, 1)
    assert date_after(date(2026, 3, 15), Allowance.parse("0M@start")) == date(2026, 3, 1)  # a county's "当月起"
    assert date_after(date(2026, 11, 15), Allowance.parse("3M@start")) == date(2027, 2, 1)
    # Support ends from the month after the 18th birthday.
    assert date_after(birthday(date(2008, 5, 20)), start) == date(2026, 6, 1)
    assert date_after(birthday(date(2008, 12, 31)), start) == date(2027, 1, 1)
    assert date_after(birthday(date(2008, 2, 29)), start) == date(2026, 4, 1)  # 18 on 1 March 2026
    # It is a date rule, not a step's time: no deadline, no cadence.
    with pytest.raises(ValueError):
        compute_deadlines(sh(2026, 3, 15, 10, 0, 0), start, WorkCalendar())
    with pytest.raises(ValueError):
        cadence(date(2026, 3, 15), start, date(2030, 1, 1))
    with pytest.raises(ValueError):
        date_after(date(2026, 3, 15), Allowance.parse("5WD"))  # needs the working-day calendar


def test_the_ladder_of_a_3_month_allowance_escalates_after_one_and_a_half_months() -> None:
    assert escalation_ladder(Allowance.parse("3M")) == (Allowance(45, Unit.days), Allowance(3, Unit.months))
    assert escalation_ladder(Allowance.parse("1M")) == (Allowance(15, Unit.days), Allowance(1, Unit.months))
    assert escalation_ladder(Allowance.parse("6M")) == (Allowance(3, Unit.months), Allowance(6, Unit.months))
    d = deadlines(sh(2026, 1, 31, 10, 0, 0), "3M")
    assert d.due_at == datetime(2026, 4, 30, 15, 59, 59, tzinfo=UTC)  # 31 January + 3 months
    assert d.level2_at == datetime(2026, 6, 14, 15, 59, 59, tzinfo=UTC)  # + 45 days: county supervisor
    assert d.level3_at == datetime(2026, 7, 30, 15, 59, 59, tzinfo=UTC)  # + 3 months from 30 April: the city
    d = deadlines(sh(2026, 1, 31, 10, 0, 0), "1M")
    assert (d.due_at, d.level2_at, d.level3_at) == (sh(2026, 2, 28), sh(2026, 3, 15), sh(2026, 3, 28))


def test_the_ladder_of_a_yearly_allowance_escalates_after_half_a_year() -> None:
    assert escalation_ladder(Allowance.parse("1y")) == (Allowance(6, Unit.months), Allowance(1, Unit.years))
    assert escalation_ladder(Allowance.parse("2y")) == (Allowance(12, Unit.months), Allowance(2, Unit.years))
    d = deadlines(datetime(2026, 3, 31, 2, 0, 0, tzinfo=UTC), "1y")  # 10:00 in Changzhi
    assert d.due_at == datetime(2027, 3, 31, 15, 59, 59, tzinfo=UTC)
    assert d.level2_at == datetime(2027, 9, 30, 15, 59, 59, tzinfo=UTC)  # 31 September does not exist
    assert d.level3_at == datetime(2028, 3, 31, 15, 59, 59, tzinfo=UTC)
    # Opened at 00:30 on 1 March in Changzhi (still 29 February in UTC): counted from 1 March.
    d = deadlines(datetime(2028, 2, 29, 16, 30, 0, tzinfo=UTC), "1y")
    assert (d.due_at, d.level2_at, d.level3_at) == (sh(2029, 3, 1), sh(2029, 9, 1), sh(2030, 3, 1))


def test_day_and_hour_deadlines_are_as_before() -> None:
    base = sh(2026, 1, 31, 10, 0, 0)
    d = deadlines(base, "30d")
    assert (d.due_at, d.level2_at, d.level3_at) == (sh(2026, 3, 2), sh(2026, 3, 17), sh(2026, 4, 1))
    d = deadlines(base, "24h")
    assert d.due_at == sh(2026, 2, 1, 10, 0, 0)
    assert (d.level2_at, d.level3_at) == (sh(2026, 2, 1, 22, 0, 0), sh(2026, 2, 2, 10, 0, 0))


@pytest.mark.parametrize(
    ("text", "label", "kind"),
    [
        ("3M", "3个月", "duration"),
        ("6M", "6个月", "duration"),
        ("1y", "1年", "duration"),
        ("15WD", "15个工作日", "duration"),
        ("30d", "30天", "duration"),
        ("24h", "24小时", "duration"),
        ("3count", "3次", "count"),
        ("1M@start", "次月1日起", "month_start"),
        ("0M@start", "当月1日起", "month_start"),
        ("3M@start", "3个月后当月的1日起", "month_start"),
    ],
)
def test_values_read_back_as_written_and_label_in_chinese(text: str, label: str, kind: str) -> None:
    value = Allowance.parse(text)
    assert (str(value), value.label(), value.kind) == (text, label, kind)
    assert Allowance.parse(str(value)) == value


def test_values_are_read_with_spaces_and_full_width_digits() -> None:
    assert Allowance.parse(" 3 M ") == Allowance(3, Unit.months)
    assert Allowance.parse("１２M") == Allowance(12, Unit.months)
    assert Allowance.parse("1M @start") == Allowance(1, Unit.months, Anchor.month_start)


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("0M", "期限格式不正确"),
        ("M", "期限格式不正确"),
        ("0y", "期限格式不正确"),
        ("1.5M", "期限格式不正确"),
        ("-1M", "期限格式不正确"),
        ("3 months", "期限格式不正确"),
        ("1Y", "期限格式不正确"),
        ("²M", "期限格式不正确"),
        ("@start", "期限格式不正确"),
        ("3m", "月份请用大写 M"),
        ("1m@start", "月份请用大写 M"),
        ("1y@start", "“@start”只能用于月"),
        ("5WD@start", "“@start”只能用于月"),
    ],
)
def test_a_malformed_value_is_refused_in_chinese(text: str, says: str) -> None:
    with pytest.raises(DomainError) as e:
        Allowance.parse(text)
    assert (e.value.code, e.value.field) == ("policy_value_invalid", "value")
    assert says in e.value.message and text in e.value.message
