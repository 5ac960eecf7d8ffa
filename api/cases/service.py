"""Cases: start (idempotent), act, supervise, read one, list. Service functions take the session and
the Temporal client as keyword arguments; the routers and pages stay thin."""

from __future__ import annotations

import asyncio
import hashlib
import json
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import (
    Client,
    WithStartWorkflowOperation,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError
from temporalio.service import RPCError, RPCStatusCode

from api.attachments.fields import check_attachment_fields
from api.audit import audit, audit_done
from api.cases.clinical import apply_clinical_rule
from api.cases.one_open import already_open, lock_and_find_open
from api.cases.visibility import case_visible, visible_from_seq
from api.children.service import get_child_for_case
from api.notifications import service as notifications
from api.principal import Principal, agency_ref
from api.served import served_regions
from db.case_numbers import reserve_case_no
from db.deadline_inputs import inputs_now
from db.models import (
    ActionRequestRow,
    Agency,
    Case,
    CaseRequest,
    CaseStep,
    Child,
    Document,
    TimelineEvent,
)
from domain import permissions
from domain.deadlines import SHANGHAI, local_date
from domain.enums import AgencyType, Role
from domain.errors import DomainError
from domain.ids import workflow_id
from domain.messages import ActionRequest, ActionResult, AgencyRef, CaseInput, CaseStart, CaseState, ChildRef
from domain.policy import (
    Allowance,
    check_extension,
    extension,
    extension_max_key,
)
from domain.process import FieldKind, FieldRole, Process, StartContext, clean_payload, field_with
from domain.processes import PROCESSES, get_process
from domain.regions import covers
from domain.text import check_payload_size

# ---------------------------------------------------------------------------- inputs


class StartCaseIn(BaseModel):
    process: str = Field(max_length=64)
    start_step: str = Field(max_length=64)
    child_id: int | None = None
    id_number: str | None = Field(
        default=None, max_length=32
    )  # a child outside the clerk's area is named by the exact ID number
    facts: dict[str, Any] = Field(default_factory=dict)


class ActIn(BaseModel):
    request_id: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=64)
    action: str = Field(max_length=64)
    step: str | None = Field(default=None, max_length=64)
    step_seq: int | None = None
    payload: dict[str, Any] = Field(default_factory=dict)


class SuperviseIn(BaseModel):
    request_id: str = Field(default_factory=lambda: uuid.uuid4().hex, max_length=64)
    kind: str = Field(max_length=16)  # urge | extend | reassign
    step: str = Field(max_length=64)
    step_seq: int | None = None
    reason: str = Field(default="", max_length=2000)
    # A duration code: "15WD", "30d", "24h", "3M" (at most the county's extension_max.<unit>); none: the
    # step's own allowance.
    extend_by: str | None = Field(default=None, max_length=16)
    new_agency_id: int | None = None


# ---------------------------------------------------------------------------- start


def _request_hash(data: StartCaseIn) -> str:
    return hashlib.sha256(json.dumps(data.model_dump(mode="json"), sort_keys=True).encode()).hexdigest()


async def _reserve_case_no(
    session: AsyncSession, principal: Principal, process: Process, county: str, key: str, digest: str
) -> tuple[str, bool]:
    """The case number for this idempotency key: a new one (the next of the process's count in the
    county), or the one an earlier request got."""
    got = await reserve_case_no(
        await session.connection(),
        agency_id=principal.agency.id,
        key=key,
        digest=digest,
        code=process.code,
        county=county,
        at=datetime.now(UTC),
    )
    if got.request_hash != digest:
        raise DomainError("idempotency_conflict", "该幂等键已用于另一项不同的立案请求")
    return got.case_no, got.created


async def _village_committee(
    session: AsyncSession, principal: Principal, child: Child, chosen: int | None, county: str, name: str
) -> Agency | None:
    """The committee where the child lives: the starter if it is one, else the one the form names, else
    the child's registered one."""
    if principal.agency.agency_type == AgencyType.village_committee:
        return await session.get(Agency, principal.agency.id)
    chosen = chosen or child.residence_committee_id
    if chosen is None:
        return None
    vc = await session.get(Agency, int(chosen))
    if vc is None or vc.agency_type != AgencyType.village_committee.value or vc.region_code != county:
        raise DomainError("field_invalid", "所选村（居）委会不在儿童居住的县（区）", field=name)
    return vc


