"""新建案件: find the child (by name in my area, or by the exact ID number), choose the process when my
agency may start several, then the start form."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.cases import service
from api.children.service import ChildMerged, find_children, get_child
from api.deps import ClientDep, PageUser, SessionDep, SettingsDep
from api.errors import status_for
from api.principal import Principal
from api.registry import proposals
from api.school_calendar.service import school_calendar
from db.models import Child
from domain.deadlines import local_date
from domain.enums import AgencyType
from domain.errors import DomainError
from domain.idnumber import mask_id_number
from domain.process import Field, FieldKind, FieldRole, Process
from domain.processes import PROCESSES, get_process
from domain.regions import region_name
from ui.forms import (
    OptionGroup,
    agencies_of,
    group_by_county,
    new_request_id,
    payload_from_form,
    read_form,
    shown_values,
    to_int,
)
from ui.render import flash, render

router = APIRouter(include_in_schema=False)


def startable(user: Principal) -> list[Process]:
    """The processes the user's agency may start, by some start option."""
    return [p for p in PROCESSES.values() if p.starts_for(user.agency.agency_type)]


def chosen_process(processes: list[Process], name: str | None) -> Process | None:
    """The process to show the form of: the one asked for if the user may start it, the only one the
    user may start, else None (the user chooses first)."""
    for p in processes:
        if p.name == name:
            return p
    return processes[0] if len(processes) == 1 else None


@dataclass(frozen=True)
class StartField:
    """A start form's field as this starter sees it. `own`: an agency field naming the starter's own
    agency (a school reporting its own pupil, a committee its own child), shown but not asked."""

    field: Field
    own: bool = False


def start_fields_for(process: Process, starter: AgencyType) -> list[StartField]:
    """An agency field of a type that may itself start the process names the starter when the starter
    is of that type, and must be chosen by everyone else (the process's start check asks for it)."""
    starter_types = {t for o in process.starts for t in o.agency_types}
    out = []
    for f in process.start_fields:
        if f.kind == FieldKind.agency and f.agency_type in starter_types:
            if f.agency_type == starter:
                out.append(StartField(f, own=True))
                continue
            f = replace(f, required=True)
        out.append(StartField(f))
    return out


def _clean_id(value: str) -> str:
    return unicodedata.normalize("NFKC", value or "").strip().upper()


async def _start_options(session: AsyncSession, process: Process, child: Child) -> dict[str, list[OptionGroup]]:
    """For each agency field of the start form: the active agencies of its type in the child's county."""
    out: dict[str, list[OptionGroup]] = {}
    for f in process.start_fields:
        if f.kind == FieldKind.agency and f.agency_type is not None:
            out[f.name] = group_by_county(await agencies_of(session, f.agency_type, [child.residence_region]))
    return out


def _defaults(process: Process, user: Principal, child: Child) -> dict[str, Any]:
    options = process.starts_for(user.agency.agency_type)
    values: dict[str, Any] = {"start_step": options[0].step if options else ""}
    committee = process.start_field_with(FieldRole.residence_committee)
    if committee and child.residence_committee_id:
        values[committee.name] = str(child.residence_committee_id)
    return values


def _child_context(child: Child, by_id_number: bool) -> dict[str, Any]:
    return {
        "child": child,
        "masked_id": mask_id_number(child.id_number) if child.id_number else "",
        "by_id_number": by_id_number,
    }


async def start_form(
    request: Request,
    user: Principal,
    session: AsyncSession,
    child: Child,
    process: Process,
    *,
    by_id_number: bool = False,
    values: dict[str, Any] | None = None,
    error: DomainError | None = None,
    status: int = 200,
    registry_proposal: int | None = None,  # the registry's proposal this start confirms (api/registry/proposals.py)
) -> HTMLResponse:
    return render(
        request,
        "case_new.html",
        user,
        status=status,
        nav="new",  # also when a refused start form comes back from POST /cases
        stage="form",
        **_child_context(child, by_id_number),
        process=process,
        processes=startable(user),
        options=process.starts_for(user.agency.agency_type),
        fields=start_fields_for(process, user.agency.agency_type),
        field_options=await _start_options(session, process, child),
        calendar_note=await _calendar_note(session, process, child),
        values=values if values is not None else _defaults(process, user, child),
        error=error,
        idempotency_key=new_request_id(),
        registry_proposal=registry_proposal,
    )


async def _calendar_note(session: AsyncSession, process: Process, child: Child) -> str | None:
    """Which calendar the start check counts school days on, for the child's county, today."""
    if not process.counts_school_days:
        return None
    county = child.residence_region
    calendar = await school_calendar(session=session, county=county)
    name = region_name(county) or county
    if calendar.is_set_for(local_date(datetime.now(UTC))):
        return f"上学日按{name}教育局设置的校历计算（寒暑假和学期内假期不计）。"
    return f"{name}教育局尚未设置当前学期的校历：上学日暂按法定工作日计算（寒暑假也会计入）。"


