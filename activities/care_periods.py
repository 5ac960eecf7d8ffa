"""The care periods in force (domain/care_periods.py): the city's, or the defaults while it has set none.
Read by the workflows as a local activity, so that a replay sees the periods the run saw."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from db.models import CarePeriodRow
from domain.care_periods import CarePeriod, default_care_periods
from workflows.activity_names import CARE_PERIODS


async def care_periods_in_force(session: AsyncSession) -> tuple[list[CarePeriod], bool]:
    """The periods, and whether they are the defaults (the city has set none)."""
    rows = (await session.execute(select(CarePeriodRow).order_by(CarePeriodRow.starts_on))).scalars().all()
    if not rows:
        return default_care_periods(), True
    return [CarePeriod(starts_on=r.starts_on, ends_on=r.ends_on, label=r.label) for r in rows], False


class CarePeriodActivities:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.sf = session_factory

    def all(self) -> list:
        return [self.care_periods]

    @activity.defn(name=CARE_PERIODS)
    async def care_periods(self) -> list[CarePeriod]:
        async with self.sf() as s:
            return (await care_periods_in_force(s))[0]
