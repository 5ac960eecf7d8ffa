"""台账更新: a county's six-monthly registry refreshes (api/refresh/service.py), and a clerk of its civil
affairs recording the registry refreshed."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api.deps import ClientDep, PageUser, SessionDep
from api.principal import Principal
from api.refresh import service
from api.served import served_regions
from domain.refresh import period_label
from ui.forms import county_choices, read_form
from ui.render import flash, render

router = APIRouter(include_in_schema=False)


def _county(user: Principal, asked: str) -> str:
    counties = served_regions().county_names
    if asked in counties:
        return asked
    if user.agency.region_code in counties:
        return user.agency.region_code
    return next(iter(counties))


@router.get("/registry-refreshes", response_class=HTMLResponse)
async def refreshes(request: Request, user: PageUser, session: SessionDep, county: str = "") -> HTMLResponse:
    county = _county(user, county)
    rows = await service.refreshes(session=session, principal=user, county=county)
    return render(
        request,
        "registry_refreshes.html",
        user,
        county=county,
        county_name=served_regions().county_names[county],
        counties=county_choices(),
        choose_county=not served_regions().is_county(user.agency.region_code),
        rows=[(r, period_label(r.period)) for r in rows],
        may_record=service.may_record(user, county),
    )


@router.post("/registry-refreshes/{county}/record", response_class=HTMLResponse)
async def record(request: Request, county: str, user: PageUser, session: SessionDep, client: ClientDep) -> Response:
    form = await read_form(request)
    states = await service.record_by_person(
        session=session, client=client, principal=user, county=county, note=form.get("note", "").strip()[:2000]
    )
    if states:
        flash(request, f"已登记：{'、'.join(period_label(s.period) for s in states)}台账已更新")
    else:
        flash(request, "没有待更新的台账", "warn")
    return RedirectResponse(f"/registry-refreshes?county={county}", status_code=303)
