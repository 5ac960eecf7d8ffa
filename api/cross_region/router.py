"""/api/v1/cross-region: the 跨地区审批 view (api/cross_region/service.py)."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import APIRouter

from api.cross_region.answers import CrossRegionOut
from api.cross_region.service import CrossRegionRow, cross_region_view
from api.deps import ApiUser, SessionDep

router = APIRouter(prefix="/cross-region", tags=["cross-region"])


@router.get(
    "",
    summary="Civil affairs: open residence-accepted, origin-reviewed applications of their county (as residence "
    "or origin; the city: all), which side holds each, since when, days left, overdue first (?month=2026-11)",
    response_model=CrossRegionOut,
)
async def cross_region(principal: ApiUser, session: SessionDep, month: str | None = None) -> dict[str, Any]:
    view = await cross_region_view(session=session, principal=principal, month=month)
    return {
        "month": view.month,
        "months": [{"month": m, "cases": n} for m, n in view.months],
        "items": [_item(r) for r in view.rows],
        "count": len(view.rows),
    }


def _item(r: CrossRegionRow) -> dict[str, Any]:
    return {**asdict(r), "since": r.since.isoformat(), "due_at": r.due_at.isoformat() if r.due_at else None}
