"""Logging in and out, and the front door."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select

from api.deps import PageUser, SessionDep, csrf_token
from api.security import hash_password, verify_password
from db.models import User
from ui.forms import local_path, read_form
from ui.render import render

router = APIRouter(include_in_schema=False)

LOGIN_FAILED = "用户名或密码错误"
# A form posted after the session expired sends the user here with its own (POST-only) address: after
# logging in, go to the page the form was on instead.
_POST_ONLY = (
    (re.compile(r"^(/cases/[^/?#]+)/(?:act|supervise)$"), r"\1"),
    (re.compile(r"^/admin/(?:holidays|policy)$"), "/admin"),
    (re.compile(r"^/logout$"), "/"),
)


def after_login(target: str) -> str:
    for pattern, replacement in _POST_ONLY:
        if pattern.match(target):
            return pattern.sub(replacement, target)
    return target


_dummy_hash: list[str] = []


def _password_ok(user: User | None, password: str) -> bool:
    """Checks the password; an unknown user costs as long as a known one, so names cannot be probed."""
    if user is None or not user.is_active:
        if not _dummy_hash:
            _dummy_hash.append(hash_password("-"))
        verify_password(password, _dummy_hash[0])
        return False
    return verify_password(password, user.password_hash)


@router.get("/", response_class=HTMLResponse)
async def home(user: PageUser) -> RedirectResponse:
    return RedirectResponse("/admin" if user.is_admin else "/inbox", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", None, next=local_path(next), username="", error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, session: SessionDep) -> Response:
    form = await read_form(request)
    username = form.get("username", "").strip()
    target = after_login(local_path(form.get("next")))
    user = (
        (await session.execute(select(User).where(User.username == username))).scalar_one_or_none()
        if username
        else None
    )
    if not _password_ok(user, form.get("password", "")) or user is None:
        return render(request, "login.html", None, status=401, next=target, username=username, error=LOGIN_FAILED)
    request.session.clear()
    request.session["user_id"] = user.id
    request.session["pw"] = user.password_hash[-16:]
    csrf_token(request)  # a fresh token for the new session
    return RedirectResponse(target, status_code=303)


@router.post("/logout")
async def logout(request: Request) -> RedirectResponse:
    await read_form(request)
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
