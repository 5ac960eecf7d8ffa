"""Case numbers reserved for a start whose workflow never started (Temporal was down and the client gave
up) are released: the person was told the start did not go through, so the case must not appear later.
A reservation whose workflow exists is left alone (its first event is on the way). Runs beside the worker,
with the sweep of key-child follow-ups a registry apply left waiting (api/registry/key_child_starts.py), of
registry checks that died with their web process, and of uploaded attachments no action named."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import exists, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from api.attachments.sweep import remove_unnamed
from api.registry.follow_through import record_missed_refreshes
from api.registry.key_child_starts import sweep
from api.registry.service import expire_all_stalled
from db.models import Case, CaseRequest
from domain.ids import workflow_id

log = logging.getLogger(__name__)

# Longer than any start waits for its workflow (api/cases/service.py `start_case`, 20 s) and than a
# person retrying the same form would take.
STALE_AFTER = timedelta(minutes=10)
EVERY = timedelta(minutes=1)
BATCH = 100


@dataclass
class Reconciled:
    released: list[str] = field(default_factory=list)
    running: list[str] = field(default_factory=list)  # a workflow exists; its projection is still to come


async def _stale(session: AsyncSession, before: datetime) -> list[str]:
    rows = await session.execute(
        select(CaseRequest.case_no)
        .where(
            CaseRequest.released_at.is_(None),
            CaseRequest.created_at < before,
            ~exists().where(Case.case_no == CaseRequest.case_no),
        )
        .order_by(CaseRequest.created_at)
        .limit(BATCH)
    )
    return list(rows.scalars())


async def _workflow_exists(client: Client, case_no: str) -> bool:
    try:
        await client.get_workflow_handle(workflow_id(case_no)).describe()
    except RPCError as e:
        if e.status == RPCStatusCode.NOT_FOUND:
            return False
        raise
    return True


async def reconcile_reservations(
    session_factory: async_sessionmaker[AsyncSession],
    client: Client,
    *,
    older_than: timedelta = STALE_AFTER,
    now: datetime | None = None,
) -> Reconciled:
    """One pass: every reservation older than `older_than` without a case either has its workflow (left
    alone) or is released."""
    at = now or datetime.now(UTC)
    out = Reconciled()
    async with session_factory() as session:
        candidates = await _stale(session, at - older_than)
    for case_no in candidates:
        if await _workflow_exists(client, case_no):
            out.running.append(case_no)
            continue
        async with session_factory() as session, session.begin():
            done = await session.execute(
                update(CaseRequest)
                .where(CaseRequest.case_no == case_no, CaseRequest.released_at.is_(None))
                .values(released_at=at)
            )
        if done.rowcount:  # type: ignore[attr-defined]
            log.warning("case number %s released: its workflow was never started", case_no)
            out.released.append(case_no)
    return out


async def run_reconciler(
    session_factory: async_sessionmaker[AsyncSession],
    client: Client,
    task_queue: str,
    *,
    every: timedelta = EVERY,
) -> None:
    """Until cancelled; a pass that fails (the database or Temporal down) is tried again next time. Each
    pass also starts the key-child follow-ups a registry apply left waiting and records the county refresh
    it did not live to record (the web app died after the apply's commit), fails the registry checks that
    fell silent and removes the attachments no action named."""
    while True:
        try:
            await reconcile_reservations(session_factory, client)
        except Exception as e:  # an outage must not stop the worker
            log.warning("reconciling reserved case numbers failed: %s", type(e).__name__)
        try:
            await sweep(session_factory, client, task_queue)
        except Exception as e:
            log.warning("starting waiting key-child follow-ups failed: %s", type(e).__name__)
        try:
            await record_missed_refreshes(session_factory, client)
        except Exception as e:
            log.warning("recording missed registry refreshes failed: %s", type(e).__name__)
        try:
            await expire_all_stalled(session_factory)
        except Exception as e:
            log.warning("failing stalled registry checks failed: %s", type(e).__name__)
        try:
            await remove_unnamed(session_factory)
        except Exception as e:
            log.warning("removing unnamed attachments failed: %s", type(e).__name__)
        await asyncio.sleep(every.total_seconds())
