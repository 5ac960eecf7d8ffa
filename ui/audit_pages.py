"""审计日志: who read or changed which case or child, filtered by person, agency, case and date, and its
export (api/audit_log/service.py says who reads which entries). Admins also get each case's link to its
workflow in the Temporal UI."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from api.audit import audit
from api.audit_log.links import temporal_url
from api.audit_log.service import MAX_EXPORT, AuditFilter, list_entries
from api.deps import PageUser, SessionDep
from api.spreadsheet import Cell, Column, ColumnKind, Export, Table, export_response, parse_format
from domain.errors import DomainError
from ui.forms import to_int
from ui.render import render

router = APIRouter(include_in_schema=False)
PER_PAGE = 100
FILTERS = ("person", "agency", "case_no", "child_id", "date_from", "date_to")


def _date(params: dict[str, str], name: str, label: str) -> date | None:
    value = (params.get(name) or "").strip()
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        raise DomainError("field_invalid", f"“{label}”应为日期（YYYY-MM-DD）", field=name) from None


def _child(params: dict[str, str]) -> int | None:
    value = (params.get("child_id") or "").strip()
    if value and to_int(value) is None:
        raise DomainError("field_invalid", "“儿童档案号”应为整数", field="child_id")
    return to_int(value)


def audit_filter(params: dict[str, str], *, page: int = 1, per_page: int = PER_PAGE) -> AuditFilter:
    def text(name: str, most: int) -> str | None:
        return (params.get(name) or "").strip()[:most] or None

    return AuditFilter(
        person=text("person", 64),
        agency=text("agency", 64),
        case_no=text("case_no", 32),
        child_id=_child(params),
        date_from=_date(params, "date_from", "起始日期"),
        date_to=_date(params, "date_to", "截止日期"),
        offset=(page - 1) * per_page,
        limit=per_page,
    )


@router.get("/audit", response_class=HTMLResponse)
async def audit_page(request: Request, user: PageUser, session: SessionDep) -> HTMLResponse:
    params = dict(request.query_params)
    page_no = max(to_int(params.get("page")) or 1, 1)
    error = None
    try:
        f = audit_filter(params, page=page_no)
    except DomainError as e:
        error, f = e, AuditFilter(limit=PER_PAGE)
    try:
        page = await list_entries(session=session, principal=user, f=f)
    except DomainError as e:
        error, f = e, AuditFilter(limit=PER_PAGE)
        page = await list_entries(session=session, principal=user, f=f)
    settings = request.app.state.settings
    shown = {k: params[k] for k in FILTERS if params.get(k)}
    query = urlencode(shown)
    return render(
        request,
        "audit.html",
        user,
        status=422 if error else 200,
        page=page,
        params=shown,
        error=error,
        page_no=page_no,
        pages=max((page.total + PER_PAGE - 1) // PER_PAGE, 1),
        page_url=lambda n: f"/audit?{urlencode({**shown, 'page': n})}",
        export_url=f"/audit/export?{query}" if query else "/audit/export",
        links={r.case_no: temporal_url(settings, r.case_no) for r in page.rows if r.case_no} if user.is_admin else {},
    )


@router.get("/audit/export")
async def audit_export(
    request: Request, user: PageUser, session: SessionDep, fmt: str | None = Query(None, alias="format")
) -> Response:
    """Every entry the filters match (up to MAX_EXPORT), as a spreadsheet through the shared export."""
    f = audit_filter(dict(request.query_params), per_page=MAX_EXPORT)
    page = await list_entries(session=session, principal=user, f=f)
    columns = (
        Column("时间", 18, ColumnKind.datetime),
        Column("操作", 14),
        Column("人员", 14),
        Column("单位", 30),
        Column("案件编号", 24),
        Column("儿童档案号", 10, ColumnKind.int),
        Column("说明", 30),
        Column("渠道", 8),
    )
    rows: list[Sequence[Cell]] = [
        [r.at, r.action_label, r.person, r.agency, r.case_no or "", r.child_id or "", r.detail, r.channel]
        for r in page.rows
    ]
    fmt_asked = parse_format(fmt)
    audit(session, user, "audit_export", detail=f"{len(rows)} entries")
    await session.commit()
    return export_response(Export(Table(columns, rows, sheet="审计日志"), "审计日志"), fmt_asked)
