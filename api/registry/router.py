"""/api/v1/registry: the import templates, imports (checked, reviewed, applied), the list of children and its
export, a child's key-child flags, and the cases the registry proposes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, BackgroundTasks, Query, Request
from fastapi.responses import JSONResponse, Response
from sqlalchemy import func, select
from starlette.datastructures import UploadFile as StarletteUpload

from api.audit import audit
from api.deps import ApiUser, ClientDep, SessionDep, SettingsDep
from api.registry import answers, applying, checking, listing, proposals
from api.registry.checking import facts_json
from api.registry.follow_through import follow_through
from api.registry.service import check_in_background, import_json, load_import, start_import
from api.spreadsheet import XLSX_MEDIA_TYPE, Format, export_response
from db.models import Child, RegistryChange, RegistryImport
from domain.deadlines import local_date
from domain.errors import DomainError
from domain.idnumber import mask_id_number
from domain.processes import PROCESSES
from domain.registry import (
    KEY_CATEGORY_LABELS,
    PROPOSAL_LABELS,
    SOURCE_LABELS,
    TEMPLATES,
    ProposalKind,
    Source,
    facts_of_cells,
)

router = APIRouter(prefix="/registry", tags=["registry"])

# The API's files are xlsx only (the pages offer CSV too): one declared binary answer.
_FILE_ANSWER = {200: {"content": {XLSX_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


@router.get(
    "/sources", summary="The five sources and the columns of each one's import template", response_model=answers.Sources
)
async def sources(principal: ApiUser) -> dict[str, Any]:
    return {
        "items": [
            {
                "source": s.value,
                "label": SOURCE_LABELS[s],
                "columns": [{"header": c.header, "required": c.required, "hint": c.hint} for c in TEMPLATES[s]],
            }
            for s in Source
        ]
    }


@router.get(
    "/templates/{source}",
    summary="A source's import template (xlsx): the header row in the template's column order",
    response_class=Response,
    responses=_FILE_ANSWER,
)
async def template(source: str, principal: ApiUser) -> Response:
    from api.registry.service import template_export

    return export_response(template_export(checking.parse_source(source)), Format.xlsx)


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["file", "source"],
                    "properties": {
                        "file": {"type": "string", "format": "binary", "description": "xlsx or CSV (UTF-8)"},
                        "source": {"type": "string", "enum": [s.value for s in Source]},
                        "county": {"type": "string", "description": "the clerk's own county (default)"},
                    },
                }
            }
        },
    }
}


async def _form_file(request: Request) -> tuple[bytes, str, str, str | None]:
    """The upload's file, source and county, from the form the limits dependency already read."""
    if "multipart/form-data" not in request.headers.get("content-type", ""):
        raise DomainError("file_invalid", "请以表单方式上传文件（multipart/form-data）", field="file")
    form = await request.form()
    upload = form.get("file")
    if not isinstance(upload, StarletteUpload):
        raise DomainError("file_invalid", "请选择要导入的文件", field="file")
    source, county = form.get("source"), form.get("county")
    return (
        await upload.read(),
        upload.filename or "",
        source if isinstance(source, str) else "",
        county if isinstance(county, str) and county else None,
    )


@router.post(
    "/imports",
    status_code=202,
    summary="Upload a source's list for the clerk's county (multipart: file, source): stored and checked in the "
    "background (202; GET progress_url for the progress, then the result: every wrong row named and nothing "
    "kept, or the change set to review); a file that is no spreadsheet or lacks a column is refused at once",
    response_model=answers.ImportOut,
    responses={200: {"model": answers.ImportOut, "description": "The very same file again: the earlier import"}},
    openapi_extra=_UPLOAD_BODY,
)
async def upload(request: Request, principal: ApiUser, session: SessionDep, background: BackgroundTasks) -> Any:
    data, filename, source, county = await _form_file(request)
    imp, lines, earlier = await start_import(
        session, principal, source=source, county=county, data=data, filename=filename
    )
    audit(session, principal, "registry_import", detail=f"import {imp.id}: {imp.source}")
    await session.commit()
    body = await import_json(session, imp, same_file=earlier)
    if earlier:
        return JSONResponse(body, status_code=200)
    # The same check as the page's, after the answer.
    background.add_task(check_in_background, request.app.state.session_factory, imp.id, lines)
    return JSONResponse(body, status_code=202, headers={"Location": body["progress_url"]})


@router.get("/imports", summary="The imports of the caller's county, newest first", response_model=answers.Imports)
async def imports(principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    from api.registry.service import list_imports

    return {"items": [await import_json(session, i) for i in await list_imports(session, principal)]}


@router.get(
    "/imports/{import_id}",
    summary="One import and its change set (paged; ?kind= new | left | moved | changed | flagged | candidate)",
    response_model=answers.ImportDetail,
)
async def get_import(
    import_id: int,
    principal: ApiUser,
    session: SessionDep,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=1000)] = 100,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    imp = await load_import(session, principal, import_id)
    q = (
        select(RegistryChange, Child.name)
        .outerjoin(Child, Child.id == RegistryChange.child_id)
        .where(RegistryChange.import_id == imp.id)
    )
    count = select(func.count()).select_from(RegistryChange).where(RegistryChange.import_id == imp.id)
    if kind:
        q, count = q.where(RegistryChange.kind == kind), count.where(RegistryChange.kind == kind)
    rows = (await session.execute(q.order_by(RegistryChange.id).limit(limit).offset(offset))).all()
    return {
        "summary": await import_json(session, imp),
        "changes": [change_json(imp, c, name) for c, name in rows],
        "changes_total": (await session.execute(count)).scalar_one(),
        "limit": limit,
        "offset": offset,
    }


