"""校历: a county's school terms and the holidays within each, set by the county education bureau
(api/school_calendar/service.py); the start checks count school days on it."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import PageUser, SessionDep
from api.errors import status_for
from api.principal import Principal
from api.school_calendar import service
from api.served import served_regions
from domain.errors import DomainError
from domain.regions import is_city_level
from domain.school_calendar import parse_holidays
from ui.forms import county_choices, read_form
from ui.render import flash, render

router = APIRouter(include_in_schema=False)


def _county(user: Principal, asked: str) -> str:
    """The county asked for; a county bureau's own by default (the city's and admins': the first)."""
    counties = served_regions().county_names
    if asked in counties:
        return asked
    if user.agency.region_code in counties:
        return user.agency.region_code
    return next(iter(counties))


def _date(value: str, field: str, label: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise DomainError("field_invalid", f"请填写{label}（YYYY-MM-DD）", field=field) from None


async def calendar_page(
    request: Request,
    user: Principal,
    session: AsyncSession,
    county: str,
    *,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    rows = await service.county_terms(session=session, county=county)
    return render(
        request,
        "school_calendar.html",
        user,
        status=status,
        county=county,
        county_name=served_regions().county_names[county],
        counties=county_choices(),
        terms=rows,
        may_set=service.may_set(user, county),
        choose_county=user.is_admin or is_city_level(user.agency.region_code),
        error=error,
        values=values or {},
    )


@router.get("/school-calendar", response_class=HTMLResponse)
async def school_calendar(request: Request, user: PageUser, session: SessionDep, county: str = "") -> HTMLResponse:
    return await calendar_page(request, user, session, _county(user, county))


@router.post("/school-calendar/{county}/terms", response_class=HTMLResponse)
async def add_term(request: Request, county: str, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    try:
        service.require_may_set(user, county)
        data = service.TermIn(
            label=form.get("label", "").strip()[:64],
            starts_on=_date(form.get("starts_on", ""), "starts_on", "学期开始日期"),
            ends_on=_date(form.get("ends_on", ""), "ends_on", "学期结束日期"),
            holidays=[
                service.HolidayIn(starts_on=h.starts_on, ends_on=h.ends_on, label=h.label)
                for h in parse_holidays(form.get("holidays", ""))
            ],
        )
        row = await service.set_term(session=session, principal=user, county=county, data=data)
        await session.commit()
    except DomainError as e:
        await session.rollback()
        if e.code == "not_permitted" or not served_regions().is_county(county):
            raise
        return await calendar_page(request, user, session, county, error=e, values=form, status=status_for(e))
    flash(request, f"已设置{served_regions().county_names[county]}{row.label}（{row.starts_on}至{row.ends_on}）")
    return RedirectResponse(f"/school-calendar?county={county}", status_code=303)


@router.post("/school-calendar/{county}/terms/{term_id}/delete", response_class=HTMLResponse)
async def remove_term(request: Request, county: str, term_id: int, user: PageUser, session: SessionDep) -> Response:
    await read_form(request)
    await service.remove_term(session=session, principal=user, county=county, term_id=term_id)
    await session.commit()
    flash(request, "已删除该学期")
    return RedirectResponse(f"/school-calendar?county={county}", status_code=303)
