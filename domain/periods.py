"""Reporting periods: a calendar month (the county education bureau's monthly 调度) or a school term (the
city's 每学期 cadence, 教基厅函〔2024〕15号). Terms tile the year with no gap, so every case falls in one:
the autumn term runs from 1 September to the end of January, the spring term from 1 February to the end
of August (the summer holiday counts with the spring term it follows)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from domain.errors import DomainError

PeriodKind = Literal["month", "term"]
YEARS = (2000, 2100)
SEASONS = {"spring": "春季学期", "autumn": "秋季学期"}


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    start: date  # the first day
    end: date  # the first day after
    key: str  # as in a URL: 2026-11, 2026-autumn
    label: str  # 2026年11月, 2026年秋季学期

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def noun(self) -> str:
        """本月 / 本学期, for the report's headings."""
        return "本月" if self.kind == "month" else "本学期"

    def shift(self, by: int) -> Period:
        if self.kind == "month":
            n = self.start.year * 12 + self.start.month - 1 + by
            return month_period(date(n // 12, n % 12 + 1, 1))
        index = self.start.year * 2 + (self.start.month >= 9) + by
        return term_period(index // 2, "autumn" if index % 2 else "spring")

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end


def month_period(day: date) -> Period:
    start = date(day.year, day.month, 1)
    end = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return Period("month", start, end, f"{start:%Y-%m}", f"{start.year}年{start.month}月")


def term_period(year: int, season: str) -> Period:
    if season == "autumn":
        start, end = date(year, 9, 1), date(year + 1, 2, 1)
    else:
        start, end = date(year, 2, 1), date(year, 9, 1)
    return Period("term", start, end, f"{year}-{season}", f"{year}年{SEASONS[season]}")


def term_of(day: date) -> Period:
    if day.month >= 9:
        return term_period(day.year, "autumn")
    if day.month == 1:
        return term_period(day.year - 1, "autumn")
    return term_period(day.year, "spring")


def parse_month(text: str) -> Period:
    m = re.fullmatch(r"(\d{4})-(\d{1,2})", text.strip())
    if not m or not YEARS[0] <= int(m[1]) <= YEARS[1] or not 1 <= int(m[2]) <= 12:
        raise DomainError("field_invalid", "月份格式应为 YYYY-MM（2000至2100年）", field="month")
    return month_period(date(int(m[1]), int(m[2]), 1))


def parse_term(text: str) -> Period:
    m = re.fullmatch(r"(\d{4})-(spring|autumn)", text.strip())
    if not m or not YEARS[0] <= int(m[1]) <= YEARS[1]:
        raise DomainError(
            "field_invalid", "学期格式应为 YYYY-spring（春季学期）或 YYYY-autumn（秋季学期）", field="term"
        )
    return term_period(int(m[1]), m[2])


def parse_period(*, month: str | None, term: str | None, today: date, default: PeriodKind = "month") -> Period:
    """The period asked for: a month, a term (not both), or the current one of the default kind."""
    if month and term:
        raise DomainError("field_invalid", "请只选择月份或学期中的一项", field="term")
    if month:
        return parse_month(month)
    if term:
        return parse_term(term)
    return month_period(today) if default == "month" else term_of(today)
