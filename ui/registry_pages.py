"""儿童台账 pages: the list of children with its filters and export; 台账导入 (upload a source's list, a progress
bar while it is checked, the change set to review and apply); 台账提示 (cases the registry proposes)."""

from __future__ import annotations

from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, BackgroundTasks, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.datastructures import UploadFile

from api.audit import audit
from api.deps import ClientDep, PageUser, SessionDep, SettingsDep, check_csrf
from api.errors import status_for
from api.principal import Principal
from api.registry import applying, checking, listing, proposals
from api.registry.follow_through import follow_through
from api.registry.router import change_json
from api.registry.service import (
    check_in_background,
    import_json,
    list_imports,
    load_import,
    start_import,
    template_export,
)
from api.spreadsheet import export_response, parse_format
from db.models import Child, ChildSource, RegistryChange
from domain.errors import DomainError
from domain.processes import PROCESSES
from domain.registry import (
    KEY_CATEGORY_LABELS,
    PROPOSAL_LABELS,
    SOURCE_LABELS,
    TEMPLATES,
    TRACKED_FIELDS,
    KeyCategory,
    ProposalKind,
    Source,
)
from ui.forms import read_form, to_int
from ui.render import flash, render

router = APIRouter(include_in_schema=False)
PER_PAGE = 50
KIND_LABELS = {
    "new": "新增",
    "left": "离开（本次名单中没有）",
    "moved": "迁入本县（区）",
    "changed": "信息变更",
    "flagged": "新标记重点对象",
    "candidate": "疑似同一儿童（无身份证号，待确认）",
}
STATUS_LABELS = {"pending": "待应用", "applied": "已应用", "rejected": "已否定"}
IMPORT_STATUS = {
    "checking": "检查中",
    "invalid": "有错误，未导入",
    "ready": "待审核",
    "partial": "部分已应用",
    "applied": "已应用",
}
FIELD_LABELS = {**TRACKED_FIELDS, "residence_region": "居住县（区）", "flags": "重点情形"}


def _filter(params: dict[str, str]) -> listing.RegistryFilter:
    """The list's filters from the query string; anything malformed is left out rather than refused."""

    def day(name: str) -> date | None:
        try:
            return date.fromisoformat(params.get(name) or "")
        except ValueError:
            return None

    category = params.get("category") or ""
    return listing.RegistryFilter(
        county=(params.get("county") or None),
        township=(params.get("township") or "").strip()[:64] or None,
        school=(params.get("school") or "").strip()[:128] or None,
        key_child={"1": True, "0": False}.get(params.get("key_child") or ""),
        category=KeyCategory(category) if category in KeyCategory.__members__ else None,
        migrant_since_from=day("migrant_since_from"),
        refreshed_before=day("refreshed_before"),
        q=(params.get("q") or "").strip()[:64] or None,
    )


