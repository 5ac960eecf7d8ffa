"""/api/v1/me and /api/v1/processes: who am I, and the process definitions."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from api.cases.views import process_json
from api.deps import ApiUser
from domain.processes import PROCESSES, get_process

router = APIRouter(tags=["meta"])


@router.get("/me")
async def me(principal: ApiUser) -> dict[str, Any]:
    return {
        "username": principal.username,
        "display_name": principal.display_name,
        "role": principal.role.value,
        "agency": principal.agency.model_dump(mode="json"),
    }


@router.get("/processes")
async def processes(principal: ApiUser) -> dict[str, Any]:
    return {"items": [process_json(p) for p in PROCESSES.values()]}


@router.get("/processes/{name}")
async def process(name: str, principal: ApiUser) -> dict[str, Any]:
    return process_json(get_process(name))