def choice_page(request: Request, user: Principal, child: Child, *, by_id_number: bool = False) -> HTMLResponse:
    """The user's agency may start several processes (or none): which one is this report?"""
    return render(
        request,
        "case_new.html",
        user,
        stage="choose",
        **_child_context(child, by_id_number),
        processes=startable(user),
        agency_type=user.agency.agency_type,
    )


async def form_or_choice(
    request: Request,
    user: Principal,
    session: AsyncSession,
    child: Child,
    name: str | None,
    by_id: bool = False,
    registry_proposal: int | None = None,
) -> HTMLResponse:
    process = chosen_process(startable(user), name)
    if process is None:
        return choice_page(request, user, child, by_id_number=by_id)
    return await start_form(
        request, user, session, child, process, by_id_number=by_id, registry_proposal=registry_proposal
    )


def _search_page(
    request: Request,
    user: Principal,
    *,
    results: list[Child] | None = None,
    q: str = "",
    searched: bool = False,
    error: str | None = None,
    status: int = 200,
) -> HTMLResponse:
    return render(
        request,
        "case_new.html",
        user,
        status=status,
        stage="search",
        results=results or [],
        q=q,
        searched=searched,
        error_text=error,
        processes=startable(user),
        masked=lambda c: mask_id_number(c.id_number) if c.id_number else "",
    )


@router.get("/cases/new", response_class=HTMLResponse)
async def new_case(
    request: Request,
    user: PageUser,
    session: SessionDep,
    child_id: str = "",
    process: str = "",
    registry_proposal: str = "",
) -> Response:
    if user.is_admin:
        raise DomainError("not_permitted", "管理员账号不能立案")
    number = to_int(child_id)
    if number is None:
        return _search_page(request, user)
    try:
        child = await get_child(session=session, principal=user, child_id=number)
    except ChildMerged as merged:
        flash(request, "该临时档案已合并到以下儿童档案，请为该儿童立案", "warn")
        query = {"child_id": merged.into_id, **({"process": process} if process else {})}
        return RedirectResponse(f"/cases/new?{urlencode(query)}", status_code=303)
    return await form_or_choice(request, user, session, child, process, registry_proposal=to_int(registry_proposal))


@router.post("/cases/new", response_class=HTMLResponse)
async def find_child(request: Request, user: PageUser, session: SessionDep) -> HTMLResponse:
    """The search is posted so that names and ID numbers stay out of URLs and access logs. A child found
    by ID number may live outside the user's area, so the choice of process is posted too."""
    form = await read_form(request)
    id_number = _clean_id(form.get("id_number", ""))
    q = form.get("q", "").strip()[:32]
    if id_number:
        found = await find_children(session=session, principal=user, id_number=id_number)
        if not found:
            return _search_page(request, user, searched=True, error="未找到该身份证号码的儿童，请核对或先登记")
        return await form_or_choice(request, user, session, found[0], form.get("process"), by_id=True)
    found = await find_children(session=session, principal=user, q=q or None)
    return _search_page(request, user, results=found, q=q, searched=True)


async def _child_of_form(session: AsyncSession, user: Principal, form: dict[str, str]) -> tuple[Child, bool]:
    id_number = _clean_id(form.get("id_number", ""))
    if id_number:
        found = await find_children(session=session, principal=user, id_number=id_number)
        if not found:
            raise DomainError("child_not_found", "未找到该身份证号码的儿童，请先登记", field="id_number")
        return found[0], True
    child_id = to_int(form.get("child_id"))
    if child_id is None:
        raise DomainError("field_required", "请选择儿童", field="child_id")
    return await get_child(session=session, principal=user, child_id=child_id), False


@router.post("/cases", response_class=HTMLResponse)
async def start(
    request: Request, user: PageUser, session: SessionDep, client: ClientDep, settings: SettingsDep
) -> Response:
    form = await read_form(request)
    process = get_process(form.get("process", ""))
    child, by_id = await _child_of_form(session, user, form)
    asked = [s.field for s in start_fields_for(process, user.agency.agency_type) if not s.own]
    data = service.StartCaseIn(
        process=process.name,
        start_step=form.get("start_step", ""),
        child_id=None if by_id else child.id,
        id_number=child.id_number if by_id else None,
        facts=payload_from_form(asked, form),
    )
    key = (form.get("idempotency_key") or "").strip()[:128] or None
    proposal = to_int(form.get("registry_proposal"))
    try:
        if proposal is not None:
            await proposals.check_open(session, user, proposal, child_id=child.id, process=process.name)
        started = await service.start_case(
            session=session,
            client=client,
            task_queue=settings.task_queue,
            principal=user,
            data=data,
            idempotency_key=key,
        )
    except DomainError as e:
        values = shown_values(form, drop=("csrf", "idempotency_key"))
        return await start_form(
            request,
            user,
            session,
            child,
            process,
            by_id_number=by_id,
            values=values,
            error=e,
            status=status_for(e),
            registry_proposal=proposal,
        )
    if proposal is not None:
        await proposals.mark_confirmed(session, user, proposal, started.case_no)
    flash(request, f"已立案：{started.case_no}" if started.created else f"该案件已立案：{started.case_no}")
    return RedirectResponse(f"/cases/{started.case_no}", status_code=303)
