"""跨地区审批: the open cases of residence-accepted, origin-reviewed processes (Process.cross_region) that a
viewer's county is party to, as the residence (the case's county) or as the origin (the county the case
summary names); which side holds each, since when, days left; overdue first; by month of application.
The city's viewers see every county. Computed in SQL, one query."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time

from sqlalchemy import and_, case, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.cases.visibility import case_visible
from api.principal import Principal
from api.served import served_regions
from db.deadline_inputs import load_calendar
from db.models import Agency, Case, CaseStep
from domain.deadlines import SHANGHAI, local_date
from domain.errors import DomainError
from domain.policy import Allowance, Unit
from domain.process import ORIGIN_SUMMARY, SIDE_SUMMARY
from domain.processes import PROCESSES
from domain.regions import full_region_name, region_name
from domain.workdays import WorkCalendar

PER_PAGE = 200


@dataclass(frozen=True)
class CrossRegionRow:
    case_no: str
    process: str
    process_label: str
    residence_region: str
    residence: str
    origin_region: str
    origin: str
    side: str  # 居住地 / 户籍地
    step: str
    step_label: str
    holder: str
    external: str | None  # the origin office outside this deployment the step waits for
    since: datetime
    due_at: datetime | None
    days_left: int | None  # negative: overdue by so many days
    days_unit: str | None  # "WD": days_left counts working days (the step's time is in working days); "d": calendar
    overdue: bool
    month: str  # YYYY-MM the application was accepted


@dataclass(frozen=True)
class CrossRegionView:
    rows: list[CrossRegionRow]
    months: list[tuple[str, int]]  # (YYYY-MM, cases), newest first
    month: str | None


def _viewer_processes(principal: Principal) -> list[str]:
    t = principal.agency.agency_type
    return [name for name, p in PROCESSES.items() if p.cross_region is not None and t in p.cross_region.viewers]


def _month_bounds(month: str) -> tuple[datetime, datetime]:
    try:
        first = date.fromisoformat(f"{month}-01")
    except ValueError:
        raise DomainError("field_invalid", "月份格式应为 YYYY-MM，如 2026-11", field="month") from None
    after = date(first.year + 1, 1, 1) if first.month == 12 else date(first.year, first.month + 1, 1)
    return (
        datetime.combine(first, time(), tzinfo=SHANGHAI).astimezone(UTC),
        datetime.combine(after, time(), tzinfo=SHANGHAI).astimezone(UTC),
    )


async def cross_region_view(
    *, session: AsyncSession, principal: Principal, month: str | None = None, now: datetime | None = None
) -> CrossRegionView:
    processes = _viewer_processes(principal)
    if not processes or principal.agency.township is not None or principal.is_admin:
        raise DomainError("not_permitted", "跨地区审批仅供县级、市级民政等主管部门查看")
    now = now or datetime.now(UTC)
    origin = Case.summary[ORIGIN_SUMMARY].astext
    side = Case.summary[SIDE_SUMMARY].astext
    # Only what the viewer may open: a party's cases, and a supervisor's county (or city) as everywhere.
    conds = [Case.process.in_(processes), Case.status == "open", case_visible(principal)]
    if not principal.is_city:
        county = principal.agency.region_code
        conds.append(or_(Case.county == county, origin == county))
    stmt = (
        select(
            Case.case_no,
            Case.process,
            Case.county,
            origin,
            side,
            Case.opened_at,
            CaseStep.step,
            CaseStep.opened_at,
            CaseStep.due_at,
            CaseStep.external,
            Agency.name,
            CaseStep.allowance,
        )
        .join(CaseStep, and_(CaseStep.case_id == Case.id, CaseStep.track == "main"))
        .join(Agency, Agency.id == CaseStep.holder_agency_id)
        .where(*conds)
    )
    month_of = _month_expr()
    per_month = (
        select(month_of, func.count())
        .select_from(Case)
        .join(CaseStep, and_(CaseStep.case_id == Case.id, CaseStep.track == "main"))
        .where(*conds)
        .group_by(month_of)
        .order_by(month_of.desc())
    )
    months = [(m, n) for m, n in (await session.execute(per_month)).all()]
    if month:
        start, end = _month_bounds(month)
        stmt = stmt.where(Case.opened_at >= start, Case.opened_at < end)
    overdue_first = case((CaseStep.due_at < now, 0), else_=1)
    stmt = stmt.order_by(overdue_first, CaseStep.due_at.asc().nulls_last(), Case.case_no).limit(PER_PAGE)
    found = (await session.execute(stmt)).all()
    # The statutory calendar (holidays and make-up days an admin loaded), read once for the page.
    calendar = await load_calendar(session) if any(_in_working_days(r.allowance) for r in found) else WorkCalendar()
    rows = [_row(r, now, calendar) for r in found]
    return CrossRegionView(rows=rows, months=months, month=month)


def _month_expr():
    return func.to_char(func.timezone("Asia/Shanghai", Case.opened_at), "YYYY-MM")


def _in_working_days(allowance: str | None) -> bool:
    try:
        return allowance is not None and Allowance.parse(allowance).unit == Unit.working_days
    except DomainError:
        return False  # a value no longer parseable is shown in calendar days rather than failing the page


def _days_left(due: datetime | None, allowance: str | None, now: datetime, calendar: WorkCalendar):
    """Days to the deadline as its step counts them: working days on the statutory calendar for a step of
    working days (15WD), calendar days otherwise (30d, 1M)."""
    if due is None:
        return None, None
    today, last = local_date(now), local_date(due)
    if _in_working_days(allowance):
        return calendar.working_days_between(today, last), Unit.working_days.value
    return (last - today).days, Unit.days.value


def _row(r, now: datetime, calendar: WorkCalendar) -> CrossRegionRow:
    case_no, process, county, origin, side, opened, step, since, due, external, holder, allowance = r
    p = PROCESSES[process]
    days, unit = _days_left(due, allowance, now, calendar)
    return CrossRegionRow(
        case_no=case_no,
        process=process,
        process_label=p.label,
        residence_region=county,
        residence=region_name(county) or county,
        origin_region=origin or "",
        origin=_place(origin) if origin else "",
        side=side or "",
        step=step,
        step_label=p.step_label(step),
        holder=holder,
        external=(external or {}).get("name"),
        since=since,
        due_at=due,
        days_left=days,
        days_unit=unit,
        overdue=due is not None and due < now,
        month=local_date(opened).strftime("%Y-%m"),
    )


def _place(code: str) -> str:
    """A county of the city by its own name; elsewhere with its province and city (河南省郑州市金水区)."""
    return (region_name(code) if served_regions().serves(code) else full_region_name(code)) or code
