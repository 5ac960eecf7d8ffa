"""月度调度: a process's cases open during a month in a supervisor's scope, counted by the process's report
field (the school, for dropout return) and step, overdue first (api/cases/report.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.cases.report import Report, ReportRow, monthly_report, parse_month
from api.cases.visibility import overseen_type_values
from api.deps import PageUser, SessionDep
from domain.deadlines import local_date
from domain.errors import DomainError
from domain.process import Process
from domain.processes import PROCESSES
from ui.filters import time_left
from ui.render import render

router = APIRouter(include_in_schema=False)

CLOSED_COLUMN = "本月结案"
YEARS = (2000, 2100)


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
    columns = [process.step_label(s) if s else CLOSED_COLUMN for s in steps]
    return ReportTable(columns, list(rows.values()), totals, total)


@dataclass
class CaseLine:
    row: ReportRow
    step_label: str
    left: str
    overdue: bool


def case_lines(process: Process, report: Report, now: datetime) -> list[CaseLine]:
    out = []
    for r in report.rows:
        step = r.step if r.case.status == "open" else None
        label = process.step_label(step.step) if step else f"已结案：{process.outcome_label(r.case.outcome)}"
        left, late = time_left(step.due_at if step else None, now)
        out.append(CaseLine(r, label, left, late))
    return out


def shift_month(month: date, by: int) -> date:
    n = month.year * 12 + month.month - 1 + by
    return date(n // 12, n % 12 + 1, 1)


def month_of(text: str | None) -> date:
    """The month asked for (this month when none); DomainError for a malformed or implausible one."""
    month = parse_month(text or None)
    if not YEARS[0] <= month.year <= YEARS[1]:
        raise DomainError("field_invalid", "月份超出范围", field="month")
    return month


@router.get("/reports/{process_name}", response_class=HTMLResponse)
async def report_page(
    request: Request, process_name: str, user: PageUser, session: SessionDep, month: str = ""
) -> HTMLResponse:
    if not overseen_type_values(user):
        raise DomainError("not_permitted", "只有县级或市级主管部门的督导可以查看月度统计")
    process = PROCESSES.get(process_name)
    if process is None or not process.report_by:
        raise DomainError("not_found", "没有该流程的月度统计")
    now = datetime.now(UTC)
    this_month = date(local_date(now).year, local_date(now).month, 1)
    error = None
    try:
        chosen = month_of(month)
    except DomainError as e:
        error, chosen = e, this_month
    report = await monthly_report(session=session, principal=user, process=process, month=chosen)
    return render(
        request,
        "report.html",
        user,
        status=422 if error else 200,
        process=process,
        report=report,
        table=report_table(process, report),
        lines=case_lines(process, report, now),
        month=chosen,
        previous=shift_month(chosen, -1),
        following=shift_month(chosen, 1) if chosen < this_month else None,
        error=error,
        group_label=dict(process.summary_fields).get(process.report_by, "分组"),
    )
