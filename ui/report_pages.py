"""月度/学期调度: a process's cases open during a month or a school term in a supervisor's scope, counted by
the process's report field (e.g. the school) and step, overdue first (api/cases/report.py).
A county supervisor starts on this month, a city supervisor on this term (教育局每月、全市每学期)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit import audit
from api.cases.report import Report, ReportRow, all_report_rows, period_report
from api.cases.visibility import overseen_type_values
from api.deps import PageUser, SessionDep
from api.principal import Principal
from api.spreadsheet import Cell as SheetCell
from api.spreadsheet import Column, ColumnKind, Export, Table, export_response, parse_format
from domain.deadlines import SHANGHAI, local_date
from domain.errors import DomainError
from domain.periods import Period, month_period, parse_period, term_of
from domain.process import Process
from domain.processes import PROCESSES
from ui.filters import time_left
from ui.forms import to_int
from ui.render import render

router = APIRouter(include_in_schema=False)


@dataclass
class Cell:
    cases: int = 0
    overdue: int = 0

    def add(self, cases: int, overdue: int) -> None:
        self.cases += cases
        self.overdue += overdue


@dataclass
class TableRow:
    group: str
    cells: list[Cell]
    total: Cell = field(default_factory=Cell)


@dataclass
class ReportTable:
    """Groups (schools) down, steps across (in the process's order, then the month's closed cases)."""

    columns: list[str]
    rows: list[TableRow]
    totals: list[Cell]
    total: Cell


def report_table(process: Process, report: Report) -> ReportTable:
    order = [s.name for s in process.steps]
    present = {g.step for g in report.groups}
    steps: list[str | None] = [s for s in order if s in present] + sorted(
        s for s in present if s is not None and s not in order
    )
    if None in present:
        steps.append(None)
    index = {s: i for i, s in enumerate(steps)}
    rows: dict[str, TableRow] = {}
    totals = [Cell() for _ in steps]
    total = Cell()
    for g in report.groups:
        row = rows.setdefault(g.group, TableRow(g.group, [Cell() for _ in steps]))
        row.cells[index[g.step]].add(g.cases, g.overdue)
        row.total.add(g.cases, g.overdue)
        totals[index[g.step]].add(g.cases, g.overdue)
        total.add(g.cases, g.overdue)
    columns = [process.step_label(s) if s else f"{report.period.noun}结案" for s in steps]
    return ReportTable(columns, list(rows.values()), totals, total)


@dataclass
class CaseLine:
    row: ReportRow
    step_label: str
    left: str
    overdue: bool


def case_lines(process: Process, rows: list[ReportRow], now: datetime) -> list[CaseLine]:
    out = []
    for r in rows:
        step = r.step if r.case.status == "open" else None
        label = process.step_label(step.step) if step else f"已结案：{process.outcome_label(r.case.outcome)}"
        if r.handed_to:
            label = f"移交：由 {r.handed_to} 接续办理（不重复统计）"
        left, late = time_left(step.due_at if step else None, now)
        out.append(CaseLine(r, label, left, late))
    return out


async def _report_for(
    user: Principal, session: AsyncSession, process_name: str, month: str, term: str, page: int = 1
) -> tuple[Process, Period, Report, DomainError | None, date]:
    """The report asked for; a malformed period is reported back with the current one's report."""
    if not overseen_type_values(user):
        raise DomainError("not_permitted", "只有县级或市级主管部门的督导可以查看调度统计")
    process = PROCESSES.get(process_name)
    if process is None or not process.report_by:
        raise DomainError("not_found", "没有该流程的调度统计")
    today = local_date(datetime.now(UTC))
    default = "term" if user.is_city else "month"
    error = None
    try:
        period = parse_period(month=month or None, term=term or None, today=today, default=default)
    except DomainError as e:
        error, period = e, parse_period(month=None, term=None, today=today, default=default)
    report = await period_report(session=session, principal=user, process=process, period=period, page=page)
    return process, period, report, error, today


