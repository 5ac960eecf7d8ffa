"""What an applied change set sets going once it is committed: the open cases of moved children are told,
every process that follows key children (Process.key_child_field) is started for each child flagged, and
the county's six-monthly refresh is recorded when the whole set is applied."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.cases.system_start import start_for_child
from api.principal import Principal
from api.refresh.service import record_by_import
from api.registry.applying import Applied, tell_cases
from domain.errors import DomainError
from domain.processes import PROCESSES

log = logging.getLogger(__name__)


async def follow_through(
    *, session: AsyncSession, client: Client, task_queue: str, principal: Principal, done: Applied
) -> int:
    """The number of cases started for key children (an open one answered is not counted)."""
    await tell_cases(session, client, done.moved_child_ids)
    started = 0
    for process in PROCESSES.values():
        if not process.key_child_field:
            continue
        for child_id, flags in sorted(done.flagged.items()):
            try:
                answer = await start_for_child(
                    session=session,
                    client=client,
                    task_queue=task_queue,
                    process_name=process.name,
                    child_id=child_id,
                    facts={process.key_child_field: sorted(flags)},
                )
            except DomainError as e:  # e.g. past the process's age limit: the flag stays on the record
                await session.rollback()
                log.info("key child not started", extra={"process": process.name, "code": e.code})
                continue
            started += int(answer.created)
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
