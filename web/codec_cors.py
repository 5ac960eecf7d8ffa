"""The Temporal UI calls the codec endpoint (api/codec.py) from the browser, from its own origin: CORS
allows that origin, with its credentials (the page login's cookie) and the headers the UI sends, on the
codec's paths alone; every other path answers no other origin."""

from __future__ import annotations

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Receive, Scope, Send

from api.codec import PREFIX


class CodecCors:
    def __init__(self, app: ASGIApp, origin: str) -> None:
        self.app = app
        self.cors = CORSMiddleware(
            app,
            allow_origins=[origin],
            allow_methods=["POST"],
            # The UI sends X-Namespace and Content-Type, and whatever its version adds: any header, from
            # that origin only.
            allow_headers=["*"],
            allow_credentials=True,
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path", "").startswith(PREFIX + "/"):
            await self.cors(scope, receive, send)
        else:
            await self.app(scope, receive, send)
