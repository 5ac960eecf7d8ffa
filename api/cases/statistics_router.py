"""/api/v1/statistics/{process}: a process's statistics by month, quarter or year (api/cases/tallies.py)."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.cases.tallies import asked_period, periodic_tables, statistics_process
from api.deps import ApiUser, SessionDep, now_utc
from domain.deadlines import local_date

router = APIRouter(prefix="/statistics", tags=["work"])


class PeriodPublic(BaseModel):
    kind: str
    key: str
    label: str
    start: date
    end: date  # the first day after


class TallyRowPublic(BaseModel):
    group: str
    cells: list[int]
    total: int


class TallyTablePublic(BaseModel):
    key: str
    title: str
    group_label: str
    columns: list[str]
    rows: list[TallyRowPublic]
    totals: list[int]
    total: int


class StatisticsPublic(BaseModel):
    process: str
    title: str
    period: PeriodPublic
    tables: list[TallyTablePublic]


@router.get(
    "/{process}",
    response_model=StatisticsPublic,
    summary="Supervisor: a process's statistics for a month (?month=2026-11), quarter (?quarter=2026-Q4) or "
    "year (?year=2026)",
)
async def statistics(
    process: str,
    principal: ApiUser,
    session: SessionDep,
    month: str | None = Query(None, max_length=16),
    quarter: str | None = Query(None, max_length=16),
    year: str | None = Query(None, max_length=16),
) -> StatisticsPublic:
    p = statistics_process(process)
    assert p.periodic_report is not None
    period = asked_period(
        p, {"month": month or "", "quarter": quarter or "", "year": year or ""}, local_date(now_utc())
    )
    tables = await periodic_tables(session=session, principal=principal, process=p, period=period)
    return StatisticsPublic(
        process=p.name,
        title=p.periodic_report.title,
        period=PeriodPublic(kind=period.kind, key=period.key, label=period.label, start=period.start, end=period.end),
        tables=[
            TallyTablePublic(
                key=t.key,
                title=t.title,
                group_label=t.group_label,
                columns=t.columns,
                rows=[TallyRowPublic(group=r.group, cells=r.cells, total=r.total) for r in t.rows],
                totals=t.totals,
                total=t.total,
            )
            for t in tables
        ],
    )