def change_json(imp: RegistryImport, c: RegistryChange, child_name: str | None) -> dict[str, Any]:
    facts: dict[str, Any] = {}
    if c.cells:
        fact = facts_of_cells(Source(imp.source), c.row_no or 0, c.cells, today=local_date(datetime.now(UTC)))
        facts = facts_json(fact) if fact is not None else {}
    if facts.get("id_number"):
        facts["id_number"] = mask_id_number(facts["id_number"])
    return {
        "id": c.id,
        "kind": c.kind,
        "row_no": c.row_no,
        "child_id": c.child_id,
        "child_name": child_name,
        "status": c.status,
        "facts": facts,
        "diff": c.diff,
        "decided_at": c.decided_at.isoformat() if c.decided_at else None,
    }


@router.post(
    "/imports/{import_id}/apply",
    summary="Apply the change set, or the items named (candidates each confirmed or rejected); an item "
    "applied already is refused (409) and nothing is changed",
    response_model=answers.ApplyOut,
)
async def apply(
    import_id: int,
    data: applying.ApplyIn,
    principal: ApiUser,
    session: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    done = await applying.apply_changes(session=session, principal=principal, import_id=import_id, data=data)
    started = await follow_through(
        session=session, client=client, task_queue=settings.task_queue, principal=principal, done=done
    )
    return {
        "import_id": done.import_id,
        "status": done.status,
        "applied": done.applied,
        "rejected": done.rejected,
        "children_created": done.children_created,
        "proposals": done.proposals,
        "key_child_cases": started,
    }


@router.get(
    "/children",
    summary="The children living in the caller's area, filtered and paged",
    response_model=answers.RegistryPage,
)
async def children(
    principal: ApiUser,
    session: SessionDep,
    f: Annotated[listing.RegistryFilter, Query()],
    limit: Annotated[int, Query(ge=1, le=listing.PAGE_MAX)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
) -> dict[str, Any]:
    rows, total = await listing.list_children(session, principal, f, limit=limit, offset=offset)
    return {"items": [listing.row_json(r) for r in rows], "total": total, "limit": limit, "offset": offset}


@router.get(
    "/children/export",
    summary="The list as xlsx, the same filters; ID numbers masked unless the caller's agency registered the child",
    response_class=Response,
    responses=_FILE_ANSWER,
)
async def export(principal: ApiUser, session: SessionDep, f: Annotated[listing.RegistryFilter, Query()]) -> Response:
    fmt = Format.xlsx
    out = await listing.export(session, principal, f)
    audit(session, principal, "registry_export", detail=f"{len(out.table.rows)} children")
    await session.commit()
    return export_response(out, fmt)


@router.get(
    "/children/{child_id}/key-flags",
    summary="A child's key-child categories and where each came from",
    response_model=answers.KeyFlags,
)
async def key_flags(child_id: int, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    child = await session.get(Child, child_id)
    try:
        counties = listing.area(principal)
    except DomainError:
        counties = []  # a child's record is not found by whoever may not read the registry
    if child is None or child.residence_region not in counties:
        raise DomainError("child_not_found", "没有该儿童，或不在本单位辖区")
    flags = await listing.key_child_flags(session, child_id)
    return {
        "child_id": child_id,
        "items": [
            {
                "category": f.category.value,
                "label": KEY_CATEGORY_LABELS[f.category],
                "source": f.source,
                "import_id": f.import_id,
                "on": f.on,
            }
            for f in flags
        ],
    }


def proposal_json(p: Any, child: Child) -> dict[str, Any]:
    process = PROCESSES[p.process]
    return {
        "id": p.id,
        "kind": p.kind,
        "kind_label": PROPOSAL_LABELS[ProposalKind(p.kind)],
        "process": p.process,
        "process_label": process.label,
        "child_id": child.id,
        "child_name": child.name,
        "county": p.county,
        "status": p.status,
        "facts": p.facts,
        "case_no": p.case_no,
        "created_at": p.created_at.isoformat(),
    }


@router.get(
    "/proposals",
    summary="Cases the registry proposes to the caller's agency (?status=pending|confirmed|rejected)",
    response_model=answers.Proposals,
)
async def list_proposals(principal: ApiUser, session: SessionDep, status: str = "pending") -> dict[str, Any]:
    return {"items": [proposal_json(p, c) for p, c in await proposals.list_proposals(session, principal, status)]}


@router.post(
    "/proposals/{proposal_id}/confirm",
    summary="Confirm a proposal: the case starts with the start form given (as POST /cases would)",
    response_model=answers.ProposalOut,
)
async def confirm(
    proposal_id: int,
    data: proposals.ConfirmIn,
    principal: ApiUser,
    session: SessionDep,
    client: ClientDep,
    settings: SettingsDep,
) -> dict[str, Any]:
    p = await proposals.confirm(
        session=session,
        client=client,
        task_queue=settings.task_queue,
        principal=principal,
        proposal_id=proposal_id,
        data=data,
    )
    return proposal_json(p, await session.get(Child, p.child_id))  # type: ignore[arg-type]


@router.post(
    "/proposals/{proposal_id}/reject", summary="Reject a proposal: no case starts", response_model=answers.ProposalOut
)
async def reject(proposal_id: int, principal: ApiUser, session: SessionDep) -> dict[str, Any]:
    p = await proposals.reject(session=session, principal=principal, proposal_id=proposal_id)
    return proposal_json(p, await session.get(Child, p.child_id))  # type: ignore[arg-type]