@router.get("/reports/{process_name}", response_class=HTMLResponse)
async def report_page(
    request: Request,
    process_name: str,
    user: PageUser,
    session: SessionDep,
    month: str = "",
    term: str = "",
    page: str = "",
) -> HTMLResponse:
    number = max(1, to_int(page) or 1)
    process, period, report, error, today = await _report_for(user, session, process_name, month, term, number)
    now = datetime.now(UTC)
    current = month_period(today) if period.kind == "month" else term_of(today)
    lines = case_lines(process, report.rows, now)
    return render(
        request,
        "report.html",
        user,
        status=422 if error else 200,
        process=process,
        report=report,
        table=report_table(process, report),
        lines=lines,
        listed_of=report.total,
        pages=max(1, -(-report.total // report.per_page)),
        page=report.page,
        page_url=lambda n: f"/reports/{process.name}?{urlencode({period.kind: period.key, 'page': n})}",
        period=period,
        previous=period.shift(-1),
        following=period.shift(1) if period.start < current.start else None,
        term_of_month=term_of(period.start) if period.kind == "month" else None,
        months=_months_of(period, today) if period.kind == "term" else [],
        error=error,
        group_label=dict(process.summary_fields).get(process.report_by, "分组"),
    )


def _export_row(process: Process, line: CaseLine) -> list[SheetCell]:
    r = line.row
    open_step = r.step if r.case.status == "open" else None
    return [
        r.case.case_no,
        r.case.child.name,
        r.group,
        line.step_label,
        open_step.holder.name if open_step else "",
        _local(open_step.due_at) if open_step and open_step.due_at else None,
        "是" if line.overdue else "",
        open_step.escalation_level if open_step else None,
        _local(r.case.opened_at),
        _local(r.case.closed_at) if r.case.closed_at else None,
        process.outcome_label(r.case.outcome) if r.case.outcome else "",
    ]


def export_columns(group_label: str) -> tuple[Column, ...]:
    when = ColumnKind.datetime
    return (
        Column("案件编号", 24),
        Column("学生", 10),
        Column(group_label, 22),
        Column("当前环节", 18),
        Column("承办单位", 24),
        Column("办理期限", 17, when),
        Column("已逾期", 8),
        Column("升级级别", 9, ColumnKind.int),
        Column("立案时间", 17, when),
        Column("结案时间", 17, when),
        Column("结果", 14),
    )


@router.get("/reports/{process_name}/export")
async def report_export(
    process_name: str, user: PageUser, session: SessionDep, month: str = "", term: str = "", format: str = ""
) -> Response:
    """The report's case list as a spreadsheet: xlsx, or CSV (UTF-8 with a BOM) with `?format=csv`."""
    fmt = parse_format(format)
    process, period, _report, error, _ = await _report_for(user, session, process_name, month, term)
    if error is not None:
        raise error
    group_label = dict(process.summary_fields).get(process.report_by or "", "分组")
    now = datetime.now(UTC)
    rows: list[list[SheetCell]] = []
    async for chunk in all_report_rows(session=session, principal=user, process=process, period=period):
        rows.extend(_export_row(process, line) for line in case_lines(process, chunk, now))
    audit(session, user, "export", detail=f"{process.name}:{period.key}: {len(rows)} cases")
    await session.commit()
    table = Table(export_columns(group_label), rows, sheet=period.label)
    return export_response(Export(table, f"{process.label}{period.label}"), fmt)


def _local(at: datetime) -> datetime:
    """The time as the clerk's clock shows it: a spreadsheet has no time zones."""
    return at.astimezone(SHANGHAI).replace(tzinfo=None)


def _months_of(term: Period, today: date) -> list[Period]:
    """The months of a term (up to this one), for the links from a term's report down to its months."""
    out, m = [], month_period(term.start)
    while m.start < term.end and m.start <= today:
        out.append(m)
        m = m.shift(1)
    return out
