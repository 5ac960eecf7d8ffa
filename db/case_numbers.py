"""Case numbers: one count per process (its code), county and year, numbered from 1.

The number is taken in the caller's transaction by one upsert: the counter row stays locked until that
transaction ends, so concurrent reservations get distinct consecutive numbers, and a reservation that is
rolled back gives its number back (no gap)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import CaseCounter, CaseCounterBase
from domain.ids import case_number, case_year


async def next_case_no(session: AsyncSession, *, code: str, county: str, at: datetime) -> str:
    """The next number of the process with case-number prefix `code` in `county`, for a case opened at `at`."""
    year = case_year(at)
    first = select(func.coalesce(func.max(CaseCounterBase.base), 0) + 1).scalar_subquery()
    stmt = (
        insert(CaseCounter)
        .values(code=code, county=county, year=year, last=first)
        .on_conflict_do_update(
            index_elements=[CaseCounter.code, CaseCounter.county, CaseCounter.year],
            set_={"last": CaseCounter.last + 1},
        )
        .returning(CaseCounter.last)
    )
    n = (await session.execute(stmt)).scalar_one()
    return case_number(code, county, n, at)
