"""/api/v1/admin: the holiday schedule of a year, per-county policy values, user accounts, agencies."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from api.admin import agencies, answers, service, users
from api.deps import ApiUser, ClientDep, SessionDep, SettingsDep
from api.errors import error_body
from api.spreadsheet import XLSX_MEDIA_TYPE
from domain.errors import DomainError
from domain.processes import POLICY_DEFAULTS

router = APIRouter(prefix="/admin", tags=["admin"])


@router.put(
    "/holidays/{year}", summary="Load a year's official holiday schedule", response_model=answers.ScheduleLoadedOut
)
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


@router.get("/holidays", summary="Which years' schedules are known", response_model=answers.CalendarYears)
async def holidays(principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    service.require_admin(principal)
    now = datetime.now(UTC).year
    rows = await service.calendar_status(session=session, years=list(range(now - 1, now + 3)))
    return {"years": [{"year": r.year, "exact": r.exact, "loaded": r.loaded, "source": r.source} for r in rows]}


@router.get("/policy", summary="Policy defaults and overrides", response_model=answers.PolicyOut)
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


@router.post(
    "/policy",
    status_code=201,
    summary="Set a county's (or the city's) value for a policy key",
    response_model=answers.PolicyOverride,
)
async def set_policy(data: service.PolicyIn, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    row = await service.set_policy(session=session, principal=principal, data=data)
    return {
        "key": row.key,
        "region_code": row.region_code,
        "value": row.value,
        "effective_from": row.effective_from.isoformat(),
    }


@router.get(
    "/users", summary="User accounts (filtered, paginated; by agency, then username)", response_model=answers.UserPage
)
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


@router.post(
    "/users",
    status_code=201,
    summary="Create a user account with an initial password",
    response_model=answers.UserOut,
)
async def create_user(data: users.UserCreateIn, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    return users.user_json(await users.create_user(session=session, principal=principal, data=data))


@router.get("/users/{user_id}", summary="One user account", response_model=answers.UserOut)
async def get_user(user_id: int, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    return users.user_json(await users.get_user(session=session, principal=principal, user_id=user_id))


@router.patch(
    "/users/{user_id}",
    summary="Switch an account off or on; change its role, name or title",
    response_model=answers.UserOut,
)
async def update_user(
    user_id: int, data: users.UserUpdateIn, principal: ApiUser, session: SessionDep
) -> dict[str, Any]:
    return users.user_json(await users.update_user(session=session, principal=principal, user_id=user_id, data=data))


@router.post(
    "/users/{user_id}/password",
    summary="Reset a user's password (ends their page sessions)",
    response_model=answers.PasswordReset,
)
async def reset_password(
    user_id: int, data: users.PasswordIn, principal: ApiUser, session: SessionDep
) -> dict[str, Any]:
    user = await users.reset_password(session=session, principal=principal, user_id=user_id, password=data.password)
    return {"id": user.id, "username": user.username, "password_reset": True}


@router.get(
    "/agencies",
    summary="Agencies (filtered, paginated; by region, type, then name)",
    response_model=answers.AgencyPage,
)
async def list_agencies(
    principal: ApiUser, session: SessionDep, f: Annotated[agencies.AgencyFilter, Depends()]
) -> dict[str, Any]:
    page = await agencies.list_agencies(session=session, principal=principal, f=f)
    return {
        "items": [agencies.agency_json(a) for a in page.items],
        "total": page.total,
        "page": page.page,
        "per_page": page.per_page,
    }


@router.post(
    "/agencies",
    status_code=201,
    summary="Add an agency (type: English value or Chinese label; region: 6-digit code or county name)",
    response_model=answers.AgencyOut,
)
async def create_agency(data: agencies.AgencyCreateIn, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    return agencies.agency_json(await agencies.create_agency(session=session, principal=principal, data=data))


# The file travels as the raw request body, so that a script can send it as it is (curl --data-binary @file.xlsx).
_CSV_HEADER = "code,name,type,region,township\n"
_FILE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/csv": {
                "schema": {"type": "string"},
                "examples": {
                    "a school": {"value": _CSV_HEADER + "luzhou-school9,潞州区第九小学,学校,潞州区,东街街道\n"},
                    "a wrong row": {"value": _CSV_HEADER + "luzhou-x,,no-such-type,nowhere,\n"},
                },
            },
            XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}},
        },
    }
}


@router.post(
    "/agencies/import",
    summary="Import agencies from an xlsx or CSV file sent as the body (CSV in UTF-8; header "
    "code,name,type,region,township); ?dry_run=true checks only",
    openapi_extra=_FILE_BODY,
    response_model=answers.ImportOut,
)
async def import_agencies(
    request: Request, principal: ApiUser, session: SessionDep, dry_run: bool = False
) -> dict[str, Any] | JSONResponse:
    service.require_admin(principal)
    if "multipart/form-data" in request.headers.get("content-type", ""):
        # A form's body is parsed as it streams (web/limits.py): only the file itself is taken here.
        raise DomainError("file_invalid", "请把文件本身作为请求内容上传（xlsx 或 CSV），不要用表单", field="file")
    lines = agencies.decode_upload(await request.body())
    try:
        result = await agencies.import_agencies(session, principal, lines, dry_run=dry_run)
    except agencies.AgencyImportError as e:
        # Every wrong row, one reason each, beside the joined message.
        body = error_body(e)
        body["error"]["rows"] = e.rows
        return JSONResponse(body, status_code=422)
    return agencies.import_json(result)


@router.get(
    "/agencies/{agency_id}",
    summary="One agency, its users and how many open steps it holds",
    response_model=answers.AgencyDetail,
)
async def get_agency(agency_id: int, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    agency = await agencies.get_agency(session=session, principal=principal, agency_id=agency_id)
    return agencies.agency_detail_json(
        agency,
        await agencies.agency_users(session, agency.id),
        await agencies.open_steps(session, agency.id),
        await agencies.open_cases(session, agency.id),
    )


@router.patch(
    "/agencies/{agency_id}",
    summary="Rename an agency, change its township, switch it off or on (refused while it holds open steps)",
    response_model=answers.AgencyChangedOut,
)
async def update_agency(
    agency_id: int, data: agencies.AgencyUpdateIn, principal: ApiUser, session: SessionDep
) -> dict[str, Any]:
    changed = await agencies.update_agency(session=session, principal=principal, agency_id=agency_id, data=data)
    return {**agencies.agency_json(changed.agency), "moved": changed.moved}
