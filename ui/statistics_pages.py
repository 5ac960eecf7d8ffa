"""A process's statistics by month, quarter or year (its definition's PeriodicReport; api/cases/tallies.py),
printable and exported through the shared spreadsheet function: one line per table, group and column."""

from __future__ import annotations

from datetime import UTC, date, datetime

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.cases.tallies import TallyTable, asked_period, periodic_tables, statistics_process
from api.deps import PageUser, SessionDep
from api.principal import Principal
from api.spreadsheet import Cell, Column, ColumnKind, Export, Table, export_response, parse_format
from domain.deadlines import local_date
from domain.errors import DomainError
from domain.periods import NAMES, Period, period_of
from domain.process import Process
from ui.render import render

router = APIRouter(include_in_schema=False)


async def _tables(
    request: Request, process_name: str, user: Principal, session: AsyncSession
) -> tuple[Process, Period, list[TallyTable], DomainError | None, date]:
    """The statistics asked for; a malformed period is reported back with the current one's."""
    process = statistics_process(process_name)
    today = local_date(datetime.now(UTC))
    error = None
    try:
        period = asked_period(process, dict(request.query_params), today)
    except DomainError as e:
        error, period = e, asked_period(process, {}, today)
    tables = await periodic_tables(session=session, principal=user, process=process, period=period)
    return process, period, tables, error, today


@router.get("/statistics/{process_name}", response_class=HTMLResponse)
async def statistics_page(request: Request, process_name: str, user: PageUser, session: SessionDep) -> HTMLResponse:
    process, period, tables, error, today = await _tables(request, process_name, user, session)
    assert process.periodic_report is not None
    current = period_of(period.kind, today)
    return render(
        request,
        "statistics.html",
        user,
        status=422 if error else 200,
        process=process,
        report=process.periodic_report,
        tables=tables,
        period=period,
        previous=period.shift(-1),
        following=period.shift(1) if period.start < current.start else None,
        kinds=[(k, NAMES[k], period_of(k, period.start)) for k in process.periodic_report.periods],
        error=error,
    )


@router.get("/statistics/{process_name}/export")
async def statistics_export(
    request: Request,
    process_name: str,
    user: PageUser,
    session: SessionDep,
    fmt: str | None = Query(None, alias="format"),
) -> Response:
    process, period, tables, error, _ = await _tables(request, process_name, user, session)
    if error is not None:
        raise error
    assert process.periodic_report is not None
    columns = (
        Column("统计期间", 16),
        Column("统计项", 24),
        Column("分组", 28),
        Column("类别", 20),
        Column("数量", 8, ColumnKind.int),
    )
    rows: list[list[Cell]] = []
    for t in tables:
        for r in t.rows:
            rows += [[period.label, t.title, r.group, c, n] for c, n in zip(t.columns, r.cells, strict=True) if n]
    table = Table(columns, rows, sheet=period.label)
    return export_response(Export(table, f"{process.periodic_report.title}{period.label}"), parse_format(fmt))