def _reported_at(process: Process, start_step: str, facts: dict[str, Any], now: datetime) -> datetime | None:
    """A first step that counts from when the matter was found (补录: entered later) starts its clock
    at the end of that working day; otherwise the clock starts now."""
    role = process.start_field_with(FieldRole.occurred_on)
    found = facts.get(role.name) if role else None
    if not found or start_step != process.steps[0].name:
        return None
    day = datetime.fromisoformat(found).date() if isinstance(found, str) else found
    if day >= local_date(now):
        return None
    return datetime.combine(day, time(18, 0), tzinfo=SHANGHAI).astimezone(UTC)


@dataclass
class Started:
    case_no: str
    created: bool
    result: ActionResult | None


async def start_case(
    *,
    session: AsyncSession,
    client: Client,
    task_queue: str,
    principal: Principal,
    data: StartCaseIn,
    idempotency_key: str | None = None,
    wait_seconds: float = 20.0,
    history_limit: int | None = None,  # continue-as-new past this many events (None: the workflow's default)
) -> Started:
    """Checks the start, reserves the case number (once per idempotency key), starts the workflow and
    waits for its first step."""
    process = get_process(data.process)
    _check_starter(process, data.start_step, principal)
    child = await get_child_for_case(
        session=session, principal=principal, child_id=data.child_id, id_number=data.id_number
    )
    county = child.residence_region
    if not served_regions().is_county(county):
        raise DomainError("field_invalid", "儿童居住地不在本市各县（区）", field="child_id")
    now = datetime.now(UTC)
    facts, vc = await _start_facts(session, process, principal, child, data.facts, now)
    check_payload_size(json.dumps(facts, default=str))
    key = idempotency_key or uuid.uuid4().hex
    if len(key) > 128:
        raise DomainError("field_invalid", "幂等键过长（最多128个字符）", field="Idempotency-Key")
    if process.one_open_per_child:
        await _refuse_a_second_case(session, principal, process, child.id, key)
    case_no, created = await _reserve_case_no(session, principal, process, county, key, _request_hash(data))
    audit(session, principal, "start", case_no=case_no, child_id=child.id, detail=f"{process.name}:{data.start_step}")
    await session.commit()  # the number is reserved before the workflow exists

    start = CaseStart(
        case_no=case_no,
        process=process.name,
        start_step=data.start_step,
        child=ChildRef(
            id=child.id, birth_date=child.birth_date, residence_region=county, origin_region=child.origin_region
        ),
        county=county,
        starter=principal.actor(),
        facts=facts,
        village_committee=agency_ref(vc) if vc else None,
        reported_at=_reported_at(process, data.start_step, facts, now),
        served_city=served_regions().city,
    )
    result = await _launch(client, task_queue, CaseInput(start=start, history_limit=history_limit), wait_seconds)
    return Started(case_no=case_no, created=created, result=result)


async def _refuse_a_second_case(
    session: AsyncSession, principal: Principal, process: Process, child_id: int, key: str
) -> None:
    """A process of one open case per child: a new start while one is open (or being opened) is refused
    naming it; a request retried with its idempotency key goes on to get its own case again."""
    retried = (
        await session.execute(
            select(CaseRequest.case_no).where(
                CaseRequest.agency_id == principal.agency.id, CaseRequest.idempotency_key == key
            )
        )
    ).scalar_one_or_none()
    found = await lock_and_find_open(session, process, child_id)
    if found and found != retried:
        raise already_open(process, found)


def _check_starter(process: Process, start_step: str, principal: Principal) -> None:
    option = process.start_option(start_step)
    if option is None:
        raise DomainError("field_invalid", "该流程不能从所选环节开始", field="start_step")
    if principal.role == Role.admin:
        raise DomainError("not_permitted", "管理员账号不能立案")
    if principal.agency.agency_type not in option.agency_types:
        raise DomainError("not_permitted", f"本单位类型不能以“{option.label}”方式立案", field="start_step")


