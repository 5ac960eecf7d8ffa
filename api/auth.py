"""Passwords at the door: checking a login (with a lock after repeated wrong passwords) and changing one's
own password. Both leave an audit entry; neither says whether an unknown user name exists."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import login_sessions
from api.security import check_password_strength, hash_password, verify_password
from config.settings import Settings
from db.models import AuditEntry, User
from domain.deadlines import SHANGHAI
from domain.errors import DomainError

LOGIN_FAILED = "用户名或密码错误"
_dummy_hash: list[str] = []


def _password_ok(user: User | None, password: str) -> bool:
    """Checks the password; an unknown user costs as long as a known one, so names cannot be probed."""
    if user is None or not user.is_active or not user.agency.is_active:
        if not _dummy_hash:
            _dummy_hash.append(hash_password("-"))
        verify_password(password, _dummy_hash[0])
        return False
    return verify_password(password, user.password_hash)


def _log(session: AsyncSession, user: User, action: str, detail: str = "") -> None:
    session.add(AuditEntry(user_id=user.id, agency_id=user.agency_id, action=action, detail=detail, channel="page"))


async def authenticate(
    session: AsyncSession, settings: Settings, username: str, password: str, *, now: datetime
) -> User:
    """The user whose password this is, or DomainError: login_failed (401) or locked (429). Commits the
    count of wrong passwords, so that a lock holds across requests and processes."""
    user = (
        (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
        if username
        else None
    )
    if user is not None and user.locked_until is not None and user.locked_until > now:
        _log(session, user, "login_locked")
        await session.commit()
        until = user.locked_until.astimezone(SHANGHAI)
        raise DomainError("locked", f"连续输错密码次数过多，账号已暂时锁定，请于 {until:%H:%M} 后再试，或联系管理员")
    if not _password_ok(user, password) or user is None:
        if user is not None and user.is_active:
            user.failed_logins += 1
            detail = f"{user.failed_logins} in a row"
            if user.failed_logins >= settings.login_max_failures:
                user.locked_until = now + timedelta(minutes=settings.login_lockout_minutes)
                user.failed_logins = 0
                detail += f"; locked for {settings.login_lockout_minutes} min"
            _log(session, user, "login_failed", detail)
            await session.commit()
        raise DomainError("login_failed", LOGIN_FAILED)
    user.failed_logins = 0
    user.locked_until = None
    _log(session, user, "login")
    await session.commit()
    return user


async def change_password(session: AsyncSession, user: User, *, current: str, new: str, confirm: str) -> None:
    """One's own password: the current one proves it is them; the new one must be strong and new."""
    if not verify_password(current, user.password_hash):
        raise DomainError("wrong_password", "当前密码不正确", field="current")
    check_password_strength(new, field="new")
    if new == current:
        raise DomainError("weak_password", "新密码不能与当前密码相同", field="new")
    if new != confirm:
        raise DomainError("field_invalid", "两次输入的新密码不一致", field="confirm")
    user.password_hash = hash_password(new)
    await login_sessions.end_all(session, user.id)
    _log(session, user, "password_change")
    await session.commit()
