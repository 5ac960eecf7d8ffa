"""Every refusal and HTTP error as the caller expects it: JSON (code, Chinese reason, field) under /api/,
the error page elsewhere; a page that needs a login redirects to the login form."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from api.deps import LoginRequired
from api.errors import domain_error_handler
from domain.errors import DomainError
from ui.pages import page_error_response


def _is_api(request: Request) -> bool:
    return request.url.path.startswith("/api/")


async def on_domain_error(request: Request, exc: Exception) -> Response:
    if _is_api(request):
        return await domain_error_handler(request, exc)
    assert isinstance(exc, DomainError)
    return page_error_response(request, exc)


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


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(LoginRequired, on_login_required)
