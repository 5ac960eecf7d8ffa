"""The audit log as its readers see it: who read or changed which case or child, when, filtered by person,
agency, case, child and date. Admins and the city's supervisors read every entry; anyone else reads the entries on
the cases their own agency is a party to (who read our cases), and nothing else. The child of an entry is
shown by its record number only: the log says that a record was read, not whose."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta

from sqlalchemy import ColumnElement, Select, func, or_, select, true
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from api.principal import Principal
from db.models import Agency, ApiToken, AuditEntry, Case, CaseParty, User
from domain.deadlines import SHANGHAI
from domain.errors import DomainError

MAX_EXPORT = 10_000

# What each kind of entry means, in Chinese (an unknown kind shows as recorded).
ACTION_LABELS = {
    "read": "查阅案件",
    "start": "立案",
    "act": "办理",
    "supervise": "督导",
    "read_document": "查阅文书",
    "read_child": "查阅儿童档案",
    "register_child": "登记儿童",
    "update_child": "修改儿童档案",
    "merge_child": "合并儿童档案",
    "find_children": "查找儿童",
    "report": "查看统计",
    "export": "导出",
    "audit_export": "导出审计日志",
    "agency_export": "导出单位列表",
    "policy": "修改期限设置",
    "school_calendar": "修改校历",
    "attach": "上传附件",
    "attach_removed": "删除未引用的附件",
}


@dataclass(frozen=True)
class AuditFilter:
    person: str | None = None  # a username, or part of a display name
    agency: str | None = None  # an agency code, or part of its name
    case_no: str | None = None
    child_id: int | None = None  # a child's record number
    date_from: date | None = None  # local dates, both included
    date_to: date | None = None
    offset: int = 0
    limit: int = 100


@dataclass(frozen=True)
class AuditRow:
    at: datetime
    action: str
    action_label: str
    person: str  # display name (username), or the integration's token name
    agency: str
    case_no: str | None
    child_id: int | None
    detail: str
    channel: str


@dataclass(frozen=True)
class AuditPage:
    rows: list[AuditRow]
    total: int
    sees_all: bool  # admin or city supervisor; otherwise: the entries on the agency's own cases


def sees_all(p: Principal) -> bool:
    return p.is_admin or (p.is_supervisor and p.is_city)


def readable(p: Principal) -> ColumnElement[bool]:
    if sees_all(p):
        return true()
    own_cases = select(Case.case_no).join(CaseParty, CaseParty.case_id == Case.id)
    return AuditEntry.case_no.in_(own_cases.where(CaseParty.agency_id == p.agency.id))


def _filtered(p: Principal, f: AuditFilter) -> Select:
    actor = aliased(Agency)
    q = (
        select(AuditEntry, User.display_name, User.username, actor.name, ApiToken.name)
        .outerjoin(User, User.id == AuditEntry.user_id)
        .outerjoin(actor, actor.id == AuditEntry.agency_id)
        .outerjoin(ApiToken, ApiToken.id == AuditEntry.token_id)
        .where(readable(p))
    )
    if f.person:
        q = q.where(or_(User.username == f.person, User.display_name.contains(f.person, autoescape=True)))
    if f.agency:
        q = q.where(or_(actor.code == f.agency, actor.name.contains(f.agency, autoescape=True)))
    if f.case_no:
        q = q.where(AuditEntry.case_no == f.case_no)
    if f.child_id is not None:
        q = q.where(AuditEntry.child_id == f.child_id)
    if f.date_from and f.date_to and f.date_from > f.date_to:
        raise DomainError("field_invalid", "起始日期不能晚于截止日期", field="date_from")
    if f.date_from:
        q = q.where(AuditEntry.at >= _utc(f.date_from))
    if f.date_to:
        q = q.where(AuditEntry.at < _utc(f.date_to + timedelta(days=1)))
    return q


def _utc(day: date) -> datetime:
    return datetime.combine(day, time(), tzinfo=SHANGHAI).astimezone(UTC)


async def list_entries(*, session: AsyncSession, principal: Principal, f: AuditFilter) -> AuditPage:
    """Newest first; `limit` rows from `offset`, and how many match in all."""
    q = _filtered(principal, f)
    total = (await session.execute(select(func.count()).select_from(q.subquery()))).scalar_one()
    result = await session.execute(
        q.order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).offset(f.offset).limit(f.limit)
    )
    rows = [
        AuditRow(
            at=e.at,
            action=e.action,
            action_label=ACTION_LABELS.get(e.action, e.action),
            person=f"{name}（{username}）" if username else (token or ("系统" if e.channel == "system" else "—")),
            agency=agency or "—",
            case_no=e.case_no,
            child_id=e.child_id,
            detail=e.detail,
            channel=e.channel,
        )
        for e, name, username, agency, token in result
    ]
    return AuditPage(rows, total, sees_all(principal))
