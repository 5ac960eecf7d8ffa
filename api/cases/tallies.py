"""A process's periodic statistics (domain/tallies.py) for a supervisor: each table counted in SQL (a GROUP
BY per table or column, no rows loaded), within the cases the supervisor may read."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from api.audit import audit
from api.cases.report import period_bounds
from api.cases.visibility import case_visible
from api.principal import Principal
from db.models import Agency, Case, CaseStep, TimelineEvent
from domain.enums import AGENCY_TYPE_LABELS, AgencyType
from domain.errors import DomainError
from domain.periods import NAMES, Period, parse_period
from domain.process import Process
from domain.processes import PROCESSES
from domain.regions import region_name
from domain.tallies import EventCount, PeriodicReport, Tally, TallyKind

# Escalation levels of an overdue step, as the columns of the overdue table.
LEVEL_COLUMNS = {0: "逾期未升级", 1: "一级（承办单位）", 2: "二级（县级督导）", 3: "三级（市级督导）"}
GROUP_LABELS = {TallyKind.opened_by_source: "县（区）", TallyKind.events: "单位", TallyKind.overdue_now: "承办单位"}


@dataclass(frozen=True)
class TallyRow:
    group: str
    cells: list[int]
    total: int


@dataclass(frozen=True)
class TallyTable:
    key: str
    title: str
    note: str
    group_label: str
    columns: list[str]
    rows: list[TallyRow]
    totals: list[int]
    total: int


def statistics_process(name: str) -> Process:
    process = PROCESSES.get(name)
    if process is None or process.periodic_report is None:
        raise DomainError("not_found", "没有该流程的统计")
    return process


def asked_period(process: Process, params: dict[str, str], today: date) -> Period:
    kinds = process.periodic_report.periods if process.periodic_report else ()
    asked = {k: params.get(k) or None for k in ("month", "quarter", "year", "term")}
    if asked["term"] and "term" not in kinds:
        raise DomainError("field_invalid", "该统计按" + "、".join(NAMES[k] for k in kinds) + "查看", field="term")
    return parse_period(today=today, default=kinds[0], **asked)


def may_read(p: Principal, report: PeriodicReport) -> bool:
    """A county or city supervisor of a reading agency type (not a police station's, below the county)."""
    return p.is_supervisor and p.agency.township is None and p.agency.agency_type in report.readers


def table(tally: Tally, columns: list[str], counts: Counter[tuple[str, str]]) -> TallyTable:
    """Counts keyed (group, column) as a table: groups sorted, the given columns in their order."""
    groups = sorted({g for g, _ in counts})
    rows = [TallyRow(g, cells := [counts[(g, c)] for c in columns], sum(cells)) for g in groups]
    totals = [sum(counts[(g, c)] for g in groups) for c in columns]
    return TallyTable(tally.key, tally.title, tally.note, GROUP_LABELS[tally.kind], columns, rows, totals, sum(totals))


async def _opened_by_source(session: AsyncSession, scope: list[ColumnElement[bool]], tally: Tally) -> TallyTable:
    starter = aliased(Agency)
    result = await session.execute(
        select(Case.county, starter.agency_type, func.count())
        .join(starter, starter.id == Case.started_by_agency_id)
        .where(*scope)
        .group_by(Case.county, starter.agency_type)
    )
    counts: Counter[tuple[str, str]] = Counter()
    present: set[str] = set()
    for county, kind, n in result:
        label = AGENCY_TYPE_LABELS.get(AgencyType(kind), kind)
        counts[(region_name(county) or county, label)] += n
        present.add(kind)
    columns = [AGENCY_TYPE_LABELS[t] for t in AgencyType if t.value in present]
    return table(tally, columns, counts)


def _event_matches(col: EventCount) -> list[ColumnElement[bool]]:
    conds = [TimelineEvent.from_step == col.step, TimelineEvent.action.in_(col.actions)]
    if col.choice_field:
        conds.append(TimelineEvent.payload[col.choice_field].astext == col.choice)
    if col.to_step:
        conds.append(TimelineEvent.to_step == col.to_step)
    return conds


async def _events(
    session: AsyncSession, scope: list[ColumnElement[bool]], tally: Tally, start: datetime, end: datetime
) -> TallyTable:
    counts: Counter[tuple[str, str]] = Counter()
    for col in tally.columns:
        result = await session.execute(
            select(TimelineEvent.actor_agency_name, func.count())
            .join(Case, Case.id == TimelineEvent.case_id)
            .where(*scope, TimelineEvent.at >= start, TimelineEvent.at < end, *_event_matches(col))
            .group_by(TimelineEvent.actor_agency_name)
        )
        for agency, n in result:
            counts[(agency or "（系统）", col.label)] += n
    return table(tally, [c.label for c in tally.columns], counts)


async def _overdue_now(session: AsyncSession, scope: list[ColumnElement[bool]], tally: Tally) -> TallyTable:
    holder = aliased(Agency)
    result = await session.execute(
        select(holder.name, CaseStep.escalation_level, func.count())
        .join(Case, Case.id == CaseStep.case_id)
        .join(holder, holder.id == CaseStep.holder_agency_id)
        .where(*scope, Case.status == "open", CaseStep.due_at < datetime.now(UTC))
        .group_by(holder.name, CaseStep.escalation_level)
    )
    counts: Counter[tuple[str, str]] = Counter()
    for agency, level, n in result:
        counts[(agency, LEVEL_COLUMNS.get(level, f"{level}级"))] += n
    return table(tally, list(LEVEL_COLUMNS.values()), counts)


async def periodic_tables(
    *, session: AsyncSession, principal: Principal, process: Process, period: Period
) -> list[TallyTable]:
    report = process.periodic_report
    if report is None:
        raise DomainError("not_found", "没有该流程的统计")
    if not may_read(principal, report):
        readers = "、".join(AGENCY_TYPE_LABELS[t] for t in report.readers)
        raise DomainError("not_permitted", f"只有县级或市级{readers}的督导可以查看该统计")
    if period.kind not in report.periods:
        units = "、".join(NAMES[k] for k in report.periods)
        raise DomainError("field_invalid", f"该统计按{units}查看", field=period.kind)
    start, end = period_bounds(period)
    scope = [case_visible(principal), Case.process == process.name]
    out = []
    for tally in report.tallies:
        if tally.kind == TallyKind.opened_by_source:
            out.append(await _opened_by_source(session, [*scope, Case.opened_at >= start, Case.opened_at < end], tally))
        elif tally.kind == TallyKind.events:
            out.append(await _events(session, scope, tally, start, end))
        else:
            out.append(await _overdue_now(session, scope, tally))
    audit(session, principal, "report", detail=f"{process.name}:{period.key}: statistics")
    await session.commit()
    return out
