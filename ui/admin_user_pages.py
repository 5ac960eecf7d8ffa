"""用户管理 (admins): the list of accounts with its filters and the 新增用户 form, and one account's page
(edit, 停用/启用, 重置密码)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api import login_sessions
from api.admin import users
from api.admin.service import require_admin
from api.deps import PageUser, SessionDep
from api.errors import status_for
from api.principal import Principal
from api.served import served_regions
from db.models import Agency, User
from domain.enums import AGENCY_TYPE_LABELS, ROLE_LABELS, AgencyType, Role
from domain.errors import DomainError
from ui.forms import OptionGroup, county_choices, group_by_county, read_form, to_int
from ui.render import flash, render

router = APIRouter(include_in_schema=False)

PER_PAGE = 50
# What a refused form shows again: everything typed except the token and the passwords.
_NOT_KEPT = {"csrf", "password", "confirm"}


async def _forget(session: AsyncSession) -> None:
    """After a refused change: nothing of it is kept, and the page is drawn from fresh rows (a rolled-back
    row would load its relationships lazily, which an async session cannot)."""
    await session.rollback()
    session.expunge_all()


def _kept(form: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in form.items() if k not in _NOT_KEPT}


def user_filter(params: dict[str, str]) -> users.UserFilter:
    """The list's filters from the query string; anything malformed is ignored rather than refused."""
    region = params.get("region_code")
    kind = params.get("agency_type")
    active = params.get("active")
    return users.UserFilter(
        region_code=region if region and served_regions().serves(region) else None,
        agency_type=kind if kind in AgencyType.__members__ else None,
        agency_id=to_int(params.get("agency_id")),
        active={"1": True, "0": False}.get(active or ""),
        q=(params.get("q") or "").strip()[:64] or None,
        page=max(to_int(params.get("page")) or 1, 1),
        per_page=PER_PAGE,
    )


async def _agency_options(session: AsyncSession) -> list[OptionGroup]:
    """Active agencies grouped by county, for the 新增用户 form."""
    rows = (
        await session.execute(
            select(Agency).where(Agency.is_active.is_(True)).order_by(Agency.region_code, Agency.name)
        )
    ).scalars()
    return group_by_county(rows)


