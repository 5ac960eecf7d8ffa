"""/api/v1/cases: start, list, read, act, supervise; the inbox, the stalled list, the monthly report."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Response

from api.cases import answers, lists, service, views
from api.cases.report import period_report
from api.deps import ApiUser, ClientDep, SessionDep, SettingsDep, now_utc
from api.refresh.service import overdue_for_supervisor, overdue_json
from domain.deadlines import local_date
from domain.messages import ActionResult
from domain.periods import parse_period
from domain.processes import get_process

router = APIRouter(prefix="/cases", tags=["cases"])
work = APIRouter(tags=["work"])


def _result_json(case_no: str, result: ActionResult | None) -> dict[str, Any]:
    body: dict[str, Any] = {"case_no": case_no}
    if result is not None:
        body.update(
            seq=result.seq,
            closed=result.closed,
            outcome=result.outcome,
            steps=[
                {
                    "track": s.track,
                    "step": s.step,
                    "step_seq": s.seq,
                    "holder": s.holder.name,
                    "due_at": s.deadlines.due_at.isoformat() if s.deadlines else None,
                    "due_provisional": bool(s.deadlines and s.deadlines.provisional),
                }
                for s in result.steps
            ],
        )
    return body


@router.post(
    "",
    status_code=201,
    summary="Start a case (idempotent with Idempotency-Key)",
    response_model=answers.StartAnswer,
    response_model_exclude_unset=True,
    responses={200: {"model": answers.StartAnswer, "description": "The same Idempotency-Key again: the first answer"}},
)
async def start_case(
    data: service.StartCaseIn,
    response: Response,
    principal: ApiUser,
    session: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> dict[str, Any]:
    started = await service.start_case(
        session=session,
        client=client,
        task_queue=settings.task_queue,
        principal=principal,
        data=data,
        idempotency_key=idempotency_key,
    )
    if not started.created:
        response.status_code = 200
    body = _result_json(started.case_no, started.result)
    body["created"] = started.created
    return body


@router.get("", summary="List cases visible to the caller (filtered, paginated)", response_model=answers.CasePage)
async def list_cases(
    principal: ApiUser, session: SessionDep, f: Annotated[lists.CaseFilter, Depends()]
) -> dict[str, Any]:
    page = await lists.list_cases(session=session, principal=principal, f=f)
    return {
        "items": [views.case_summary_json(c) for c in page.items],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    }


@router.get(
    "/{case_no}",
    summary="One case: projection, timeline, live steps and allowed actions",
    response_model=answers.CaseDetailOut,
)
async def get_case(case_no: str, principal: ApiUser, session: SessionDep, client: ClientDep) -> dict[str, Any]:
    detail = await service.get_case_detail(session=session, client=client, principal=principal, case_no=case_no)
    return views.case_detail_json(detail, principal)


@router.post(
    "/{case_no}/actions",
    summary="Act on a step of the case (or on the case)",
    response_model=answers.ActionAnswer,
    response_model_exclude_unset=True,
)
async def act(
    case_no: str, data: service.ActIn, principal: ApiUser, session: SessionDep, client: ClientDep
) -> dict[str, Any]:
    result = await service.act(session=session, client=client, principal=principal, case_no=case_no, data=data)
    return _result_json(case_no, result)


@router.post(
    "/{case_no}/supervision",
    summary="Supervisor: urge, extend or reassign a step",
    response_model=answers.ActionAnswer,
    response_model_exclude_unset=True,
)
async def supervise(
    case_no: str, data: service.SuperviseIn, principal: ApiUser, session: SessionDep, client: ClientDep
) -> dict[str, Any]:
    result = await service.supervise(session=session, client=client, principal=principal, case_no=case_no, data=data)
    return _result_json(case_no, result)


@work.get(
    "/inbox",
    summary="我的待办: open steps the caller's agency holds or helps on, one page (keyset: `cursor`)",
    response_model=answers.InboxPage,
)
async def inbox(
    principal: ApiUser,
    session: SessionDep,
    cursor: Annotated[str | None, Query(max_length=512, description="next_cursor or prev_cursor of a page")] = None,
    per_page: Annotated[int, Query(ge=1, le=lists.INBOX_MAX_PER_PAGE)] = lists.INBOX_PER_PAGE,
) -> dict[str, Any]:
    page = await lists.inbox(session=session, principal=principal, cursor=cursor, per_page=per_page)
    return {
        "items": [views.inbox_item_json(e) for e in page.items],
        "total": page.total,
        "per_page": page.per_page,
        "next_cursor": page.next_cursor,
        "prev_cursor": page.prev_cursor,
    }


@work.get("/stalled", summary="Supervisor: overdue and stalled steps in scope", response_model=answers.Stalled)
async def stalled(
    principal: ApiUser,
    session: SessionDep,
    include_overdue: bool = False,
    holder: Annotated[int | None, Query(ge=1, le=2_147_483_647, description="only this holding agency")] = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=1, le=200)] = lists.STALLED_PER_PAGE,
) -> dict[str, Any]:
    found = await lists.stalled(
        session=session,
        principal=principal,
        include_overdue=include_overdue,
        holder=holder,
        page=page,
        per_page=per_page,
    )
    return {
        "items": [
            {
                **views.case_summary_json(r.case),
                "step": views.step_json(views.get_process(r.case.process), lists.step_state_of(r.step)),
                "reasons": r.reasons,
            }
            for r in found.items
        ],
        "total": found.total,
        "page": found.page,
        "per_page": found.per_page,
        "holders": [asdict(h) for h in found.holders],
        "refreshes": [
            overdue_json(r)
            for r in await overdue_for_supervisor(session=session, principal=principal, include_overdue=include_overdue)
        ],
    }


@work.get(
    "/reports/{process}",
    summary="Supervisor: a process's cases open during a month (?month=2026-11) or a school term "
    "(?term=2026-autumn; the default for city supervisors), by group and step",
    response_model=answers.ReportOut,
)
async def report(
    process: str,
    principal: ApiUser,
    session: SessionDep,
    month: str | None = None,
    term: str | None = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
) -> dict[str, Any]:
    period = parse_period(
        month=month, term=term, today=local_date(now_utc()), default="term" if principal.is_city else "month"
    )
    r = await period_report(
        session=session, principal=principal, process=get_process(process), period=period, page=page
    )
    return {
        "process": r.process.name,
        "period": {
            "kind": period.kind,
            "key": period.key,
            "label": period.label,
            "start": period.start.isoformat(),
            "end": period.end.isoformat(),
        },
        "month": period.key if period.kind == "month" else None,
        "opened": r.opened,
        "closed": r.closed,
        "still_open": r.still_open,
        "groups": [
            {"group": g.group, "step": g.step, "step_label": g.step_label, "cases": g.cases, "overdue": g.overdue}
            for g in r.groups
        ],
        "items": [
            {
                **views.case_summary_json(row.case),
                "group": row.group,
                "overdue": row.overdue,
                "handed_to": row.handed_to,
            }
            for row in r.rows
        ],
        "total": r.total,
        "page": r.page,
        "per_page": r.per_page,
    }
