"""A person's inbox: what was addressed to their agency (or to its supervisors, if they are one) and what
was addressed to them in person; read or unread for each person separately."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, and_, exists, func, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from api.principal import Principal
from db.models import Case, Notification, NotificationRead
from domain.errors import DomainError


@dataclass(frozen=True)
class InboxEntry:
    id: int
    case_no: str | None  # None: about a county's registry refresh, not a case
    kind: str
    title: str
    created_at: datetime
    personal: bool
    read: bool
    settled: bool  # about a step that is done or moved on: shown as 已办结, never unread


def addressed_to(p: Principal) -> ColumnElement[bool]:
    """The notifications this principal may see: their agency's, for everyone or for their role, and
    those addressed to them; an integration (no user) sees only the agency-wide ones."""
    person = Notification.user_id.is_(None)
    if p.user_id is not None:
        # Told both as one of the agency and in person (an urge to the officer on the step): show it once.
        mine = aliased(Notification)
        in_person = exists().where(
            mine.case_id == Notification.case_id,
            mine.seq == Notification.seq,
            mine.kind == Notification.kind,
            mine.user_id == p.user_id,
        )
        person = or_(and_(person, ~in_person), Notification.user_id == p.user_id)
    return and_(
        Notification.agency_id == p.agency.id,
        or_(Notification.role == "", Notification.role == p.role.value),
        person,
    )


def _is_read(p: Principal) -> ColumnElement[bool]:
    """Read by this person, or settled for everyone (activities/projection.py `CASE_SQL`)."""
    settled = Notification.settled_at.is_not(None)
    if p.user_id is None:
        return settled
    return or_(
        settled,
        exists().where(NotificationRead.notification_id == Notification.id, NotificationRead.user_id == p.user_id),
    )


async def inbox(
    session: AsyncSession, p: Principal, *, unread_only: bool = False, limit: int = 50, before_id: int | None = None
) -> list[InboxEntry]:
    """Newest first; `before_id` pages back."""
    read = _is_read(p)
    stmt = (
        select(Notification, Case.case_no, read.label("read"))
        .outerjoin(Case, Case.id == Notification.case_id)
        .where(addressed_to(p))
        .order_by(Notification.id.desc())
        .limit(min(max(limit, 1), 200))
    )
    if unread_only:
        stmt = stmt.where(~read)
    if before_id is not None:
        stmt = stmt.where(Notification.id < before_id)
    return [
        InboxEntry(
            id=n.id,
            case_no=case_no,
            kind=n.kind,
            title=n.title,
            created_at=n.created_at,
            personal=n.user_id is not None,
            read=bool(is_read),
            settled=n.settled_at is not None,
        )
        for n, case_no, is_read in await session.execute(stmt)
    ]


async def unread_count(session: AsyncSession, p: Principal) -> int:
    if p.user_id is None:
        return 0
    stmt = select(func.count()).select_from(Notification).where(addressed_to(p), ~_is_read(p))
    return int((await session.execute(stmt)).scalar_one())


async def mark_read(
    session: AsyncSession,
    p: Principal,
    *,
    ids: list[int] | None = None,
    case_no: str | None = None,
    everything: bool = False,
) -> int:
    """Marks the given notifications (or those of one case, or all) read for this person; returns how many
    were newly marked. An id that is not in this person's inbox is refused, and nothing is marked."""
    if p.user_id is None:
        raise DomainError("no_personal_inbox", "集成令牌没有个人收件箱，无法标记已读")
    stmt = select(Notification.id).where(addressed_to(p), ~_is_read(p))
    if ids is not None:
        wanted = set(ids)
        if not wanted:
            raise DomainError("invalid", "请指定要标为已读的通知", field="ids")
        visible = set(
            (await session.execute(select(Notification.id).where(addressed_to(p), Notification.id.in_(wanted))))
            .scalars()
            .all()
        )
        missing = sorted(wanted - visible)
        if missing:
            raise DomainError("not_found", f"通知不存在或不属于您：{', '.join(map(str, missing))}", field="ids")
        stmt = stmt.where(Notification.id.in_(wanted))
    elif case_no is not None:
        stmt = stmt.join(Case, Case.id == Notification.case_id).where(Case.case_no == case_no)
    elif not everything:
        raise DomainError("invalid", "请指定要标为已读的通知", field="ids")
    to_mark = list((await session.execute(stmt)).scalars())
    if to_mark:
        await session.execute(
            insert(NotificationRead)
            .values([{"notification_id": i, "user_id": p.user_id} for i in to_mark])
            .on_conflict_do_nothing()
        )
    return len(to_mark)
