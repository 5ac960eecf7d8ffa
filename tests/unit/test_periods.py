"""Reporting periods: months, and school terms that tile the year."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain.errors import DomainError
from domain.periods import month_period, parse_period, term_of, term_period


def test_terms_tile_the_calendar_without_gaps() -> None:
    day, seen = date(2025, 1, 1), set()
    while day < date(2028, 1, 1):
        t = term_of(day)
        assert t.contains(day)
        seen.add(t.key)
        day += timedelta(days=1)
    assert sorted(seen) == [
        "2024-autumn", "2025-autumn", "2025-spring", "2026-autumn", "2026-spring", "2027-autumn", "2027-spring",
    ]  # fmt: skip
    autumn = term_period(2026, "autumn")
    assert (autumn.start, autumn.end, autumn.label) == (date(2026, 9, 1), date(2027, 2, 1), "2026年秋季学期")
    assert autumn.shift(1).key == "2027-spring" and autumn.shift(-1).key == "2026-spring"
    assert autumn.shift(2) == term_period(2027, "autumn") and autumn.shift(1).shift(-1) == autumn
    assert term_of(date(2027, 1, 31)) == autumn and term_of(date(2027, 2, 1)).label == "2027年春季学期"


def test_months_and_their_neighbours() -> None:
    nov = month_period(date(2026, 11, 28))
    assert (nov.start, nov.end, nov.key, nov.label, nov.noun) == (
        date(2026, 11, 1), date(2026, 12, 1), "2026-11", "2026年11月", "本月",
    )  # fmt: skip
    assert nov.shift(2).key == "2027-01" and nov.shift(-11).key == "2025-12"


def test_parsing_asks_for_one_well_formed_period() -> None:
    today = date(2026, 11, 28)
    assert parse_period(month=None, term=None, today=today).key == "2026-11"
    assert parse_period(month=None, term=None, today=today, default="term").key == "2026-autumn"
    assert parse_period(month="2027-3", term=None, today=today).label == "2027年3月"
    assert parse_period(month=None, term="2027-spring", today=today).noun == "本学期"
    for month, term, field, words in [
        ("2026-13", None, "month", "YYYY-MM"),
        ("1999-01", None, "month", "2000至2100年"),
        (None, "2026-summer", "term", "YYYY-spring"),
        ("2026-11", "2026-autumn", "term", "只选择"),
    ]:
        with pytest.raises(DomainError) as e:
            parse_period(month=month, term=term, today=today)
        assert e.value.field == field and words in e.value.message
