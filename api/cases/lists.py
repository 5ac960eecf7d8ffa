"""Lists of cases: the filtered, paginated case list, 我的待办, the supervisors' overdue and stalled list."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel, Field
from sqlalchemy import Select, and_, any_, func, or_, select, true, tuple_
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import defaultload

from api.cases.visibility import case_visible, overseen_type_values, scope_regions
from api.principal import Principal, agency_ref
from db.models import Agency, Case, CaseStep, Child, OutboundDelivery
from db.policy import calendar_interval, policy_in_force
from domain.deadlines import SHANGHAI, StepDeadlines
from domain.errors import DomainError
from domain.messages import AgencyRef, ExternalParty, StepState
from domain.oversight import supervision_level
from domain.policy import Allowance
from workflows.activity_names import DELIVER_OUTBOUND

# Lists show the child's name, never the guardians: loading them for every row cost more than the query
# (bench/lists.py). raiseload makes a template that starts using them fail loudly instead of lazily.
LIST_ROW = defaultload(Case.child).raiseload(Child.guardians)


# Soonest due first, then the newest; the id makes pages stable. ix_cases_next_due reads in this order.
CASE_LIST_ORDER = (Case.next_due_at.asc().nulls_last(), Case.opened_at.desc(), Case.id)


class CaseFilter(BaseModel):
    process: str | None = None
    step: str | None = None
    county: str | None = None
    status: str | None = "open"
    overdue: bool | None = None
    min_level: int | None = Field(None, ge=0, le=3)
    q: str | None = None  # a case number or a child's name, or part of one
    page: int = Field(1, ge=1)
    per_page: int = Field(20, ge=1, le=100)


@dataclass
class CasePage:
    items: list[Case]
    total: int
    page: int
    per_page: int


async def list_cases(*, session: AsyncSession, principal: Principal, f: CaseFilter) -> CasePage:
    conds = [case_visible(principal)]
    if f.process:
        conds.append(Case.process == f.process)
    if f.status:
        conds.append(Case.status == f.status)
    if f.county:
        conds.append(Case.county == f.county)
    if f.q:
        # A case number (or part of one), or the child's name (or part of it); % and _ are literal.
        like = "%" + f.q.strip().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        named = select(Child.id).where(Child.name.ilike(like, escape="\\"))
        conds.append(or_(Case.case_no.ilike(like, escape="\\"), Case.child_id.in_(named)))
    step_conds = []
    if f.step:
        step_conds.append(CaseStep.step == f.step)
    if f.min_level:
        step_conds.append(CaseStep.escalation_level >= f.min_level)
    if f.overdue:
        if step_conds:  # overdue in the same step as the other conditions
            step_conds.append(CaseStep.due_at < datetime.now(UTC))
        else:  # some step is overdue exactly when the earliest due one is
            conds.append(Case.next_due_at < datetime.now(UTC))
    if step_conds:
        conds.append(Case.id.in_(select(CaseStep.case_id).where(*step_conds)))
    total = (await session.execute(select(func.count()).select_from(Case).where(*conds))).scalar_one()
    # The page's ids first (off ix_cases_next_due, no joins), then only those rows as objects: a deep page
    # does not join the child of every case it skips.
    ids = list(
        (
            await session.execute(
                select(Case.id)
                .where(*conds)
                .order_by(*CASE_LIST_ORDER)
                .offset((f.page - 1) * f.per_page)
                .limit(f.per_page)
            )
        ).scalars()
    )
    found = await session.execute(select(Case).options(LIST_ROW).where(Case.id.in_(ids)))
    loaded = {c.id: c for c in found.scalars()}
    return CasePage(items=[loaded[i] for i in ids], total=total, page=f.page, per_page=f.per_page)


async def inbox(*, session: AsyncSession, principal: Principal) -> list[tuple[Case, CaseStep]]:
    """我的待办: open steps my agency holds, the soonest due first."""
    rows = await session.execute(
        select(Case, CaseStep)
        .options(LIST_ROW)
        .join(CaseStep, CaseStep.case_id == Case.id)
        .where(
            Case.status == "open",
            or_(CaseStep.holder_agency_id == principal.agency.id, principal.agency.id == any_(CaseStep.co_holder_ids)),
        )
        .order_by(CaseStep.due_at.asc().nulls_last())
    )
    return [(c, s) for c, s in rows]


@dataclass
class StalledRow:
    case: Case
    step: CaseStep
    reasons: list[str]


@dataclass(frozen=True)
class HolderCount:
    """Where things are stalled: one holding agency's count of listed steps, by how far they have gone."""

    agency_id: int
    name: str
    region: str
    steps: int
    level2: int
    level3: int
    quiet: int  # no activity for the county's stalled_after, or failing automation, without a level


