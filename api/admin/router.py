"""/api/v1/admin: the holiday schedule of a year, per-county policy values."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter

from api.admin import service
from api.deps import ApiUser, ClientDep, SessionDep, SettingsDep
from domain.policy import POLICY_DEFAULTS

router = APIRouter(prefix="/admin", tags=["admin"])


@router.put("/holidays/{year}", summary="Load a year's official holiday schedule")
async def load_holidays(
    year: int,
    data: service.HolidayScheduleIn,
    principal: ApiUser,
    session: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    data.year = year
    loaded = await service.load_holiday_schedule(
        session=session, client=client, task_queue=settings.task_queue, principal=principal, data=data
    )
    return {
        "year": loaded.year,
        "holidays": loaded.holidays,
        "workdays": loaded.workdays,
        "provisional_cases": loaded.provisional_cases,
    }


@router.get("/holidays", summary="Which years' schedules are known")
async def holidays(principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    service.require_admin(principal)
    now = datetime.now(UTC).year
    rows = await service.calendar_status(session=session, years=list(range(now - 1, now + 3)))
    return {"years": [{"year": r.year, "exact": r.exact, "loaded": r.loaded, "source": r.source} for r in rows]}


@router.get("/policy", summary="Policy defaults and overrides")
async def policy(principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    service.require_admin(principal)
    overrides = await service.list_overrides(session=session)
    return {
        "defaults": [
            {"key": p.key, "value": str(p.value), "basis": p.basis, "description": p.description}
            for p in POLICY_DEFAULTS.values()
        ],
        "overrides": [
            {
                "key": o.key,
                "region_code": o.region_code,
                "value": o.value,
                "effective_from": o.effective_from.isoformat(),
            }
            for o in overrides
        ],
    }


@router.post("/policy", status_code=201, summary="Set a county's (or the city's) value for a policy key")
async def set_policy(data: service.PolicyIn, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    row = await service.set_policy(session=session, principal=principal, data=data)
    return {
        "key": row.key,
        "region_code": row.region_code,
        "value": row.value,
        "effective_from": row.effective_from.isoformat(),
    }