async def users_page(
    request: Request,
    user: Principal,
    session: AsyncSession,
    *,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    require_admin(user)
    params = dict(request.query_params)
    f = user_filter(params)
    page = await users.list_users(session=session, principal=user, f=f)
    pages = max((page.total + page.per_page - 1) // page.per_page, 1)
    keep = {k: v for k, v in params.items() if k != "page" and v}
    filtered_agency = await session.get(Agency, f.agency_id) if f.agency_id is not None else None

    def page_url(n: int) -> str:
        return "/admin/users?" + urlencode({**keep, "page": n})

    home = await users.admin_agency(session)
    return render(
        request,
        "admin_users.html",
        user,
        status=status,
        rows=page.items,
        total=page.total,
        f=f,
        params=params,
        pages=pages,
        page_url=page_url,
        filtered_agency=filtered_agency,
        counties=county_choices(with_city=True),
        agency_types=list(AGENCY_TYPE_LABELS.items()),
        roles=list(ROLE_LABELS.items()),
        agencies=await _agency_options(session),
        admin_agency=home.name if home else "",
        error=error,
        # Reached from an agency's page (单位管理), the form offers that agency.
        values=values
        if values is not None
        else {"role": Role.operator.value, "agency_id": str(f.agency_id) if f.agency_id is not None else ""},
    )


@router.get("/admin/users", response_class=HTMLResponse)
async def user_list(request: Request, user: PageUser, session: SessionDep) -> HTMLResponse:
    return await users_page(request, user, session)


@router.post("/admin/users", response_class=HTMLResponse)
async def create_user(request: Request, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    require_admin(user)
    try:
        if form.get("password", "") != form.get("confirm", ""):
            raise DomainError("field_invalid", "两次输入的密码不一致", field="confirm")
        created = await users.create_user(
            session=session,
            principal=user,
            data=users.UserCreateIn(
                username=form.get("username", ""),
                display_name=form.get("display_name", ""),
                title=form.get("title") or None,
                agency_id=to_int(form.get("agency_id")),
                role=form.get("role", ""),
                password=form.get("password", ""),
            ),
        )
    except DomainError as e:
        await _forget(session)
        return await users_page(request, user, session, error=e, values=_kept(form), status=status_for(e))
    flash(request, f"已新增用户 {created.username}（{created.display_name}，{created.agency.name}）")
    return RedirectResponse(f"/admin/users/{created.id}", status_code=303)


# ---------------------------------------------------------------------------- one account


async def _target(session: AsyncSession, user: Principal, user_id: str) -> User:
    number = to_int(user_id)
    if number is None:
        require_admin(user)
        raise DomainError("user_not_found", "用户不存在")
    return await users.get_user(session=session, principal=user, user_id=number)


async def user_page(
    request: Request,
    user: Principal,
    session: AsyncSession,
    target: User,
    *,
    error: DomainError | None = None,
    form_name: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    home = await users.admin_agency(session)
    return render(
        request,
        "admin_user.html",
        user,
        status=status,
        target=target,
        own=target.id == user.user_id,
        roles=list(ROLE_LABELS.items()),
        admin_agency=home.name if home else "",
        error=error,
        form_name=form_name,
        values=values
        if values is not None
        else {"display_name": target.display_name, "title": target.title or "", "role": target.role},
    )


@router.get("/admin/users/{user_id}", response_class=HTMLResponse)
async def user_detail(request: Request, user_id: str, user: PageUser, session: SessionDep) -> HTMLResponse:
    return await user_page(request, user, session, await _target(session, user, user_id))


@router.post("/admin/users/{user_id}", response_class=HTMLResponse)
async def edit_user(request: Request, user_id: str, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    target = await _target(session, user, user_id)
    try:
        await users.update_user(
            session=session,
            principal=user,
            user_id=target.id,
            data=users.UserUpdateIn(
                display_name=form.get("display_name", ""), title=form.get("title", ""), role=form.get("role", "")
            ),
        )
    except DomainError as e:
        await _forget(session)
        target = await _target(session, user, user_id)
        return await user_page(
            request, user, session, target, error=e, form_name="edit", values=_kept(form), status=status_for(e)
        )
    flash(request, "已保存")
    return RedirectResponse(f"/admin/users/{target.id}", status_code=303)


@router.post("/admin/users/{user_id}/active", response_class=HTMLResponse)
async def set_active(request: Request, user_id: str, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    target = await _target(session, user, user_id)
    active = form.get("active") == "1"
    try:
        await users.update_user(
            session=session, principal=user, user_id=target.id, data=users.UserUpdateIn(is_active=active)
        )
    except DomainError as e:
        await _forget(session)
        target = await _target(session, user, user_id)
        return await user_page(request, user, session, target, error=e, form_name="active", status=status_for(e))
    flash(request, f"已启用 {target.username}" if active else f"已停用 {target.username}，其登录和访问令牌即时失效")
    return RedirectResponse(f"/admin/users/{target.id}", status_code=303)


@router.post("/admin/users/{user_id}/password", response_class=HTMLResponse)
async def reset_password(request: Request, user_id: str, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    target = await _target(session, user, user_id)
    try:
        if form.get("password", "") != form.get("confirm", ""):
            raise DomainError("field_invalid", "两次输入的密码不一致", field="confirm")
        await users.reset_password(
            session=session, principal=user, user_id=target.id, password=form.get("password", "")
        )
    except DomainError as e:
        await _forget(session)
        target = await _target(session, user, user_id)
        return await user_page(request, user, session, target, error=e, form_name="password", status=status_for(e))
    if target.id == user.user_id:
        # An admin resetting their own password stays logged in here; their other sessions end.
        request.session["sid"] = await login_sessions.start(
            session, target.id, max_age=request.app.state.settings.session_max_age
        )
        await session.commit()
    flash(request, f"已重置 {target.username} 的密码；该用户已登录的页面需重新登录")
    return RedirectResponse(f"/admin/users/{target.id}", status_code=303)


@router.get("/admin/users/{user_id}/{action}", response_class=HTMLResponse)
async def post_only_by_get(user_id: str, action: str, user: PageUser) -> RedirectResponse:
    """A form posted after the session expired comes back here after logging in (ui/auth_pages.after_login
    keeps its address): show the account's page instead of "method not allowed"."""
    require_admin(user)
    number = to_int(user_id)
    if action not in ("active", "password") or number is None:
        raise DomainError("not_found", "页面不存在")
    return RedirectResponse(f"/admin/users/{number}", status_code=303)
