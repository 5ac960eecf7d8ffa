"""Transfer packets between deployments (domain/packets.py): the residence exports a signed packet for an
origin another deployment serves; that deployment imports it and runs the origin side (a case started at
origin verification); its answer, exported back and imported here, records the origin's opinion and decision
on the residence's case. A packet for another deployment, from one not trusted, altered, or imported before
is refused, and nothing changes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.audit import audit
from api.cases import service as cases
from api.packets import education
from api.principal import Principal
from api.served import served_regions
from config.settings import Settings
from db.models import Case, Child, TransferPacketRecord
from domain.deadlines import local_date
from domain.enums import AgencyType
from domain.errors import DomainError
from domain.messages import CaseInput, CaseStart, ChildRef
from domain.months import month_start
from domain.packets import SignedPacket, TransferPacket, parse_signing_key, parse_trusted_keys, sign, verify
from domain.process import ORIGIN_SUMMARY, FieldKind
from domain.processes import get_process
from domain.regions import full_region_name

ANSWER_KEYS = ("decision", "allowance_from", "doc_no", "decided_on", "reasons", "decided_by", "opinion")


def _signing_key(settings: Settings):
    if not settings.packet_signing_key:
        raise DomainError("packet_no_key", "本系统未配置移交材料签名密钥，请联系管理员（REFERRALS_PACKET_SIGNING_KEY）")
    return parse_signing_key(settings.packet_signing_key)


async def _record(session: AsyncSession, principal: Principal, packet: TransferPacket, direction: str, case_no: str):
    """Keeps the packet's id; False if it was kept before (a replay)."""
    peer = packet.to_deployment if direction == "out" else packet.from_deployment
    row = (
        await session.execute(
            insert(TransferPacketRecord)
            .values(
                packet_id=packet.packet_id,
                direction=direction,
                kind=packet.kind,
                case_no=case_no,
                peer=peer,
                agency_id=principal.agency.id,
            )
            .on_conflict_do_nothing(index_elements=[TransferPacketRecord.packet_id])
            .returning(TransferPacketRecord.packet_id)
        )
    ).scalar_one_or_none()
    return row is not None


def _packet(settings: Settings, kind: str, process: str, to: str, case_no: str, body: dict[str, Any]) -> TransferPacket:
    if not to or len(to) > 64:
        raise DomainError("field_required", "请填写接收方系统的名称（部署标识）", field="to")
    if to == settings.deployment_id:
        raise DomainError("field_invalid", "接收方不能是本系统", field="to")
    return TransferPacket(
        packet_id=uuid.uuid4().hex,
        kind=kind,  # type: ignore[arg-type]
        process=process,
        from_deployment=settings.deployment_id,
        to_deployment=to,
        issued_at=datetime.now(UTC).isoformat(),
        case_no=case_no,
        body=body,
    )


async def export_transfer(
    *, session: AsyncSession, settings: Settings, principal: Principal, case_no: str, to: str
) -> SignedPacket:
    """The residence's packet for an origin outside this deployment: the application and the child."""
    case = await cases.get_visible_case(session, principal, case_no)
    process = get_process(case.process)
    if process.cross_region is None or not case.summary.get("external"):
        raise DomainError("not_external", "该案件的户籍地在本系统中，无需导出移交材料")
    if case.status != "open" or case.main_step not in process.cross_region.origin_steps:
        raise DomainError("not_now", "案件当前不在等待户籍地审核的环节，不能导出移交材料")
    if principal.agency.id != case.started_by_agency_id:
        raise DomainError("not_permitted", "只有受理申请的居住地乡镇（街道）可以导出移交材料")
    if await _received(session, case.case_no, "supplement_ask"):
        # The origin has the application already: what goes now is what the applicant supplied.
        body = {
            "items": case.summary.get("supplement_items", ""),
            "supplemented_on": local_date(datetime.now(UTC)).isoformat(),
        }
        return await _send(session, settings, principal, "supplement_back", case, to, case.case_no, body)
    child: Child = case.child
    body = {
        "child": {
            "name": child.name,
            "sex": child.sex,
            "birth_date": child.birth_date.isoformat(),
            "birth_date_estimated": child.birth_date_estimated,
        },
        # The application as the start form took it, less this deployment's own agency ids.
        "facts": {f.name: case.facts.get(f.name) for f in process.start_fields if f.kind != FieldKind.agency},
        "origin_region": case.summary.get(ORIGIN_SUMMARY),
        "residence_region": case.county,
        "residence_office": f"{full_region_name(case.county) or ''}{principal.agency.name}",
    }
    return await _send(session, settings, principal, "transfer", case, to, case.case_no, body)


