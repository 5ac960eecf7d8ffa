"""Lists of cases: the filtered, paginated case list, 我的待办, the supervisors' overdue and stalled list."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import (
    ColumnElement,
    DateTime,
    Select,
    and_,
    func,
    literal,
    literal_column,
    or_,
    select,
    true,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased, defaultload

from api.cases.visibility import case_visible, overseen_type_values, scope_regions
from api.principal import Principal, agency_ref
from db.models import Agency, Case, CaseStep, Child, OutboundDelivery
from db.policy import calendar_interval, policy_in_force
from domain.deadlines import SHANGHAI, StepDeadlines
from domain.enums import AgencyType
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


# 我的待办's order: the soonest due (the most overdue) first, steps without a deadline last, then by case and
# track so that the order is total and a cursor names one place in it. ix_case_steps_inbox reads in it.
INBOX_DUE = func.coalesce(CaseStep.due_at, literal_column("'infinity'::timestamptz"))
INBOX_PER_PAGE = 50
INBOX_MAX_PER_PAGE = 200


@dataclass(frozen=True)
class InboxKey:
    """A place in 我的待办's order: a step's due time (None: no deadline), case id and track."""

    due_at: datetime | None
    case_id: int
    track: str


@dataclass(frozen=True)
class InboxCursor:
    """Where a page starts: after `key` (the next page), or before it (the previous page)."""

    key: InboxKey
    before: bool = False

    def encode(self) -> str:
        due = self.key.due_at.isoformat() if self.key.due_at else None
        raw = json.dumps(["b" if self.before else "a", due, self.key.case_id, self.key.track], separators=(",", ":"))
        return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> InboxCursor:
        """The cursor a page handed out; anything else (edited, truncated, from another list) is refused."""
        try:
            raw = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
            way, due, case_id, track = raw
            if way not in ("a", "b") or type(case_id) is not int or not 0 < case_id < 2**31:
                raise ValueError(raw)
            if not isinstance(track, str) or len(track) > 16:
                raise ValueError(raw)
            at = None if due is None else datetime.fromisoformat(due)
            if at is not None and at.tzinfo is None:
                raise ValueError(due)
        except (ValueError, TypeError, binascii.Error, UnicodeDecodeError):
            raise DomainError("bad_cursor", "翻页参数无效，请回到我的待办第一页重新翻页", field="cursor") from None
        return cls(InboxKey(at, case_id, track), before=way == "b")


@dataclass(frozen=True)
class InboxChild:
    id: int
    name: str
    identity_status: str


@dataclass(frozen=True)
class InboxCase:
    """The case as a line of 我的待办 shows it (no guardians, no other steps)."""

    id: int
    case_no: str
    process: str
    county: str
    summary: dict[str, Any]
    child: InboxChild


@dataclass(frozen=True)
class InboxHolder:
    id: int
    name: str
    agency_type: str
    region_code: str
    township: str | None


@dataclass(frozen=True)
class InboxStep:
    """An open step as 我的待办 shows it: the columns of case_steps the page and the API read."""

    track: str
    step: str
    step_seq: int
    holder_agency_id: int
    holder: InboxHolder
    co_holders: list[dict[str, Any]]
    external: dict[str, Any] | None
    opened_at: datetime
    due_at: datetime | None
    level2_at: datetime | None
    level3_at: datetime | None
    due_provisional: bool
    allowance: str | None
    escalation_level: int
    counters: dict[str, int]


@dataclass(frozen=True)
class InboxEntry:
    case: InboxCase
    step: InboxStep

    @property
    def key(self) -> InboxKey:
        return InboxKey(self.step.due_at, self.case.id, self.step.track)


@dataclass(frozen=True)
class InboxPage:
    items: list[InboxEntry]
    total: int  # every open step the agency holds or co-holds, over all pages
    per_page: int
    next_cursor: str | None
    prev_cursor: str | None


def _inbox_order(before: bool) -> tuple[ColumnElement[Any], ...]:
    cols = (INBOX_DUE, CaseStep.case_id, CaseStep.track)
    return tuple(c.desc() if before else c.asc() for c in cols)


def _inbox_branch(held: ColumnElement[bool], cursor: InboxCursor | None, limit: int) -> Select:
    """The keys of one kind of step (held, or co-held) from the cursor on, in the inbox order, at most
    `limit`: each kind reads its own index in order, so a page costs its rows, not the agency's all."""
    stmt = (
        select(CaseStep.case_id, CaseStep.track, INBOX_DUE.label("due"))
        .join(Case, Case.id == CaseStep.case_id)
        .where(held, Case.status == "open")
    )
    if cursor is not None:
        k = cursor.key
        due = literal_column("'infinity'::timestamptz") if k.due_at is None else literal(k.due_at, DateTime(True))
        here = tuple_(INBOX_DUE, CaseStep.case_id, CaseStep.track)
        there = tuple_(due, literal(k.case_id), literal(k.track))
        stmt = stmt.where(here < there if cursor.before else here > there)
    return stmt.order_by(*_inbox_order(cursor is not None and cursor.before)).limit(limit)


def _inbox_holds(agency_id: int) -> tuple[ColumnElement[bool], ColumnElement[bool]]:
    """Held by the agency; co-held by it (协办) and held by another. `@>` so that the GIN index answers it."""
    held = CaseStep.holder_agency_id == agency_id
    co_held = and_(CaseStep.co_holder_ids.contains([agency_id]), CaseStep.holder_agency_id != agency_id)
    return held, co_held


