"""The FastAPI application: the JSON API under /api/v1 and the Chinese pages, one process."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

from fastapi import APIRouter, Depends, FastAPI
from fastapi.staticfiles import StaticFiles
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.middleware.sessions import SessionMiddleware
from temporalio.client import Client

from api import codec
from api.admin.router import router as admin_router
from api.admin.webhooks import router as webhooks_router
from api.attachments.gate import MemoryGate
from api.attachments.router import router as attachments_router
from api.audit_log.router import router as audit_router
from api.care_periods.router import router as care_periods_router
from api.cases.router import router as cases_router
from api.cases.router import work as work_router
from api.cases.statistics_router import router as statistics_router
from api.children.router import router as children_router
from api.cross_region.router import router as cross_region_router
from api.error_schema import error_responses
from api.meta import router as meta_router
from api.notifications.router import router as notifications_router
from api.packets.router import router as packets_router
from api.refresh.router import router as refresh_router
from api.registry.router import router as registry_router
from api.school_calendar.router import router as school_calendar_router
from api.served import ServeRegions
from config.settings import Settings
from db.session import make_engine, make_session_factory
from ui.document_api import router as documents_router
from ui.pages import router as pages_router
from web.api_auth import AuthenticateApiFirst
from web.codec_cors import CodecCors
from web.errors import add_exception_handlers
from web.limits import BodyLimits, refuse_bad_input
from web.observe import ObserveRequests
from web.ops import router as ops_router
from web.security_headers import SecurityHeaders
from worker.client import connect
from worker.codec import EncryptionCodec

STATIC = Path(__file__).resolve().parent.parent / "ui" / "static"
API_ROUTERS = (
    cases_router,
    attachments_router,
    documents_router,
    work_router,
    statistics_router,
    notifications_router,
    children_router,
    admin_router,
    school_calendar_router,
    care_periods_router,
    webhooks_router,
    registry_router,
    cross_region_router,
    packets_router,
    audit_router,
    meta_router,
    refresh_router,
)


def create_app(
    settings: Settings,
    *,
    client: Client | None = None,
    session_factory: async_sessionmaker[AsyncSession] | None = None,
) -> FastAPI:
    """`client` and `session_factory` may be given (tests, `referrals dev`); otherwise they are made from
    the settings when the app starts."""
    app = FastAPI(
        title="referrals — 长治市流动儿童关爱保护转介系统",
        version="1",
        lifespan=lifespan(settings, client=client, session_factory=session_factory),
        docs_url="/api/docs",
        openapi_url="/api/v1/openapi.json",
        redoc_url=None,
        dependencies=[Depends(refuse_bad_input)],
    )
    app.state.settings = settings
    app.state.session_factory = session_factory
    app.state.temporal_client = client
    app.state.codec = EncryptionCodec(settings.keys())  # the same keys as the workers'
    app.state.attachment_gate = MemoryGate(settings.attachment_slots, settings.attachment_wait_seconds)
    add_session_middleware(app, settings)
    app.add_middleware(AuthenticateApiFirst)
    app.add_middleware(ServeRegions, served=settings.served())  # "inside this deployment" is its own regions
    # An oversized or too deep body is refused before anything reads it (an attachment's upload: its own limit).
    app.add_middleware(BodyLimits, attachment_limit=settings.attachment_max_bytes)
    app.add_middleware(CodecCors, origin=settings.ui_origin())  # the Temporal UI's preflight answered first
    app.add_middleware(SecurityHeaders)  # outermost but one, so even a refusal above carries them
    app.add_middleware(ObserveRequests)  # outermost: times and logs every answer, refusals too
    include_routers(app)
    add_exception_handlers(app)
    return app


def lifespan(
    settings: Settings,
    *,
    client: Client | None,
    session_factory: async_sessionmaker[AsyncSession] | None,
) -> Callable[[FastAPI], AbstractAsyncContextManager[None]]:
    """Makes at start what was not given: the database engine and the Temporal client."""

    @asynccontextmanager
    async def run(app: FastAPI) -> AsyncIterator[None]:
        engine = None
        if session_factory is None:
            engine = make_engine(settings.database_url)
            app.state.session_factory = make_session_factory(engine)
        if client is None:
            app.state.temporal_client = await connect(settings, lazy=True)
        yield
        if engine is not None:
            await engine.dispose()

    return run


def add_session_middleware(app: FastAPI, settings: Settings) -> None:
    """Page sessions in a signed cookie (config/settings.py refuses a missing or weak key)."""
    if not settings.secret_key:
        raise ValueError("settings without a secret key cannot sign page sessions")
    app.add_middleware(
        SessionMiddleware,
        secret_key=settings.secret_key,
        session_cookie="referrals_session",
        max_age=settings.session_max_age,
        same_site="lax",
        https_only=settings.secure_cookies,
    )


def include_routers(app: FastAPI) -> None:
    """The API under /api/v1, the pages, the static files, what operations read (health, metrics) and the
    codec endpoint."""
    api = APIRouter(prefix="/api/v1", responses=error_responses())
    for r in API_ROUTERS:
        api.include_router(r)
    app.include_router(api)
    app.include_router(pages_router)
    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    app.include_router(ops_router)
    # Temporal's codec protocol for its UI, outside the API's input checks (api/codec.py says why).
    app.add_route(f"{codec.PREFIX}/decode", codec.decode, methods=["POST"], include_in_schema=False)
    app.add_route(f"{codec.PREFIX}/encode", codec.encode, methods=["POST"], include_in_schema=False)