async def _send(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    kind: str,
    case: Case,
    to: str,
    case_no: str,
    body: dict[str, Any],
) -> SignedPacket:
    """Signs a packet about the local `case` (naming the residence's `case_no`), kept as sent."""
    packet = _packet(settings, kind, case.process, to, case_no, body)
    await _record(session, principal, packet, "out", case.case_no)
    audit(session, principal, "export", case_no=case.case_no, detail=f"{kind} packet to {packet.to_deployment}")
    await session.commit()
    return sign(packet, _signing_key(settings))


async def _received(session: AsyncSession, case_no: str, kind: str) -> bool:
    found = select(TransferPacketRecord.packet_id).where(
        TransferPacketRecord.case_no == case_no,
        TransferPacketRecord.direction == "in",
        TransferPacketRecord.kind == kind,
    )
    return (await session.execute(found.limit(1))).first() is not None


async def export_answer(
    *, session: AsyncSession, settings: Settings, principal: Principal, case_no: str
) -> SignedPacket:
    """The origin's answer to an imported application, once it has decided."""
    case = await cases.get_visible_case(session, principal, case_no)
    remote = case.facts.get("remote_case_no")
    if not remote:
        raise DomainError("not_external", "该案件不是由其他系统移交的，无需导出答复")
    to = str(case.facts.get("remote_deployment", ""))
    shape = get_process(case.process).cross_region
    if shape is not None and shape.supplement_step and case.main_step == shape.supplement_step:
        # The origin asks the applicant, through the residence, for more: the residence keeps the clock.
        body = {"items": case.summary.get("supplement_items", "")}
        return await _send(session, settings, principal, "supplement_ask", case, to, remote, body)
    if not case.summary.get("decision"):
        raise DomainError("not_now", "户籍地尚未作出审批决定，暂不能导出答复")
    body = {k: case.summary.get(k, "") for k in ANSWER_KEYS}
    return await _send(session, settings, principal, "answer", case, to, remote, body)


async def _sent_to(session: AsyncSession, case_no: str, kind: str) -> str | None:
    """The deployment this case's `kind` packet went to last, if one went."""
    found = (
        select(TransferPacketRecord.peer)
        .where(
            TransferPacketRecord.case_no == case_no,
            TransferPacketRecord.direction == "out",
            TransferPacketRecord.kind == kind,
        )
        .order_by(TransferPacketRecord.at.desc())
    )
    return (await session.execute(found.limit(1))).scalar_one_or_none()


def _closed_on(case: Case) -> str:
    return local_date(case.closed_at or datetime.now(UTC)).isoformat()


async def closing_packet(session: AsyncSession, principal: Principal, case: Case) -> str | None:
    """The closing packet the case page offers this reader, if any: "withdrawn" (the residence, to the origin's
    deployment its transfer went to), "ended" (the origin, whose support ended, to the residence's) or
    "ended_to_origin" (the residence, where support ended, to the origin's)."""
    shape = get_process(case.process).cross_region
    if case.status == "open" or shape is None:
        return None
    if case.outcome == "withdrawn" and shape.withdrawal_action and principal.agency.id == case.started_by_agency_id:
        return "withdrawn" if await _sent_to(session, case.case_no, "transfer") else None
    if case.outcome not in shape.ended_outcomes or not _pays(principal, case):
        return None
    if await _received(session, case.case_no, "ended"):  # the other side ended it and said so: nothing to tell
        return None
    if case.facts.get("remote_case_no"):
        return "ended"
    if shape.residence_ended_action and await _sent_to(session, case.case_no, "transfer"):
        return "ended_to_origin"
    return None


def _pays(principal: Principal, case: Case) -> bool:
    """This side's agencies of the case: its townships (which accepted or imported it) and the agency types that
    decide and pay (at the residence of an external origin: follow the support), in its county."""
    shape = get_process(case.process).cross_region
    assert shape is not None and shape.support_step
    types = {AgencyType.township, *get_process(case.process).step(shape.support_step).responsible}
    return principal.agency.agency_type in types and principal.agency.region_code == case.county