async def _start_facts(
    session: AsyncSession, process: Process, principal: Principal, child: Child, raw: dict[str, Any], now: datetime
) -> tuple[dict[str, Any], Agency | None]:
    """The start form cleaned and checked (its agencies, the residence committee, the process's own start
    check), and the committee where the child lives."""
    county = child.residence_region
    facts = clean_payload(process.start_fields, raw, today=local_date(now))
    await _check_agency_fields(session, process.start_fields, facts, county)
    vc = None
    if (committee := process.start_field_with(FieldRole.residence_committee)) is not None:
        vc = await _village_committee(session, principal, child, facts.get(committee.name), county, committee.name)
        facts[committee.name] = vc.id if vc else None
    if process.check_start is not None:
        # A process's start check may count days on a calendar: in a thread, so that no request's
        # computation holds up every other request on the event loop.
        inputs = await inputs_now(session)
        await asyncio.to_thread(
            process.check_start,
            StartContext(
                facts=facts,
                birth_date=child.birth_date,
                today=local_date(now),
                starter_type=principal.agency.agency_type,
                policy=inputs.policy(county, now),
                school_calendar=inputs.school_calendar(county),
                county=county,
                starter_agency_id=principal.agency.id,
                served=served_regions(),
            ),
        )
    return facts, vc


async def _launch(client: Client, task_queue: str, inp: CaseInput, wait_seconds: float) -> ActionResult | None:
    """Starts the case's workflow and waits, bounded, for its first step, in one call to the server
    (update-with-start: a retried request finds the running one; a closed one is never started again).
    None: closed already, or not opened yet (it will be: the start is durable)."""
    assert inp.start is not None
    start = WithStartWorkflowOperation(
        inp.start.process,
        inp,
        id=workflow_id(inp.start.case_no),
        task_queue=task_queue,
        id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
    )
    try:
        return await asyncio.wait_for(  # bounded as a whole, as in `send`
            client.execute_update_with_start_workflow(
                "opened",
                start_workflow_operation=start,
                result_type=ActionResult,
                rpc_timeout=timedelta(seconds=wait_seconds),
            ),
            timeout=wait_seconds,
        )
    except (WorkflowAlreadyStartedError, WorkflowUpdateFailedError):
        return None  # the case already closed: its projection answers
    except RPCError as e:
        if e.status == RPCStatusCode.ALREADY_EXISTS:
            return None  # closed already (the server says so of a closed workflow's id in update-with-start)
        raise
    except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
        # Whether or not the workflow started is settled by the start operation (it may have: it is
        # durable once the server took it); the case number stays reserved until it opens.
        return None


# ---------------------------------------------------------------------------- reading one case


async def get_visible_case(session: AsyncSession, principal: Principal, case_no: str) -> Case:
    """The case if the principal may read it (an action reads less: `_action_target`)."""
    stmt = select(Case).where(Case.case_no == case_no, case_visible(principal))
    case = (await session.execute(stmt)).unique().scalar_one_or_none()
    if case is None:
        if await pending_case(session, principal, case_no) is not None:
            raise DomainError("case_pending", "案件正在创建，请稍后刷新页面")
        raise DomainError("case_not_found", "案件不存在或无权查看")
    return case


@dataclass
class PendingCase:
    """A case the principal's agency started whose first event is not written yet (its worker was down
    when the start answered): known from the reserved number alone."""

    case_no: str
    process: str
    county: str
    child_id: int | None = None
    steps: tuple = ()


async def pending_case(session: AsyncSession, principal: Principal, case_no: str) -> PendingCase | None:
    reserved = (
        await session.execute(
            select(CaseRequest.case_no).where(
                CaseRequest.case_no == case_no,
                CaseRequest.agency_id == principal.agency.id,
                CaseRequest.released_at.is_(None),
                ~select(Case.id).where(Case.case_no == case_no).exists(),
            )
        )
    ).scalar_one_or_none()
    if reserved is None:
        return None
    code, _year, county, _n = case_no.split("-")  # db/case_numbers.py: CODE-YYYY-COUNTY-NNNNN
    process = next((p for p in PROCESSES.values() if p.code == code), None)
    return PendingCase(case_no, process.name, county) if process else None


async def live_state(client: Client, case_no: str) -> CaseState | None:
    """The workflow's own view (Query). None when the case has closed and its worker history is gone,
    or Temporal cannot be reached: the page then shows the projection."""
    try:
        return await client.get_workflow_handle(workflow_id(case_no)).query(
            "view", result_type=CaseState, rpc_timeout=timedelta(seconds=5)
        )
    except Exception:  # any failure falls back to the projection
        return None


@dataclass
class CaseDetail:
    case: Case
    process: Process
    timeline: list[TimelineEvent]
    documents: list[Document]
    live: CaseState | None
    agencies: dict[int, Agency] = field(default_factory=dict)
    reads_clinical: bool = False  # the reader sees the clinical content (api/cases/clinical.py)


