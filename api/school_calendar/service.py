"""A county's school terms and their holidays: read (for the start checks that count school days), set
and removed by the county's education bureau (or the city's, or an admin)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field
from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit import audit
from api.principal import Principal
from api.served import served_regions
from db.deadline_inputs import inputs_now, school_term_of
from db.models import SchoolTermRow
from domain.enums import AgencyType
from domain.errors import DomainError
from domain.regions import covers
from domain.school_calendar import Holiday, SchoolCalendar, SchoolTerm, check_no_overlap, check_term


class HolidayIn(BaseModel):
    starts_on: date
    ends_on: date
    label: str = Field(default="", max_length=32)


class TermIn(BaseModel):
    label: str = Field(max_length=64, description="e.g. 2026年秋季学期")
    starts_on: date
    ends_on: date
    holidays: list[HolidayIn] = Field(default_factory=list, description="days off within the term")


async def county_terms(*, session: AsyncSession, county: str) -> list[SchoolTermRow]:
    return list(
        (
            await session.execute(
                select(SchoolTermRow).where(SchoolTermRow.county == county).order_by(SchoolTermRow.starts_on)
            )
        ).scalars()
    )


async def school_calendar(*, session: AsyncSession, county: str) -> SchoolCalendar:
    """The county's terms over the statutory calendar (with the holiday schedules an admin loaded)."""
    return (await inputs_now(session)).school_calendar(county)


def may_set(principal: Principal, county: str) -> bool:
    if principal.is_admin:
        return True
    if principal.agency.agency_type != AgencyType.education_bureau or principal.user_id is None:
        return False
    return covers(principal.agency.region_code, county)


def require_may_set(principal: Principal, county: str) -> None:
    if not served_regions().is_county(county):
        raise DomainError("field_invalid", "请选择本市的县（区）", field="county")
    if not may_set(principal, county):
        raise DomainError("not_permitted", "只有本县（区）教育局（或市教育局、管理员）可以设置校历")


async def set_term(*, session: AsyncSession, principal: Principal, county: str, data: TermIn) -> SchoolTermRow:
    """Adds a term to the county's calendar; it may not overlap another of its terms."""
    require_may_set(principal, county)
    term = SchoolTerm(
        label=data.label.strip(),
        starts_on=data.starts_on,
        ends_on=data.ends_on,
        holidays=tuple(Holiday(h.starts_on, h.ends_on, h.label.strip()) for h in data.holidays),
    )
    check_term(term)
    check_no_overlap(term, tuple(school_term_of(r) for r in await county_terms(session=session, county=county)))
    row = SchoolTermRow(
        county=county,
        label=term.label,
        starts_on=term.starts_on,
        ends_on=term.ends_on,
        holidays=[
            {"starts_on": h.starts_on.isoformat(), "ends_on": h.ends_on.isoformat(), "label": h.label}
            for h in term.holidays
        ],
        set_by=principal.user_id,
    )
    session.add(row)
    audit(session, principal, "school_calendar", detail=f"{county}: {term.label} {term.starts_on}~{term.ends_on}")
    await session.flush()
    return row


async def remove_term(*, session: AsyncSession, principal: Principal, county: str, term_id: int) -> None:
    require_may_set(principal, county)
    gone = await session.execute(
        delete(SchoolTermRow).where(SchoolTermRow.id == term_id, SchoolTermRow.county == county)
    )
    if not gone.rowcount:
        raise DomainError("not_found", "没有该学期")
    audit(session, principal, "school_calendar", detail=f"{county}: removed term {term_id}")