async def export_withdrawn(
    *, session: AsyncSession, settings: Settings, principal: Principal, case_no: str
) -> SignedPacket:
    """The residence's word to the origin's deployment that the application was withdrawn here (the applicant's
    supplement lapsed, or they withdrew it): that deployment closes its side of the case."""
    case = await cases.get_visible_case(session, principal, case_no)
    shape = get_process(case.process).cross_region
    if shape is None or not shape.withdrawal_action or case.facts.get("remote_case_no"):
        raise DomainError("not_external", "该案件不是本系统受理、发往其他系统户籍地的申请，无需导出撤回通知")
    if case.status == "open" or case.outcome != "withdrawn":
        raise DomainError("not_now", "该申请尚未撤回，不能导出撤回通知")
    if principal.agency.id != case.started_by_agency_id:
        raise DomainError("not_permitted", "只有受理申请的居住地乡镇（街道）可以导出撤回通知")
    to = await _sent_to(session, case.case_no, "transfer")
    if to is None:
        raise DomainError("not_external", "该申请未向其他系统导出过移交材料，无需导出撤回通知")
    lapsed = not case.summary.get("withdrawn_on")  # a withdrawal says when; the lapse is the step's deadline
    body = {
        "withdrawn_on": str(case.summary.get("withdrawn_on") or _closed_on(case)),
        "reason": "逾期未补正，视为撤回" if lapsed else "申请人撤回申请",
        "items": case.summary.get("supplement_items", "") if lapsed else "",
    }
    return await _send(session, settings, principal, "withdrawn", case, to, case.case_no, body)


async def export_ended(
    *, session: AsyncSession, settings: Settings, principal: Principal, case_no: str
) -> SignedPacket:
    """The word of the side where support ended to the other side's deployment, and from which month: the origin,
    which pays, to the residence; or the residence (a change of circumstances recorded there, 18, the end of
    studies) to the origin its transfer went to."""
    case = await cases.get_visible_case(session, principal, case_no)
    remote = case.facts.get("remote_case_no")
    shape = get_process(case.process).cross_region
    if shape is None or not shape.support_step:
        raise DomainError("not_external", "该业务类型没有保障终止通知")
    to = str(case.facts.get("remote_deployment", "")) if remote else await _sent_to(session, case.case_no, "transfer")
    if not to or (not remote and not shape.residence_ended_action):
        raise DomainError("not_external", "该案件未与其他系统往来移交材料，无需导出保障终止通知")
    if case.status == "open" or case.outcome not in shape.ended_outcomes:
        raise DomainError("not_now", "该案件的保障尚未终止，不能导出保障终止通知")
    if not _pays(principal, case):
        raise DomainError("not_permitted", "只有本案的乡镇（街道）或审批发放单位可以导出保障终止通知")
    if await _received(session, case.case_no, "ended"):
        raise DomainError("not_now", "保障终止是对方系统告知的，无需再导出保障终止通知")
    # A change of circumstances says the month; at 18 (or the end of studies) support is paid to the end of the
    # month the case closed in.
    ends = case.summary.get("support_ends_from") or month_start(
        local_date(case.closed_at or datetime.now(UTC)), 1
    ).strftime("%Y-%m")
    body = {
        "ended_because": case.outcome,
        "ends_from": ends,
        "ended_on": _closed_on(case),
        "decided_by": _named_with_place(principal.agency.name, case.county),
        # Which side speaks: the origin's packet names the residence's case (the receiver's own); the residence's
        # names its own case, which the origin finds among the cases it imported from this deployment.
        "from_side": "origin" if remote else "residence",
    }
    return await _send(session, settings, principal, "ended", case, to, str(remote or case.case_no), body)


def _named_with_place(name: str, county: str) -> str:
    """An agency's name as another deployment reads it: with its province and city (金水区民政局 → 河南省郑州市
    金水区民政局), unless it names them already."""
    place = full_region_name(county) or ""
    # The longest tail of the place the name begins with (郑州市金水区… begins with the tail 郑州市金水区).
    overlap = next((i for i in range(len(place)) if name.startswith(place[i:])), len(place))
    return place[:overlap] + name


