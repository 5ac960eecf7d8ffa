"""The audit log: an entry for every read and change of a case (and of a child's record)."""

from __future__ import annotations

import logging

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from api.principal import Principal
from db.models import AuditEntry
from db.session import autocommit

log = logging.getLogger(__name__)
ATTEMPTS = 2
AUDIT_SQL = """
INSERT INTO audit_log (user_id, agency_id, token_id, case_no, child_id, action, detail, channel)
VALUES (%(user_id)s::int, %(agency_id)s::int, %(token_id)s::int, %(case_no)s::text, %(child_id)s::int,
        %(action)s::text, %(detail)s::text, %(channel)s::text)
"""


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
            # One plain INSERT, a transaction of its own (no BEGIN, no COMMIT): it follows every action.
            async with autocommit(session) as conn:
                await conn.exec_driver_sql(AUDIT_SQL, _entry(principal, action, case_no, child_id, detail))
            return
        except SQLAlchemyError as e:
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
