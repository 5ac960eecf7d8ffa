"""/api/v1/admin: the holiday schedule of a year, per-county policy values, user accounts."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from api.admin import service, users
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


@router.get("/users", summary="User accounts (filtered, paginated; by agency, then username)")
async def list_users(
    principal: ApiUser, session: SessionDep, f: Annotated[users.UserFilter, Depends()]
) -> dict[str, Any]:
    page = await users.list_users(session=session, principal=principal, f=f)
    return {
        "items": [users.user_json(u) for u in page.items],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    }


@router.post("/users", status_code=201, summary="Create a user account with an initial password")
async def create_user(data: users.UserCreateIn, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    return users.user_json(await users.create_user(session=session, principal=principal, data=data))


@router.get("/users/{user_id}", summary="One user account")
async def get_user(user_id: int, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    return users.user_json(await users.get_user(session=session, principal=principal, user_id=user_id))


@router.patch("/users/{user_id}", summary="Switch an account off or on; change its role, name or title")
async def update_user(
    user_id: int, data: users.UserUpdateIn, principal: ApiUser, session: SessionDep
) -> dict[str, Any]:
    return users.user_json(await users.update_user(session=session, principal=principal, user_id=user_id, data=data))


@router.post("/users/{user_id}/password", summary="Reset a user's password (ends their page sessions)")
async def reset_password(
    user_id: int, data: users.PasswordIn, principal: ApiUser, session: SessionDep
) -> dict[str, Any]:
    user = await users.reset_password(session=session, principal=principal, user_id=user_id, password=data.password)
    return {"id": user.id, "username": user.username, "password_reset": True}