async def import_packet(
    *, session: AsyncSession, client: Client, settings: Settings, principal: Principal, raw: dict[str, Any]
) -> tuple[str, bool]:
    """(the local case, whether it was opened here). A transfer opens the origin side's case; an answer
    records the origin's opinion and decision on the residence's case."""
    packet = verify(raw, me=settings.deployment_id, trusted=parse_trusted_keys(settings.packet_trusted_keys))
    match packet.kind:
        case "transfer":
            return await _import_transfer(session, client, settings.task_queue, principal, packet), True
        case "supplement_ask":
            return await _import_supplement_request(session, client, principal, packet), False
        case "supplement_back":
            return await _import_supplement_supplied(session, client, principal, packet), False
        case "withdrawn":
            return await _import_withdrawn(session, client, principal, packet), False
        case "ended" if packet.body.get("from_side") == "residence":
            return await _import_ended_at_residence(session, client, principal, packet), False
        case "ended":
            return await _import_ended(session, client, principal, packet), False
        case "education":
            return await education.import_education(session, client, principal, packet), False
    return await _import_answer(session, client, principal, packet), False


def _replayed() -> DomainError:
    return DomainError("packet_replayed", "该移交材料已经导入过，不能重复导入", field="packet")


async def _import_transfer(
    session: AsyncSession, client: Client, task_queue: str, principal: Principal, packet: TransferPacket
) -> str:
    process = get_process(packet.process)
    body = packet.body
    county = str(body.get("origin_region") or "")
    if process.cross_region is None:
        raise DomainError("packet_invalid", "移交材料的业务类型不是跨地区认定", field="packet")
    served = served_regions()
    if not served.is_county(county):
        place = full_region_name(county) or county
        raise DomainError("packet_invalid", f"该申请的户籍地（{place}）不在本系统服务的{served.name}", field="packet")
    if principal.agency.agency_type != AgencyType.township or principal.agency.region_code != county:
        raise DomainError("not_permitted", "该申请的户籍地不在本单位辖区，请由户籍地乡镇（街道）导入")
    child_in = body["child"]
    child = Child(
        name=str(child_in["name"])[:64],
        sex=str(child_in["sex"]),
        id_number=None,
        identity_status="provisional",
        no_id_reason="other",
        birth_date=datetime.fromisoformat(child_in["birth_date"]).date(),
        birth_date_estimated=bool(child_in.get("birth_date_estimated")),
        origin_region=county,
        residence_region=county,
        address=f"现居住于{body.get('residence_office', '')}辖区",
        created_by_agency_id=principal.agency.id,
    )
    case_no, _ = await cases._reserve_case_no(
        session, principal, process, county, f"packet-{packet.packet_id}", packet.packet_id
    )
    if not await _record(session, principal, packet, "in", case_no):
        await session.rollback()
        raise _replayed()
    session.add(child)
    await session.flush()
    audit(
        session,
        principal,
        "import",
        case_no=case_no,
        child_id=child.id,
        detail=f"transfer packet from {packet.from_deployment}",
    )
    await session.commit()
    facts = {
        **{k: v for k, v in body.get("facts", {}).items() if v is not None},
        "origin_region": county,
        "residence_region": body.get("residence_region"),
        "residence_office": body.get("residence_office", ""),
        "remote_case_no": packet.case_no,
        "remote_deployment": packet.from_deployment,
    }
    start = CaseStart(
        case_no=case_no,
        process=process.name,
        start_step=process.cross_region.origin_steps[0],
        child=ChildRef(id=child.id, birth_date=child.birth_date, residence_region=county, origin_region=county),
        county=county,
        starter=principal.actor(),
        facts=facts,
        served_city=served.city,
    )
    await cases._launch(client, task_queue, CaseInput(start=start), 20.0)
    return case_no


