"""外发通知 and 关爱期 (admins): an agency's outbound webhook (the city's message gateway: its address, the
signing secret, which is set but never shown back, on/off, and the recent delivery log), and the city's care
periods (寒暑假、中高考), listed, added and removed. The writes go through the API's own functions."""

from __future__ import annotations

from datetime import date

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from activities.care_periods import care_periods_in_force
from api.admin.service import require_admin
from api.admin.webhooks import recent_deliveries, save_webhook
from api.care_periods.router import save_care_periods
from api.deps import PageUser, SessionDep
from api.errors import status_for
from api.principal import Principal
from db.models import AgencyWebhook
from domain.care_periods import CarePeriod
from domain.errors import DomainError
from ui.admin_agency_pages import _target
from ui.admin_user_pages import _forget
from ui.forms import read_form
from ui.render import flash, render

router = APIRouter(include_in_schema=False)

STATUS_LABELS = {"pending": "未送达（重试中）", "delivered": "已送达"}


# ---------------------------------------------------------------------------- an agency's webhook


async def webhook_page(
    request: Request,
    user: Principal,
    session: AsyncSession,
    agency_id: str,
    *,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    require_admin(user)
    target = await _target(session, user, agency_id)
    hook = await session.get(AgencyWebhook, target.id)
    shown = {"url": hook.url if hook else "", "is_active": "1" if hook is None or hook.is_active else ""}
    return render(
        request,
        "admin_webhook.html",
        user,
        status=status,
        target=target,
        configured=hook is not None,
        active=bool(hook and hook.is_active),
        deliveries=await recent_deliveries(session, target.id),
        status_labels=STATUS_LABELS,
        error=error,
        values=values if values is not None else shown,
    )


@router.get("/admin/agencies/{agency_id}/webhook", response_class=HTMLResponse)
async def webhook(request: Request, agency_id: str, user: PageUser, session: SessionDep) -> HTMLResponse:
    return await webhook_page(request, user, session, agency_id)


@router.post("/admin/agencies/{agency_id}/webhook", response_class=HTMLResponse)
async def set_webhook(request: Request, agency_id: str, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    target = await _target(session, user, agency_id)
    try:
        await save_webhook(
            session,
            user,
            target.id,
            form.get("url", ""),
            form.get("secret") or None,
            is_active=bool(form.get("is_active")),
        )
    except DomainError as e:
        await _forget(session)
        values = {k: v for k, v in form.items() if k not in ("csrf", "secret")}  # the secret is never shown back
        return await webhook_page(request, user, session, agency_id, error=e, values=values, status=status_for(e))
    flash(request, "已保存外发通知设置")
    return RedirectResponse(f"/admin/agencies/{target.id}/webhook", status_code=303)


# ---------------------------------------------------------------------------- the city's care periods


async def care_periods_page(
    request: Request,
    user: Principal,
    session: AsyncSession,
    *,
    error: DomainError | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    require_admin(user)
    periods, defaults = await care_periods_in_force(session)
    return render(
        request,
        "admin_care_periods.html",
        user,
        status=status,
        periods=periods,
        defaults=defaults,
        error=error,
        values=values or {},
    )


@router.get("/admin/care-periods", response_class=HTMLResponse)
async def care_periods(request: Request, user: PageUser, session: SessionDep) -> HTMLResponse:
    return await care_periods_page(request, user, session)


def _day(value: str, field: str, label: str) -> date:
    try:
        return date.fromisoformat(value.strip())
    except ValueError:
        raise DomainError("field_invalid", f"{label}格式应为 YYYY-MM-DD", field=field) from None


@router.post("/admin/care-periods", response_class=HTMLResponse)
async def add_care_period(request: Request, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    require_admin(user)
    periods, _ = await care_periods_in_force(session)
    try:
        new = CarePeriod(
            starts_on=_day(form.get("starts_on", ""), "starts_on", "开始日期"),
            ends_on=_day(form.get("ends_on", ""), "ends_on", "结束日期"),
            label=form.get("label", "").strip()[:32],
        )
        await save_care_periods(session, user, sorted([*periods, new], key=lambda p: (p.starts_on, p.ends_on)))
    except DomainError as e:
        await session.rollback()
        values = {k: v for k, v in form.items() if k != "csrf"}
        return await care_periods_page(request, user, session, error=e, values=values, status=status_for(e))
    flash(request, f"已添加关爱期：{new.label}（{new.starts_on} 至 {new.ends_on}）")
    return RedirectResponse("/admin/care-periods", status_code=303)


@router.post("/admin/care-periods/remove", response_class=HTMLResponse)
async def remove_care_period(request: Request, user: PageUser, session: SessionDep) -> Response:
    """Removes the period the row's form names by its dates and name (not its place in the list, which
    another administrator may have changed meanwhile)."""
    form = await read_form(request)
    require_admin(user)
    periods, _ = await care_periods_in_force(session)
    key = (form.get("starts_on", ""), form.get("ends_on", ""), form.get("label", ""))
    kept = [p for p in periods if (p.starts_on.isoformat(), p.ends_on.isoformat(), p.label) != key]
    if len(kept) == len(periods):
        e = DomainError("not_found", "该关爱期已不存在，请刷新页面")
        return await care_periods_page(request, user, session, error=e, status=status_for(e))
    await save_care_periods(session, user, kept)
    flash(request, f"已删除关爱期：{key[2]}（{key[0]} 至 {key[1]}）")
    return RedirectResponse("/admin/care-periods", status_code=303)


@router.get("/admin/care-periods/remove", response_class=HTMLResponse)
async def remove_by_get(user: PageUser) -> RedirectResponse:
    """A form posted after the session expired comes back here after logging in: show the list instead."""
    require_admin(user)
    return RedirectResponse("/admin/care-periods", status_code=303)
