"""The open cases of a child learn that the child's record changed under them (a merge, an ID number added):
each workflow takes the child's registry id, birth date and origin region from the record now (the age
limit follows the verified birth date). Sent after the change is committed; a case that cannot be told now
(Temporal unreachable) keeps what it had, and its database writes still land on the right child
(activities/cases.py registered_child_id)."""

from __future__ import annotations

import logging

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from db.models import Case, Child
from domain.ids import workflow_id
from domain.messages import ChildRef

log = logging.getLogger(__name__)


async def tell_open_cases(session: AsyncSession, client: Client, child: Child) -> int:
    """Signals every open case of `child`; returns how many were told."""
    case_nos = (
        await session.execute(select(Case.case_no).where(Case.child_id == child.id, Case.status == "open"))
    ).scalars()
    ref = ChildRef(
        id=child.id,
        birth_date=child.birth_date,
        residence_region=child.residence_region,
        origin_region=child.origin_region,
    )
    told = 0
    for case_no in case_nos:
        try:
            await client.get_workflow_handle(workflow_id(case_no)).signal("child_changed", ref)
            told += 1
        except Exception:  # the change stands; the case keeps its facts until told again
            log.warning("a case could not be told of its child's change", exc_info=False)
    return told
