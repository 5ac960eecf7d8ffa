"""Every refusal and HTTP error as the caller expects it: JSON (code, Chinese reason, field) under /api/,
the error page elsewhere; a page that needs a login redirects to the login form. The database or
Temporal out of reach is a 503 with a retry hint, wherever in a request it surfaces."""

from __future__ import annotations

import logging
import traceback
from typing import Any
from urllib.parse import quote

import psycopg
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError, ResponseValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException
from temporalio.service import RPCError, RPCStatusCode

from api.deps import LoginRequired
from api.errors import domain_error_handler, error_body
from db import errors as db_errors
from domain.errors import DomainError
from ui.pages import page_error_response

log = logging.getLogger(__name__)

RETRY_AFTER_SECONDS = 30
PENDING_RETRY_SECONDS = 5
INTERNAL = DomainError("internal_error", "系统内部错误，本次操作未完成，请稍后重试或联系管理员")
UNAVAILABLE = DomainError("unavailable", "系统暂时无法连接数据库或流程服务，请稍后重试（已提交的操作不会重复办理）")
# Temporal answers these when the server (or the way to it) is down, not when the request is wrong.
RPC_OUTAGES = {RPCStatusCode.UNAVAILABLE, RPCStatusCode.DEADLINE_EXCEEDED, RPCStatusCode.UNKNOWN}


# Answered in JSON: the API, the codec endpoint the Temporal UI calls (api/codec.py), and what programs
# (a scraper) read.
JSON_PATHS = ("/api/", "/codec/")
MACHINE_PATHS = ("/metrics", "/readyz")


def _is_api(request: Request) -> bool:
    return request.url.path.startswith(JSON_PATHS) or request.url.path in MACHINE_PATHS


async def on_domain_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, DomainError)
    response = await domain_error_handler(request, exc) if _is_api(request) else page_error_response(request, exc)
    if response.status_code == 503:  # a case being created is there in seconds
        response.headers["Retry-After"] = str(
            PENDING_RETRY_SECONDS if exc.code == "case_pending" else RETRY_AFTER_SECONDS
        )
    return response


# What each pydantic error type means, in Chinese; {field} is the field's name, the rest from the error's ctx.
_MEANINGS: dict[str, str] = {
    "missing": "缺少“{field}”",
    "extra_forbidden": "不认识的字段“{field}”",
    "string_type": "“{field}”应为文字",
    "string_too_short": "“{field}”至少{min_length}个字",
    "string_too_long": "“{field}”不能超过{max_length}个字",
    "string_pattern_mismatch": "“{field}”格式不正确",
    "int_type": "“{field}”应为整数",
    "int_parsing": "“{field}”应为整数",
    "int_from_float": "“{field}”应为整数",
    "float_type": "“{field}”应为数字",
    "float_parsing": "“{field}”应为数字",
    "bool_type": "“{field}”应为是或否",
    "bool_parsing": "“{field}”应为是或否",
    "greater_than": "“{field}”应大于{gt}",
    "greater_than_equal": "“{field}”不能小于{ge}",
    "less_than": "“{field}”应小于{lt}",
    "less_than_equal": "“{field}”不能大于{le}",
    "too_short": "“{field}”至少{min_length}项",
    "too_long": "“{field}”最多{max_length}项",
    "list_type": "“{field}”应为列表",
    "dict_type": "“{field}”应为对象",
    "model_type": "“{field}”应为对象",
    "model_attributes_type": "“{field}”应为对象",
    "date_type": "“{field}”应为日期（YYYY-MM-DD）",
    "date_parsing": "“{field}”应为日期（YYYY-MM-DD）",
    "date_from_datetime_parsing": "“{field}”应为日期（YYYY-MM-DD）",
    "datetime_type": "“{field}”应为时间",
    "datetime_parsing": "“{field}”应为时间",
    "literal_error": "“{field}”的取值无效",
    "enum": "“{field}”的取值无效",
    "uuid_parsing": "“{field}”格式不正确",
    "json_invalid": "请求内容不是有效的JSON",
    "json_type": "请求内容不是有效的JSON",
}


