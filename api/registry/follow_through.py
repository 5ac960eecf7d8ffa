"""What an applied change set sets going once it is committed: the open cases of moved children are told,
the follow-ups the apply recorded it owes its flagged key children are started (key_child_starts.py; any
left undone the worker's reconciler starts), and the county's six-monthly refresh is recorded when the
whole set is applied."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.principal import Principal
from api.refresh.service import record_by_import
from api.registry.applying import Applied, tell_cases
from api.registry.key_child_starts import start_owed


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
