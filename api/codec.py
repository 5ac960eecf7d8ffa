"""The codec endpoint for the Temporal UI (Temporal's "codec server" protocol): POST /codec/decode and
/codec/encode take and answer `{"payloads": [{"metadata": {...base64...}, "data": "base64"}]}`. The UI
calls it from the browser (CORS: web/codec_cors.py), with the cookie of a page login when "include
cross-origin credentials" is on, or a script with an admin's bearer token. Only an administrator is
answered; every decoding is an audited read.

Plain Starlette routes, not API operations: a payload is one long base64 string, longer than any text
field the API's input checks allow (web/limits.py), and the protocol is Temporal's, not ours."""

from __future__ import annotations

from datetime import UTC, datetime

from google.protobuf.json_format import MessageToDict, ParseDict, ParseError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse
from temporalio.api.common.v1 import Payloads

from api import login_sessions
from api.audit import audit
from api.deps import authenticate_bearer
from api.principal import Principal, principal_of
from db.models import User
from domain.errors import DomainError
from worker.codec import EncryptionCodec, PayloadKeyError

PREFIX = "/codec"
NAMESPACE_HEADER = "x-namespace"


async def codec_principal(request: Request, session: AsyncSession) -> Principal:
    """An admin's bearer token, or else the page login's cookie; anyone else is refused."""
    if request.headers.get("authorization"):
        principal = await authenticate_bearer(request, await session.connection())
    else:
        user_id = await login_sessions.user_of(
            session,
            request.session.get("sid"),
            now=datetime.now(UTC),
            max_age=request.app.state.settings.session_max_age,
        )
        user = await session.get(User, user_id) if user_id else None
        if user is None or not user.is_active or not user.agency.is_active:
            raise DomainError("not_authenticated", "请先以系统管理员身份登录本系统，或提供访问令牌")
        principal = principal_of(user, channel="page")
    if not principal.is_admin:
        raise DomainError("not_permitted", "只有系统管理员可以查看解密后的流程记录")
    return principal


async def _payloads(request: Request) -> Payloads:
    try:
        body = await request.json()
        if not isinstance(body, dict):
            raise ParseError("not an object")
        return ParseDict(body, Payloads(), ignore_unknown_fields=True)
    except (ValueError, ParseError):
        raise DomainError("invalid_request", '请求内容应为 {"payloads": [...]}（Temporal 编解码格式）') from None


def _answer(payloads: list) -> JSONResponse:
    return JSONResponse(MessageToDict(Payloads(payloads=payloads)) or {"payloads": []})


async def decode(request: Request) -> JSONResponse:
    codec: EncryptionCodec = request.app.state.codec
    async with request.app.state.session_factory() as session:
        principal = await codec_principal(request, session)
        payloads = await _payloads(request)
        try:
            plain = await codec.decode(payloads.payloads)
        except PayloadKeyError:
            raise DomainError("undecodable", "无法解密：载荷使用的密钥不在本系统的密钥中") from None
        namespace = request.headers.get(NAMESPACE_HEADER, "")[:64]
        audit(session, principal, "codec_decode", detail=f"{len(plain)} payloads, namespace {namespace}")
        await session.commit()
    return _answer(plain)


async def encode(request: Request) -> JSONResponse:
    codec: EncryptionCodec = request.app.state.codec
    async with request.app.state.session_factory() as session:
        await codec_principal(request, session)
    payloads = await _payloads(request)
    return _answer(await codec.encode(payloads.payloads))
