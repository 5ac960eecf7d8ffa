"""跨地区审批: the civil affairs' view of residence-accepted, origin-reviewed applications of their county, as
residence or as origin (the city: all), overdue first, by month (api/cross_region/service.py)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.cross_region.service import cross_region_view
from api.deps import PageUser, SessionDep
from domain.errors import DomainError
from ui.render import render

router = APIRouter(include_in_schema=False)


@router.get("/cross-region", response_class=HTMLResponse)
async def cross_region_page(request: Request, user: PageUser, session: SessionDep, month: str = "") -> HTMLResponse:
    error = None
    try:
        view = await cross_region_view(session=session, principal=user, month=month or None)
    except DomainError as e:
        if e.field != "month":
            raise
        error = e
        view = await cross_region_view(session=session, principal=user)
    return render(request, "cross_region.html", user, status=422 if error else 200, view=view, error=error)
