"""单位管理 (admins): the list of agencies with its filters, the 新增单位 form and the xlsx/CSV 导入, and one agency's
page (edit, 停用/启用, its users)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from api.admin import agencies
from api.admin.service import require_admin
from api.audit import audit
from api.deps import PageUser, SessionDep, check_csrf
from api.errors import status_for
from api.principal import Principal
from api.served import served_regions
from api.spreadsheet import Export, Format, export_response, parse_format
from db.documents import derived_short_name
from db.models import Agency
from db.seed import ADMIN_AGENCY_CODE
from domain.enums import AGENCY_TYPE_LABELS, AgencyType
from domain.errors import DomainError
from ui.admin_user_pages import _forget
from ui.forms import county_choices, read_form, to_int
from ui.render import flash, render

router = APIRouter(include_in_schema=False)

PER_PAGE = 50


def agency_filter(params: dict[str, str], per_page: int = PER_PAGE) -> agencies.AgencyFilter:
    """The list's filters from the query string; anything malformed is ignored rather than refused."""
    region = params.get("region_code")
    kind = params.get("agency_type")
    return agencies.AgencyFilter(
        region_code=region if region and served_regions().serves(region) else None,
        agency_type=kind if kind in AgencyType.__members__ else None,
        active={"1": True, "0": False}.get(params.get("active") or ""),
        q=(params.get("q") or "").strip()[:64] or None,
        page=max(to_int(params.get("page")) or 1, 1),
        per_page=per_page,
    )


