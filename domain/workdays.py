"""Working days on the Chinese statutory calendar (法定节假日 and 调休 make-up working days).

The `chinesecalendar` package knows the official schedules it was released with; an admin loads the
State Council's schedule for each new year into the holiday table (YearSchedule here), which wins over
the package. For a year neither knows, weekdays count as working days and the fixed-date statutory
holidays are skipped; such a result is marked provisional so pages can say so.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

import chinese_calendar

# Fixed-date statutory holidays (全国年节及纪念日放假办法, 2025 revision): 元旦 1 day, 劳动节 2 days,
# 国庆节 3 days. The lunar ones (春节, 清明, 端午, 中秋) move and cannot be guessed here.
FIXED_HOLIDAYS: frozenset[tuple[int, int]] = frozenset({(1, 1), (5, 1), (5, 2), (10, 1), (10, 2), (10, 3)})


@dataclass(frozen=True)
class YearSchedule:
    """One year's official schedule: days off (holidays, including weekend days inside a holiday
    block need not be listed) and weekend days made working days (调休)."""

    year: int
    holidays: frozenset[date] = field(default_factory=frozenset)
    workdays: frozenset[date] = field(default_factory=frozenset)


class WorkCalendar:
    """Immutable once built; a worker or the web keeps one for as long as the schedules do not change, so
    each day's answer is kept too (the package's own check costs more than the day's arithmetic)."""

    def __init__(self, schedules: Mapping[int, YearSchedule] | None = None) -> None:
        self._schedules = dict(schedules or {})
        self._exact: dict[int, bool] = {}
        self._working: dict[date, bool] = {}

    def is_exact(self, year: int) -> bool:
        """True when the official schedule of `year` is known (loaded table or the package)."""
        known = self._exact.get(year)
        if known is None:
            known = self._exact[year] = self._is_exact(year)
        return known

    def _is_exact(self, year: int) -> bool:
        if year in self._schedules:
            return True
        try:
            chinese_calendar.is_workday(date(year, 6, 1))
        except NotImplementedError:
            return False
        return True

    def is_working_day(self, d: date) -> bool:
        known = self._working.get(d)
        if known is None:
            known = self._working[d] = self._is_working_day(d)
        return known

    def _is_working_day(self, d: date) -> bool:
        loaded = self._schedules.get(d.year)
        if loaded is not None:
            if d in loaded.workdays:
                return True
            if d in loaded.holidays:
                return False
            return d.weekday() < 5
        try:
            return bool(chinese_calendar.is_workday(d))
        except NotImplementedError:
            return d.weekday() < 5 and (d.month, d.day) not in FIXED_HOLIDAYS

    def working_days_between(self, start: date, end: date) -> int:
        """The working days after `start` up to and including `end` (what is left until a deadline on `end`);
        negative, counted the same way, when `end` is before `start` (how far past it)."""
        if end < start:
            return -self.working_days_between(end, start)
        return sum(1 for n in range(1, (end - start).days + 1) if self.is_working_day(start + timedelta(days=n)))

    def add_working_days(self, start: date, n: int) -> tuple[date, bool]:
        """The n-th working day after `start` (start itself does not count), and whether the answer
        is provisional because a day on the way lies in a year whose schedule is not known."""
        if n < 1:
            raise ValueError("n must be at least 1")
        d = start
        provisional = False
        counted = 0
        while counted < n:
            d += timedelta(days=1)
            if not self.is_exact(d.year):
                provisional = True
            if self.is_working_day(d):
                counted += 1
        return d, provisional
