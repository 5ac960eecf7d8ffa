"""Care periods (关爱期): the date ranges the city sets in which follow-up comes more often (plan item 18:
中高考、寒暑假期间加大心理关爱服务力度). Until the city sets its own, the defaults below hold: the winter
holiday, the senior and junior high-school entrance exams, the summer holiday."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

from domain.errors import DomainError

MAX_PERIOD_DAYS = 184  # half a year: a longer "period" would halve every interval
MAX_PERIODS = 200


class CarePeriod(BaseModel):
    starts_on: date
    ends_on: date
    label: str = Field(max_length=32)

    def covers(self, d: date) -> bool:
        return self.starts_on <= d <= self.ends_on


def default_care_periods(years: range = range(2024, 2031)) -> list[CarePeriod]:
    out: list[CarePeriod] = []
    for y in years:
        out.append(CarePeriod(starts_on=date(y, 1, 15), ends_on=date(y, 2, 28), label="寒假"))
        out.append(CarePeriod(starts_on=date(y, 6, 1), ends_on=date(y, 6, 30), label="中考、高考"))
        out.append(CarePeriod(starts_on=date(y, 7, 1), ends_on=date(y, 8, 31), label="暑假"))
    return out


def care_period_on(d: date, periods: list[CarePeriod]) -> CarePeriod | None:
    return next((p for p in periods if p.covers(d)), None)


def check_care_periods(periods: list[CarePeriod]) -> None:
    """Refuses a list a clerk could not have meant: a period ending before it starts, longer than half a
    year, without a name, or too many of them."""
    if len(periods) > MAX_PERIODS:
        raise DomainError("field_invalid", f"关爱期最多设置{MAX_PERIODS}段", field="periods")
    for i, p in enumerate(periods, 1):
        if not p.label.strip():
            raise DomainError("field_required", f"请填写第{i}段关爱期的名称（如：寒假、中考）", field="periods")
        if p.ends_on < p.starts_on:
            raise DomainError("dates_out_of_order", f"第{i}段关爱期“{p.label}”的结束日期早于开始日期", field="periods")
        if (p.ends_on - p.starts_on).days >= MAX_PERIOD_DAYS:
            raise DomainError("field_invalid", f"第{i}段关爱期“{p.label}”超过半年，请分段设置", field="periods")
