"""The Chinese pages: server-rendered Jinja2, one router for the app, and the error page every refused
page request ends on."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

from api.errors import status_for
from domain.errors import DomainError
from ui import (
    admin_agency_pages,
    admin_pages,
    admin_user_pages,
    attachment_pages,
    audit_pages,
    auth_pages,
    case_pages,
    child_pages,
    cross_region_pages,
    document_pages,
    help_pages,
    merge_pages,
    outbound_pages,
    packet_pages,
    refresh_pages,
    registry_pages,
    report_pages,
    school_calendar_pages,
    start_pages,
    statistics_pages,
    work_pages,
)
from ui.render import render

router = APIRouter(include_in_schema=False)
# start_pages first: its /cases/new must win over /cases/{case_no}
for module in (
    auth_pages,
    work_pages,
    start_pages,
    case_pages,
    attachment_pages,
    document_pages,
    child_pages,
    merge_pages,
    registry_pages,
    packet_pages,
    report_pages,
    cross_region_pages,
    statistics_pages,
    school_calendar_pages,
    refresh_pages,
    admin_pages,
    admin_user_pages,
    outbound_pages,  # before admin_agency_pages: its /admin/agencies/{id}/webhook over {id}/{action}
    admin_agency_pages,
    audit_pages,
    help_pages,
):
    router.include_router(module.router)

TITLES = {403: "无权操作", 404: "未找到", 409: "操作未执行", 401: "请先登录", 503: "系统暂时无法使用"}


def page_status(exc: DomainError) -> int:
    """The HTTP status of a refusal on a page; an expired form (CSRF) is forbidden."""
    return 403 if exc.code == "csrf" else status_for(exc)


def page_error_response(request: Request, exc: DomainError) -> HTMLResponse:
    status = page_status(exc)
    return render(
        request,
        "error.html",
        getattr(request.state, "principal", None),
        status=status,
        title=TITLES.get(status, "无法完成"),
        message=exc.message,
        code=exc.code,
    )
