"""/api/v1: transfer packets between deployments (api/packets/service.py)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body

from api.answer import Answer
from api.deps import ApiUser, ClientDep, SessionDep, SettingsDep
from api.packets import education, service
from domain.packets import SignedPacket

router = APIRouter(tags=["transfer-packets"])


class ImportAnswer(Answer):
    case_no: str
    opened: bool  # a transfer opened the origin side's case here; an answer recorded on the residence's case


@router.get(
    "/cases/{case_no}/transfer-packet",
    summary="Residence: the signed transfer packet (JSON) for an origin another deployment serves (?to=deployment)",
    response_model=SignedPacket,
)
async def transfer_packet(
    case_no: str, principal: ApiUser, session: SessionDep, settings: SettingsDep, to: str = ""
) -> dict[str, Any]:
    # `to` is checked after the case is found: an outsider learns nothing but "not found".
    signed = await service.export_transfer(
        session=session, settings=settings, principal=principal, case_no=case_no, to=to
    )
    return signed.model_dump(mode="json")


@router.get(
    "/cases/{case_no}/answer-packet",
    summary="Origin: the signed answer (JSON) to an application another deployment transferred",
    response_model=SignedPacket,
)
async def answer_packet(case_no: str, principal: ApiUser, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    signed = await service.export_answer(session=session, settings=settings, principal=principal, case_no=case_no)
    return signed.model_dump(mode="json")


@router.get(
    "/cases/{case_no}/withdrawn-packet",
    summary="Residence: the signed notice (JSON) that an application transferred to another deployment was withdrawn",
    response_model=SignedPacket,
)
async def withdrawn_packet(
    case_no: str, principal: ApiUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    signed = await service.export_withdrawn(session=session, settings=settings, principal=principal, case_no=case_no)
    return signed.model_dump(mode="json")


@router.get(
    "/cases/{case_no}/ended-packet",
    summary="The side where support ended: the signed notice (JSON) to the other side's deployment, with the month",
    response_model=SignedPacket,
)
async def ended_packet(case_no: str, principal: ApiUser, session: SessionDep, settings: SettingsDep) -> dict[str, Any]:
    signed = await service.export_ended(session=session, settings=settings, principal=principal, case_no=case_no)
    return signed.model_dump(mode="json")


@router.get(
    "/cases/{case_no}/education-packet",
    summary="The side that recorded full-time education: the signed notice (JSON) to the other side's deployment, "
    "with the date studies end (its support then goes on past 18 to that date)",
    response_model=SignedPacket,
)
async def education_packet(
    case_no: str, principal: ApiUser, session: SessionDep, settings: SettingsDep
) -> dict[str, Any]:
    signed = await education.export_education(session=session, settings=settings, principal=principal, case_no=case_no)
    return signed.model_dump(mode="json")


@router.post(
    "/transfer-packets",
    status_code=201,
    summary="Import a signed packet from another deployment: a transfer opens the origin side's case; an answer "
    "records the origin's opinion and decision; a withdrawn or ended notice closes this side's case; an education "
    "notice records full-time education on this side's case in support",
    response_model=ImportAnswer,
)
async def import_packet(
    principal: ApiUser,
    session: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
    packet: dict[str, Any] = Body(..., description="The signed packet as exported: {packet, signature}"),
) -> dict[str, Any]:
    case_no, opened = await service.import_packet(
        session=session, client=client, settings=settings, principal=principal, raw=packet
    )
    return {"case_no": case_no, "opened": opened}
