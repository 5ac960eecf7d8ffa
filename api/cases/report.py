"""The supervisors' report of a process: the cases open during a month or a school term in their scope,
counted by the process's report field (e.g. the school) and step, and listed overdue
first. (教育局每月、全市每学期调度: views of the same data, not a second process.)

A child handed over to another county and taken on there in a follow-on case (facts "follows") is counted
once, under the follow-on: the case they came from, when it is in the same report, is listed as handed
over (移交) and counted neither as open nor as closed. Until the follow-on finds the child a school of its
own, the report field it inherited (the old school) is not where the child is now: it is grouped under
its county as "转入" instead."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

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
    rows: list[ReportRow]
    opened: int  # opened during the period
    closed: int  # closed during the period
    still_open: int


def period_bounds(period: Period) -> tuple[datetime, datetime]:
    """The period's first and first-after days, from local midnight (Beijing time), in UTC."""
    start = datetime.combine(period.start, time(), tzinfo=SHANGHAI)
    end = datetime.combine(period.end, time(), tzinfo=SHANGHAI)
    return start.astimezone(UTC), end.astimezone(UTC)


async def monthly_report(*, session: AsyncSession, principal: Principal, process: Process, month: date) -> Report:
    return await period_report(session=session, principal=principal, process=process, period=month_period(month))


async def period_report(*, session: AsyncSession, principal: Principal, process: Process, period: Period) -> Report:
    if not overseen_type_values(principal):
        raise DomainError("not_permitted", "只有县级或市级主管督导可以查看统计")
    start, end = period_bounds(period)
    now = datetime.now(UTC)
    cases = list(
        (
            await session.execute(
                select(Case)
                .options(LIST_ROW)
                .where(
                    case_visible(principal),
                    Case.process == process.name,
                    Case.opened_at < end,
                    or_(Case.status == "open", Case.closed_at >= start),
                )
            )
        ).scalars()
    )
    key = process.report_by or ""
    followed = {str(c.facts["follows"]): c.case_no for c in cases if (c.facts or {}).get("follows")}
    rows = []
    for case in cases:
        main = next((s for s in case.steps if s.track == "main"), None)
        overdue = bool(main and main.due_at and main.due_at < now)
        rows.append(ReportRow(case, main, report_group(case, key), overdue, followed.get(case.case_no)))
    rows.sort(
        key=lambda r: (
            r.case.status != "open",
            -(r.step.escalation_level if r.step else 0),
            not r.overdue,
            r.step.due_at if r.step and r.step.due_at else end,
            r.case.case_no,
        )
    )
    counts: Counter[tuple[str, str | None]] = Counter()
    late: Counter[tuple[str, str | None]] = Counter()
    counted = [r for r in rows if r.counted]
    for r in counted:
        k = (r.group, r.step.step if r.step and r.case.status == "open" else None)
        counts[k] += 1
        late[k] += r.overdue
    groups = [
        ReportGroup(g, s, process.step_label(s) if s else f"{period.noun}结案", n, late[(g, s)])
        for (g, s), n in sorted(counts.items(), key=lambda kv: (kv[0][0], _step_order(process, kv[0][1])))
    ]
    audit(session, principal, "report", detail=f"{process.name}:{period.key}: {len(rows)} cases")
    await session.commit()
    return Report(
        process=process,
        period=period,
        groups=groups,
        rows=rows,
        opened=sum(1 for r in counted if r.case.opened_at >= start),
        closed=sum(1 for r in counted if r.case.closed_at and start <= r.case.closed_at < end),
        still_open=sum(1 for r in counted if r.case.status == "open"),
    )


def report_group(case: Case, key: str) -> str:
    """Where the case counts: its report field (the school), except in a follow-on case that still has
    the value its origin handed over, which is not where the child is now: then the county taking it on."""
    summary, facts = case.summary or {}, case.facts or {}
    value = summary.get(key)
    if facts.get("follows") and value and value == facts.get(key):
        return f"{region_name(case.county) or case.county}（转入，待定）"
    return str(value or "（未填）")


def _step_order(process: Process, step: str | None) -> int:
    names = [s.name for s in process.steps]
    return names.index(step) if step in names else len(names)
