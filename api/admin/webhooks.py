"""/api/v1/admin/agencies/{agency_id}/webhook: where an agency's hour-level notifications are also sent (the
city's message gateway) and the secret that signs them (activities/outbound.py). Set by an administrator;
the secret is never read back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.service import require_admin
from api.answer import Answer
from api.audit import audit
from api.deps import ApiUser, SessionDep
from api.principal import Principal
from db.models import Agency, AgencyWebhook, Case, OutboundDelivery
from domain.errors import DomainError

router = APIRouter(prefix="/admin", tags=["admin"])
MIN_SECRET = 16


class WebhookIn(BaseModel):
    url: str = Field(max_length=512, description="http(s) address of the message gateway")
    secret: str = Field(max_length=256, description=f"at least {MIN_SECRET} characters; signs each message")
    is_active: bool = True


class WebhookOut(Answer):
    agency_id: int
    configured: bool
    url: str | None
    is_active: bool
    pending: int = Field(description="messages not delivered yet")
    delivered: int


async def _agency(session: AsyncSession, agency_id: int) -> Agency:
    agency = await session.get(Agency, agency_id)
    if agency is None:
        raise DomainError("agency_not_found", "单位不存在")
    return agency


async def _answer(session: AsyncSession, agency_id: int) -> dict[str, Any]:
    hook = await session.get(AgencyWebhook, agency_id)
    counts = dict(
        (
            await session.execute(
                select(OutboundDelivery.status, func.count())
                .where(OutboundDelivery.agency_id == agency_id)
                .group_by(OutboundDelivery.status)
            )
        ).all()
    )
    return {
        "agency_id": agency_id,
        "configured": hook is not None,
        "url": hook.url if hook else None,
        "is_active": bool(hook and hook.is_active),
        "pending": counts.get("pending", 0),
        "delivered": counts.get("delivered", 0),
    }


@router.get("/agencies/{agency_id}/webhook", summary="An agency's outbound webhook", response_model=WebhookOut)
async def read_webhook(agency_id: int, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    require_admin(principal)
    await _agency(session, agency_id)
    return await _answer(session, agency_id)


@router.put("/agencies/{agency_id}/webhook", summary="Set an agency's outbound webhook", response_model=WebhookOut)
async def set_webhook(agency_id: int, data: WebhookIn, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    await save_webhook(session, principal, agency_id, data.url, data.secret, is_active=data.is_active)
    return await _answer(session, agency_id)


async def save_webhook(
    session: AsyncSession, principal: Principal, agency_id: int, url: str, secret: str | None, *, is_active: bool
) -> None:
    """Sets the agency's webhook (the API and the 外发通知 page). `secret` None or empty keeps the one set
    before (the page never shows it, so a clerk changing the address need not type it again)."""
    require_admin(principal)
    await _agency(session, agency_id)
    url = url.strip()
    if not url.startswith(("https://", "http://")) or len(url) < 12:
        raise DomainError("field_invalid", "请填写以 https:// 开头的消息网关地址", field="url")
    hook = await session.get(AgencyWebhook, agency_id)
    if not secret and hook is not None:
        secret = hook.secret
    if not secret or len(secret) < MIN_SECRET:
        raise DomainError("field_invalid", f"签名密钥至少{MIN_SECRET}个字符", field="secret")
    if hook is None:
        session.add(AgencyWebhook(agency_id=agency_id, url=url, secret=secret, is_active=is_active))
    else:
        hook.url, hook.secret, hook.is_active = url, secret, is_active
    audit(session, principal, "set_webhook", detail=f"agency {agency_id}")
    await session.commit()


class DeliveryRow(BaseModel):
    """One line of the delivery log as the page shows it: no message body (it is the gateway's)."""

    case_no: str
    kind: str
    status: str
    attempts: int
    last_error: str | None
    created_at: datetime
    delivered_at: datetime | None


async def recent_deliveries(session: AsyncSession, agency_id: int, limit: int = 50) -> list[DeliveryRow]:
    rows = await session.execute(
        select(OutboundDelivery, Case.case_no)
        .join(Case, Case.id == OutboundDelivery.case_id)
        .where(OutboundDelivery.agency_id == agency_id)
        .order_by(OutboundDelivery.id.desc())
        .limit(limit)
    )
    return [
        DeliveryRow(
            case_no=case_no,
            kind=str(d.body.get("kind") or ""),
            status=d.status,
            attempts=d.attempts,
            last_error=d.last_error,
            created_at=d.created_at,
            delivered_at=d.delivered_at,
        )
        for d, case_no in rows.all()
    ]
