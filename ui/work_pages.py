"""我的待办 (the open steps my agency holds, and my latest notifications), 通知 (my inbox), and 逾期与停滞
(supervisors)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.cases import lists
from api.cases.service import policy_lookup
from api.deps import PageUser, SessionDep
from api.notifications import service as notifications
from api.refresh.service import overdue_for_supervisor, overdue_json
from db.models import Case, CaseStep
from domain.errors import DomainError
from domain.oversight import supervision_level
from domain.policy import Allowance
from domain.processes import POLICY_DEFAULTS, get_process
from ui.case_info import step_progress, summary_items
from ui.filters import overdue_for, time_left
from ui.forms import read_form, to_int
from ui.render import flash, render

router = APIRouter(include_in_schema=False)


@dataclass
class StepRow:
    """One open step of a case, as a line of a work list."""

    case: Case | lists.InboxCase
    step: CaseStep | lists.InboxStep
    process_label: str
    step_label: str
    left: str
    overdue: bool
    reasons: list[str]
    overdue_for: str
    co_holder: bool = False  # my agency helps on the step (协办) rather than holding it
    summary: list[tuple[str, str]] = field(default_factory=list)
    progress: str | None = None  # a counted step's "已完成 2/3 次"


def step_row(
    case: Case | lists.InboxCase,
    step: CaseStep | lists.InboxStep,
    now: datetime,
    reasons: list[str] | None = None,
    agency_id: int | None = None,
    policy: Callable[[str], Allowance] | None = None,
) -> StepRow:
    process = get_process(case.process)
    left, overdue = time_left(step.due_at, now)
    return StepRow(
        case,
        step,
        process.label,
        process.step_label(step.step),
        left,
        overdue,
        reasons or [],
        overdue_for(step.due_at, now),
        co_holder=agency_id is not None and step.holder_agency_id != agency_id,
        summary=summary_items(process, case.summary),
        progress=step_progress(process, step.step, dict(step.counters or {}), policy) if policy else None,
    )


@router.get("/inbox", response_class=HTMLResponse)
async def inbox(
    request: Request,
    user: PageUser,
    session: SessionDep,
    cursor: Annotated[str, Query(max_length=512)] = "",
    per_page: Annotated[int, Query(ge=1, le=lists.INBOX_MAX_PER_PAGE)] = lists.INBOX_PER_PAGE,
) -> HTMLResponse:
    now = datetime.now(UTC)
    page = await lists.inbox(session=session, principal=user, cursor=cursor or None, per_page=per_page)
    counties = {e.case.county for e in page.items}
    policies = {county: await policy_lookup(session, county, now) for county in counties}
    rows = [step_row(e.case, e.step, now, agency_id=user.agency.id, policy=policies[e.case.county]) for e in page.items]
    notes = await notifications.inbox(session, user, limit=10)
    return render(
        request,
        "inbox.html",
        user,
        rows=rows,
        total=page.total,
        next_url=_inbox_url(page.next_cursor, per_page),
        prev_url=_inbox_url(page.prev_cursor, per_page),
        notes=notes,
    )


def _inbox_url(cursor: str | None, per_page: int) -> str | None:
    if not cursor:
        return None
    query = {"cursor": cursor} if per_page == lists.INBOX_PER_PAGE else {"cursor": cursor, "per_page": per_page}
    return f"/inbox?{urlencode(query)}"


NOTES_PER_PAGE = 50


@router.get("/notifications", response_class=HTMLResponse)
async def notifications_page(
    request: Request,
    user: PageUser,
    session: SessionDep,
    unread: str = "",
    before: Annotated[str, Query()] = "",
) -> HTMLResponse:
    unread_only = unread in ("1", "on", "true")
    notes = await notifications.inbox(
        session, user, unread_only=unread_only, limit=NOTES_PER_PAGE + 1, before_id=to_int(before)
    )
    more = len(notes) > NOTES_PER_PAGE
    notes = notes[:NOTES_PER_PAGE]
    return render(
        request,
        "notifications.html",
        user,
        notes=notes,
        unread_only=unread_only,
        older=notes[-1].id if more else None,
    )


@router.post("/notifications/read")
async def notifications_read(request: Request, user: PageUser, session: SessionDep) -> Response:
    await read_form(request)
    marked = await notifications.mark_read(session, user, everything=True)
    await session.commit()
    flash(request, f"已将 {marked} 条通知标为已读" if marked else "没有未读通知")
    return RedirectResponse("/notifications", status_code=303)


@router.get("/supervision", response_class=HTMLResponse)
async def supervision(
    request: Request,
    user: PageUser,
    session: SessionDep,
    show_all: Annotated[str, Query(alias="all")] = "",
    holder: str = "",
    page: str = "",
) -> HTMLResponse:
    if not user.is_supervisor:
        raise DomainError("not_permitted", "只有督导可以查看逾期与停滞案件")
    include_overdue = show_all in ("1", "on", "true")
    now = datetime.now(UTC)
    chosen = to_int(holder)
    number = max(1, to_int(page) or 1)
    found = await lists.stalled(
        session=session, principal=user, include_overdue=include_overdue, holder=chosen, page=number
    )
    rows = [step_row(r.case, r.step, now, r.reasons) for r in found.items]
    # Beside the cases: the county registry refreshes escalated to this supervisor (civil affairs only).
    refreshes = await overdue_for_supervisor(session=session, principal=user, include_overdue=include_overdue)
    threshold = supervision_level(user.is_city, include_overdue)
    keep = {k: v for k, v in (("all", "1" if include_overdue else ""), ("holder", chosen or "")) if v}

    def page_url(n: int) -> str:
        return "/supervision?" + urlencode({**keep, "page": n})

    return render(
        request,
        "supervision.html",
        user,
        rows=rows,
        total=found.total,
        page=found.page,
        pages=max(1, -(-found.total // found.per_page)),
        page_url=page_url,
        summary=found.holders,
        holder=chosen,
        include_overdue=include_overdue,
        threshold=threshold,
        quiet_default=POLICY_DEFAULTS["stalled_after"].value.label(),
        refreshes=[overdue_json(r) for r in refreshes],
    )
