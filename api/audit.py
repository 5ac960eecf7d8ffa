"""The audit log: an entry for every read and change of a case (and of a child's record)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from api.principal import Principal
from db.models import AuditEntry


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
    session.add(
        AuditEntry(
            user_id=principal.user_id,
            agency_id=principal.agency.id,
            token_id=principal.token_id,
            case_no=case_no,
            child_id=child_id,
            action=action,
            detail=detail[:256],
            channel=principal.channel,
        )
    )