def chinese_reason(error: dict[str, Any]) -> str:
    """A pydantic error as a clerk or a client's developer can read it, naming the field."""
    loc = [str(p) for p in error.get("loc", ())]
    field = ".".join(loc[1:]) if len(loc) > 1 else (loc[0] if loc else "请求内容")
    meaning = _MEANINGS.get(str(error.get("type")), "“{field}”的值无效")
    try:
        return meaning.format(field=field or "请求内容", **(error.get("ctx") or {}))
    except (KeyError, IndexError, ValueError):
        return f"“{field}”的值无效"


async def on_validation_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, RequestValidationError)
    errors = exc.errors()
    first = errors[0] if errors else {}
    where = ".".join(str(p) for p in first.get("loc", ())[1:])
    message = f"请求格式不正确：{chinese_reason(first)}" if errors else "请求格式不正确"
    if not _is_api(request):
        return page_error_response(request, DomainError("invalid_request", message, field=where or None))
    return JSONResponse(
        {
            "error": {
                "code": "invalid_request",
                "message": message,
                "field": where or None,
                "details": [{"loc": [str(p) for p in e.get("loc", ())], "msg": chinese_reason(e)} for e in errors],
            }
        },
        status_code=422,
    )


async def on_login_required(request: Request, exc: Exception) -> RedirectResponse:
    assert isinstance(exc, LoginRequired)
    return RedirectResponse(f"/login?next={quote(exc.next_url)}", status_code=303)


# Starlette's own errors say why in English; a client is told in Chinese.
_HTTP_REASONS = {
    400: "请求无法识别",
    401: "请先登录",
    403: "无权进行此操作",
    405: "不支持该请求方法",
    406: "不支持请求的格式",
    413: "提交的内容过大",
    415: "不支持提交的内容格式",
    422: "请求格式不正确",
    429: "请求过于频繁，请稍后再试",
}


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    if exc.status_code == 404:
        return await on_domain_error(request, DomainError("not_found", "页面不存在"))
    reason = _HTTP_REASONS.get(exc.status_code, "请求无法完成")
    if _is_api(request):
        return JSONResponse(
            {"error": {"code": "http_error", "message": reason, "field": None}},
            status_code=exc.status_code,
            headers=exc.headers,
        )
    return page_error_response(request, DomainError("http_error", reason))


async def on_answer_invalid(request: Request, exc: Exception) -> Response:
    """An API answer that does not match its declared model (api/*/answers.py) is a programming error: a
    500, logged by where and why only, since FastAPI's own message carries the answer itself (a child's
    record, a guardian's phone)."""
    assert isinstance(exc, ResponseValidationError)
    where = [f"{'.'.join(str(p) for p in e.get('loc', ()))}: {e.get('type')}" for e in exc.errors()]
    log.error("answer of %s %s does not match its model: %s", request.method, request.url.path, where)
    return JSONResponse(error_body(INTERNAL), status_code=500)


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
        if isinstance(exc, DBAPIError | psycopg.Error):
            return on_database_error(request, exc)
        raise exc  # a programming error stays a 500 with its traceback
    log.warning("outage on %s %s: %s", request.method, request.url.path, type(exc).__name__)
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)}
    if _is_api(request):
        return JSONResponse(error_body(UNAVAILABLE), status_code=503, headers=headers)
    response = page_error_response(request, UNAVAILABLE)
    response.headers.update(headers)
    return response


def on_database_error(request: Request, exc: DBAPIError | psycopg.Error) -> Response:
    """A database error that is not an outage is a 500 like any programming error, logged with its
    traceback but without its text, which quotes the values the statement carried (db/errors.py)."""
    log.error(
        "database error on %s %s: %s\n%s",
        request.method,
        request.url.path,
        db_errors.summary(exc),
        "".join(traceback.format_tb(exc.__traceback__)),
    )
    if _is_api(request):
        return JSONResponse(error_body(INTERNAL), status_code=500)
    response = page_error_response(request, INTERNAL)
    response.status_code = 500
    return response


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(LoginRequired, on_login_required)
    app.add_exception_handler(ResponseValidationError, on_answer_invalid)
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
