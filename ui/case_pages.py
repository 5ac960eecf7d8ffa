"""案件列表, 案件详情 (with the action and supervision forms), and a case's documents."""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from markupsafe import Markup
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.audit import audit
from api.cases import lists, service
from api.cases.views import current_steps
from api.cases.visibility import case_visible, scope_regions, visible_from_seq
from api.deps import ClientDep, PageUser, SessionDep
from api.errors import status_for
from api.notifications import service as notifications
from api.packets import education
from api.packets import service as packets
from api.principal import Principal
from api.served import served_regions
from api.spreadsheet import Cell as SheetCell
from api.spreadsheet import Column, ColumnKind, Export, Table, export_response, parse_format
from db.models import Agency, Case, Document, TimelineEvent
from domain import permissions
from domain.deadlines import SHANGHAI, local_date
from domain.enums import AgencyType
from domain.errors import DomainError
from domain.messages import CaseState, StepState
from domain.policy import EXTENSION_FORM_UNITS, Allowance, Unit, extension_from_form
from domain.process import Action, Field, FieldKind, FieldRole, Process, field_with
from domain.processes import PROCESSES, get_process
from domain.regions import region_name
from ui.case_info import (
    GivenAnswer,
    counted_key,
    counter_items,
    date_defaults,
    given_agency_ids,
    given_answers,
    hidden_actions,
    is_external_handover,
    linked_cases,
    possible_now,
    reserved_actions,
    step_documents,
    step_progress,
    summary_items,
)
from ui.diagram import process_svg
from ui.filters import agency_type_label, time_left
from ui.forms import (
    OptionGroup,
    agencies_of,
    county_choices,
    group_by_county,
    new_request_id,
    payload_from_form,
    read_form,
    shown_values,
    to_int,
)
from ui.render import flash, render
from ui.timeline import agency_ids_in, event_view, field_details, passed_steps

router = APIRouter(include_in_schema=False)

SUPERVISION_LABELS = {"urge": "督办", "extend": "延期", "reassign": "改派"}
_REQUEST_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")


# ---------------------------------------------------------------------------- the list


def case_filter(params: dict[str, str]) -> lists.CaseFilter:
    """The list's filters from the query string; anything malformed is ignored rather than refused."""
    status = params.get("status", "open")
    level = to_int(params.get("min_level"))
    process = params.get("process") if params.get("process") in PROCESSES else None
    step = params.get("step") or None
    if step not in {name for _, steps in step_choices(process) for name, _ in steps}:
        step = None  # a step of another process (the process was changed): dropped
    return lists.CaseFilter(
        process=process,
        step=step,
        county=params.get("county") if served_regions().is_county(params.get("county") or "") else None,
        status=status if status in ("open", "closed") else None,
        overdue=params.get("overdue") in ("1", "on", "true") or None,
        min_level=level if level is not None and 0 <= level <= 3 else None,
        q=(params.get("q") or "").strip()[:32] or None,
        page=max(to_int(params.get("page")) or 1, 1),
        per_page=20,
    )


def step_choices(process: str | None = None) -> list[tuple[str, list[tuple[str, str]]]]:
    """The steps offered by the list's filter: those of the chosen process, else every process's."""
    chosen = [PROCESSES[process]] if process in PROCESSES else list(PROCESSES.values())
    return [(p.label, [(s.name, s.label) for s in p.steps]) for p in chosen]


