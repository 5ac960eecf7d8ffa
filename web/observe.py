"""Every request timed for /metrics and logged as one line: its request id (sent back as X-Request-ID),
method, route template, status and latency. The route is the template (`/cases/{case_no}`), never the
path, and the query string is never logged: paths carry case numbers, searches children's names."""

from __future__ import annotations

import logging
import re
import time
import uuid

from prometheus_client import Histogram
from starlette.datastructures import MutableHeaders
from starlette.routing import Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

log = logging.getLogger("referrals.access")
REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{8,64}")  # a proxy's id is kept only if it cannot carry text
UNMATCHED = "(unmatched)"

LATENCY = Histogram(
    "referrals_http_request_duration_seconds",
    "Time to answer a request, by method, route template and status",
    ["method", "route", "status"],
)


def route_of(scope: Scope) -> str:
    """The template of the route that answered: the path with each path parameter's value put back as its
    name (the router's own route object knows only its path below an included router's prefix)."""
    route = scope.get("route")
    if route is None:
        return UNMATCHED  # a scanner's guesses would otherwise each make a label
    if isinstance(route, Mount):
        return f"{route.path}/{{path}}"
    names = {str(v): k for k, v in (scope.get("path_params") or {}).items()}
    return "/".join(f"{{{names[seg]}}}" if seg in names else seg for seg in scope.get("path", "").split("/"))


class ObserveRequests:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope["headers"]).get(b"x-request-id", b"").decode("latin-1")
        request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = request_id
        status = 500  # what the client sees if the app raises before it answers
        started = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                MutableHeaders(scope=message)["X-Request-ID"] = request_id
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_of(scope)
            LATENCY.labels(scope["method"], route, str(status)).observe(elapsed)
            log.info(
                "%s %s %d",
                scope["method"],
                route,
                status,
                extra={
                    "request_id": request_id,
                    "method": scope["method"],
                    "route": route,
                    "status": status,
                    "latency_ms": round(elapsed * 1000, 1),
                },
            )
