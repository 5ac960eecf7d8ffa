"""/api/v1/care-periods: the city's care periods (关爱期: 中高考、寒暑假), in which follow-up comes more often
(domain/care_periods.py). Anyone signed in reads them; the city's administrator sets the whole list."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import delete
from sqlalchemy.ext.asyncio import AsyncSession

from activities.care_periods import care_periods_in_force
from api.answer import Answer, Day
from api.audit import audit
from api.deps import ApiUser, SessionDep
from api.principal import Principal
from db.models import CarePeriodRow
from domain.care_periods import MAX_PERIODS, CarePeriod, check_care_periods
from domain.errors import DomainError

router = APIRouter(prefix="/care-periods", tags=["admin"])


class PeriodOut(Answer):
    starts_on: Day
    ends_on: Day
    label: str


class CarePeriods(Answer):
    periods: list[PeriodOut]
    defaults: bool = Field(description="the city has set none: the defaults (寒暑假、中高考) hold")
    may_set: bool = Field(description="the caller may set the list")


class CarePeriodsIn(BaseModel):
    periods: list[CarePeriod] = Field(max_length=MAX_PERIODS)


def _answer(periods: list[CarePeriod], defaults: bool, principal: Principal) -> dict[str, Any]:
    return {
        "periods": [
            {"starts_on": p.starts_on.isoformat(), "ends_on": p.ends_on.isoformat(), "label": p.label} for p in periods
        ],
        "defaults": defaults,
        "may_set": principal.is_admin,
    }


@router.get("", summary="The care periods in force (the city's, or the defaults)", response_model=CarePeriods)
async def read(principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    periods, defaults = await care_periods_in_force(session)
    return _answer(periods, defaults, principal)


@router.put("", summary="The city's administrator sets the care periods (the whole list)", response_model=CarePeriods)
async def replace(data: CarePeriodsIn, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    periods, defaults = await save_care_periods(session, principal, data.periods)
    return _answer(periods, defaults, principal)


async def save_care_periods(
    session: AsyncSession, principal: Principal, periods: list[CarePeriod]
) -> tuple[list[CarePeriod], bool]:
    """Replaces the city's list (the API and the 关爱期设置 page); returns the periods now in force. An empty
    list brings the defaults back."""
    if not principal.is_admin:
        raise DomainError("not_permitted", "关爱期由市级管理员设置")
    periods = [p.model_copy(update={"label": p.label.strip()}) for p in periods]
    check_care_periods(periods)
    await session.execute(delete(CarePeriodRow))
    session.add_all(
        CarePeriodRow(starts_on=p.starts_on, ends_on=p.ends_on, label=p.label, set_by=principal.user_id)
        for p in periods
    )
    audit(session, principal, "set_care_periods", detail=f"{len(periods)} periods")
    await session.commit()
    return await care_periods_in_force(session)
