"""Logging in and out, and the front door."""

from __future__ import annotations

import re

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse

from api import auth, login_sessions
from api.deps import PageUser, SessionDep, SettingsDep, csrf_token, now_utc
from api.errors import status_for
from db.models import User
from domain.errors import DomainError
from ui.forms import local_path, read_form
from ui.render import flash, render

router = APIRouter(include_in_schema=False)

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


@router.get("/", response_class=HTMLResponse)
async def home(user: PageUser) -> RedirectResponse:
    return RedirectResponse("/admin" if user.is_admin else "/inbox", status_code=303)


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str = "/") -> HTMLResponse:
    return render(request, "login.html", None, next=local_path(next), username="", error=None)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    form = await read_form(request)
    username = form.get("username", "").strip()
    target = after_login(local_path(form.get("next")))
    try:
        user = await auth.authenticate(session, settings, username, form.get("password", ""), now=now_utc())
    except DomainError as e:
        return render(
            request, "login.html", None, status=status_for(e), next=target, username=username, error=e.message
        )
    sid = await login_sessions.start(session, user.id, max_age=settings.session_max_age)
    await session.commit()
    request.session.clear()
    request.session["sid"] = sid
    csrf_token(request)  # a fresh token for the new session
    return RedirectResponse(target, status_code=303)


@router.get("/account", response_class=HTMLResponse)
async def account(request: Request, user: PageUser) -> HTMLResponse:
    return render(request, "account.html", user, error=None)


@router.post("/account/password", response_class=HTMLResponse)
async def change_password(request: Request, user: PageUser, session: SessionDep, settings: SettingsDep) -> Response:
    form = await read_form(request)
    row = await session.get(User, user.user_id)
    assert row is not None  # page_principal has just loaded it
    try:
        await auth.change_password(
            session, row, current=form.get("current", ""), new=form.get("new", ""), confirm=form.get("confirm", "")
        )
    except DomainError as e:
        return render(request, "account.html", user, status=status_for(e), error=e)
    # Every login of the user has ended (api/auth.change_password); this one goes on under a new id.
    request.session["sid"] = await login_sessions.start(session, row.id, max_age=settings.session_max_age)
    await session.commit()
    flash(request, "密码已修改；其他设备上的登录已失效")
    return RedirectResponse("/account", status_code=303)


@router.post("/logout")
async def logout(request: Request, session: SessionDep) -> RedirectResponse:
    await read_form(request)
    await login_sessions.end(session, request.session.get("sid"))
    await session.commit()
    request.session.clear()
    return RedirectResponse("/login", status_code=303)
