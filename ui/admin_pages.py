"""系统设置 (admins): the holiday schedule of each year, and the deadlines' policy values per county."""

from __future__ import annotations

from datetime import UTC, date, datetime, time

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin import service
from api.deps import ClientDep, PageUser, SessionDep, SettingsDep
from api.errors import status_for
from api.principal import Principal
from api.served import served_regions
from domain.deadlines import SHANGHAI
from domain.errors import DomainError
from domain.processes import POLICY_DEFAULTS
from ui.forms import county_choices, read_form, to_int
from ui.render import flash, render

router = APIRouter(include_in_schema=False)


async def admin_page(
    request: Request,
    user: Principal,
    session: AsyncSession,
    *,
    error: DomainError | None = None,
    form_name: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    service.require_admin(user)
    this_year = datetime.now(SHANGHAI).year
    years = await service.calendar_status(session=session, years=list(range(this_year - 1, this_year + 3)))
    overrides = await service.list_overrides(session=session)
    return render(
        request,
        "admin.html",
        user,
        status=status,
        years=years,
        defaults=list(POLICY_DEFAULTS.values()),
        overrides=overrides,
        counties=county_choices(with_city=True),
        error=error,
        form_name=form_name,
        values=values or {"year": str(this_year + 1), "region_code": served_regions().city},
    )


@router.get("/admin", response_class=HTMLResponse)
async def admin(request: Request, user: PageUser, session: SessionDep) -> HTMLResponse:
    return await admin_page(request, user, session)


def _year(value: str) -> int:
    year = to_int(value)
    if year is None or not 2000 <= year <= 2100:
        raise DomainError("field_invalid", "请填写正确的年份（如 2027）", field="year")
    return year


@router.post("/admin/holidays", response_class=HTMLResponse)
async def load_holidays(
    request: Request, user: PageUser, session: SessionDep, client: ClientDep, settings: SettingsDep
) -> Response:
    form = await read_form(request)
    service.require_admin(user)
    try:
        data = service.parse_schedule_text(
            _year(form.get("year", "")), form.get("holidays", ""), form.get("workdays", "")
        )
        data.source = form.get("source", "").strip()[:256]
        loaded = await service.load_holiday_schedule(
            session=session, client=client, task_queue=settings.task_queue, principal=user, data=data
        )
    except DomainError as e:
        await session.rollback()
        return await admin_page(
            request, user, session, error=e, form_name="holidays", values=form, status=status_for(e)
        )
    flash(
        request,
        f"已载入{loaded.year}年节假日安排：放假{loaded.holidays}天，调休上班{loaded.workdays}天；"
        f"{loaded.provisional_cases}件案件的暂定期限将重新计算",
    )
    return RedirectResponse("/admin", status_code=303)


def _effective_from(value: str) -> datetime | None:
    value = value.strip()
    if not value:
        return None
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise DomainError("field_invalid", "生效日期格式应为 YYYY-MM-DD", field="effective_from") from None
    return datetime.combine(day, time(0, 0), tzinfo=SHANGHAI).astimezone(UTC)


@router.post("/admin/policy", response_class=HTMLResponse)
async def set_policy(request: Request, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    service.require_admin(user)
    try:
        data = service.PolicyIn(
            key=form.get("key", ""),
            region_code=form.get("region_code", ""),
            value=form.get("value", ""),
            effective_from=_effective_from(form.get("effective_from", "")),
        )
        row = await service.set_policy(session=session, principal=user, data=data)
    except DomainError as e:
        await session.rollback()
        return await admin_page(request, user, session, error=e, form_name="policy", values=form, status=status_for(e))
    flash(request, f"已设置：{row.key} = {row.value}")
    return RedirectResponse("/admin", status_code=303)
