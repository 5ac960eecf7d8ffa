"""Activities of the calendar update: which open cases hold a provisional deadline."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from db.models import Case, CaseStep
from workflows.calendar_update import PROVISIONAL_CASES


class CalendarActivities:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.sf = session_factory

    def all(self) -> list:
        return [self.provisional_cases]

    @activity.defn(name=PROVISIONAL_CASES)
    async def provisional_cases(self, year: int) -> list[str]:
        async with self.sf() as s:
            rows = await s.execute(
                select(Case.case_no)
                .join(CaseStep, CaseStep.case_id == Case.id)
                .where(Case.status == "open", CaseStep.due_provisional.is_(True))
                .distinct()
            )
            return list(rows.scalars())
