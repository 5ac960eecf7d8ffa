"""What an applied change set sets going once it is committed: the open cases of moved children are told,
the follow-ups the apply recorded it owes its flagged key children are started (key_child_starts.py; any
left undone the worker's reconciler starts), and the county's six-monthly refresh is recorded when the
whole set is applied (one the web app did not live to record, the reconciler records: record_missed_refreshes)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import distinct_on
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.principal import Principal
from api.refresh.service import record_by_import
from api.registry.applying import Applied, tell_cases
from api.registry.key_child_starts import WAITING_AFTER, start_owed
from db.models import Agency, RegistryImport, RegistryRefresh


async def follow_through(
    *, session: AsyncSession, client: Client, task_queue: str, principal: Principal, done: Applied
) -> int:
    """The number of cases started for key children (an open one answered is not counted)."""
    await tell_cases(session, client, done.moved_child_ids)
    # Owed in the apply's own transaction: what is not started here, the worker's reconciler starts.
    started = (await start_owed(session, client, task_queue, done.start_ids)).started
    if done.status == "applied":
        await record_by_import(
            session=session,
            client=client,
            county=done.county,
            agency_id=principal.agency.id,
            agency_name=principal.agency.name,
            import_ref=f"import-{done.import_id}",
        )
    return started


async def record_missed_refreshes(
    session_factory: async_sessionmaker[AsyncSession],
    client: Client,
    *,
    older_than: timedelta = WAITING_AFTER,
    now: datetime | None = None,
) -> list[str]:
    """The counties whose open refresh an import applied since it opened should have done (the web app died
    before recording it): recorded now, with the first such import. Recording is idempotent."""
    before = (now or datetime.now(UTC)) - older_than
    async with session_factory() as session:
        missed = (
            await session.execute(
                select(RegistryRefresh.county, RegistryImport.id, Agency.id, Agency.name)
                .join(
                    RegistryImport,
                    (RegistryImport.county == RegistryRefresh.county)
                    & (RegistryImport.status == "applied")
                    & (RegistryImport.applied_at >= RegistryRefresh.opened_at)
                    & (RegistryImport.applied_at < before),
                )
                .join(Agency, Agency.id == RegistryImport.agency_id)
                .where(RegistryRefresh.done_at.is_(None))
                .order_by(RegistryRefresh.county, RegistryImport.applied_at)
                .ext(distinct_on(RegistryRefresh.county))
            )
        ).all()
        for county, import_id, agency_id, agency_name in missed:
            await record_by_import(
                session=session,
                client=client,
                county=county,
                agency_id=agency_id,
                agency_name=agency_name,
                import_ref=f"import-{import_id}",
            )
    return [county for county, *_ in missed]