async def _import_answer(session: AsyncSession, client: Client, principal: Principal, packet: TransferPacket) -> str:
    case: Case = await cases.get_visible_case(session, principal, packet.case_no)
    shape = get_process(case.process).cross_region
    if (
        shape is None
        or not case.summary.get("external")
        or case.status != "open"
        or case.main_step not in shape.origin_steps
    ):
        raise DomainError("not_now", "该案件当前不在等待户籍地答复的环节，不能导入答复")
    if await session.get(TransferPacketRecord, packet.packet_id) is not None:
        raise _replayed()
    case_no, step = case.case_no, case.main_step  # read now: an action commits the session
    a = packet.body
    today = local_date(datetime.now(UTC)).isoformat()
    common = {
        "doc_no": a.get("doc_no", ""),
        "received_on": today,
        "answer_from": a.get("decided_by") or packet.from_deployment,
    }
    (verification, decision_step), (record_opinion, record_decision) = shape.origin_steps, shape.answer_actions
    if step == verification:
        opinion = {**common, "opinion": a.get("opinion") or a["decision"], "reasons": a.get("reasons", "")}
        await cases.act(
            session=session,
            client=client,
            principal=principal,
            case_no=case_no,
            data=cases.ActIn(step=verification, action=record_opinion, payload=opinion),
        )
    decision = {
        **common,
        "decided_on": a.get("decided_on") or today,
        "decision": a["decision"],
        "allowance_from": a.get("allowance_from", ""),
        "reasons": a.get("reasons", ""),
    }
    await cases.act(
        session=session,
        client=client,
        principal=principal,
        case_no=case_no,
        data=cases.ActIn(step=decision_step, action=record_decision, payload=decision),
    )
    # Kept once the answer is recorded: an answer refused (a wrong month) can be imported again once mended.
    if not await _record(session, principal, packet, "in", case_no):
        raise _replayed()  # pragma: no cover - the case moved on, so a second import is refused above
    audit(session, principal, "import", case_no=case_no, detail=f"answer packet from {packet.from_deployment}")
    await session.commit()
    return case_no


async def _act_once(
    session: AsyncSession, client: Client, principal: Principal, packet: TransferPacket, case_no: str, act: cases.ActIn
) -> str:
    """Takes the packet's action on the local case, then keeps the packet's id (a second import is refused)."""
    if await session.get(TransferPacketRecord, packet.packet_id) is not None:
        raise _replayed()
    await cases.act(session=session, client=client, principal=principal, case_no=case_no, data=act)
    if not await _record(session, principal, packet, "in", case_no):
        raise _replayed()  # pragma: no cover - a concurrent import of the same packet
    audit(session, principal, "import", case_no=case_no, detail=f"{packet.kind} packet from {packet.from_deployment}")
    await session.commit()
    return case_no


async def _import_supplement_request(
    session: AsyncSession, client: Client, principal: Principal, packet: TransferPacket
) -> str:
    """At the residence: the origin asks for a supplement. The case, waiting for the origin's verification,
    moves to the applicant's supplement with its clock here, as if the origin had asked in this system."""
    case: Case = await cases.get_visible_case(session, principal, packet.case_no)
    shape = get_process(case.process).cross_region
    if shape is None or not shape.supplement_step or not case.summary.get("external"):
        raise DomainError("not_now", "该案件不是发往系统外户籍地的申请，不能导入补正要求")
    if case.status != "open" or case.main_step != shape.origin_steps[0]:
        raise DomainError("not_now", "该案件当前不在等待户籍地查验的环节，不能导入补正要求")
    items = str(packet.body.get("items") or "").strip()
    if not items:
        raise DomainError("supplement_items_required", "补正要求未列明需补正的材料", field="packet")
    request = cases.ActIn(step=shape.origin_steps[0], action=shape.supplement_actions[0], payload={"items": items})
    return await _act_once(session, client, principal, packet, case.case_no, request)


async def _imported_case(session: AsyncSession, principal: Principal, packet: TransferPacket) -> Case:
    """The case here that the residence's packet names (its case_no is the residence's)."""
    remote = Case.facts["remote_case_no"].astext == packet.case_no
    sender = Case.facts["remote_deployment"].astext == packet.from_deployment
    found = (await session.execute(select(Case.case_no).where(remote, sender).limit(1))).scalar_one_or_none()
    if found is None:
        raise DomainError("not_found", "本系统中没有该申请的移交记录，请先导入移交材料", field="packet")
    return await cases.get_visible_case(session, principal, found)