@router.get("/cases", response_class=HTMLResponse)
async def case_list(request: Request, user: PageUser, session: SessionDep) -> HTMLResponse:
    params = dict(request.query_params)
    f = case_filter(params)
    page = await lists.list_cases(session=session, principal=user, f=f)
    now = datetime.now(UTC)
    rows = []
    for c in page.items:
        process = get_process(c.process)
        steps = [(s, process.step_label(s.step), *time_left(s.due_at, now)) for s in c.steps]
        rows.append({"case": c, "process": process, "steps": steps, "summary": summary_items(process, c.summary)})
    pages = max((page.total + page.per_page - 1) // page.per_page, 1)
    keep = {k: v for k, v in params.items() if k != "page" and v}

    def page_url(n: int) -> str:
        return "/cases?" + urlencode({**keep, "page": n})

    return render(
        request,
        "cases.html",
        user,
        rows=rows,
        f=f,
        params=params,
        total=page.total,
        pages=pages,
        page_url=page_url,
        processes=list(PROCESSES.values()),
        step_choices=step_choices(f.process),
        counties=county_choices(),
        export_query=urlencode(keep),
    )


# The export has every matching case, read this many at a time (the page shows 20 at a time).
EXPORT_CHUNK = 1000

CASE_LIST_COLUMNS = (
    Column("案件编号", 24),
    Column("儿童", 10),
    Column("流程", 10),
    Column("县（区）", 10),
    Column("当前环节", 22),
    Column("承办单位", 30),
    Column("办理期限", 17, ColumnKind.datetime),
    Column("升级级别", 9, ColumnKind.int),
    Column("状态", 14),
    Column("立案时间", 17, ColumnKind.datetime),
    Column("结案时间", 17, ColumnKind.datetime),
)


def _case_row(c: Case) -> list[SheetCell]:
    process = get_process(c.process)
    steps = sorted(c.steps, key=lambda s: (s.due_at is None, s.due_at or c.opened_at))
    due = next((s.due_at for s in steps if s.due_at), None)
    status = "办理中" if c.status == "open" else "已结案"
    if c.outcome:
        status += f"（{process.outcome_label(c.outcome)}）"
    return [
        c.case_no,
        c.child.name,
        process.label,
        region_name(c.county) or c.county,
        "、".join(process.step_label(s.step) for s in steps),
        "、".join(s.holder.name for s in steps),
        _sheet_time(due) if due else None,
        max((s.escalation_level for s in steps), default=None),
        status,
        _sheet_time(c.opened_at),
        _sheet_time(c.closed_at) if c.closed_at else None,
    ]


def _sheet_time(at: datetime) -> datetime:
    """The time on the clerk's clock: a spreadsheet has no time zones."""
    return at.astimezone(SHANGHAI).replace(tzinfo=None)


@router.get("/cases/export")
async def case_list_export(request: Request, user: PageUser, session: SessionDep, format: str = "") -> Response:
    """The filtered case list, every page of it, as xlsx (CSV with `?format=csv`)."""
    fmt = parse_format(format)
    f = case_filter(dict(request.query_params)).model_copy(update={"per_page": EXPORT_CHUNK})
    rows: list[list[SheetCell]] = []
    for number in itertools.count(1):
        page = await lists.list_cases(session=session, principal=user, f=f.model_copy(update={"page": number}))
        rows.extend(_case_row(c) for c in page.items)
        session.expunge_all()  # a chunk's objects are rows of the sheet now: memory stays one chunk
        if number * EXPORT_CHUNK >= page.total:
            break
    audit(session, user, "export", detail=f"case list: {len(rows)} cases")
    await session.commit()
    table = Table(CASE_LIST_COLUMNS, rows, sheet="案件列表")
    return export_response(Export(table, "案件列表"), fmt)


# ---------------------------------------------------------------------------- one case


@dataclass
class FormState:
    """A refused form, shown again with what was typed and the reason next to the field."""

    key: str
    values: dict[str, str]
    message: str
    field: str | None = None


@dataclass
class StepView:
    state: StepState
    label: str
    description: str
    track_label: str
    holder_type: str
    left: str
    overdue: bool
    offers: list[Action] = field(default_factory=list)
    supervise: bool = False
    reassign_to: list[OptionGroup] = field(default_factory=list)
    counters: list[tuple[str, str]] = field(default_factory=list)
    progress: str | None = None  # a counted step's "已完成 2/3 次"
    given: dict[str, GivenAnswer] = field(default_factory=dict)  # form fields an earlier action answered
    reserved: list[tuple[str, str]] = field(default_factory=list)  # (action, who may take it)
    later: list[tuple[str, str]] = field(default_factory=list)  # (action, from when it can be taken)
    documents: list[Document] = field(default_factory=list)
    external: bool = False  # a hand-over to a destination outside this deployment
    allowance: str = ""  # the step's allowance as a reader says it, with the supervisors' extensions
    extend_units: list[tuple[str, str]] = field(default_factory=list)  # (unit code, 工作日…) for 延期
    extend_unit: str = Unit.working_days.value  # preselected: the step's own unit


def _allowance(value: str | None) -> Allowance | None:
    try:
        return Allowance.parse(value) if value else None
    except DomainError:
        return None


def allowance_text(st: StepState) -> str:
    """'24小时', and after extensions '24小时，已延期30天': what the step's deadline now rests on."""
    base = _allowance(st.allowance)
    text = base.label() if base else (st.allowance or "")
    extended = [a.label() for a in map(_allowance, st.extensions) if a]
    if extended:
        text = f"{text}，已延期{'、'.join(extended)}" if text else f"已延期{'、'.join(extended)}"
    return text


def extension_units(st: StepState) -> tuple[list[tuple[str, str]], str]:
    """The units the 延期 form offers (months only for a step counted in months) and the one preselected."""
    base = _allowance(st.allowance)
    units = [u for u in EXTENSION_FORM_UNITS if u != Unit.months or (base and base.unit == Unit.months)]
    chosen = base.unit if base and base.unit in units else Unit.working_days
    return [(u.value, EXTENSION_FORM_UNITS[u]) for u in units], chosen.value


def act_key(step: str | None, action: str) -> str:
    return f"act-{step or 'case'}-{action}"


def sup_key(step: str, kind: str) -> str:
    return f"sup-{step}-{kind}"


async def _agency_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    rows = await session.execute(select(Agency.id, Agency.name).where(Agency.id.in_(ids)))
    return {i: n for i, n in rows}


def agency_field_regions(action: Action, f: Field, county: str, holder_region: str) -> list[str] | None:
    """Where the agencies an agency field may name are (None: anywhere in the city): a destination named
    beside a region field of the same form anywhere (the server checks it is in that region), a destination
    without one in the holding agency's county (the receiving county acknowledging a hand-over), anything
    else in the case's county or at the city (api/cases/service.py `_check_agency_fields`)."""
    if f.role == FieldRole.destination_agency:
        return None if field_with(action.fields, FieldRole.destination_region) else [holder_region]
    return [county, served_regions().city]


async def _field_options(
    session: AsyncSession, actions: list[tuple[Action, str]], county: str
) -> dict[str, list[OptionGroup]]:
    """Agencies to offer for each agency field of each action (with the region of the step's holder)."""
    out: dict[str, list[OptionGroup]] = {}
    for action, holder_region in actions:
        for f in action.fields:
            if f.kind != FieldKind.agency or f.agency_type is None or f.name in out:
                continue
            regions = agency_field_regions(action, f, county, holder_region)
            out[f.name] = group_by_county(await agencies_of(session, f.agency_type, regions))
    return out


@dataclass
class CaseRecords:
    """What the case's steps are read against: its visible timeline and documents."""

    events: list[TimelineEvent]
    documents: list[Document]


async def _step_views(
    session: AsyncSession,
    process: Process,
    user: Principal,
    steps: list[StepState],
    live: CaseState | None,
    records: CaseRecords,
    county: str,
) -> tuple[list[StepView], list[Action]]:
    actor = user.actor()
    policy = await service.policy_lookup(session, county, datetime.now(UTC))
    names = await _agency_names(session, given_agency_ids(process, steps, records.events))
    offers = permissions.offers(process, live, actor) if live is not None else []
    supervisable = {s.track for s in permissions.supervisable_steps(live, actor)} if live is not None else set()
    now = datetime.now(UTC)
    views = []
    for st in steps:
        definition = process.step(st.step) if process.has_step(st.step) else None
        left, overdue = time_left(st.deadlines.due_at if st.deadlines else None, now)
        hidden = hidden_actions(st, records.events)
        mine = [
            as_offered(o.action, actor.agency.agency_type)
            for o in offers
            if o.step and o.step.track == st.track and o.action.name not in hidden
        ]
        can, later = possible_now(process, st, mine, now)
        view = StepView(
            state=st,
            label=process.step_label(st.step),
            description=definition.description if definition else "",
            track_label=process.tracks.get(st.track, st.track),
            holder_type=agency_type_label(st.holder.agency_type),
            left=left,
            overdue=overdue,
            offers=can,
            later=later,
            supervise=st.track in supervisable,
            counters=counter_items(process, st.counters, skip=counted_key(process, st)),
            progress=step_progress(process, st.step, st.counters, policy),
            given=given_answers(process, st, records.events, names),
            reserved=reserved_actions(process, live, st, actor) if live is not None else [],
            documents=step_documents(st, records.documents),
            external=is_external_handover(st, records.events),
            allowance=allowance_text(st),
        )
        view.extend_units, view.extend_unit = extension_units(st)
        if view.supervise:
            regions = permissions.reassign_regions(actor)
            others = await agencies_of(session, st.holder.agency_type, regions, exclude=[st.holder.id])
            view.reassign_to = group_by_county(others)
        views.append(view)
    return views, [o.action for o in offers if o.step is None and not _already_running(process, o.action, live)]


def as_offered(action: Action, agency_type: AgencyType) -> Action:
    """The action's form as this agency may fill it: a field choosing the process of a linked case to open
    (the one a facts field's `facts_of` names), and that facts field, list only the deployed processes the
    agency's type may start (the workflow refuses the others); with none left, neither field is shown."""
    choosers = {f.facts_of for f in action.fields if f.kind == FieldKind.facts and f.facts_of}
    if not choosers:
        return action

    def startable(value: str) -> bool:
        linked = PROCESSES.get(value)
        return linked is not None and bool(linked.starts_for(agency_type))

    fields = []
    for f in action.fields:
        if f.name in choosers or (f.kind == FieldKind.facts and f.facts_of in choosers):
            kept = tuple(c for c in f.choices if startable(c[0]))
            if not kept:
                continue
            f = replace(f, choices=kept)
        fields.append(f)
    return replace(action, fields=tuple(fields))


def _already_running(process: Process, action: Action, live: CaseState | None) -> bool:
    """A case-level action whose step is open already, or whose side track is running (a child already
    in a side track that forbids it): the workflow would refuse it, so the page does not offer it."""
    if live is None:
        return False
    open_steps = {s.step for s in live.steps.values()}
    for to in action.to:
        if to in open_steps:
            return True
        if process.has_step(to):
            track = process.step(to).track
            if track != "main" and track in live.steps:
                return True
    return False


def form_keys(views: list[StepView], case_actions: list[Action]) -> set[str]:
    """The forms the page shows, to tell whether a refused one is still there."""
    keys = {act_key(v.state.step, a.name) for v in views for a in v.offers}
    keys |= {act_key(None, a.name) for a in case_actions}
    keys |= {sup_key(v.state.step, k) for v in views if v.supervise for k in SUPERVISION_LABELS}
    return keys


async def case_page(
    request: Request,
    user: Principal,
    session: AsyncSession,
    client: Client,
    case_no: str,
    *,
    failed: FormState | None = None,
    status: int = 200,
) -> HTMLResponse:
    detail = await service.get_case_detail(
        session=session, client=client, principal=user, case_no=case_no, record_read=failed is None
    )
    # Opening the case marked its notifications read: the top bar's count must say so already.
    request.state.unread_notifications = await notifications.unread_count(session, user)
    case, process, live = detail.case, detail.process, detail.live
    steps = current_steps(case, live) if case.status == "open" else []
    records = CaseRecords(detail.timeline, detail.documents)
    views, case_actions = await _step_views(session, process, user, steps, live, records, case.county)
    current = {s.step for s in steps}
    facts = dict(case.facts or {})
    names = await _agency_names(session, agency_ids_in(process, detail.timeline, facts))
    all_actions = [(a, v.state.holder.region_code) for v in views for a in v.offers]
    all_actions += [(a, case.county) for a in case_actions]
    svg = process_svg(process, current=current, done=passed_steps(detail.timeline) - current)
    child = case.child
    child_link = child.residence_region in scope_regions(user) or child.created_by_agency_id == user.agency.id
    return render(
        request,
        "case.html",
        user,
        status=status,
        case=case,
        process=process,
        child_link=child_link,
        live=live is not None,
        steps=views,
        case_actions=case_actions,
        field_options=await _field_options(session, all_actions, case.county),
        **await _case_extras(session, user, detail),
        facts=field_details(process.start_fields, facts, names),
        events=[event_view(process, e, names) for e in detail.timeline],
        documents=detail.documents,
        svg=Markup(svg),  # built from escaped text by ui.diagram
        outcome=process.outcome_label(case.outcome) if case.outcome else "",
        closing_packet=await packets.closing_packet(session, user, case),
        education_packet=await education.education_offer(session, user, case),
        failed=failed,
        failed_here=bool(failed and failed.key in form_keys(views, case_actions)),
        new_request_id=new_request_id,
        act_key=act_key,
        sup_key=sup_key,
    )


async def _case_extras(session: AsyncSession, user: Principal, detail: service.CaseDetail) -> dict[str, Any]:
    """The header's summary facts and linked cases, whether the reader sees the case only from a
    hand-over on (`partial`), and the forms' prefilled dates."""
    case, process = detail.case, detail.process
    links = linked_cases(dict(case.facts or {}), detail.timeline)
    now = datetime.now(UTC)
    policy = await service.policy_lookup(session, case.county, now)
    return {
        "summary": summary_items(process, case.summary),
        "links": links,
        "visible_links": await visible_case_nos(session, user, {link.case_no for link in links}),
        "partial": await visible_from_seq(session, user, case.id) > 0,
        "field_defaults": date_defaults(process, local_date(now), policy),
    }


async def visible_case_nos(session: AsyncSession, user: Principal, case_nos: set[str]) -> set[str]:
    """Which of these cases the user may open (the others are shown as plain numbers)."""
    if not case_nos:
        return set()
    rows = await session.execute(select(Case.case_no).where(Case.case_no.in_(case_nos), case_visible(user)))
    return set(rows.scalars())


@router.get("/cases/{case_no}", response_class=HTMLResponse)
async def case_detail(
    request: Request, case_no: str, user: PageUser, session: SessionDep, client: ClientDep
) -> HTMLResponse:
    return await case_page(request, user, session, client, case_no)


def request_id_of(value: str | None) -> str:
    """The form's idempotency key when it is one this page issued in shape; else a fresh one."""
    value = (value or "").strip()
    return value if _REQUEST_ID.fullmatch(value) else new_request_id()


async def refused_page(
    request: Request,
    user: Principal,
    session: AsyncSession,
    client: Client,
    case_no: str,
    key: str,
    form: dict[str, str],
    e: DomainError,
) -> HTMLResponse:
    """The case page again with the refused form filled in as sent and the reason beside it."""
    session.expunge_all()  # read everything afresh: the refused request changed nothing
    values = shown_values(form)
    return await case_page(
        request, user, session, client, case_no, failed=FormState(key, values, e.message, e.field), status=status_for(e)
    )


@router.post("/cases/{case_no}/act")
async def act(request: Request, case_no: str, user: PageUser, session: SessionDep, client: ClientDep) -> Response:
    form = await read_form(request)
    case = await service.get_visible_case(session, user, case_no)
    process = get_process(case.process)
    step, action_name = form.get("step") or None, form.get("action", "")
    if step is None:
        action = process.case_action(action_name)
    else:
        action = process.step(step).action(action_name) if process.has_step(step) else None
    data = service.ActIn(
        request_id=request_id_of(form.get("request_id")),
        action=action_name,
        step=step,
        step_seq=to_int(form.get("step_seq")),
        payload=payload_from_form(action.fields if action else (), form),
    )
    try:
        await service.act(session=session, client=client, principal=user, case_no=case_no, data=data)
    except DomainError as e:
        return await refused_page(request, user, session, client, case_no, act_key(step, action_name), form, e)
    flash(request, f"已提交：{process.action_label(step, action_name)}")
    return RedirectResponse(f"/cases/{case_no}", status_code=303)


@router.post("/cases/{case_no}/supervise")
async def supervise(request: Request, case_no: str, user: PageUser, session: SessionDep, client: ClientDep) -> Response:
    form = await read_form(request)
    kind, step = form.get("kind", ""), form.get("step", "")
    try:
        data = service.SuperviseIn(
            request_id=request_id_of(form.get("request_id")),
            kind=kind,
            step=step,
            step_seq=to_int(form.get("step_seq")),
            reason=form.get("reason", "")[:2000],
            extend_by=extension_from_form(form.get("extend_amount", "")[:16], form.get("extend_unit", "")),
            new_agency_id=to_int(form.get("new_agency_id")),
        )
        await service.supervise(session=session, client=client, principal=user, case_no=case_no, data=data)
    except DomainError as e:
        return await refused_page(request, user, session, client, case_no, sup_key(step, kind), form, e)
    flash(request, f"已提交：{SUPERVISION_LABELS.get(kind, kind)}")
    return RedirectResponse(f"/cases/{case_no}", status_code=303)
