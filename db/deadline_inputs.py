"""What dates are counted from: every policy override, the holiday calendar an admin loaded and each county's
school terms. Kept in memory by whoever counts often (the worker's deadlines, the web's start checks and
supervision limits) and reloaded only when the database's version of them moves: triggers bump it on any
change to those tables (migrations 0013, 0027), so a kept copy costs one small read and is never stale."""

from __future__ import annotations

import asyncio
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime

from sqlalchemy import Engine, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from db.models import DeadlineInputsVersion, HolidayDay, HolidayYear, PolicyOverrideRow, SchoolTermRow
from db.session import autocommit
from domain.policy import Allowance, PolicyOverride, resolve_policy
from domain.processes import policy_default
from domain.school_calendar import Holiday, SchoolCalendar, SchoolTerm
from domain.workdays import WorkCalendar, YearSchedule


async def load_calendar(session: AsyncSession) -> WorkCalendar:
    """The package's calendar plus every year an admin has loaded."""
    years: dict[int, tuple[set[date], set[date]]] = {
        y: (set(), set()) for y in (await session.execute(select(HolidayYear.year))).scalars()
    }
    rows = (await session.execute(select(HolidayDay.year, HolidayDay.day, HolidayDay.kind))).all()
    for year, day, kind in rows:
        holidays, workdays = years.setdefault(year, (set(), set()))
        (workdays if kind == "workday" else holidays).add(day)
    return WorkCalendar({y: YearSchedule(y, frozenset(h), frozenset(w)) for y, (h, w) in years.items()})


def school_term_of(row: SchoolTermRow) -> SchoolTerm:
    return SchoolTerm(
        label=row.label,
        starts_on=row.starts_on,
        ends_on=row.ends_on,
        holidays=tuple(
            Holiday(date.fromisoformat(h["starts_on"]), date.fromisoformat(h["ends_on"]), h.get("label", ""))
            for h in row.holidays
        ),
    )


@dataclass(frozen=True)
class DeadlineInputs:
    version: int
    overrides: list[PolicyOverride]
    calendar: WorkCalendar
    terms: dict[str, tuple[SchoolTerm, ...]] = field(default_factory=dict)  # by county, in date order

    def policy(self, county: str, at: datetime) -> Callable[[str], Allowance]:
        """The policy values in force in `county` at `at` (defaults and overrides)."""
        return lambda key: resolve_policy(policy_default(key), county, self.overrides, at)

    def school_calendar(self, county: str) -> SchoolCalendar:
        """The county's terms over the statutory calendar (with the holiday schedules an admin loaded)."""
        return SchoolCalendar(terms=self.terms.get(county, ()), workdays=self.calendar)


async def current_version(s: AsyncSession) -> int:
    return (await s.execute(select(DeadlineInputsVersion.version))).scalar_one()


class DeadlineInputsCache:
    """The inputs as of the database's version, reloaded only when it has moved."""

    def __init__(self) -> None:
        self._kept: DeadlineInputs | None = None
        self._lock = asyncio.Lock()

    async def current(self, sf: async_sessionmaker[AsyncSession]) -> DeadlineInputs:
        async with autocommit(sf) as conn:
            version = (await conn.execute(select(DeadlineInputsVersion.version))).scalar_one()
        return await self.at_version(sf, version)

    async def in_session(self, s: AsyncSession) -> DeadlineInputs:
        """The inputs as the caller's transaction sees them (reloaded in it if they moved)."""
        version = await current_version(s)
        return self._at(version) or await self._reload(s, version)

    async def at_version(self, sf: async_sessionmaker[AsyncSession], version: int) -> DeadlineInputs:
        """The inputs as of `version`, which the caller has just read (reloaded if it moved)."""
        kept = self._at(version)
        if kept is not None:
            return kept
        async with sf() as s:
            return await self._reload(s, version)

    def _at(self, version: int) -> DeadlineInputs | None:
        kept = self._kept
        return kept if kept is not None and kept.version == version else None

    async def _reload(self, s: AsyncSession, version: int) -> DeadlineInputs:
        async with self._lock:
            if (kept := self._at(version)) is not None:
                return kept  # reloaded meanwhile by another caller
            # Read after the version: a change committed in between is reloaded next time, never missed.
            rows = (await s.execute(select(PolicyOverrideRow))).scalars()
            overrides = [PolicyOverride(r.key, r.region_code, Allowance.parse(r.value), r.effective_from) for r in rows]
            terms: dict[str, list[SchoolTerm]] = {}
            for t in (await s.execute(select(SchoolTermRow).order_by(SchoolTermRow.starts_on))).scalars():
                terms.setdefault(t.county, []).append(school_term_of(t))
            self._kept = DeadlineInputs(
                version, overrides, await load_calendar(s), {c: tuple(ts) for c, ts in terms.items()}
            )
            return self._kept


# One cache per database (an engine): a process may serve several, as the tests do.
_BY_ENGINE: weakref.WeakKeyDictionary[Engine, DeadlineInputsCache] = weakref.WeakKeyDictionary()


async def inputs_now(s: AsyncSession) -> DeadlineInputs:
    """What dates are counted from, as `s`'s transaction sees them, from the copy kept for its database."""
    engine = s.get_bind()
    cache = _BY_ENGINE.get(engine)
    if cache is None:
        cache = _BY_ENGINE.setdefault(engine, DeadlineInputsCache())
    return await cache.in_session(s)