async def _import_withdrawn(session: AsyncSession, client: Client, principal: Principal, packet: TransferPacket) -> str:
    """At the origin: the residence withdrew the application; the imported case closes as withdrawn, whichever
    step before the decision it waits in, and its timeline gives the residence's reason."""
    if await session.get(TransferPacketRecord, packet.packet_id) is not None:
        raise _replayed()  # said before "closed": the case it closed is
    case = await _imported_case(session, principal, packet)
    if case.status != "open":
        raise DomainError("not_now", "该案件已结案，不能导入撤回通知")
    b = packet.body
    items = str(b.get("items") or "")
    note = f"居住地系统告知：{b.get('reason') or '申请已撤回'}" + (f"（需补正的材料：{items}）" if items else "")
    on = str(b.get("withdrawn_on") or "")
    today = local_date(datetime.now(UTC)).isoformat()
    # Its date is the residence's, in its time zone: never later than today here.
    shape = get_process(case.process).cross_region
    if shape is None or not shape.withdrawal_action:
        raise DomainError("packet_invalid", "该业务类型不能导入撤回通知", field="packet")
    withdrawal = cases.ActIn(
        action=shape.withdrawal_action, payload={"withdrawn_on": min(on, today) if on else today, "note": note[:500]}
    )
    return await _act_once(session, client, principal, packet, case.case_no, withdrawal)


async def _import_ended(session: AsyncSession, client: Client, principal: Principal, packet: TransferPacket) -> str:
    """At the residence: the origin, which pays, ended support; the residence's case records the month support
    ends from and closes with the origin's reason."""
    if await session.get(TransferPacketRecord, packet.packet_id) is not None:
        raise _replayed()
    case: Case = await cases.get_visible_case(session, principal, packet.case_no)
    shape = get_process(case.process).cross_region
    if shape is None or not shape.support_step:
        raise DomainError("packet_invalid", "该业务类型不能导入保障终止通知", field="packet")
    if not case.summary.get("external") or case.status != "open" or case.main_step != shape.support_step:
        raise DomainError("not_now", "该案件当前不在纳入保障环节，不能导入保障终止通知")
    ended = _support_ended(packet, shape.support_step, shape.support_ended_action)
    return await _act_once(session, client, principal, packet, case.case_no, ended)


async def _import_ended_at_residence(
    session: AsyncSession, client: Client, principal: Principal, packet: TransferPacket
) -> str:
    """At the origin: the residence (another deployment) ended support there; the imported case in support
    records the month support ends from and closes with the residence's reason."""
    if await session.get(TransferPacketRecord, packet.packet_id) is not None:
        raise _replayed()
    case = await _imported_case(session, principal, packet)
    shape = get_process(case.process).cross_region
    if shape is None or not shape.support_step or not shape.residence_ended_action:
        raise DomainError("packet_invalid", "该业务类型不能导入保障终止通知", field="packet")
    if case.status != "open" or case.main_step != shape.support_step:
        raise DomainError("not_now", "该案件当前不在纳入保障环节，不能导入保障终止通知")
    ended = _support_ended(packet, shape.support_step, shape.residence_ended_action)
    return await _act_once(session, client, principal, packet, case.case_no, ended)


def _support_ended(packet: TransferPacket, step: str, action: str) -> cases.ActIn:
    """The action that records, from its ended packet, the other side's end of support: who ended it, why,
    and the month support ends from."""
    b = packet.body
    return cases.ActIn(
        step=step,
        action=action,
        payload={
            "received_on": local_date(datetime.now(UTC)).isoformat(),
            "answer_from": str(b.get("decided_by") or packet.from_deployment)[:200],
            "ended_because": b.get("ended_because"),
            "ends_from": b.get("ends_from"),
        },
    )


async def _import_supplement_supplied(
    session: AsyncSession, client: Client, principal: Principal, packet: TransferPacket
) -> str:
    """At the origin: the residence sends what the applicant supplied; the imported case, waiting for it, goes
    back to verification."""
    case = await _imported_case(session, principal, packet)
    shape = get_process(case.process).cross_region
    if shape is None or case.status != "open" or case.main_step != shape.supplement_step:
        raise DomainError("not_now", "该案件当前不在等待申请人补正的环节，不能导入补正材料")
    on = str(packet.body.get("supplemented_on") or local_date(datetime.now(UTC)).isoformat())
    note = f"居住地系统转来补正材料：{packet.body.get('items', '')}"[:500]
    supplied = cases.ActIn(
        step=shape.supplement_step, action=shape.supplement_actions[1], payload={"done_on": on, "note": note}
    )
    return await _act_once(session, client, principal, packet, case.case_no, supplied)