@router.get("/registry", response_class=HTMLResponse)
async def registry_page(request: Request, user: PageUser, session: SessionDep) -> HTMLResponse:
    params = dict(request.query_params)
    f = _filter(params)
    page = max(to_int(params.get("page")) or 1, 1)
    rows, total = await listing.list_children(session, user, f, limit=PER_PAGE, offset=(page - 1) * PER_PAGE)
    keep = {k: v for k, v in params.items() if k != "page" and v}

    def page_url(n: int) -> str:
        return "/registry?" + urlencode({**keep, "page": n})

    return render(
        request,
        "registry.html",
        user,
        rows=rows,
        total=total,
        params=params,
        page=page,
        pages=max((total + PER_PAGE - 1) // PER_PAGE, 1),
        page_url=page_url,
        counties=listing.area(user),
        categories=list(KEY_CATEGORY_LABELS.items()),
        category_labels={k.value: v for k, v in KEY_CATEGORY_LABELS.items()},
        source_labels={k.value: v for k, v in SOURCE_LABELS.items()},
        export_url="/registry/export?" + urlencode(keep),
        may_import=_may_import(user),
    )


def _may_import(user: Principal) -> bool:
    try:
        checking.require_clerk(user, None)
    except DomainError:
        return False
    return True


@router.get("/registry/export")
async def registry_export(request: Request, user: PageUser, session: SessionDep, format: str = "") -> Response:
    fmt = parse_format(format)
    out = await listing.export(session, user, _filter(dict(request.query_params)))
    audit(session, user, "registry_export", detail=f"{len(out.table.rows)} children")
    await session.commit()
    return export_response(out, fmt)


@router.get("/registry/templates/{source}")
async def template(source: str, user: PageUser, format: str = "") -> Response:
    return export_response(template_export(checking.parse_source(source)), parse_format(format))


async def imports_page(
    request: Request, user: Principal, session: AsyncSession, *, error: DomainError | None = None, status: int = 200
) -> HTMLResponse:
    return render(
        request,
        "registry_imports.html",
        user,
        status=status,
        error=error,
        imports=[(i, await import_json(session, i)) for i in await list_imports(session, user)],
        sources=[(s.value, SOURCE_LABELS[s], TEMPLATES[s]) for s in Source],
        import_status=IMPORT_STATUS,
    )


@router.get("/registry/imports", response_class=HTMLResponse)
async def imports(request: Request, user: PageUser, session: SessionDep) -> HTMLResponse:
    checking.require_clerk(user, None)
    return await imports_page(request, user, session)


@router.post("/registry/imports", response_class=HTMLResponse)
async def upload(request: Request, user: PageUser, session: SessionDep, background: BackgroundTasks) -> Response:
    # A file upload: the form is read (and its token checked) here, as ui/admin_agency_pages.py does.
    form = await request.form()
    token = form.get("csrf")
    check_csrf(request, token if isinstance(token, str) else None)
    file = form.get("file")
    source = form.get("source")
    try:
        if not isinstance(file, UploadFile) or not file.filename:
            raise DomainError("field_required", "请选择要导入的Excel（xlsx）或CSV文件", field="file")
        imp, lines, earlier = await start_import(
            session,
            user,
            source=source if isinstance(source, str) else "",
            county=None,
            data=await file.read(),
            filename=file.filename,
        )
    except DomainError as e:
        await session.rollback()
        return await imports_page(request, user, session, error=e, status=status_for(e))
    finally:
        await form.close()
    audit(session, user, "registry_import", detail=f"import {imp.id}: {imp.source}")
    await session.commit()
    if earlier:
        flash(request, "该文件此前已导入，以下是那次导入的结果")
    else:
        # Checked after the answer: the page polls its progress (a 10,000-row list takes seconds).
        background.add_task(check_in_background, request.app.state.session_factory, imp.id, lines)
    return RedirectResponse(f"/registry/imports/{imp.id}", status_code=303)


@router.get("/registry/imports/{import_id}", response_class=HTMLResponse)
async def import_page(
    request: Request, import_id: int, user: PageUser, session: SessionDep, kind: str = "", page: int = 1
) -> HTMLResponse:
    imp = await load_import(session, user, import_id)
    summary = await import_json(session, imp)
    page = max(min(page, 100_000), 1)
    q = select(RegistryChange, Child.name).outerjoin(Child, Child.id == RegistryChange.child_id)
    q = q.where(RegistryChange.import_id == imp.id)
    if kind in KIND_LABELS:
        q = q.where(RegistryChange.kind == kind)
    rows = (
        await session.execute(q.order_by(RegistryChange.id).limit(PER_PAGE * 4).offset((page - 1) * PER_PAGE * 4))
    ).all()
    total = sum(sum(v.values()) for k, v in summary["counts"].items() if not kind or k == kind)
    return render(
        request,
        "registry_import.html",
        user,
        imp=summary,
        changes=[change_json(imp, c, name) for c, name in rows],
        kind=kind,
        page=page,
        pages=max((total + PER_PAGE * 4 - 1) // (PER_PAGE * 4), 1),
        kind_labels=KIND_LABELS,
        status_labels=STATUS_LABELS,
        import_status=IMPORT_STATUS,
        field_labels=FIELD_LABELS,
        category_labels={k.value: v for k, v in KEY_CATEGORY_LABELS.items()},
    )


@router.post("/registry/imports/{import_id}/apply", response_class=HTMLResponse)
async def apply(
    request: Request, import_id: int, user: PageUser, session: SessionDep, client: ClientDep, settings: SettingsDep
) -> Response:
    form = await read_form(request)
    raw = await request.form()
    chosen = [to_int(v) for v in raw.getlist("change") if isinstance(v, str)]
    confirm = [to_int(k.removeprefix("decide_")) for k, v in form.items() if k.startswith("decide_") and v == "confirm"]
    reject = [to_int(k.removeprefix("decide_")) for k, v in form.items() if k.startswith("decide_") and v == "reject"]
    data = applying.ApplyIn(
        change_ids=[] if form.get("all") else [i for i in chosen if i],
        confirm=[i for i in confirm if i],
        reject=[i for i in reject if i],
    )
    if not form.get("all") and not (data.change_ids or data.confirm or data.reject):
        flash(request, "请勾选要应用的变更，或确认/否定候选项")
        return RedirectResponse(f"/registry/imports/{import_id}", status_code=303)
    try:
        done = await applying.apply_changes(session=session, principal=user, import_id=import_id, data=data)
    except DomainError as e:
        await session.rollback()
        flash(request, f"未应用：{e.message}")
        return RedirectResponse(f"/registry/imports/{import_id}", status_code=303)
    started = await follow_through(
        session=session, client=client, task_queue=settings.task_queue, principal=user, done=done
    )
    text = "、".join(f"{KIND_LABELS[k].split('（')[0]}{n}项" for k, n in done.applied.items()) or "无"
    extra = f"；新建儿童档案{done.children_created}份" if done.children_created else ""
    extra += f"；为重点对象开立关爱服务案件{started}件" if started else ""
    flash(request, f"已应用：{text}{extra}" + (f"；提出台账提示{done.proposals}条" if done.proposals else ""))
    return RedirectResponse(f"/registry/imports/{import_id}", status_code=303)


@router.get("/registry/proposals", response_class=HTMLResponse)
async def proposals_page(request: Request, user: PageUser, session: SessionDep) -> HTMLResponse:
    items = await proposals.list_proposals(session, user)
    return render(
        request,
        "registry_proposals.html",
        user,
        items=[
            {
                "id": p.id,
                "kind": PROPOSAL_LABELS[ProposalKind(p.kind)],
                "process": PROCESSES[p.process],
                "child": c,
                "facts": p.facts,
                "created_at": p.created_at,
            }
            for p, c in items
        ],
    )


@router.post("/registry/proposals/{proposal_id}/reject", response_class=HTMLResponse)
async def reject(request: Request, proposal_id: int, user: PageUser, session: SessionDep) -> Response:
    await read_form(request)
    await proposals.reject(session=session, principal=user, proposal_id=proposal_id)
    flash(request, "已否定该提示，未立案")
    return RedirectResponse("/registry/proposals", status_code=303)


async def child_registry(session: AsyncSession, child: Child) -> dict[str, Any]:
    """What the one-person-one-file page shows of the registry: the flags, which lists name the child, and
    where each field came from."""
    sources = (
        await session.execute(select(ChildSource).where(ChildSource.child_id == child.id).order_by(ChildSource.source))
    ).scalars()
    return {
        "sources": list(sources),
        "flags": [
            (KEY_CATEGORY_LABELS.get(KeyCategory(k), k), v)
            for k, v in child.key_flags.items()
            if k in KeyCategory.__members__
        ],
        "provenance": [(FIELD_LABELS.get(k, k), v) for k, v in child.provenance.items()],
        "facts": [(FIELD_LABELS.get(k, k), v) for k, v in child.registry_facts.items()],
        "source_labels": {k.value: v for k, v in SOURCE_LABELS.items()},
    }
