"""The registry refresh's writes (workflows/refresh.py): its row, its escalations and their notices, its
completion. Each idempotent: a retried activity changes nothing."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity

from activities.cases import recipients
from db.models import Notification, RegistryRefresh
from db.session import transaction
from domain.enums import AgencyType, Role
from domain.messages import NotificationSpec
from domain.refresh import RefreshLevel, RefreshOpening, RefreshRecorded, period_label
from domain.regions import full_region_name, prefecture_of
from workflows import activity_names as names

CIVIL = AgencyType.civil_affairs
# Who is told at each level (processes.md "What every step has"): the county's civil affairs (the holder)
# when due and at the deadline, then its county supervisors, then the city's.
AUDIENCE: dict[int, tuple[bool, Role | None]] = {
    0: (False, None),
    1: (False, None),
    2: (False, Role.supervisor),
    3: (True, Role.supervisor),
}
TITLES = {
    0: "{county}{period}流动儿童台账更新待办（汇总教育、公安、卫健、医保、残联数据）",
    1: "{county}{period}流动儿童台账更新已逾期",
    2: "{county}{period}流动儿童台账更新逾期2级，已报县级民政督导",
    3: "{county}{period}流动儿童台账更新逾期3级，已报市级民政督导",
}


class RefreshActivities:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession]) -> None:
        self.sf = session_factory

    def all(self) -> list:
        return [self.refresh_opened, self.refresh_escalated, self.refresh_done]

    @activity.defn(name=names.REFRESH_OPENED)
    async def refresh_opened(self, o: RefreshOpening) -> bool:
        d = o.deadlines
        async with transaction(self.sf) as s:
            await s.execute(
                insert(RegistryRefresh)
                .values(
                    county=o.county,
                    period=o.period,
                    workflow_id=o.workflow_id,
                    opened_at=o.opened_at,
                    due_at=d.due_at,
                    level2_at=d.level2_at,
                    level3_at=d.level3_at,
                )
                .on_conflict_do_nothing(constraint="uq_registry_refreshes_county_period")
            )
            await _tell(s, o.county, o.period, 0, o.opened_at)
        return True

    @activity.defn(name=names.REFRESH_ESCALATED)
    async def refresh_escalated(self, e: RefreshLevel) -> bool:
        async with transaction(self.sf) as s:
            await s.execute(
                update(RegistryRefresh)
                .where(
                    RegistryRefresh.county == e.county,
                    RegistryRefresh.period == e.period,
                    RegistryRefresh.escalation_level < e.level,
                )
                .values(escalation_level=e.level)
            )
            await _tell(s, e.county, e.period, e.level, e.at)
        return True

    @activity.defn(name=names.REFRESH_DONE)
    async def refresh_done(self, r: RefreshRecorded) -> bool:
        async with transaction(self.sf) as s:
            row = await _row(s, r.county, r.period)
            if row.done_at is None:
                row.done_at = r.at
                row.done_by_agency_id = r.done.agency_id
                row.done_by_name = f"{r.done.agency_name} {r.done.user_name}".strip()
                row.import_ref = r.done.import_ref or None
                row.note = r.done.note or None
            # Its notices are settled: nothing is left to do.
            await s.execute(
                update(Notification)
                .where(Notification.refresh_id == row.id, Notification.settled_at.is_(None))
                .values(settled_at=r.at)
            )
        return True


async def _row(s: AsyncSession, county: str, period: str) -> RegistryRefresh:
    return (
        await s.execute(
            select(RegistryRefresh).where(RegistryRefresh.county == county, RegistryRefresh.period == period)
        )
    ).scalar_one()


async def _tell(s: AsyncSession, county: str, period: str, level: int, at: datetime) -> None:
    row = await _row(s, county, period)
    city, role = AUDIENCE[level]
    spec = NotificationSpec(
        agency_type=CIVIL,
        region_code=prefecture_of(county) if city else county,
        role=role,
        kind="new_step" if level == 0 else ("overdue" if level == 1 else "escalated"),
        title=TITLES[level].format(county=full_region_name(county) or county, period=period_label(period)),
    )
    for agency_id, user_id in await recipients(s, spec):
        await s.execute(
            insert(Notification)
            .values(
                refresh_id=row.id,
                seq=level,
                agency_id=agency_id,
                user_id=user_id,
                role=spec.role.value if spec.role else "",
                kind=spec.kind,
                title=spec.title,
                created_at=at,
            )
            .on_conflict_do_nothing()
        )
