"""Page logins kept on the server. The cookie carries only a random id (nothing derived from the
password); the row behind it is revoked by logging out, by a new password and by switching the account
off, so a copied cookie stops working at once instead of at its 8-hour limit."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta

from sqlalchemy import delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.security import token_hash
from db.models import LoginSession


async def start(session: AsyncSession, user_id: int, *, max_age: int) -> str:
    """A new login of `user_id`; the id to put in the cookie. The user's ended and expired logins are
    dropped on the way, so the table holds only what may still be used. The caller commits."""
    await session.execute(
        delete(LoginSession).where(
            LoginSession.user_id == user_id,
            or_(
                LoginSession.revoked_at.is_not(None),
                LoginSession.created_at < func.now() - timedelta(seconds=max_age),
            ),
        )
    )
    sid = secrets.token_urlsafe(32)
    session.add(LoginSession(token_hash=token_hash(sid), user_id=user_id))
    await session.flush()
    return sid


async def user_of(session: AsyncSession, sid: str | None, *, now: datetime, max_age: int) -> int | None:
    """The user of a live login, or None (unknown, revoked, or older than the session limit)."""
    if not sid:
        return None
    row = (
        await session.execute(
            select(LoginSession).where(
                LoginSession.token_hash == token_hash(sid),
                LoginSession.revoked_at.is_(None),
                LoginSession.created_at > now - timedelta(seconds=max_age),
            )
        )
    ).scalar_one_or_none()
    return row.user_id if row is not None else None


async def end(session: AsyncSession, sid: str | None) -> None:
    """Revokes one login (logging out). The caller commits."""
    if sid:
        await session.execute(
            update(LoginSession)
            .where(LoginSession.token_hash == token_hash(sid), LoginSession.revoked_at.is_(None))
            .values(revoked_at=func.now())
        )


async def end_all(session: AsyncSession, user_id: int) -> int:
    """Revokes every login of the user; how many were live. The caller commits."""
    result = await session.execute(
        update(LoginSession)
        .where(LoginSession.user_id == user_id, LoginSession.revoked_at.is_(None))
        .values(revoked_at=func.now())
    )
    return result.rowcount or 0
