"""The regions the deployment answering this request serves (Settings.served_city), for code that decides
"inside or outside this deployment" without a Settings at hand (start checks, region fields, pages).

web/app.py sets it for every request from the app's own settings, so two deployments in one process (the
two-database test) each see their own. Outside a request (scripts, direct service calls in tests) it is
the Settings default."""

from __future__ import annotations

from contextvars import ContextVar
from typing import Any

from domain.regions import CHANGZHI, ServedRegions

_SERVED: ContextVar[ServedRegions] = ContextVar("served_regions", default=CHANGZHI)


def served_regions() -> ServedRegions:
    return _SERVED.get()


class ServeRegions:
    """ASGI middleware: the request runs with its deployment's served regions."""

    def __init__(self, app: Any, served: ServedRegions) -> None:
        self.app, self.served = app, served

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        token = _SERVED.set(self.served)
        try:
            await self.app(scope, receive, send)
        finally:
            _SERVED.reset(token)
