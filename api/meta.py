"""/api/v1/me and /api/v1/processes: who am I, and the process definitions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.answer import Answer
from api.cases.answers import Processes, ProcessOut
from api.cases.views import process_json
from api.deps import ApiUser
from domain.processes import PROCESSES, get_process

router = APIRouter(tags=["meta"])


class AgencyRefOut(Answer):
    id: int
    name: str
    agency_type: str
    region_code: str
    township: str | None


class Me(Answer):
    username: str
    display_name: str
    role: str
    agency: AgencyRefOut


@router.get("/me", response_model=Me)
async def me(principal: ApiUser) -> dict[str, Any]:
    return {
        "username": principal.username,
        "display_name": principal.display_name,
        "role": principal.role.value,
        "agency": principal.agency.model_dump(mode="json"),
    }


@router.get("/processes", response_model=Processes)
async def processes(principal: ApiUser) -> dict[str, Any]:
    return {"items": [process_json(p) for p in PROCESSES.values()]}


@router.get("/processes/{name}", response_model=ProcessOut)
async def process(name: str, principal: ApiUser) -> dict[str, Any]:
    return process_json(get_process(name))
