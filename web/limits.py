"""Bad input refused at the edge, before any model, service, database or workflow sees it: a body too
large or nested too deep (a middleware, answering 413/422 in Chinese), and in what remains any text that
cannot be stored, any integer PostgreSQL cannot hold, any list or string no person would fill (a
dependency of every route, so a refusal is a DomainError shown as the page or the API shows any other)."""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import parse_qsl

from fastapi import Request
from fastapi.dependencies.models import Dependant
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from domain.attachments import size_label
from domain.errors import DomainError
from domain.text import (
    BODY_LIMIT,
    DEPTH_LIMIT,
    FILE_LIMIT,
    INT_MAX,
    INT_MIN,
    LIST_LIMIT,
    STRING_LIMIT,
    check_text,
)
from web.errors import JSON_PATHS

# A string (its closing quote optional, so that an unterminated one ends the scan instead of being tried
# again from every quote inside it: linear in the body) or a bracket.
_JSON_TOKEN = re.compile(rb'"(?:[^"\\]|\\.)*"?|[\[\]{}]', re.DOTALL)


def json_depth(body: bytes) -> int:
    """How deeply a JSON text nests (brackets inside strings left out), in one pass."""
    depth = deepest = 0
    for token in _JSON_TOKEN.finditer(body):
        char = token.group()[:1]
        if char in (b"[", b"{"):
            depth += 1
            deepest = max(deepest, depth)
        elif char in (b"]", b"}"):
            depth -= 1
    return deepest


def _refusal(scope: Scope, status: int, code: str, message: str) -> tuple[int, bytes, bytes]:
    if scope["path"].startswith(JSON_PATHS):
        body = {"error": {"code": code, "message": message, "field": None}}
        return status, json.dumps(body, ensure_ascii=False).encode(), b"application/json"
    page = f'<!doctype html><meta charset="utf-8"><title>无法完成</title><p>{message}</p>'
    return status, page.encode(), b"text/html; charset=utf-8"


# The one route that takes a case's attachment (a scanned consent form): in the API, and the case page's form
# that uploads it with the action it goes with.
ATTACHMENT_UPLOAD = re.compile(r"(?:/api/v1)?/cases/[^/]+/attachments")
# What a multipart form carries besides the file: the action's other fields and the parts' headers.
FORM_ROOM = 256 * 1024


class BodyLimits:
    """A request body above BODY_LIMIT is refused (413) without being read to its end; a JSON body nested
    deeper than DEPTH_LIMIT is refused (422) before it is parsed. A multipart upload of an attachment may
    be as large as the attachment limit (and the form around it); any other file, FILE_LIMIT."""

    def __init__(self, app: ASGIApp, attachment_limit: int = FILE_LIMIT) -> None:
        self.app = app
        self.attachment_limit = attachment_limit

    def _cap(self, scope: Scope, kind: bytes) -> tuple[int, str]:
        """The body's limit and how the refusal says it."""
        if kind.startswith(b"multipart/form-data") and ATTACHMENT_UPLOAD.fullmatch(scope["path"]):
            return self.attachment_limit + FORM_ROOM, f"附件不能超过{size_label(self.attachment_limit)}"
        # A file (the agencies' CSV import) has its own, larger limit, checked where it is read.
        cap = FILE_LIMIT if kind.startswith((b"text/csv", b"multipart/form-data")) else BODY_LIMIT
        return cap, f"提交的内容过大（不能超过{cap // 1024}KB）"

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        kind = headers.get(b"content-type", b"")
        cap, too_large = self._cap(scope, kind)
        declared = headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > cap:  # said up front: refused before a byte is read
            await _answer(send, *_refusal(scope, 413, "body_too_large", too_large))
            return
        if kind.startswith(b"multipart/form-data"):
            await self._stream_counted(scope, receive, send, cap, too_large)
            return
        received = bytearray()  # appended in place: a body in 64 KB chunks is not copied each time
        more = True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            received += message.get("body", b"")
            more = message.get("more_body", False)
            if len(received) > cap:
                await _answer(send, *_refusal(scope, 413, "body_too_large", too_large))
                return
        body = bytes(received)
        # FastAPI reads a body without a content type as JSON too.
        if (not kind or b"json" in kind) and json_depth(body) > DEPTH_LIMIT:
            await _answer(send, *_refusal(scope, 422, "body_too_deep", "提交的内容层级过深，无法处理"))
            return

        sent = False

        async def replay() -> Message:
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _stream_counted(self, scope: Scope, receive: Receive, send: Send, cap: int, too_large: str) -> None:
        """A form with a file is passed on as it arrives (its file parts spooled to disk by the form parser,
        not held here), counted: once it passes its cap the request is ended with the same 413."""
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > cap:
                raise _BodyTooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except _BodyTooLarge:
            if started:
                raise
            await _answer(send, *_refusal(scope, 413, "body_too_large", too_large))