async def get_case_detail(
    *, session: AsyncSession, client: Client, principal: Principal, case_no: str, record_read: bool = True
) -> CaseDetail:
    case = await get_visible_case(session, principal, case_no)
    since = await visible_from_seq(session, principal, case.id)
    timeline = list(
        (
            await session.execute(
                select(TimelineEvent)
                .where(TimelineEvent.case_id == case.id, TimelineEvent.seq >= since)
                .order_by(TimelineEvent.seq)
            )
        ).scalars()
    )
    documents = list(
        (
            await session.execute(
                select(Document).where(Document.case_id == case.id, Document.seq >= since).order_by(Document.seq)
            )
        ).scalars()
    )
    live = await live_state(client, case.case_no) if case.status == "open" else None
    process = get_process(case.process)
    clinical = await apply_clinical_rule(session, principal, process, case, timeline, documents)
    if record_read:
        audit(session, principal, "read", case_no=case.case_no, child_id=case.child_id)
        if principal.user_id is not None:  # having opened the case, its notifications are seen
            await notifications.mark_read(session, principal, case_no=case.case_no)
        await session.commit()
    if clinical and not record_read:
        await session.commit()  # the clinical read is audited whatever else is
    return CaseDetail(
        case=case, process=process, timeline=timeline, documents=documents, live=live, reads_clinical=clinical
    )


# ---------------------------------------------------------------------------- acting


def _refusal(err: WorkflowUpdateFailedError) -> DomainError:
    cause = err.cause
    if isinstance(cause, ApplicationError):
        details = cause.details or ()
        return DomainError(cause.type or "refused", cause.message, field=details[0] if details else None)
    return DomainError("refused", "操作未被接受，请刷新页面后重试")


async def policy_lookup(session: AsyncSession, county: str, at: datetime) -> Callable[[str], Allowance]:
    """The policy values in force in `county` at `at` (defaults and overrides)."""
    return (await inputs_now(session)).policy(county, at)


async def _check_agency_fields(
    session: AsyncSession, fields: tuple, payload: dict[str, Any], county: str, holder_region: str | None = None
) -> None:
    """An agency chosen in a form must exist, be active, be of the type the field asks for and be where the
    action may name it: a destination in the region the form names, or without one in the county of the
    step's holder (the receiving county acknowledging a hand-over); anything else in the case's county
    or at the city. The pages offer the same (ui/case_pages.py `agency_field_regions`)."""
    where = field_with(fields, FieldRole.destination_region)
    for f in fields:
        if f.kind != FieldKind.agency or payload.get(f.name) in (None, ""):
            continue
        try:
            agency = await session.get(Agency, int(payload[f.name]))
        except (TypeError, ValueError):
            raise DomainError("field_invalid", f"“{f.label}”无效", field=f.name) from None
        if agency is None or not agency.is_active or (f.agency_type and agency.agency_type != f.agency_type.value):
            raise DomainError("field_invalid", f"“{f.label}”不是有效的单位", field=f.name)
        if f.role == FieldRole.destination_agency:
            region = payload.get(where.name) if where else holder_region
            if region and agency.region_code != region:
                place = "所填的迁入地" if where else "迁入地县（区）"
                raise DomainError("field_invalid", f"“{f.label}”不在{place}", field=f.name)
        elif not covers(agency.region_code, county):
            raise DomainError("field_invalid", f"“{f.label}”不在案件所在县（区）", field=f.name)


async def send(client: Client, case_no: str, req: ActionRequest, wait_seconds: float = 20.0) -> ActionResult:
    check_payload_size(req.model_dump_json())
    handle = client.get_workflow_handle(workflow_id(case_no))
    try:
        # rpc_timeout bounds each poll only (the client polls again when the server answers early), so the
        # whole wait is bounded here: a person is not left waiting on a stuck case.
        return await asyncio.wait_for(
            handle.execute_update(
                "act", req, id=req.request_id, result_type=ActionResult, rpc_timeout=timedelta(seconds=wait_seconds)
            ),
            timeout=wait_seconds,
        )
    except (WorkflowUpdateRPCTimeoutOrCancelledError, TimeoutError):
        # The same request id sent again is applied at most once, so the user can simply retry.
        raise DomainError(
            "unavailable", "系统繁忙，操作可能尚未生效，请稍后刷新页面查看（重复提交不会重复办理）"
        ) from None
    except WorkflowUpdateFailedError as e:
        raise _refusal(e) from None
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            raise DomainError("case_closed", "案件已结案，不能再办理") from None
        raise


