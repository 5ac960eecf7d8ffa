"""What operations read: /healthz (the process answers), /readyz (PostgreSQL and Temporal reachable; a JSON
503 naming what is not) and /metrics for Prometheus (from this machine, or with the metrics token)."""

from __future__ import annotations

import asyncio
import hmac
import logging
from datetime import timedelta

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST
from sqlalchemy import text

from api.errors import error_body
from domain.errors import DomainError
from web.metrics import exposition, snapshot

log = logging.getLogger(__name__)
router = APIRouter(include_in_schema=False)
CHECK_SECONDS = 3.0
LOCAL = {"127.0.0.1", "::1", "localhost"}


@router.get("/healthz")
async def healthz() -> dict[str, str]:
    return {"status": "ok"}


async def _database_ok(request: Request) -> bool:
    try:
        async with request.app.state.session_factory() as session:
            await asyncio.wait_for(session.execute(text("SELECT 1")), CHECK_SECONDS)
        return True
    except Exception as e:  # any failure means not ready; the type is enough to tell why
        log.warning("readiness: PostgreSQL unreachable (%s)", type(e).__name__)
        return False


async def _temporal_ok(request: Request) -> bool:
    try:
        return await request.app.state.temporal_client.service_client.check_health(
            timeout=timedelta(seconds=CHECK_SECONDS)
        )
    except Exception as e:
        log.warning("readiness: Temporal unreachable (%s)", type(e).__name__)
        return False


@router.get("/readyz")
async def readyz(request: Request) -> JSONResponse:
    database, temporal = await asyncio.gather(_database_ok(request), _temporal_ok(request))
    checks = {"postgresql": "ok" if database else "unreachable", "temporal": "ok" if temporal else "unreachable"}
    ready = database and temporal
    return JSONResponse({"status": "ready" if ready else "unavailable", **checks}, status_code=200 if ready else 503)


def may_scrape(request: Request) -> bool:
    token = request.app.state.settings.metrics_token
    given = request.headers.get("authorization", "")
    if token and hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        return True
    return request.client is not None and request.client.host in LOCAL


@router.get("/metrics")
async def metrics(request: Request) -> Response:
    if not may_scrape(request):
        refused = DomainError("not_permitted", "指标仅供本机或持有监控令牌的采集程序读取")
        return JSONResponse(error_body(refused), status_code=403)
    async with request.app.state.session_factory() as session:
        snap = await snapshot(session)
    return Response(exposition(snap), media_type=CONTENT_TYPE_LATEST)