class _BodyTooLarge(Exception):
    """Raised from a counted body's receive: the app stops reading, and the middleware answers 413."""


async def _answer(send: Send, status: int, body: bytes, content_type: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", content_type), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})


def check_value(value: Any, where: str) -> None:
    """Every string, integer and list in a value a client sent, checked against the bounds above."""
    if isinstance(value, str):
        check_text(value, where, where)
        if len(value) > STRING_LIMIT:
            raise DomainError("field_too_long", f"“{where}”不能超过{STRING_LIMIT}字", field=where)
    elif isinstance(value, bool):
        return
    elif isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise DomainError("field_invalid", f"“{where}”数值超出范围", field=where)
    elif isinstance(value, list):
        if len(value) > LIST_LIMIT:
            raise DomainError("too_many_items", f"“{where}”最多{LIST_LIMIT}项", field=where)
        for item in value:
            check_value(item, where)
    elif isinstance(value, dict):
        if len(value) > LIST_LIMIT:
            raise DomainError("too_many_items", f"“{where}”最多{LIST_LIMIT}项", field=where)
        for key, item in value.items():
            check_value(key, where)
            check_value(item, f"{where}.{key}" if where != "请求内容" else str(key))


def _int_params(dependant: Dependant) -> set[str]:
    """The path and query parameters a route (and what it depends on) takes as integers."""
    found = {
        p.alias
        for p in (*dependant.path_params, *dependant.query_params)
        if p.field_info.annotation in (int, int | None)
    }
    for sub in dependant.dependencies:
        found |= _int_params(sub)
    return found


def _route_int_params(request: Request) -> set[str]:
    dependant = getattr(request.scope.get("route"), "dependant", None)
    return _int_params(dependant) if dependant is not None else set()


async def refuse_bad_input(request: Request) -> None:
    """A dependency of every route: path, query, headers and the parsed body (JSON or a page's form)."""
    ints = _route_int_params(request)
    for name, value in [*request.path_params.items(), *request.query_params.multi_items()]:
        check_value(value, name)
        if name in ints and value.lstrip("-").isdecimal() and not INT_MIN <= int(value) <= INT_MAX:
            raise DomainError("field_invalid", f"“{name}”数值超出范围", field=name)
    for name, value in request.headers.items():
        check_value(value, name)
    if request.method in ("GET", "HEAD", "OPTIONS"):
        return
    kind = request.headers.get("content-type", "")
    if "multipart/form-data" in kind:
        # Parsed as it streams (a file part spooled to disk): the body is never held whole in memory.
        form = await request.form()  # kept on the request: the route reads the same form
        _check_form(request, [(k, v) for k, v in form.multi_items() if isinstance(v, str)])
        return
    body = await request.body()
    if not body:
        return
    if not kind or "json" in kind:
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError):
            return  # the validation handler answers, in Chinese
        check_value(parsed, "请求内容")
    elif "application/x-www-form-urlencoded" in kind:
        try:
            fields = parse_qsl(body.decode("utf-8", "surrogateescape"), keep_blank_values=True)
        except ValueError:
            raise DomainError("body_invalid", "提交的表单无法识别") from None
        _check_form(request, fields)


def _check_form(request: Request, fields: list[tuple[str, str]]) -> None:
    # A page's reader does not know the form's field names: the refusal speaks of the form.
    is_api = request.url.path.startswith("/api/")
    for name, value in fields:
        check_value(value, name if is_api else "表单内容")
