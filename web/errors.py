"""Every refusal and HTTP error as the caller expects it: JSON (code, Chinese reason, field) under /api/,
the error page elsewhere; a page that needs a login redirects to the login form."""

from __future__ import annotations

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


def add_exception_handlers(app: FastAPI) -> None:
    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(LoginRequired, on_login_required)