async def _inbox_keys(
    session: AsyncSession, agency_id: int, cursor: InboxCursor | None, limit: int
) -> list[tuple[int, str]]:
    held, co_held = _inbox_holds(agency_id)
    both = union_all(_inbox_branch(held, cursor, limit), _inbox_branch(co_held, cursor, limit)).subquery("held")
    before = cursor is not None and cursor.before
    cols = (both.c.due, both.c.case_id, both.c.track)
    rows = await session.execute(
        select(both.c.case_id, both.c.track).order_by(*(c.desc() if before else c.asc() for c in cols)).limit(limit)
    )
    keys = [(r.case_id, r.track) for r in rows]
    return keys[::-1] if before else keys


async def _inbox_rows(session: AsyncSession, keys: list[tuple[int, str]]) -> list[InboxEntry]:
    """The page's steps with only the columns the page shows, in one statement."""
    if not keys:
        return []
    holder = aliased(Agency)
    rows = await session.execute(
        select(
            Case.id,
            Case.case_no,
            Case.process,
            Case.county,
            Case.summary,
            Child.id.label("child_id"),
            Child.name.label("child_name"),
            Child.identity_status,
            CaseStep.track,
            CaseStep.step,
            CaseStep.step_seq,
            CaseStep.holder_agency_id,
            holder.name.label("holder_name"),
            holder.agency_type.label("holder_type"),
            holder.region_code.label("holder_region"),
            holder.township.label("holder_township"),
            CaseStep.co_holders,
            CaseStep.external,
            CaseStep.opened_at,
            CaseStep.due_at,
            CaseStep.level2_at,
            CaseStep.level3_at,
            CaseStep.due_provisional,
            CaseStep.allowance,
            CaseStep.escalation_level,
            CaseStep.counters,
        )
        .join(Case, Case.id == CaseStep.case_id)
        .join(Child, Child.id == Case.child_id)
        .join(holder, holder.id == CaseStep.holder_agency_id)
        .where(tuple_(CaseStep.case_id, CaseStep.track).in_(keys))
    )
    found = {}
    for r in rows:
        case = InboxCase(
            r.id,
            r.case_no,
            r.process,
            r.county,
            dict(r.summary or {}),
            InboxChild(r.child_id, r.child_name, r.identity_status),
        )
        step = InboxStep(
            track=r.track,
            step=r.step,
            step_seq=r.step_seq,
            holder_agency_id=r.holder_agency_id,
            holder=InboxHolder(r.holder_agency_id, r.holder_name, r.holder_type, r.holder_region, r.holder_township),
            co_holders=list(r.co_holders or []),
            external=r.external,
            opened_at=r.opened_at,
            due_at=r.due_at,
            level2_at=r.level2_at,
            level3_at=r.level3_at,
            due_provisional=r.due_provisional,
            allowance=r.allowance,
            escalation_level=r.escalation_level,
            counters=dict(r.counters or {}),
        )
        found[(r.id, r.track)] = InboxEntry(case, step)
    # A step that ended between the two reads is left out rather than shown stale.
    return [found[k] for k in keys if k in found]


async def inbox_total(session: AsyncSession, agency_id: int) -> int:
    held, co_held = _inbox_holds(agency_id)
    stmt = (
        select(func.count())
        .select_from(CaseStep)
        .join(Case, Case.id == CaseStep.case_id)
        .where(or_(held, co_held), Case.status == "open")
    )
    return int((await session.execute(stmt)).scalar_one())


async def inbox(
    *, session: AsyncSession, principal: Principal, cursor: str | None = None, per_page: int = INBOX_PER_PAGE
) -> InboxPage:
    """我的待办: open steps my agency holds or helps on (协办), the soonest due first, one page from `cursor`
    (None: the first page). Pages are keyset pages: a step that moves between two reads is neither skipped
    nor shown twice on the pages that follow."""
    if not 1 <= per_page <= INBOX_MAX_PER_PAGE:
        raise DomainError("invalid", f"每页条数须在1到{INBOX_MAX_PER_PAGE}之间", field="per_page")
    at = InboxCursor.decode(cursor) if cursor else None
    agency_id = principal.agency.id
    keys = await _inbox_keys(session, agency_id, at, per_page + 1)
    if at is not None and at.before and len(keys) <= per_page:
        # Back at the start: the first page as it is now (steps may have ended since), full if it can be.
        at, keys = None, await _inbox_keys(session, agency_id, None, per_page + 1)
    more = len(keys) > per_page
    if at is not None and at.before:
        keys = keys[1:] if more else keys  # the extra row read is the one before this page
        has_next, has_prev = True, more
    else:
        keys = keys[:per_page]
        has_next, has_prev = more, at is not None
    items = await _inbox_rows(session, keys)
    first, last = (items[0].key, items[-1].key) if items else (None, None)
    return InboxPage(
        items=items,
        total=await inbox_total(session, agency_id),
        per_page=per_page,
        next_cursor=InboxCursor(last).encode() if has_next and last else None,
        prev_cursor=InboxCursor(first, before=True).encode() if has_prev and first else None,
    )


def inbox_step_state(s: InboxStep) -> StepState:
    """An inbox line's step as the workflow's step type, for the API's step answer."""
    h = s.holder
    holder = AgencyRef(
        id=h.id, name=h.name, agency_type=AgencyType(h.agency_type), region_code=h.region_code, township=h.township
    )
    return _as_step_state(s, holder)


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
    return _as_step_state(row, agency_ref(row.holder))


def _as_step_state(row: CaseStep | InboxStep, holder: AgencyRef) -> StepState:
    """The columns of case_steps (a whole row, or the inbox's selection of them) as the workflow's step type."""
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
        holder=holder,
        co_holders=[AgencyRef.model_validate(a) for a in row.co_holders],
        deadlines=deadlines,
        level=row.escalation_level,
        counters=dict(row.counters or {}),
        allowance=row.allowance,
        external=ExternalParty.model_validate(row.external) if row.external else None,
    )
