"""The worker keeps what deadlines are computed from (policy overrides, the holiday calendar) between
deadlines, the web the same and each county's school terms for its start checks, and both must see every
change at once: a county's new policy, a year's holiday schedule loaded, an override taken back, a term set."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import delete, select

from activities.cases import CaseActivities
from db.deadline_inputs import inputs_now
from db.models import DeadlineInputsVersion, HolidayDay, HolidayYear, PolicyOverrideRow, SchoolTermRow
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


async def test_the_web_keeps_the_start_checks_inputs_and_sees_a_school_term_at_once(db: Db) -> None:
    """The start checks and supervision limits read the same inputs plus each county's school terms
    (db/deadline_inputs.py): kept while nothing changed, reloaded the moment a term is set or removed."""
    async with db.sf() as s:
        first = await inputs_now(s)
    async with db.sf() as s:
        assert await inputs_now(s) is first  # nothing changed: the copy kept, no table read again
    assert first.school_calendar(COUNTY).terms == ()

    async with db.sf() as s, s.begin():
        s.add(
            SchoolTermRow(county=COUNTY, label="2031年春季学期", starts_on=date(2031, 2, 17), ends_on=date(2031, 7, 4))
        )
    async with db.sf() as s:
        now = await inputs_now(s)
    assert now.version > first.version
    assert [t.label for t in now.school_calendar(COUNTY).terms] == ["2031年春季学期"]
    assert now.school_calendar("140404").terms == ()  # another county's calendar is its own

    async with db.sf() as s, s.begin():
        await s.execute(delete(SchoolTermRow).where(SchoolTermRow.county == COUNTY))
    async with db.sf() as s:
        assert (await inputs_now(s)).school_calendar(COUNTY).terms == ()
