"""移交材料（系统间）: a residence clerk downloads a case's signed transfer packet for the deployment that
serves the origin; an origin (or, for an answer, a residence) clerk imports a packet pasted from a file
(api/packets/service.py). A refused packet is said in Chinese and changes nothing."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from api.deps import ClientDep, PageUser, SessionDep, SettingsDep
from api.packets import education, service
from domain.errors import DomainError
from ui.forms import read_form
from ui.render import flash, render

router = APIRouter(include_in_schema=False)


@router.get("/transfer-packets", response_class=HTMLResponse)
async def packets_page(request: Request, user: PageUser, settings: SettingsDep, case_no: str = "") -> HTMLResponse:
    return render(request, "transfer_packets.html", user, deployment=settings.deployment_id, case_no=case_no)


@router.get("/cases/{case_no}/transfer-packet.json")
async def download(case_no: str, user: PageUser, session: SessionDep, settings: SettingsDep, to: str = "") -> Response:
    """The signed packet as a file (the case page's print shows the same packet on paper)."""
    signed = await service.export_transfer(session=session, settings=settings, principal=user, case_no=case_no, to=to)
    return _file(signed.model_dump(mode="json"), f"{case_no}-transfer.json")


@router.get("/cases/{case_no}/answer-packet.json")
async def download_answer(case_no: str, user: PageUser, session: SessionDep, settings: SettingsDep) -> Response:
    signed = await service.export_answer(session=session, settings=settings, principal=user, case_no=case_no)
    return _file(signed.model_dump(mode="json"), f"{case_no}-answer.json")


@router.get("/cases/{case_no}/withdrawn-packet.json")
async def download_withdrawn(case_no: str, user: PageUser, session: SessionDep, settings: SettingsDep) -> Response:
    signed = await service.export_withdrawn(session=session, settings=settings, principal=user, case_no=case_no)
    return _file(signed.model_dump(mode="json"), f"{case_no}-withdrawn.json")


@router.get("/cases/{case_no}/ended-packet.json")
async def download_ended(case_no: str, user: PageUser, session: SessionDep, settings: SettingsDep) -> Response:
    signed = await service.export_ended(session=session, settings=settings, principal=user, case_no=case_no)
    return _file(signed.model_dump(mode="json"), f"{case_no}-ended.json")


@router.get("/cases/{case_no}/education-packet.json")
async def download_education(case_no: str, user: PageUser, session: SessionDep, settings: SettingsDep) -> Response:
    signed = await education.export_education(session=session, settings=settings, principal=user, case_no=case_no)
    return _file(signed.model_dump(mode="json"), f"{case_no}-education.json")


def _file(body: dict, name: str) -> Response:
    return Response(
        json.dumps(body, ensure_ascii=False, indent=1),
        media_type="application/json",
        headers={"Content-Disposition": f'attachment; filename="{name}"'},
    )


@router.post("/transfer-packets", response_class=HTMLResponse)
async def import_page(
    request: Request, user: PageUser, session: SessionDep, client: ClientDep, settings: SettingsDep
) -> Response:
    form = await read_form(request)
    try:
        try:
            raw = json.loads(form.get("packet", ""))
        except json.JSONDecodeError:
            raise DomainError(
                "packet_invalid", "移交材料不是有效的JSON，请粘贴导出的文件内容", field="packet"
            ) from None
        if not isinstance(raw, dict):
            raise DomainError("packet_invalid", "移交材料格式不正确，无法导入", field="packet")
        case_no, opened = await service.import_packet(
            session=session, client=client, settings=settings, principal=user, raw=raw
        )
    except DomainError as e:
        return render(
            request, "transfer_packets.html", user, status=422, deployment=settings.deployment_id, case_no="", error=e
        )
    flash(
        request,
        "已导入移交材料，立案办理" if opened else "已登记对方系统的来件（审批结果、补正、撤回、保障终止或在校就读）",
    )
    return RedirectResponse(f"/cases/{case_no}", status_code=303)
