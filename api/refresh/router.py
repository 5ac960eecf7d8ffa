"""/api/v1/registry-refreshes: each county's six-monthly registry refresh (台账更新), and recording one done."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.answer import Answer, Timestamp
from api.deps import ApiUser, ClientDep, SessionDep
from api.refresh import service
from db.models import RegistryRefresh
from domain.refresh import RefreshState, period_label

router = APIRouter(prefix="/registry-refreshes", tags=["registry"])


class RefreshOut(Answer):
    county: str
    period: str
    period_label: str
    due_at: Timestamp
    escalation_level: int
    done_at: Timestamp | None
    done_by: str | None
    import_ref: str | None


class RefreshesOut(Answer):
    county: str
    may_record: bool = Field(description="the caller may record the county's refresh done")
    data: list[RefreshOut]


class RecordIn(BaseModel):
    note: str = Field(default="", max_length=2000)


class RecordedOut(Answer):
    recorded: list[str] = Field(description="the half-years whose refresh this record completed")


def refresh_json(r: RegistryRefresh) -> dict[str, Any]:
    return {
        "county": r.county,
        "period": r.period,
        "period_label": period_label(r.period),
        "due_at": r.due_at.isoformat(),
        "escalation_level": r.escalation_level,
        "done_at": r.done_at.isoformat() if r.done_at else None,
        "done_by": r.done_by_name,
        "import_ref": r.import_ref,
    }


@router.get("/{county}", summary="A county's registry refreshes, newest first", response_model=RefreshesOut)
async def county_refreshes(county: str, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    rows = await service.refreshes(session=session, principal=principal, county=county)
    return {
        "county": county,
        "may_record": service.may_record(principal, county),
        "data": [refresh_json(r) for r in rows],
    }


@router.post(
    "/{county}/record",
    summary="County civil affairs records the registry refreshed (every open half-year of the county)",
    response_model=RecordedOut,
)
async def record(county: str, data: RecordIn, principal: ApiUser, session: SessionDep, client: ClientDep) -> dict:
    states: list[RefreshState] = await service.record_by_person(
        session=session, client=client, principal=principal, county=county, note=data.note
    )
    return {"recorded": [s.period for s in states]}
