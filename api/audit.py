"""The audit log: an entry for every read and change of a case (and of a child's record)."""

from __future__ import annotations

import logging

from sqlalchemy import insert
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from api.principal import Principal
from db.models import AuditEntry

log = logging.getLogger(__name__)
ATTEMPTS = 2


def _entry(
    principal: Principal, action: str, case_no: str | None, child_id: int | None, detail: str
) -> dict[str, object]:
    return {
        "user_id": principal.user_id,
        "agency_id": principal.agency.id,
        "token_id": principal.token_id,
        "case_no": case_no,
        "child_id": child_id,
        "action": action,
        "detail": detail[:256],
        "channel": principal.channel,
    }


def audit(
    session: AsyncSession,
    principal: Principal,
    action: str,
    *,
    case_no: str | None = None,
    child_id: int | None = None,
    detail: str = "",
) -> None:
    """Adds the entry to the session; it commits with the caller's transaction."""
    session.add(AuditEntry(**_entry(principal, action, case_no, child_id, detail)))


async def audit_done(
    session: AsyncSession,
    principal: Principal,
    action: str,
    *,
    case_no: str | None = None,
    child_id: int | None = None,
    detail: str = "",
) -> None:
    """The entry for something that already happened (an action the workflow applied): written in its own
    transaction, tried again once, and logged if it still fails; the caller answers what happened either
    way, since answering an error would have the user repeat an action that took effect."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            # One plain INSERT (no unit of work): it follows every action.
            await (await session.connection()).execute(
                insert(AuditEntry).values(**_entry(principal, action, case_no, child_id, detail))
            )
            await session.commit()
            return
        except SQLAlchemyError as e:
            await session.rollback()
            failure = type(e).__name__
        log.warning("audit write failed (attempt %d of %d): %s", attempt, ATTEMPTS, failure)
    log.error(
        "audit entry not written: user=%s agency=%s case=%s action=%s detail=%s",
        principal.user_id,
        principal.agency.id,
        case_no,
        action,
        detail,
    )
