"""Under /api/v1 the caller is authenticated before anything it sent is read or checked: FastAPI parses a
JSON body before it solves any dependency, so without this an anonymous caller would learn from a 422
what the API expects. The principal found here is the one api/deps.api_principal hands to the route."""

from __future__ import annotations

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from api.deps import authenticate_bearer
from api.errors import domain_error_handler
from db.session import autocommit
from domain.errors import DomainError
from web.errors import is_outage, on_outage

API_PREFIX = "/api/v1/"
OPEN = {"/api/v1/openapi.json"}  # the API's description is public; every operation is not


class AuthenticateApiFirst:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        if scope["type"] != "http" or not path.startswith(API_PREFIX) or path in OPEN:
            await self.app(scope, receive, send)
            return
        request = Request(scope)
        try:
            # One read on its own (no transaction around it): it comes before every API request.
            async with autocommit(scope["app"].state.session_factory) as conn:
                principal = await authenticate_bearer(request, conn)
        except DomainError as e:
            response = await domain_error_handler(request, e)
            await response(scope, receive, send)
            return
        except Exception as e:
            # Outside the app's exception handlers: an outage answers here as it would there (JSON 503).
            if not is_outage(e):
                raise
            response = await on_outage(request, e)
            await response(scope, receive, send)
            return
        scope.setdefault("state", {})["api_principal"] = principal
        await self.app(scope, receive, send)
