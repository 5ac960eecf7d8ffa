"""Reporting periods: a calendar month (the county education bureau's monthly 调度), a quarter or a year (the
statistics the police, courts and civil affairs keep), or a school term (the city's 每学期 cadence,
教基厅函〔2024〕15号). Terms tile the year with no gap, so every case falls in one:
the autumn term runs from 1 September to the end of January, the spring term from 1 February to the end
of August (the summer holiday counts with the spring term it follows)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Literal

from domain.errors import DomainError

PeriodKind = Literal["month", "quarter", "year", "term"]
YEARS = (2000, 2100)
SEASONS = {"spring": "春季学期", "autumn": "秋季学期"}
QUARTERS = ("第一季度", "第二季度", "第三季度", "第四季度")
NOUNS = {"month": "本月", "quarter": "本季度", "year": "本年", "term": "本学期"}
UNITS = {"month": "月", "quarter": "季度", "year": "年", "term": "学期"}
NAMES = {"month": "月份", "quarter": "季度", "year": "年份", "term": "学期"}


@dataclass(frozen=True)
class Period:
    kind: PeriodKind
    start: date  # the first day
    end: date  # the first day after
    key: str  # as in a URL: 2026-11, 2026-Q4, 2026, 2026-autumn
    label: str  # 2026年11月, 2026年第四季度, 2026年, 2026年秋季学期

    @property
    def last(self) -> date:
        return self.end - timedelta(days=1)

    @property
    def noun(self) -> str:
        """本月 / 本季度 / 本年 / 本学期, for the report's headings."""
        return NOUNS[self.kind]

    @property
    def unit(self) -> str:
        """月 / 季度 / 年 / 学期: 上一{unit}."""
        return UNITS[self.kind]

    def shift(self, by: int) -> Period:
        if self.kind in ("month", "quarter"):
            months = 3 if self.kind == "quarter" else 1
            n = self.start.year * 12 + self.start.month - 1 + by * months
            day = date(n // 12, n % 12 + 1, 1)
            return quarter_period(day) if self.kind == "quarter" else month_period(day)
        if self.kind == "year":
            return year_period(self.start.year + by)
        index = self.start.year * 2 + (self.start.month >= 9) + by
        return term_period(index // 2, "autumn" if index % 2 else "spring")

    def contains(self, day: date) -> bool:
        return self.start <= day < self.end


def month_period(day: date) -> Period:
    start = date(day.year, day.month, 1)
    end = date(day.year + (day.month == 12), day.month % 12 + 1, 1)
    return Period("month", start, end, f"{start:%Y-%m}", f"{start.year}年{start.month}月")


def quarter_period(day: date) -> Period:
    q = (day.month - 1) // 3
    start = date(day.year, q * 3 + 1, 1)
    end = date(day.year + 1, 1, 1) if q == 3 else date(day.year, q * 3 + 4, 1)
    return Period("quarter", start, end, f"{day.year}-Q{q + 1}", f"{day.year}年{QUARTERS[q]}")


def year_period(year: int) -> Period:
    return Period("year", date(year, 1, 1), date(year + 1, 1, 1), str(year), f"{year}年")


def period_of(kind: PeriodKind, day: date) -> Period:
    """The period of this kind that holds the day."""
    if kind == "quarter":
        return quarter_period(day)
    if kind == "year":
        return year_period(day.year)
    return term_of(day) if kind == "term" else month_period(day)


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


def parse_quarter(text: str) -> Period:
    m = re.fullmatch(r"(\d{4})-Q([1-4])", text.strip(), re.IGNORECASE)
    if not m or not YEARS[0] <= int(m[1]) <= YEARS[1]:
        raise DomainError("field_invalid", "季度格式应为 YYYY-Q1 至 YYYY-Q4（2000至2100年）", field="quarter")
    return quarter_period(date(int(m[1]), int(m[2]) * 3 - 2, 1))


def parse_year(text: str) -> Period:
    m = re.fullmatch(r"\d{4}", text.strip())
    if not m or not YEARS[0] <= int(m[0]) <= YEARS[1]:
        raise DomainError("field_invalid", "年份格式应为 YYYY（2000至2100年）", field="year")
    return year_period(int(m[0]))


PARSERS = {"month": parse_month, "quarter": parse_quarter, "year": parse_year, "term": parse_term}


def parse_period(
    *,
    month: str | None,
    term: str | None,
    today: date,
    default: PeriodKind = "month",
    quarter: str | None = None,
    year: str | None = None,
) -> Period:
    """The period asked for: a month, a quarter, a year or a term (only one), or the current one of the
    default kind."""
    given = [(k, v) for k, v in (("month", month), ("quarter", quarter), ("year", year), ("term", term)) if v]
    if len(given) > 1:
        field = given[-1][0]
        raise DomainError("field_invalid", "请只选择" + "或".join(NAMES[k] for k, _ in given) + "中的一项", field=field)
    if given:
        kind, text = given[0]
        return PARSERS[kind](text)
    return period_of(default, today)
