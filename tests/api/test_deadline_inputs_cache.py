"""The worker keeps what deadlines are computed from (policy overrides, the holiday calendar) between
deadlines, and must see every change at once: a county's new policy, a year's holiday schedule loaded, an
override taken back."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, select

from activities.cases import CaseActivities
from db.models import DeadlineInputsVersion, HolidayDay, HolidayYear, PolicyOverrideRow
from domain.messages import DeadlineRequest
from tests.conftest import Db
from tests.support import sh

COUNTY = "140403"
KEY = "guardianship.admonition"  # 3 working days by default


async def version(db: Db) -> int:
    async with db.sf() as s:
        return (await s.execute(select(DeadlineInputsVersion.version))).scalar_one()


async def test_a_policy_or_calendar_change_reaches_the_next_deadline(db: Db) -> None:
    acts = CaseActivities(db.sf)
    base = sh(2031, 3, 3, 10, 0, 0)  # a Monday, in a year with no schedule loaded

    async def due(county: str = COUNTY) -> tuple[str, date]:
        answer = await acts.compute_deadlines(DeadlineRequest(base=base, at=base, county=county, policy_key=KEY))
        assert answer.deadlines is not None
        return answer.allowance, answer.deadlines.due_at.astimezone(base.tzinfo).date()

    assert await due() == ("3WD", date(2031, 3, 6))
    v0 = await version(db)
    assert await due() == ("3WD", date(2031, 3, 6))  # read from what the worker keeps
    assert await version(db) == v0

    async with db.sf() as s, s.begin():
        s.add(PolicyOverrideRow(key=KEY, region_code=COUNTY, value="5WD", effective_from=datetime(2030, 1, 1)))
    assert await version(db) > v0
    assert await due() == ("5WD", date(2031, 3, 10))
    assert await due("140404") == ("3WD", date(2031, 3, 6))  # another county keeps the default

    # A holiday schedule for the year: the Tuesday and Wednesday off, the Saturday worked.
    async with db.sf() as s, s.begin():
        s.add(HolidayYear(year=2031, source="test"))
        await s.flush()
        s.add_all(
            [
                HolidayDay(day=date(2031, 3, 4), year=2031, kind="holiday"),
                HolidayDay(day=date(2031, 3, 5), year=2031, kind="holiday"),
                HolidayDay(day=date(2031, 3, 8), year=2031, kind="workday"),
            ]
        )
    # Working days from Monday: Thu 6, Fri 7, Sat 8 (worked), Mon 10, Tue 11.
    assert await due() == ("5WD", date(2031, 3, 11))

    async with db.sf() as s, s.begin():
        await s.execute(delete(PolicyOverrideRow).where(PolicyOverrideRow.key == KEY))
        await s.execute(delete(HolidayYear).where(HolidayYear.year == 2031))
    assert await due() == ("3WD", date(2031, 3, 6))
    assert await version(db) >= v0 + 3