@dataclass
class StalledPage:
    items: list[StalledRow]
    total: int  # over all pages (of the holder chosen, if one is)
    page: int
    per_page: int
    holders: list[HolderCount]  # every holder's count, whichever is chosen


STALLED_PER_PAGE = 50


def _stalled_listing(principal: Principal, include_overdue: bool, now: datetime) -> Select:
    """The steps on a supervisor's overdue and stalled list, as one selectable (no ORM rows)."""
    threshold = supervision_level(principal.is_city, include_overdue)
    types = overseen_type_values(principal)
    # A supervisor in a local agency (a committee, a school) watches their own agency's steps.
    held = (
        and_(CaseStep.holder_type.in_(types), CaseStep.holder_region.in_(scope_regions(principal)))
        if types
        else CaseStep.holder_agency_id == principal.agency.id
    )
    # Each case's own county decides how long is too quiet: one lateral lookup per row, same query.
    quiet_after = select(policy_in_force("stalled_after", Case.county, now).label("value")).lateral("quiet_after")
    quiet = Case.last_activity_at < now - calendar_interval(quiet_after.c.value)
    return (
        select(
            Case.id.label("case_id"),
            Case.case_no,
            CaseStep.track,
            CaseStep.holder_agency_id,
            CaseStep.escalation_level.label("level"),
            CaseStep.due_at,
            quiet_after.c.value.label("quiet_value"),
            quiet.label("quiet"),
        )
        .join(CaseStep, CaseStep.case_id == Case.id)
        .join(quiet_after, true())
        .where(
            Case.status == "open",
            held,
            or_(CaseStep.escalation_level >= threshold, quiet, Case.automation_error.is_not(None)),
        )
    )


async def stalled(
    *,
    session: AsyncSession,
    principal: Principal,
    include_overdue: bool = False,
    holder: int | None = None,
    page: int = 1,
    per_page: int = STALLED_PER_PAGE,
) -> StalledPage:
    """A supervisor's overdue and stalled list: steps held by agencies they oversee in their scope
    that reached their level (2 for a county supervisor, 3 for the city's; 1 with include_overdue), or
    whose case has had no activity for the `stalled_after` in force in its county, or whose automation
    is failing. Counted by holder in SQL; one page of rows (of one holder, if chosen) as objects."""
    if not principal.is_supervisor:
        raise DomainError("not_permitted", "只有督导可以查看逾期和停滞案件")
    now = datetime.now(UTC)
    listed = _stalled_listing(principal, include_overdue, now).subquery("stalled")
    c = listed.c
    counts = (
        await session.execute(
            select(
                c.holder_agency_id,
                func.count().label("steps"),
                func.count().filter(c.level >= 2).label("level2"),
                func.count().filter(c.level >= 3).label("level3"),
                func.count().filter(c.level == 0).label("quiet"),
            ).group_by(c.holder_agency_id)
        )
    ).all()
    agencies = {
        a.id: a
        for a in (
            await session.execute(
                select(Agency.id, Agency.name, Agency.region_code).where(
                    Agency.id.in_([r.holder_agency_id for r in counts])
                )
            )
        ).all()
    }
    holders = sorted(
        (
            HolderCount(
                r.holder_agency_id,
                agencies[r.holder_agency_id].name,
                agencies[r.holder_agency_id].region_code,
                r.steps,
                r.level2,
                r.level3,
                r.quiet,
            )
            for r in counts
        ),
        key=lambda x: (-x.level3, -x.level2, -x.steps, x.region, x.name),
    )
    chosen = [h for h in holders if holder is None or h.agency_id == holder]
    total = sum(h.steps for h in chosen)
    page_rows = (
        await session.execute(
            select(c.case_id, c.track, c.quiet_value, c.quiet)
            .where(true() if holder is None else c.holder_agency_id == holder)
            .order_by(c.level.desc(), c.due_at.asc().nulls_last(), c.case_no.collate("C"), c.track)
            .offset((page - 1) * per_page)
            .limit(per_page)
        )
    ).all()
    by_key = {}
    if page_rows:
        loaded = await session.execute(
            select(Case, CaseStep)
            .options(LIST_ROW)
            .join(CaseStep, CaseStep.case_id == Case.id)
            .where(tuple_(CaseStep.case_id, CaseStep.track).in_([(r.case_id, r.track) for r in page_rows]))
        )
        by_key = {(case.id, step.track): (case, step) for case, step in loaded}
    failing = await _failing_gateways(
        session, {case.id for case, _ in by_key.values() if (case.automation_error or "").startswith(DELIVER_OUTBOUND)}
    )
    items = []
    for r in page_rows:
        case, step = by_key[(r.case_id, r.track)]
        reasons = _reasons(case, step, r.quiet_value, r.quiet) + failing.get(case.id, [])
        items.append(StalledRow(case, step, reasons))
    return StalledPage(items, total, page, per_page, holders)


