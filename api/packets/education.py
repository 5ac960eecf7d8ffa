"""The `education` packet between two deployments of one certification case (domain/packets.py): each side
holds an in-support step that ends support at 18 unless full-time education is recorded there. The side that
recorded it (the residence, whose county follows the support for the origin office, or the origin, which
pays) exports a signed notice with the date studies end and its note; the other side's import records the
same education there, so its own 18 timer also goes on to the end of studies. A replayed, altered,
misaddressed packet, or one for a case not in support, is refused and nothing changes."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.cases import service as cases
from api.packets import service as packets
from api.principal import Principal
from config.settings import Settings
from db.models import Case, TimelineEvent, TransferPacketRecord
from domain.deadlines import local_date
from domain.errors import DomainError
from domain.packets import SignedPacket, TransferPacket
from domain.process import CrossRegion
from domain.processes import get_process

SIDE = {"residence": "居住地", "origin": "户籍地"}
# An imported packet's note begins so: the education it records came from the other side, which knows it.
TOLD = tuple(f"{side}系统（" for side in SIDE.values())


def _shape(case: Case) -> CrossRegion:
    shape = get_process(case.process).cross_region
    if shape is None or not shape.support_step or not shape.education_action:
        raise DomainError("not_external", "该业务类型没有在校就读通知")
    return shape


async def _last_education(session: AsyncSession, case: Case, action: str) -> TimelineEvent | None:
    found = (
        select(TimelineEvent)
        .where(TimelineEvent.case_id == case.id, TimelineEvent.action == action)
        .order_by(TimelineEvent.seq.desc())
        .limit(1)
    )
    return (await session.execute(found)).scalar_one_or_none()


async def _exportable(session: AsyncSession, principal: Principal, case: Case) -> tuple[str, TimelineEvent]:
    """(the other side's deployment, the education recorded here), or why no notice can go."""
    shape = _shape(case)
    remote = case.facts.get("remote_case_no")
    to = (
        str(case.facts.get("remote_deployment", ""))
        if remote
        else await packets._sent_to(session, case.case_no, "transfer")
    )
    if not to:
        raise DomainError("not_external", "该案件未与其他系统往来移交材料，无需导出在校就读通知")
    if case.status != "open" or case.main_step != shape.support_step:
        raise DomainError("not_now", "该案件当前不在纳入保障环节，不能导出在校就读通知")
    if not packets._pays(principal, case):
        raise DomainError("not_permitted", "只有本案的乡镇（街道）或审批发放单位可以导出在校就读通知")
    event = await _last_education(session, case, shape.education_action)
    if event is None:
        raise DomainError("not_now", "本案尚未登记全日制在校就读，不能导出在校就读通知")
    if (event.note or "").startswith(TOLD):
        raise DomainError("not_now", "在校就读情况是对方系统告知的，无需再导出在校就读通知")
    return to, event


async def education_offer(session: AsyncSession, principal: Principal, case: Case) -> str | None:
    """The side whose deployment the case page offers this reader an education notice for, if any."""
    if case.status != "open" or get_process(case.process).cross_region is None:
        return None
    try:
        await _exportable(session, principal, case)
    except DomainError:
        return None
    return "residence" if case.facts.get("remote_case_no") else "origin"


async def export_education(
    *, session: AsyncSession, settings: Settings, principal: Principal, case_no: str
) -> SignedPacket:
    """The side that recorded full-time education tells the other side's deployment: until when, and its note
    (the school)."""
    case = await cases.get_visible_case(session, principal, case_no)
    to, event = await _exportable(session, principal, case)
    remote = case.facts.get("remote_case_no")
    body = {
        "until": str(event.payload.get("until", "")),
        "note": event.note or "",  # the record's note (the school), kept as the timeline shows it
        "recorded_on": local_date(event.at).isoformat(),
        "recorded_by": packets._named_with_place(event.actor_agency_name or principal.agency.name, case.county),
        # As for the ended packet: the origin's names the residence's case, the residence's its own.
        "from_side": "origin" if remote else "residence",
    }
    return await packets._send(session, settings, principal, "education", case, to, str(remote or case.case_no), body)


async def import_education(session: AsyncSession, client: Client, principal: Principal, packet: TransferPacket) -> str:
    """Records the other side's full-time education on this side's case in support, with the date studies end
    and who said so: at 18 support here goes on to then."""
    if await session.get(TransferPacketRecord, packet.packet_id) is not None:
        raise packets._replayed()
    b = packet.body
    side = b.get("from_side")
    if side == "residence":
        case = await packets._imported_case(session, principal, packet)
    elif side == "origin":
        case = await cases.get_visible_case(session, principal, packet.case_no)
        if not case.summary.get("external"):
            raise DomainError("packet_invalid", "该案件的户籍地在本系统中，不能导入在校就读通知", field="packet")
    else:
        raise DomainError("packet_invalid", "在校就读通知未说明来自居住地还是户籍地", field="packet")
    shape = _shape(case)
    if case.status != "open" or case.main_step != shape.support_step:
        raise DomainError("not_now", "该案件当前不在纳入保障环节，不能导入在校就读通知")
    try:
        until = date.fromisoformat(str(b.get("until") or ""))
    except ValueError:
        raise DomainError("packet_invalid", "在校就读通知未写明有效的预计毕业日期", field="packet") from None
    if until <= local_date(datetime.now(UTC)):
        raise DomainError("not_now", f"在校就读通知所写的预计毕业日期（{until.isoformat()}）已过，不能导入")
    who = str(b.get("recorded_by") or packet.from_deployment)[:200]
    said = str(b.get("note") or "").strip()
    note = f"{SIDE[side]}系统（{who}）告知：全日制在校就读至{until.isoformat()}" + (f"；{said}" if said else "")
    education = cases.ActIn(
        step=shape.support_step, action=shape.education_action, payload={"until": until.isoformat(), "note": note[:500]}
    )
    return await packets._act_once(session, client, principal, packet, case.case_no, education)
