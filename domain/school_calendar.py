"""The school calendar (校历): a county's school terms and the holidays within each, set per term by the
county education bureau. A school day is a statutory working day within a term and outside its
holidays: a pupil is not absent in the summer. Where no term is set around a date, school days fall
back to the statutory working days, and whoever relies on the count is told so."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta

from domain.errors import DomainError
from domain.workdays import WorkCalendar

# A term is at most a school year long; a holiday lies within its term.
MAX_TERM_DAYS = 366


@dataclass(frozen=True)
class Holiday:
    starts_on: date
    ends_on: date
    label: str = ""

    def covers(self, d: date) -> bool:
        return self.starts_on <= d <= self.ends_on


@dataclass(frozen=True)
class SchoolTerm:
    label: str
    starts_on: date
    ends_on: date
    holidays: tuple[Holiday, ...] = ()

    def covers(self, d: date) -> bool:
        return self.starts_on <= d <= self.ends_on

    def is_school_day(self, d: date, workdays: WorkCalendar) -> bool:
        return self.covers(d) and not any(h.covers(d) for h in self.holidays) and workdays.is_working_day(d)


@dataclass(frozen=True)
class SchoolDays:
    count: int
    fallback: bool  # some of the days lie where no school calendar is set: counted as working days


@dataclass(frozen=True)
class SchoolCalendar:
    """A county's terms (possibly none) over the statutory calendar."""

    terms: tuple[SchoolTerm, ...] = ()
    workdays: WorkCalendar = field(default_factory=WorkCalendar)

    def is_set_for(self, d: date) -> bool:
        """Whether the calendar says what `d` is: within a term, or between two terms that are set
        (the holidays between terms are known then)."""
        return any(t.starts_on <= d for t in self.terms) and any(t.ends_on >= d for t in self.terms)

    def is_school_day(self, d: date) -> bool:
        if not self.is_set_for(d):
            return self.workdays.is_working_day(d)
        return any(t.is_school_day(d, self.workdays) for t in self.terms)

    def school_days_between(self, start: date, end: date) -> SchoolDays:
        """School days from `start` to `end`, both included."""
        days = [start + timedelta(days=n) for n in range((end - start).days + 1)]
        return SchoolDays(
            count=sum(1 for d in days if self.is_school_day(d)),
            fallback=any(not self.is_set_for(d) for d in days),
        )


_HOLIDAY_LINE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:\s*(?:至|到|~|-{1,2}|—)\s*(\d{4}-\d{2}-\d{2}))?\s*(.*)$")


def parse_holidays(text: str) -> tuple[Holiday, ...]:
    """One holiday per line: "2026-10-01 至 2026-10-08 国庆节" (or one date alone, and a name)."""
    out = []
    for n, line in enumerate((s.strip() for s in text.splitlines()), start=1):
        if not line:
            continue
        m = _HOLIDAY_LINE.match(line)
        try:
            start = date.fromisoformat(m.group(1)) if m else None
            end = date.fromisoformat(m.group(2)) if m and m.group(2) else start
        except ValueError:
            start = end = None
        if m is None or start is None or end is None:
            raise DomainError(
                "field_invalid", f"第{n}行格式不对：应为“YYYY-MM-DD 至 YYYY-MM-DD 名称”", field="holidays"
            )
        out.append(Holiday(start, end, m.group(3).strip()[:32]))
    return tuple(out)


def check_term(term: SchoolTerm) -> None:
    """The term's dates in order and not over a year long; each holiday in order and within the term."""
    if term.ends_on < term.starts_on:
        raise DomainError("dates_out_of_order", "学期结束日期早于开始日期", field="ends_on")
    if (term.ends_on - term.starts_on).days > MAX_TERM_DAYS:
        raise DomainError("field_invalid", "一个学期不能超过一年", field="ends_on")
    if not term.label.strip():
        raise DomainError("field_required", "请填写学期名称（如：2026年秋季学期）", field="label")
    for h in term.holidays:
        if h.ends_on < h.starts_on:
            raise DomainError(
                "dates_out_of_order", f"假期“{h.label or h.starts_on}”结束日期早于开始日期", field="holidays"
            )
        if not (term.covers(h.starts_on) and term.covers(h.ends_on)):
            raise DomainError("field_invalid", f"假期“{h.label or h.starts_on}”不在学期起止日期之内", field="holidays")


def check_no_overlap(term: SchoolTerm, others: tuple[SchoolTerm, ...]) -> None:
    for o in others:
        if term.starts_on <= o.ends_on and o.starts_on <= term.ends_on:
            raise DomainError(
                "term_overlaps",
                f"与已设置的“{o.label}”（{o.starts_on}至{o.ends_on}）日期重叠，请先修改或删除该学期",
                field="starts_on",
            )