def _action_hash(req: ActionRequest) -> str:
    asked = req.model_dump(mode="json", exclude={"request_id"})
    return hashlib.sha256(json.dumps(asked, sort_keys=True).encode()).hexdigest()


CLAIM_SQL = """
INSERT INTO action_requests (case_no, request_id, request_hash)
VALUES (%(case_no)s::text, %(request_id)s::text, %(hash)s::text)
ON CONFLICT (case_no, request_id) DO UPDATE SET request_hash = action_requests.request_hash
RETURNING request_hash
"""


async def _claim_request_id(session: AsyncSession, case_no: str, req: ActionRequest) -> str:
    """Keeps the request id with what it asks; the same id sent again asking something else is refused
    (409), as a start's reused idempotency key is. Returns the hash kept."""
    digest = _action_hash(req)
    # One statement: claims the id, or (taken already) returns what it was claimed for.
    params = {"case_no": case_no, "request_id": req.request_id, "hash": digest}
    kept = (await (await session.connection()).exec_driver_sql(CLAIM_SQL, params)).scalar_one()
    await session.commit()
    if kept != digest:
        raise DomainError("idempotency_conflict", "该请求编号（request_id）已用于另一项不同的操作", field="request_id")
    return digest


async def _send_once(
    session: AsyncSession, client: Client, case_no: str, req: ActionRequest, wait: float, *, pending: bool = False
) -> ActionResult:
    """`send` (to a case still opening: `_send_when_opened`), the request id claimed first; a refused request
    gives its id back (it was never applied, so the clerk may correct it and send it again under the same
    id)."""
    await _claim_request_id(session, case_no, req)
    try:
        if pending:
            return await _send_when_opened(client, case_no, req, wait)
        return await send(client, case_no, req, wait)
    except DomainError as e:
        if e.code != "unavailable":
            await session.rollback()
            await session.execute(
                ActionRequestRow.__table__.delete().where(
                    ActionRequestRow.case_no == case_no, ActionRequestRow.request_id == req.request_id
                )
            )
            await session.commit()
        raise


async def _send_when_opened(client: Client, case_no: str, req: ActionRequest, wait_seconds: float) -> ActionResult:
    """`send` to a case whose workflow has not opened its first step yet: it refuses as busy until then
    (workflows/base.py `validate_act`), so the request is sent again, within the same bound."""
    loop = asyncio.get_running_loop()
    until = loop.time() + wait_seconds
    while True:
        try:
            return await send(client, case_no, req, max(until - loop.time(), 0.5))
        except DomainError as e:
            if e.code != "busy" or loop.time() >= until:
                raise
        await asyncio.sleep(0.5)


@dataclass(frozen=True)
class HeldStep:
    step: str
    holder_region: str


@dataclass(frozen=True)
class ActionTarget:
    """What authorising an action reads of a case: no child, no guardians, no timeline."""

    id: int
    case_no: str
    process: str
    county: str
    child_id: int | None
    steps: tuple[HeldStep, ...] = ()


async def _action_target(
    session: AsyncSession, principal: Principal, case_no: str, *, visible: bool = True
) -> ActionTarget | None:
    """The case and its open steps in one statement of plain rows (one per step), if the principal may read
    it (`visible`), else whoever reads it."""
    stmt = (
        select(Case.id, Case.case_no, Case.process, Case.county, Case.child_id, CaseStep.step, CaseStep.holder_region)
        .outerjoin(CaseStep, CaseStep.case_id == Case.id)
        .where(Case.case_no == case_no, *([case_visible(principal)] if visible else []))
    )
    rows = (await (await session.connection()).execute(stmt)).all()
    if not rows:
        return None
    first = rows[0]
    steps = tuple(HeldStep(r.step, r.holder_region) for r in rows if r.step is not None)
    return ActionTarget(first.id, first.case_no, first.process, first.county, first.child_id, steps)


async def _case_to_act_on(
    session: AsyncSession, principal: Principal, case_no: str, data: ActIn
) -> ActionTarget | PendingCase:
    """The case, if the principal may read it; or the case the principal's agency started whose first
    event is still to come (the workflow, which exists, answers); or, for a case-level action the definition opens to
    agencies of the principal's type serving the case's county, the case even when the principal's agency
    is not a party yet (a case action open to the county's agencies of a type at any step, such as
    placing a child in safety). Reading stays party-only; the workflow's validator still checks the agency
    type and county."""
    case = await _action_target(session, principal, case_no)
    if case is not None:
        return case
    pending = await pending_case(session, principal, case_no)
    if pending is not None:
        return pending
    not_found = DomainError("case_not_found", "案件不存在或无权查看")
    if data.step is not None or principal.is_admin:
        raise not_found
    case = await _action_target(session, principal, case_no, visible=False)
    action = get_process(case.process).case_action(data.action) if case else None
    if (
        case is None
        or action is None
        or principal.agency.agency_type not in (action.actor_types or ())
        or not covers(principal.agency.region_code, case.county)
    ):
        raise not_found
    return case


