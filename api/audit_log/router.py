"""/api/v1/audit: the audit log, filtered (api/audit_log/service.py says who reads which entries)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import date, datetime
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api.audit_log.links import temporal_url
from api.audit_log.service import AuditFilter, list_entries
from api.deps import ApiUser, SessionDep, SettingsDep

router = APIRouter(prefix="/audit", tags=["audit"])


class AuditEntryPublic(BaseModel):
    at: datetime
    action: str
    action_label: str
    person: str
    agency: str
    case_no: str | None
    child_id: int | None
    detail: str
    channel: str
    temporal_url: str | None = None  # admins: the case's workflow in the Temporal UI


class AuditEntriesPublic(BaseModel):
    items: list[AuditEntryPublic]
    total: int
    scope: str  # all | own_cases


Text = Annotated[str | None, Query(max_length=64)]


@router.get("", response_model=AuditEntriesPublic, summary="Who read or changed which case or child")
async def audit_entries(
    principal: ApiUser,
    session: SessionDep,
    settings: SettingsDep,
    person: Text = None,
    agency: Text = None,
    case_no: Annotated[str | None, Query(max_length=32)] = None,
    child_id: Annotated[int | None, Query(ge=1, le=2_000_000_000)] = None,
    date_from: date | None = None,
    date_to: date | None = None,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> AuditEntriesPublic:
    f = AuditFilter(person, agency, case_no, child_id, date_from, date_to, offset, limit)
    page = await list_entries(session=session, principal=principal, f=f)
    link = principal.is_admin
    return AuditEntriesPublic(
        items=[
            AuditEntryPublic(
                **asdict(r), temporal_url=temporal_url(settings, r.case_no) if link and r.case_no else None
            )
            for r in page.rows
        ],
        total=page.total,
        scope="all" if page.sees_all else "own_cases",
    )
