"""Every refusal and HTTP error as the caller expects it: JSON (code, Chinese reason, field) under /api/,
the error page elsewhere; a page that needs a login redirects to the login form. The database or
Temporal out of reach is a 503 with a retry hint, wherever in a request it surfaces."""

from __future__ import annotations

import logging
from urllib.parse import quote

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

from api.deps import LoginRequired
from api.errors import domain_error_handler, error_body
from domain.errors import DomainError
from ui.pages import page_error_response

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
PENDING_RETRY_SECONDS = 5
UNAVAILABLE = DomainError("unavailable", "系统暂时无法连接数据库或流程服务，请稍后重试（已提交的操作不会重复办理）")
# Temporal answers these when the server (or the way to it) is down, not when the request is wrong.
RPC_OUTAGES = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNKNOWN}


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    response = await domain_error_handler(request, exc) if _is_api(request) else page_error_response(request, exc)
    if response.status_code == 503:  # a case being created is there in seconds
        response.headers["Retry-After"] = str(
            PENDING_RETRY_SECONDS if exc.code == "case_pending" else RETRY_AFTER_SECONDS
        )
    return response


async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ())[1:])
    return JSONResponse(
        {
            "error": {
                "code": "invalid_request",
                "message": f"请求格式不正确：{where} {first.get('msg', '')}".strip(),
                "field": where or None,
                "details": [{"loc": [str(p) for p in e.get("loc", ())], "msg": e.get("msg")} for e in errors],
            }
        },
        status_code=422,
    )


async def on_login_required(request: Request, exc: Exception) -> RedirectResponse:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return await on_domain_error(request, DomainError("not_found", "页面不存在"))
    if _is_api(request):
        return JSONResponse(
            {"error": {"code": "http_error", "message": str(exc.detail), "field": None}},
            status_code=exc.status_code,
        )
    return page_error_response(request, DomainError("http_error", str(exc.detail)))


def is_outage(exc: BaseException) -> bool:
    """A connection to PostgreSQL or Temporal failed or timed out (the request itself was not refused)."""
    if isinstance(exc, DBAPIError):
        # OperationalError / InterfaceError: the server is down, restarting or unreachable.
        return exc.connection_invalidated or type(exc).__name__ in ("OperationalError", "InterfaceError")
    if isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError):
        return True  # psycopg used directly, not wrapped by SQLAlchemy
    if isinstance(exc, RPCError):
        return exc.status in RPC_OUTAGES
    if isinstance(exc, RuntimeError) and str(exc).startswith("Failed client connect"):
        return True  # a lazy Temporal client's first call to a server that is down (temporalio's bridge)
    return isinstance(exc, DisconnectionError | PoolTimeoutError | TimeoutError | ConnectionError)


async def on_outage(request: Request, exc: Exception) -> Response:
    if not is_outage(exc):
        raise exc  # a programming error stays a 500 with its traceback
    log.warning("outage on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if _is_api(request):
        return JSONResponse(error_body(UNAVAILABLE), status_code=503, headers=headers)
    response = page_error_response(request, UNAVAILABLE)
    response.headers.update(headers)
    return response


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(LoginRequired, on_login_required)
    for outage in (
        DBAPIError,
        DisconnectionError,
        PoolTimeoutError,
        psycopg.OperationalError,
        psycopg.InterfaceError,
        RPCError,
        TimeoutError,
        ConnectionError,
        RuntimeError,
    ):
        app.add_exception_handler(outage, on_outage)