async def act(
    *,
    session: AsyncSession,
    client: Client,
    principal: Principal,
    case_no: str,
    data: ActIn,
    wait_seconds: float = 20.0,
) -> ActionResult:
    case = await _case_to_act_on(session, principal, case_no, data)
    process = get_process(case.process)
    if data.step is None:
        action = process.case_action(data.action)
    else:
        action = process.step(data.step).action(data.action) if process.has_step(data.step) else None
    if action is None:
        raise DomainError("action_not_allowed", f"本案件不能进行“{data.action}”操作")
    holder_region = next((s.holder_region for s in case.steps if s.step == data.step), None) if data.step else None
    await _check_agency_fields(session, action.fields, data.payload, case.county, holder_region)
    if not isinstance(case, PendingCase):  # a case still opening has no attachments yet
        await check_attachment_fields(session, action.fields, data.payload, case.id)
    req = ActionRequest(
        request_id=data.request_id,
        actor=principal.actor(),
        action=data.action,
        step=data.step,
        step_seq=data.step_seq,
        payload=data.payload,
    )
    case_no, child_id = case.case_no, case.child_id
    # The reads above and the request id's claim are one transaction, committed before the workflow works.
    result = await _send_once(session, client, case_no, req, wait_seconds, pending=isinstance(case, PendingCase))
    await audit_done(
        session, principal, "act", case_no=case_no, child_id=child_id, detail=f"{data.step or 'case'}:{data.action}"
    )
    return result


async def _check_reassign(client: Client, principal: Principal, case_no: str, step_name: str, new: AgencyRef) -> None:
    """What the page offers (ui/case_pages.py) is what is accepted here, before the workflow is asked (its
    validator checks the same, domain/permissions.py)."""
    live = await live_state(client, case_no)
    step = next((s for s in live.steps.values() if s.step == step_name), None) if live else None
    if step is None:
        return  # the workflow answers (the step is closed, or the case cannot be reached)
    permissions.check_supervisor(principal.actor(), step)  # who may, before to whom
    try:
        permissions.check_reassign(principal.actor(), step, new)
    except DomainError as e:
        raise DomainError(e.code, e.message, field="new_agency_id") from None


async def supervise(
    *,
    session: AsyncSession,
    client: Client,
    principal: Principal,
    case_no: str,
    data: SuperviseIn,
    wait_seconds: float = 20.0,
) -> ActionResult:
    case = await get_visible_case(session, principal, case_no)
    if data.kind not in ("urge", "extend", "reassign"):
        raise DomainError("field_invalid", "督导操作应为督办、延期或改派", field="kind")
    extend_by = (data.extend_by or "").strip() or None
    if data.kind == "extend" and extend_by:
        by = extension(extend_by)
        limit = (await policy_lookup(session, case.county, datetime.now(UTC)))(extension_max_key(by.unit))
        check_extension(by, limit)
    new_holder = None
    if data.kind == "reassign":
        if data.new_agency_id is None:
            raise DomainError("field_required", "请选择改派的单位", field="new_agency_id")
        agency = await session.get(Agency, data.new_agency_id)
        if agency is None or not agency.is_active:
            raise DomainError("field_invalid", "改派的单位不存在", field="new_agency_id")
        new_holder = agency_ref(agency)
        await _check_reassign(client, principal, case.case_no, data.step, new_holder)
    req = ActionRequest(
        request_id=data.request_id,
        actor=principal.actor(),
        action=data.kind,
        step=data.step,
        step_seq=data.step_seq,
        supervisor=data.kind,  # type: ignore[arg-type]
        reason=data.reason.strip(),
        extend_by=extend_by,
        new_holder=new_holder,
    )
    case_no, child_id = case.case_no, case.child_id
    await session.rollback()
    result = await _send_once(session, client, case_no, req, wait_seconds)
    await audit_done(
        session, principal, "supervise", case_no=case_no, child_id=child_id, detail=f"{data.step}:{data.kind}"
    )
    return result