async def agencies_page(
    request: Request,
    user: Principal,
    session: AsyncSession,
    *,
    error: DomainError | None = None,
    import_error: DomainError | None = None,
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    require_admin(user)
    params = dict(request.query_params)
    f = agency_filter(params)
    page = await agencies.list_agencies(session=session, principal=user, f=f)
    pages = max((page.total + page.per_page - 1) // page.per_page, 1)
    keep = {k: v for k, v in params.items() if k != "page" and v}

    def page_url(n: int) -> str:
        return "/admin/agencies?" + urlencode({**keep, "page": n})

    return render(
        request,
        "admin_agencies.html",
        user,
        status=status,
        rows=page.items,
        total=page.total,
        user_counts=await agencies.user_counts(session, [a.id for a in page.items]),
        f=f,
        params=params,
        pages=pages,
        page_url=page_url,
        export_url="/admin/agencies/export" + ("?" + urlencode(keep) if keep else ""),
        counties=county_choices(with_city=True),
        agency_types=list(AGENCY_TYPE_LABELS.items()),
        townships=await agencies.township_names(session),
        header=",".join(agencies.IMPORT_HEADER),
        max_rows=agencies.IMPORT_MAX_ROWS,
        error=error,
        import_error=import_error,
        import_rows=getattr(import_error, "rows", None),
        values=values if values is not None else {},
    )


@router.get("/admin/agencies", response_class=HTMLResponse)
async def agency_list(request: Request, user: PageUser, session: SessionDep) -> HTMLResponse:
    return await agencies_page(request, user, session)


@router.post("/admin/agencies", response_class=HTMLResponse)
async def create_agency(request: Request, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    require_admin(user)
    try:
        created = await agencies.create_agency(
            session=session,
            principal=user,
            data=agencies.AgencyCreateIn(
                code=form.get("code", ""),
                name=form.get("name", ""),
                agency_type=form.get("agency_type", ""),
                region_code=form.get("region_code", ""),
                township=form.get("township") or None,
            ),
        )
    except DomainError as e:
        await _forget(session)
        values = {k: v for k, v in form.items() if k != "csrf"}
        return await agencies_page(request, user, session, error=e, values=values, status=status_for(e))
    flash(request, f"已新增单位 {created.name}（{created.code}）")
    return RedirectResponse(f"/admin/agencies/{created.id}", status_code=303)


@router.post("/admin/agencies/import", response_class=HTMLResponse)
async def import_agencies(request: Request, user: PageUser, session: SessionDep) -> Response:
    # A file upload: ui/forms.read_form keeps string fields only, so the form is read (and its token checked) here.
    form = await request.form()
    token = form.get("csrf")
    check_csrf(request, token if isinstance(token, str) else None)
    require_admin(user)
    upload = form.get("file")
    dry_run = form.get("dry_run") == "on"
    try:
        if not isinstance(upload, UploadFile) or not upload.filename:
            raise DomainError("field_required", "请选择要导入的Excel（xlsx）或CSV文件", field="file")
        data = await upload.read(agencies.IMPORT_MAX_BYTES + 1)
        result = await agencies.import_agencies(session, user, agencies.decode_upload(data), dry_run=dry_run)
    except DomainError as e:
        await _forget(session)
        return await agencies_page(request, user, session, import_error=e, status=status_for(e))
    finally:
        await form.close()
    counts = f"新增{result.created}个，更新{result.updated}个，未变{result.unchanged}个"
    if result.moved:
        counts += f"；另有{result.moved}个单位随乡镇（街道）更名"
    flash(request, f"检查通过，尚未导入：将{counts}" if dry_run else f"已导入{upload.filename}：{counts}")
    return RedirectResponse("/admin/agencies", status_code=303)


@router.get("/admin/agencies/export")
async def export_agencies(request: Request, user: PageUser, session: SessionDep, format: str = "") -> Response:
    """The filtered list in the import's format (xlsx; CSV with `?format=csv`): edited in Excel and imported
    again, it renames and adds."""
    return await _export(request, user, session, parse_format(format))


@router.get("/admin/agencies/export.csv")
async def export_agencies_csv(request: Request, user: PageUser, session: SessionDep) -> Response:
    """The same list as CSV, for scripts."""
    return await _export(request, user, session, Format.csv)


async def _export(request: Request, user: Principal, session: AsyncSession, fmt: Format) -> Response:
    params = {k: v for k, v in request.query_params.items() if k != "format"}
    rows = await agencies.all_matching(session=session, principal=user, f=agency_filter(params))
    audit(session, user, "agency_export", detail=f"{len(rows)} agencies")
    await session.commit()
    return export_response(Export(agencies.agencies_table(rows), "单位"), fmt)


@router.get("/admin/agencies/import", response_class=HTMLResponse)
async def import_by_get(user: PageUser) -> RedirectResponse:
    """A file posted after the session expired comes back here after logging in: show the list instead."""
    require_admin(user)
    return RedirectResponse("/admin/agencies", status_code=303)


# ---------------------------------------------------------------------------- one agency


async def _target(session: AsyncSession, user: Principal, agency_id: str) -> Agency:
    number = to_int(agency_id)
    if number is None:
        require_admin(user)
        raise DomainError("agency_not_found", "单位不存在")
    return await agencies.get_agency(session=session, principal=user, agency_id=number)


async def agency_page(
    request: Request,
    user: Principal,
    session: AsyncSession,
    target: Agency,
    *,
    error: DomainError | None = None,
    form_name: str = "",
    values: dict[str, str] | None = None,
    status: int = 200,
) -> HTMLResponse:
    members = await agencies.agency_users(session, target.id)
    return render(
        request,
        "admin_agency.html",
        user,
        status=status,
        target=target,
        members=members,
        active_members=sum(1 for u in members if u.is_active),
        open_steps=await agencies.open_steps(session, target.id),
        open_cases=await agencies.open_cases(session, target.id),
        protected=target.code == ADMIN_AGENCY_CODE,
        needs_township=AgencyType(target.agency_type) in agencies.NEEDS_TOWNSHIP,
        townships=await agencies.township_names(session),
        error=error,
        form_name=form_name,
        values=values
        if values is not None
        else {"name": target.name, "township": target.township or "", "short_name": target.short_name or ""},
        derived_short_name=derived_short_name(target),
    )


@router.get("/admin/agencies/{agency_id}", response_class=HTMLResponse)
async def agency_detail(request: Request, agency_id: str, user: PageUser, session: SessionDep) -> HTMLResponse:
    return await agency_page(request, user, session, await _target(session, user, agency_id))


@router.post("/admin/agencies/{agency_id}", response_class=HTMLResponse)
async def edit_agency(request: Request, agency_id: str, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    target = await _target(session, user, agency_id)
    try:
        changed = await agencies.update_agency(
            session=session,
            principal=user,
            agency_id=target.id,
            data=agencies.AgencyUpdateIn(
                name=form.get("name", ""), township=form.get("township", ""), short_name=form.get("short_name", "")
            ),
        )
    except DomainError as e:
        await _forget(session)
        target = await _target(session, user, agency_id)
        values = {k: v for k, v in form.items() if k != "csrf"}
        return await agency_page(
            request, user, session, target, error=e, form_name="edit", values=values, status=status_for(e)
        )
    flash(request, f"已保存；{changed.moved}个单位随之改到新的乡镇（街道）名称" if changed.moved else "已保存")
    return RedirectResponse(f"/admin/agencies/{target.id}", status_code=303)


@router.post("/admin/agencies/{agency_id}/active", response_class=HTMLResponse)
async def set_active(request: Request, agency_id: str, user: PageUser, session: SessionDep) -> Response:
    form = await read_form(request)
    target = await _target(session, user, agency_id)
    active = form.get("active") == "1"
    try:
        await agencies.update_agency(
            session=session, principal=user, agency_id=target.id, data=agencies.AgencyUpdateIn(is_active=active)
        )
    except DomainError as e:
        await _forget(session)
        target = await _target(session, user, agency_id)
        return await agency_page(request, user, session, target, error=e, form_name="active", status=status_for(e))
    flash(request, f"已启用 {target.name}" if active else f"已停用 {target.name}，案件不再转交该单位")
    return RedirectResponse(f"/admin/agencies/{target.id}", status_code=303)


@router.get("/admin/agencies/{agency_id}/{action}", response_class=HTMLResponse)
async def post_only_by_get(agency_id: str, action: str, user: PageUser) -> RedirectResponse:
    """A form posted after the session expired comes back here after logging in (ui/auth_pages.after_login
    keeps its address): show the agency's page instead of "method not allowed"."""
    require_admin(user)
    number = to_int(agency_id)
    if action != "active" or number is None:
        raise DomainError("not_found", "页面不存在")
    return RedirectResponse(f"/admin/agencies/{number}", status_code=303)
