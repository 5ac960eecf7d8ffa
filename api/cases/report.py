"""The supervisors' report of a process: the cases open during a month or a school term in their scope,
counted by the process's report field (e.g. the school) and step, and listed overdue
first. (教育局每月、全市每学期调度: views of the same data, not a second process.)

A child handed over to another county and taken on there in a follow-on case (facts "follows") is counted
once, under the follow-on: the case they came from, when it is in the same report, is listed as handed
over (移交) and counted neither as open nor as closed. Until the follow-on finds the child a school of its
own, the report field it inherited (the old school) is not where the child is now: it is grouped under
its county as "转入" instead."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import NamedTuple

from sqlalchemy import CTE, Select, Subquery, and_, case, false, func, or_, select
from sqlalchemy.dialects.postgresql import aggregate_order_by
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased
from sqlalchemy.sql.base import ReadOnlyColumnCollection

from api.audit import audit
from api.cases.lists import LIST_ROW
from api.cases.visibility import case_visible, overseen_type_values
from api.principal import Principal
from db.models import Case, CaseStep
from domain.deadlines import SHANGHAI
from domain.errors import DomainError
from domain.periods import Period, month_period
from domain.process import Process
from domain.regions import region_name

# Rows the page lists at a time, and the export reads at a time (it has them all).
PER_PAGE = 100
EXPORT_CHUNK = 2000


@dataclass(frozen=True)
class ReportGroup:
    group: str
    step: str | None  # None: closed during the period
    step_label: str
    cases: int
    overdue: int


@dataclass(frozen=True)
class ReportRow:
    case: Case
    step: CaseStep | None
    group: str
    overdue: bool
    handed_to: str | None = None  # the follow-on case that counts this child instead

    @property
    def counted(self) -> bool:
        return self.handed_to is None


@dataclass(frozen=True)
class Report:
    process: Process
    period: Period
    groups: list[ReportGroup]
    rows: list[ReportRow]  # one page of the list (page, per_page), overdue first
    opened: int  # opened during the period
    closed: int  # closed during the period
    still_open: int
    total: int = 0  # cases listed (counted and handed over), over all pages
    page: int = 1
    per_page: int = PER_PAGE


def period_bounds(period: Period) -> tuple[datetime, datetime]:
    """The period's first and first-after days, from local midnight (Beijing time), in UTC."""
    start = datetime.combine(period.start, time(), tzinfo=SHANGHAI)
    end = datetime.combine(period.end, time(), tzinfo=SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


async def monthly_report(
    *, session: AsyncSession, principal: Principal, process: Process, month: date, page: int = 1
) -> Report:
    return await period_report(
        session=session, principal=principal, process=process, period=month_period(month), page=page
    )


def _listing(principal: Principal, process: Process, period: Period, now: datetime) -> Select:
    """The report's cases as one selectable: each case's group parts, main step and whether it is handed
    over, computed by PostgreSQL (no row becomes a Python object unless a page shows it)."""
    start, end = period_bounds(period)
    key = process.report_by or ""
    value = Case.summary[key].astext
    # A follow-on still holding the value its origin handed over is grouped under its county (转入).
    transfer = and_(
        func.coalesce(Case.facts["follows"].astext, "") != "",
        func.coalesce(value, "") != "",
        Case.summary[key] == Case.facts[key],
    )
    # Every column the report needs, read from cases once (the CTE is read twice: rows and follow-ons).
    in_report = (
        select(
            Case.id,
            Case.case_no,
            Case.status,
            Case.county,
            Case.opened_at,
            Case.closed_at,
            Case.facts["follows"].astext.label("follows"),
            value.label("value"),
            transfer.label("transfer"),
        )
        .where(
            case_visible(principal),
            Case.process == process.name,
            Case.opened_at < end,
            or_(Case.status == "open", Case.closed_at >= start),
        )
        .cte("in_report")
    )
    r = in_report.c
    # A child handed over and taken on in a follow-on case of the same report counts under the follow-on.
    followed = (
        select(r.follows, func.max(r.case_no).label("by"))
        .where(r.follows.is_not(None))
        .group_by(r.follows)
        .cte("followed")
    )
    main = aliased(CaseStep)
    return (
        select(
            r.id,
            r.case_no,
            r.status,
            r.county,
            r.opened_at,
            r.closed_at,
            r.value,
            r.transfer,
            case((r.status == "open", main.step), else_=None).label("step"),
            main.due_at,
            func.coalesce(main.escalation_level, 0).label("level"),
            func.coalesce(main.due_at < now, false()).label("overdue"),
            followed.c.by.label("handed_to"),
        )
        .select_from(in_report)
        .outerjoin(main, and_(main.case_id == r.id, main.track == "main"))
        .outerjoin(followed, followed.c.follows == r.case_no)
    )


def _group(value: str | None, transfer: bool, county: str) -> str:
    """Where the case counts: its report field (the school); a follow-on's inherited one, its county."""
    if transfer:
        return f"{region_name(county) or county}（转入，待定）"
    return value or "（未填）"


async def period_report(
    *, session: AsyncSession, principal: Principal, process: Process, period: Period, page: int = 1
) -> Report:
    """The counts over all the report's cases (GROUP BY in SQL) and one page of its list."""
    if not overseen_type_values(principal):
        raise DomainError("not_permitted", "只有县级或市级主管督导可以查看统计")
    start, end = period_bounds(period)
    # One statement: the listing is computed once (a CTE read twice), for the counts and for the page.
    listed = _listing(principal, process, period, datetime.now(UTC)).cte("listed")
    c = listed.c
    counted = c.handed_to.is_(None)
    grouped = (
        select(
            c.transfer,
            c.county,
            c.value,
            c.step,
            func.count().filter(counted).label("cases"),
            func.count().filter(and_(counted, c.overdue)).label("overdue"),
            func.count().filter(and_(counted, c.opened_at >= start)).label("opened"),
            func.count().filter(and_(counted, c.closed_at >= start, c.closed_at < end)).label("closed"),
            func.count().filter(and_(counted, c.status == "open")).label("still_open"),
            func.count().label("listed"),
        )
        .group_by(c.transfer, c.county, c.value, c.step)  # by county too: merged by label below
        .subquery("grouped")
    )
    shown = _page(listed, end, offset=(page - 1) * PER_PAGE, limit=PER_PAGE).subquery("shown")
    both = (
        await session.execute(
            select(
                select(func.jsonb_agg(func.jsonb_build_array(*grouped.c))).scalar_subquery(),
                select(
                    func.jsonb_agg(aggregate_order_by(func.jsonb_build_array(*shown.c), shown.c.n))
                ).scalar_subquery(),
            )
        )
    ).one()
    Group = namedtuple("Group", [col.name for col in grouped.c])
    grouped_rows = [Group(*values) for values in both[0] or []]
    cells: dict[tuple[str, str | None], list[int]] = {}
    opened = closed = still_open = total = 0
    for row in grouped_rows:
        total += row.listed
        opened, closed, still_open = opened + row.opened, closed + row.closed, still_open + row.still_open
        if row.cases:
            cell = cells.setdefault((_group(row.value, row.transfer, row.county or ""), row.step), [0, 0])
            cell[0] += row.cases
            cell[1] += row.overdue
    groups = [
        ReportGroup(g, s, process.step_label(s) if s else f"{period.noun}结案", n, late)
        for (g, s), (n, late) in sorted(cells.items(), key=lambda kv: (kv[0][0], _step_order(process, kv[0][1])))
    ]
    rows = await _load(session, [Shown(*values) for values in both[1] or []])
    audit(session, principal, "report", detail=f"{process.name}:{period.key}: {total} cases")
    await session.commit()
    return Report(process, period, groups, rows, opened, closed, still_open, total, page, PER_PAGE)


def _order(c: ReadOnlyColumnCollection, end: datetime) -> tuple:
    """Open first, the highest level, overdue, the soonest due, then by case number (byte order)."""
    return (
        (c.status != "open"),
        c.level.desc(),
        c.overdue.desc(),
        func.coalesce(c.due_at, end),
        c.case_no.collate("C"),
    )


class Shown(NamedTuple):
    """A listed row's place in the report (the rest is loaded as objects for the page)."""

    id: int
    value: str | None
    transfer: bool
    county: str
    overdue: bool
    handed_to: str | None
    n: int


def _page(listed: CTE | Subquery, end: datetime, *, offset: int, limit: int) -> Select:
    """One page of the listing in the report's order, each row numbered in it. The page is cut first (a
    top-N sort of offset + limit rows) and numbered after: a row_number() over the whole listing made
    PostgreSQL sort every row of the report first (bench/reads.py --explain-app: 81 of 364 ms at 100,000
    cases). The order ends with the case number, so the numbering is the page's order exactly."""
    c = listed.c
    top = (
        select(
            c.id,
            c.value,
            c.transfer,
            c.county,
            c.overdue,
            c.handed_to,
            (c.status != "open").label("closed"),
            c.level,
            func.coalesce(c.due_at, end).label("due"),
            c.case_no,
        )
        .order_by(*_order(c, end))
        .offset(offset)
        .limit(limit)
        .subquery("top")
    )
    t = top.c
    order = (t.closed, t.level.desc(), t.overdue.desc(), t.due, t.case_no.collate("C"))
    return select(
        t.id,
        t.value,
        t.transfer,
        t.county,
        t.overdue,
        t.handed_to,
        func.row_number().over(order_by=order).label("n"),
    ).order_by(*order)


async def _load(session: AsyncSession, found: list[Shown]) -> list[ReportRow]:
    if not found:
        return []
    by_id = {
        case_.id: case_
        for case_ in (
            await session.execute(select(Case).options(LIST_ROW).where(Case.id.in_([r.id for r in found])))
        ).scalars()
    }
    out = []
    for r in found:
        case_ = by_id[r.id]
        main = next((s for s in case_.steps if s.track == "main"), None)
        out.append(ReportRow(case_, main, _group(r.value, r.transfer, r.county), bool(r.overdue), r.handed_to))
    return out


async def _rows(session: AsyncSession, listed: Subquery, end: datetime, *, offset: int, limit: int) -> list[ReportRow]:
    found = (await session.execute(_page(listed, end, offset=offset, limit=limit))).all()
    return await _load(session, [Shown(*r) for r in found])


async def all_report_rows(
    *, session: AsyncSession, principal: Principal, process: Process, period: Period
) -> AsyncIterator[list[ReportRow]]:
    """Every row of the report, in its order, a chunk at a time (exports): memory stays one chunk."""
    _, end = period_bounds(period)
    listed = _listing(principal, process, period, datetime.now(UTC)).subquery("listed")
    offset = 0
    while True:
        chunk = await _rows(session, listed, end, offset=offset, limit=EXPORT_CHUNK)
        if not chunk:
            return
        yield chunk
        offset += len(chunk)


def _step_order(process: Process, step: str | None) -> int:
    names = [s.name for s in process.steps]
    return names.index(step) if step in names else len(names)
