"""The six-monthly registry refresh (监测摸排, plan item 1): each county's civil affairs refreshes its migrant
children's registry from the education, police, health, medical-insurance and disability agencies' data
at least once every half-year. A Temporal Schedule per county opens each half-year's refresh
(workflows/refresh.py); it is done when that county's import is applied (or a person records it), and
escalates like any step: the county's civil affairs when due, then its supervisors, then the city's."""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel

from domain.deadlines import StepDeadlines
from domain.policy import policy

REFRESH_POLICY = "registry.refresh"
POLICIES = (
    policy(
        REFRESH_POLICY,
        "6M",
        "县级民政部门汇总教育、公安、卫健、医保、残联数据，更新流动儿童台账（至少每半年一次）",
        "长治市流动儿童关爱保护实施方案",
    ),
)
WORKFLOW_TYPE = "registry_refresh"
RECORD_UPDATE = "refresh_recorded"


def half_year(day: date) -> tuple[str, date]:
    """The half-year `day` falls in, as its key ("2027H1") and its first day."""
    first = date(day.year, 1 if day.month <= 6 else 7, 1)
    return f"{day.year}H{1 if day.month <= 6 else 2}", first


def period_start(period: str) -> date:
    year, half = period.split("H")
    return date(int(year), 1 if half == "1" else 7, 1)


def period_label(period: str) -> str:
    year, half = period.split("H")
    return f"{year}年{'上' if half == '1' else '下'}半年"


def schedule_id(county: str) -> str:
    return f"registry-refresh-{county}"


def workflow_id_prefix(county: str) -> str:
    """The schedule names each run's workflow with this and the time it fired."""
    return f"refresh-{county}"


class RefreshInput(BaseModel):
    county: str
    period: str | None = None  # None: the half-year the workflow starts in


class RefreshDone(BaseModel):
    """Who recorded the refresh: the registry's apply (an import, by its id) or a person."""

    agency_id: int
    agency_name: str
    user_id: int | None = None
    user_name: str
    import_ref: str = ""
    note: str = ""


class RefreshOpening(BaseModel):
    county: str
    period: str
    workflow_id: str
    opened_at: datetime
    deadlines: StepDeadlines


class RefreshLevel(BaseModel):
    county: str
    period: str
    level: int  # 0: due (opened); 1-3 the escalation levels
    at: datetime


class RefreshRecorded(BaseModel):
    county: str
    period: str
    at: datetime
    done: RefreshDone


class RefreshState(BaseModel):
    county: str
    period: str
    level: int = 0
    deadlines: StepDeadlines | None = None
    done: RefreshDone | None = None
