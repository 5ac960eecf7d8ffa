"""What /api/v1/cross-region answers, as the OpenAPI declares it."""

from __future__ import annotations

from typing import Literal

from api.answer import Answer, Timestamp


class CrossRegionItem(Answer):
    case_no: str
    process: str
    process_label: str
    residence_region: str
    residence: str
    origin_region: str
    origin: str
    side: str
    step: str
    step_label: str
    holder: str
    external: str | None
    since: Timestamp
    due_at: Timestamp | None
    days_left: int | None
    # How days_left counts: "WD" working days on the statutory calendar (a step of working days), "d" calendar days.
    days_unit: Literal["WD", "d"] | None
    overdue: bool
    month: str


class MonthCount(Answer):
    month: str
    cases: int


class CrossRegionOut(Answer):
    """跨地区审批: the applications the viewer's county is party to (the city: all), overdue first."""

    month: str | None
    months: list[MonthCount]
    items: list[CrossRegionItem]
    count: int
