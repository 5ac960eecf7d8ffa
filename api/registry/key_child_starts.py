"""The follow-ups a registry apply owes its flagged key children, made durable: the apply writes one row
per (process, child) in its own transaction (`owe`), the web app starts them right after the commit
(`start_owed`) and the worker's reconciler starts any left waiting (`sweep`) — the web app died between
the commit and the starts, or Temporal was down. Each row starts under its own idempotency key, so a start
tried twice (the web app and the sweep at once, or again after a crash) takes the same case number and
the same workflow: never a second case."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio.client import Client

from api.cases.system_start import reserved_for, start_for_child, system_principal
from db.models import Case, Child, KeyChildStart
from domain.errors import DomainError
from domain.processes import PROCESSES

log = logging.getLogger(__name__)

# The web app starts its rows at once; the sweep takes only those older than this (it would do no harm
# sooner: the idempotency key makes a start tried twice one start).
WAITING_AFTER = timedelta(minutes=2)
BATCH = 200


@dataclass
class StartsDone:
    started: int = 0  # cases this pass created
    existing: int = 0  # answered by a case already open
    refused: int = 0  # the process would not take the child (e.g. past its age limit); the flag stays
    waiting: int = 0  # not done this time (Temporal down, a start not yet confirmed): the sweep tries again


def key_of(row_id: int) -> str:
    return f"key-child-start:{row_id}"


async def owe(session: AsyncSession, import_id: int, flagged: dict[int, list[str]]) -> list[int]:
    """In the apply's transaction: a row for every process that follows key children
    (Process.key_child_field) and every child flagged. An import flags a child once (the unique key)."""
    values = [
        {
            "import_id": import_id,
            "process": process.name,
            "child_id": child_id,
            "facts": {process.key_child_field: sorted(flags)},
        }
        for process in PROCESSES.values()
        if process.key_child_field
        for child_id, flags in sorted(flagged.items())
    ]
    if not values:
        return []
    stmt = pg_insert(KeyChildStart).values(values).on_conflict_do_nothing().returning(KeyChildStart.id)
    return sorted((await session.execute(stmt)).scalars())


async def start_owed(session: AsyncSession, client: Client, task_queue: str, ids: list[int]) -> StartsDone:
    """Starts each row still waiting and marks it done; one that fails is left waiting (logged by code)."""
    out = StartsDone()
    for row_id in ids:
        row = await session.get(KeyChildStart, row_id)
        if row is None or row.done_at is not None:
            continue
        process, child_id, facts = row.process, row.child_id, dict(row.facts)
        try:
            answer = await start_for_child(
                session=session,
                client=client,
                task_queue=task_queue,
                process_name=process,
                child_id=child_id,
                facts=facts,
                idempotency_key=key_of(row_id),
            )
        except DomainError as e:  # the process refuses the child: done, the flag stays on the record
            await session.rollback()
            await _mark(session, row_id, outcome="refused", error_code=e.code)
            out.refused += 1
            log.info("key child not started", extra={"process": process, "code": e.code})
            continue
        except Exception as e:  # Temporal or the database away: the sweep tries again
            await session.rollback()
            await _mark(session, row_id, outcome=None)
            out.waiting += 1
            log.warning("key child start left waiting: %s", type(e).__name__)
            continue
        if answer.result is None and not await _case_exists(session, answer.case_no):
            # Reserved but not confirmed open (the start timed out, or another start is in flight): the
            # same key next time finds the same number and workflow.
            await _mark(session, row_id, outcome=None)
            out.waiting += 1
            continue
        ours = answer.created or await _ours(session, child_id, row_id, answer.case_no)
        await _mark(session, row_id, outcome="started" if ours else "existing", case_no=answer.case_no)
        out.started += int(ours)
        out.existing += int(not ours)
    return out


async def _ours(session: AsyncSession, child_id: int, row_id: int, case_no: str) -> bool:
    """Whether the case is the one this row's key reserved (a start tried again), not another's."""
    child = await session.get(Child, child_id)
    assert child is not None
    principal = await system_principal(session, child.residence_region)
    return await reserved_for(session, principal, key_of(row_id)) == case_no


async def _case_exists(session: AsyncSession, case_no: str) -> bool:
    found = await session.execute(select(Case.id).where(Case.case_no == case_no).limit(1))
    return found.scalar_one_or_none() is not None


async def _mark(
    session: AsyncSession,
    row_id: int,
    *,
    outcome: str | None,
    case_no: str | None = None,
    error_code: str | None = None,
) -> None:
    """One more attempt; with an outcome, done (once: a row done already stays as it was)."""
    values: dict[str, object] = {"attempts": KeyChildStart.attempts + 1}
    if outcome is not None:
        values |= {"done_at": datetime.now(UTC), "outcome": outcome, "case_no": case_no, "error_code": error_code}
    await session.execute(
        update(KeyChildStart).where(KeyChildStart.id == row_id, KeyChildStart.done_at.is_(None)).values(**values)
    )
    await session.commit()


async def sweep(
    session_factory: async_sessionmaker[AsyncSession],
    client: Client,
    task_queue: str,
    *,
    older_than: timedelta = WAITING_AFTER,
    now: datetime | None = None,
) -> StartsDone:
    """One pass of the reconciler: the rows waiting longer than `older_than`, oldest first."""
    before = (now or datetime.now(UTC)) - older_than
    async with session_factory() as session:
        ids = list(
            (
                await session.execute(
                    select(KeyChildStart.id)
                    .where(KeyChildStart.done_at.is_(None), KeyChildStart.created_at < before)
                    .order_by(KeyChildStart.created_at, KeyChildStart.id)
                    .limit(BATCH)
                )
            ).scalars()
        )
        done = await start_owed(session, client, task_queue, ids)
    if ids:
        log.info("key-child starts swept: %d started, %d left waiting", done.started, done.waiting)
    return done