async def _failing_gateways(session: AsyncSession, case_ids: set[int]) -> dict[int, list[str]]:
    """For each case whose outbound delivery is failing: whose gateway, undelivered since when (the oldest
    message still pending), so that the supervisor knows whom to call. Where a delivery workflow marked
    some (failing past `outbound_undelivered_after`), only their gateways. One query for the page."""
    if not case_ids:
        return {}
    rows = await session.execute(
        select(
            OutboundDelivery.case_id,
            Agency.name,
            func.min(OutboundDelivery.created_at),
            func.bool_or(OutboundDelivery.marked_at.is_not(None)),
        )
        .join(Agency, Agency.id == OutboundDelivery.agency_id)
        .where(OutboundDelivery.case_id.in_(case_ids), OutboundDelivery.status == "pending")
        .group_by(OutboundDelivery.case_id, Agency.name)
        .order_by(OutboundDelivery.case_id, func.min(OutboundDelivery.created_at))
    )
    found = rows.all()
    with_marks = {case_id for case_id, _, _, marked in found if marked}
    out: dict[int, list[str]] = {}
    for case_id, name, since, marked in found:
        if marked or case_id not in with_marks:
            at = since if since.tzinfo else since.replace(tzinfo=UTC)
            line = f"{name}的消息网关自{at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}起未送达"
            out.setdefault(case_id, []).append(line)
    return out


def _reasons(case: Case, step: CaseStep, quiet_value: str, is_quiet: bool) -> list[str]:
    reasons = []
    if step.escalation_level >= 1:
        reasons.append(f"逾期（{step.escalation_level}级）")
    if is_quiet:
        reasons.append(f"{Allowance.parse(quiet_value).label()}无进展")
    if case.automation_error:
        # The outbound channel's gateway not answering is the agency's to chase, not a system fault.
        undelivered = case.automation_error.startswith(DELIVER_OUTBOUND)
        reasons.append("外发通知（短信/政务微信）未送达" if undelivered else "系统处理异常")
    return reasons


def step_state_of(row: CaseStep) -> StepState:
    """A projection row as the workflow's step type, for pages when the live Query is unavailable."""
    deadlines = (
        StepDeadlines(
            due_at=row.due_at,
            level2_at=row.level2_at or row.due_at,
            level3_at=row.level3_at or row.due_at,
            provisional=row.due_provisional,
            allowance=row.allowance or "",
        )
        if row.due_at
        else None
    )
    return StepState(
        track=row.track,
        step=row.step,
        seq=row.step_seq,
        opened_at=row.opened_at,
        base=row.opened_at,
        holder=agency_ref(row.holder),
        co_holders=[AgencyRef.model_validate(a) for a in row.co_holders],
        deadlines=deadlines,
        level=row.escalation_level,
        counters=dict(row.counters or {}),
        allowance=row.allowance,
        external=ExternalParty.model_validate(row.external) if row.external else None,
    )
