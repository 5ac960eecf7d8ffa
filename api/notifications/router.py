"""/api/v1/notifications: the caller's inbox, and marking it read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from api.answer import Answer, Timestamp
from api.deps import ApiUser, SessionDep
from api.notifications import service

router = APIRouter(prefix="/notifications", tags=["work"])


class Entry(Answer):
    id: int
    case_no: str | None = Field(description="the case it is about; null for a county's registry refresh")
    kind: str
    title: str
    created_at: Timestamp
    personal: bool = Field(description="for the caller in person (else for their agency or its supervisors)")
    read: bool
    settled: bool = Field(description="about a step that is done or moved on (已办结)")


class NotificationInbox(Answer):
    items: list[Entry]
    unread: int


class Marked(Answer):
    marked: int
    unread: int


def entry_json(e: service.InboxEntry) -> dict[str, Any]:
    return {
        "id": e.id,
        "case_no": e.case_no,
        "kind": e.kind,
        "title": e.title,
        "created_at": e.created_at.isoformat(),
        "personal": e.personal,
        "read": e.read,
        "settled": e.settled,
    }


@router.get(
    "",
    summary="The caller's inbox: their agency's notifications and their own, newest first",
    response_model=NotificationInbox,
)
async def notifications(
    principal: ApiUser, session: SessionDep, limit: int = 50, unread: bool = False, before_id: int | None = None
) -> dict[str, Any]:
    items = await service.inbox(session, principal, unread_only=unread, limit=limit, before_id=before_id)
    return {
        "items": [entry_json(e) for e in items],
        "unread": await service.unread_count(session, principal),
    }


class MarkRead(BaseModel):
    ids: list[int] | None = Field(default=None, max_length=500, description="these notifications")
    case_no: str | None = Field(default=None, max_length=64, description="every notification of this case")
    all: bool = Field(default=False, description="everything in the inbox")


@router.post("/read", summary="Mark notifications read for the caller (ids, a case, or all)", response_model=Marked)
async def mark_read(body: MarkRead, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    marked = await service.mark_read(session, principal, ids=body.ids, case_no=body.case_no, everything=body.all)
    await session.commit()
    return {"marked": marked, "unread": await service.unread_count(session, principal)}
