"""/api/v1/school-calendar: a county's school terms and holidays (校历)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import Field

from api.answer import Answer, Day
from api.deps import ApiUser, SessionDep
from api.school_calendar import service
from db.models import SchoolTermRow

router = APIRouter(prefix="/school-calendar", tags=["admin"])


class HolidayOut(Answer):
    starts_on: Day
    ends_on: Day
    label: str


class TermOut(Answer):
    id: int
    label: str
    starts_on: Day
    ends_on: Day
    holidays: list[HolidayOut]


class CountyCalendar(Answer):
    county: str
    may_set: bool = Field(description="the caller may add and remove the county's terms")
    terms: list[TermOut]


class Removed(Answer):
    removed: int


def term_json(r: SchoolTermRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "label": r.label,
        "starts_on": r.starts_on.isoformat(),
        "ends_on": r.ends_on.isoformat(),
        "holidays": r.holidays,
    }


@router.get("/{county}", summary="A county's school terms and their holidays", response_model=CountyCalendar)
async def terms(county: str, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    rows = await service.county_terms(session=session, county=county)
    return {"county": county, "may_set": service.may_set(principal, county), "terms": [term_json(r) for r in rows]}


@router.post(
    "/{county}/terms", status_code=201, summary="The county education bureau sets a term", response_model=TermOut
)
async def set_term(county: str, data: service.TermIn, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    row = await service.set_term(session=session, principal=principal, county=county, data=data)
    await session.commit()
    return term_json(row)


@router.delete("/{county}/terms/{term_id}", summary="Remove a term from the county's calendar", response_model=Removed)
async def remove_term(county: str, term_id: int, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    await service.remove_term(session=session, principal=principal, county=county, term_id=term_id)
    await session.commit()
    return {"removed": term_id}
