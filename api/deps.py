"""FastAPI dependencies: the database session, the Temporal client, and who is asking (a bearer token
for the API, a login session for pages)."""

from __future__ import annotations

import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession
from temporalio.client import Client

from api import login_sessions
from api.attachments.gate import MemoryGate
from api.notifications import service as notifications
from api.principal import Principal, principal_of
from api.security import token_hash
from config.settings import Settings
from db.models import User
from domain.enums import AgencyType, Role
from domain.errors import DomainError
from domain.messages import AgencyRef


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with request.app.state.session_factory() as session:
        yield session


def get_client(request: Request) -> Client:
    return request.app.state.temporal_client


def get_settings_dep(request: Request) -> Settings:
    return request.app.state.settings


def get_attachment_gate(request: Request) -> MemoryGate:
    return request.app.state.attachment_gate


SessionDep = Annotated[AsyncSession, Depends(get_session)]
AttachmentGateDep = Annotated[MemoryGate, Depends(get_attachment_gate)]
ClientDep = Annotated[Client, Depends(get_client)]
SettingsDep = Annotated[Settings, Depends(get_settings_dep)]


# The token, its user for a person's token, and the agency it acts for (the user's, or an integration's own).
TOKEN_SQL = """
SELECT t.id, t.name, t.user_id, u.username, u.display_name, u.role, u.title, u.is_active AS user_active,
       a.id AS agency_id, a.name AS agency_name, a.agency_type, a.region_code, a.township,
       a.is_active AS agency_active
FROM api_tokens t
LEFT JOIN users u ON u.id = t.user_id
JOIN agencies a ON a.id = COALESCE(u.agency_id, t.agency_id)
WHERE t.token_hash = %(hash)s::text AND t.revoked_at IS NULL
"""


async def principal_from_token(conn: AsyncConnection, token: str) -> Principal | None:
    """One statement of plain SQL, no ORM objects: it runs for every API request."""
    found = (await conn.exec_driver_sql(TOKEN_SQL, {"hash": token_hash(token)})).one_or_none()
    if found is None or not found.agency_active:
        return None
    agency = AgencyRef(
        id=found.agency_id,
        name=found.agency_name,
        agency_type=AgencyType(found.agency_type),
        region_code=found.region_code,
        township=found.township,
    )
    if found.user_id is not None:
        if found.username is None or not found.user_active:
            return None
        return Principal(
            user_id=found.user_id,
            username=found.username,
            display_name=found.display_name,
            role=Role(found.role),
            agency=agency,
            title=found.title,
            token_id=found.id,
            channel="api",
        )
    # An integration (a school information system, the 12355 hotline) acts as an operator of its agency.
    return Principal(
        user_id=None,
        username=f"token:{found.id}",
        display_name=found.name,
        role=Role.operator,
        agency=agency,
        token_id=found.id,
        channel="api",
    )


async def authenticate_bearer(request: Request, conn: AsyncConnection) -> Principal:
    """The caller of an API request, or DomainError not_authenticated (401)."""
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise DomainError("not_authenticated", "请提供有效的访问令牌（Authorization: Bearer …）")
    principal = await principal_from_token(conn, token.strip())
    if principal is None:
        raise DomainError("not_authenticated", "访问令牌无效或已停用")
    return principal


async def api_principal(request: Request, session: SessionDep) -> Principal:
    """Who asks; web/api_auth.py has already found out, before anything the caller sent was read."""
    known = getattr(request.state, "api_principal", None)
    if isinstance(known, Principal):
        return known
    return await authenticate_bearer(request, await session.connection())


ApiUser = Annotated[Principal, Depends(api_principal)]


class LoginRequired(Exception):
    """Raised by page dependencies; the app turns it into a redirect to the login page."""

    def __init__(self, next_url: str) -> None:
        self.next_url = next_url


async def page_principal(request: Request, session: SessionDep) -> Principal:
    settings: Settings = request.app.state.settings
    user_id = await login_sessions.user_of(
        session, request.session.get("sid"), now=now_utc(), max_age=settings.session_max_age
    )
    user = await session.get(User, user_id) if user_id else None
    if (
        user is None
        or not user.is_active
        or not user.agency.is_active  # a switched-off agency's people are out with it
    ):
        request.session.clear()
        raise LoginRequired(str(request.url.path))
    principal = principal_of(user, channel="page")
    # Every page's top bar shows how many notifications this person has not read.
    request.state.unread_notifications = await notifications.unread_count(session, principal)
    request.state.principal = principal  # an error page shown later in this request keeps the top bar
    return principal


PageUser = Annotated[Principal, Depends(page_principal)]


def csrf_token(request: Request) -> str:
    token = request.session.get("csrf")
    if not token:
        token = secrets.token_urlsafe(24)
        request.session["csrf"] = token
    return token


def check_csrf(request: Request, submitted: str | None) -> None:
    expected = request.session.get("csrf")
    if not expected or not submitted or not secrets.compare_digest(expected, submitted):
        raise DomainError("csrf", "页面已过期，请刷新后重新提交")


def now_utc() -> datetime:
    return datetime.now(UTC)
