"""The FastAPI application: the JSON API under /api/v1 and the Chinese pages, one process."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from urllib.parse import quote

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware
from temporalio.client import Client

from api.admin.router import router as admin_router
from api.cases.router import router as cases_router
from api.cases.router import work as work_router
from api.children.router import router as children_router
from api.deps import LoginRequired
from api.errors import domain_error_handler
from api.meta import router as meta_router
from api.notifications.router import router as notifications_router
from config.settings import Settings
from db.session import make_engine, make_session_factory
from domain.errors import DomainError
from worker.client import connect

log = logging.getLogger(__name__)
STATIC = Path(__file__).resolve().parent.parent / "ui" / "static"


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    session_factory: async_sessionmaker[AsyncSession] | None = None,
) -> FastAPI:
    """`client` and `session_factory` may be given (tests, `referrals dev`); otherwise they are made from
    the settings when the app starts."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        if session_factory is None:
            engine = make_engine(settings.database_url)
            app.state.session_factory = make_session_factory(engine)
        if client is None:
            app.state.temporal_client = await connect(settings.temporal_address, settings.temporal_namespace)
        yield
        if engine is not None:
            await engine.dispose()

    app = FastAPI(
        title="referrals — 长治市流动儿童关爱保护转介系统",
        version="1",
        lifespan=lifespan,
        docs_url="/api/docs",
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.temporal_client = client
    secret = settings.secret_key or secrets.token_urlsafe(32)
    if not settings.secret_key:
        log.warning("no secret key set: page sessions will not survive a restart")
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret,
        session_cookie="referrals_session",
        max_age=settings.session_max_age,
        same_site="lax",
        https_only=settings.secure_cookies,
    )

    api = APIRouter(prefix="/api/v1")
    for r in (cases_router, work_router, notifications_router, children_router, admin_router, meta_router):
        api.include_router(r)
    app.include_router(api)

    from ui.pages import page_error_response
    from ui.pages import router as pages_router

    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")

    async def on_domain_error(request: Request, exc: Exception) -> object:
        if request.url.path.startswith("/api/"):
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

    async def on_http_error(request: Request, exc: Exception) -> object:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 404:
            return await on_domain_error(request, DomainError("not_found", "页面不存在"))
        if request.url.path.startswith("/api/"):
            return JSONResponse(
                {"error": {"code": "http_error", "message": str(exc.detail), "field": None}},
                status_code=exc.status_code,
            )
        return page_error_response(request, DomainError("http_error", str(exc.detail)))

    app.add_exception_handler(DomainError, on_domain_error)
    app.add_exception_handler(StarletteHTTPException, on_http_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(LoginRequired, on_login_required)

    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
