"""合并档案: a civil-affairs supervisor compares a provisional record with the registered child it may be,
side by side, and confirms the merge (api/children/service.py merge_child). Never automatic."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse, RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit import audit
from api.children.cases_told import tell_open_cases
from api.children.merge import MergeIn, MergePair, merge_child, merge_pair, merge_source
from api.children.service import ChildMerged, duplicate_candidates
from api.deps import ClientDep, PageUser, SessionDep
from api.errors import status_for
from api.principal import Principal
from db.models import Child
from domain.errors import DomainError
from domain.identity import NO_ID_REASON_LABELS, NoIdReason
from domain.idnumber import mask_id_number
from ui.child_pages import region_text
from ui.forms import read_form, to_int
from ui.render import flash, render

router = APIRouter(include_in_schema=False)


def _masked(child: Child) -> str:
    return mask_id_number(child.id_number) if child.id_number else "暂无"


def _reason(child: Child) -> str:
    return NO_ID_REASON_LABELS[NoIdReason(child.no_id_reason)] if child.no_id_reason else ""


async def _source(request: Request, session: AsyncSession, user: Principal, child_id: str) -> Child | Response:
    number = to_int(child_id)
    if number is None:
        raise DomainError("child_not_found", "儿童不存在或无权查看")
    try:
        return await merge_source(session=session, principal=user, child_id=number)
    except ChildMerged as merged:
        flash(request, "该临时档案已合并到本儿童档案", "warn")
        return RedirectResponse(f"/children/{merged.into_id}", status_code=303)


async def _find_page(
    request: Request,
    session: AsyncSession,
    user: Principal,
    source: Child,
    *,
    error: DomainError | None = None,
) -> HTMLResponse:
    candidates = [
        c
        for c in await duplicate_candidates(
            session=session, principal=user, name=source.name, birth_date=source.birth_date, exclude_id=source.id
        )
        if not c.provisional
    ]
    return render(
        request,
        "child_merge.html",
        user,
        status=status_for(error) if error else 200,
        stage="find",
        source=source,
        candidates=candidates,
        error=error,
        masked=_masked,
        reason=_reason,
    )


def _compare_page(request: Request, user: Principal, pair: MergePair, data: MergeIn) -> HTMLResponse:
    return render(
        request,
        "child_merge.html",
        user,
        stage="compare",
        pair=pair,
        source=pair.source,
        target=pair.target,
        by_number=bool(data.into_id_number) and not pair.target_in_area,
        into_id_number=data.into_id_number or "",
        masked=_masked,
        reason=_reason,
        region=region_text,
    )


async def _compare(
    request: Request, session: AsyncSession, user: Principal, source: Child, data: MergeIn
) -> HTMLResponse:
    try:
        pair = await merge_pair(session=session, principal=user, child_id=source.id, data=data)
    except DomainError as e:
        if e.code == "not_permitted":
            raise
        return await _find_page(request, session, user, source, error=e)
    await session.refresh(pair.target, ["guardians"])
    audit(session, user, "read_child", child_id=pair.source.id, detail="merge")
    audit(session, user, "read_child", child_id=pair.target.id, detail="merge")
    await session.commit()
    return _compare_page(request, user, pair, data)


@router.get("/children/{child_id}/merge", response_class=HTMLResponse)
async def merge_page(request: Request, child_id: str, user: PageUser, session: SessionDep, into: str = "") -> Response:
    source = await _source(request, session, user, child_id)
    if isinstance(source, Response):
        return source
    target = to_int(into)
    if target is None:
        return await _find_page(request, session, user, source)
    return await _compare(request, session, user, source, MergeIn(into_child_id=target))


@router.post("/children/{child_id}/merge", response_class=HTMLResponse)
async def merge(request: Request, child_id: str, user: PageUser, session: SessionDep, client: ClientDep) -> Response:
    """Finds the registered child by ID number (the number stays out of the URL) and compares; with the
    confirmation ticked, merges."""
    form = await read_form(request)
    source = await _source(request, session, user, child_id)
    if isinstance(source, Response):
        return source
    data = MergeIn(into_child_id=to_int(form.get("into_child_id")), into_id_number=form.get("into_id_number") or None)
    if form.get("confirm") != "on":
        return await _compare(request, session, user, source, data)
    try:
        merged = await merge_child(session=session, principal=user, child_id=source.id, data=data)
    except DomainError as e:
        if e.code == "not_permitted":
            raise
        await session.rollback()
        return await _find_page(request, session, user, source, error=e)
    await tell_open_cases(session, client, merged.target)
    flash(request, f"已合并：原临时档案的{len(merged.case_nos)}件案件已转入该儿童档案，原档案保留为“已合并”")
    return RedirectResponse(f"/children/{merged.target.id}", status_code=303)
