"""A case's documents and its case file (案卷) as PDF, for the pages and the API: read as the case page is
(the reader's scope, from a hand-over on where the reader came in there) and audited."""

from __future__ import annotations

from datetime import UTC, datetime
from urllib.parse import quote

from fastapi import APIRouter, Response
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.audit import audit
from api.cases import service
from api.cases.views import current_steps
from api.cases.visibility import visible_from_seq
from api.deps import ApiUser, ClientDep, SessionDep
from api.principal import Principal
from db.documents import issue_document
from db.models import Agency, Case, Document
from domain.errors import DomainError
from domain.processes import get_process
from ui.documents import CaseFile, case_file, case_file_agency_ids, case_file_pdf_html, document_pdf_html
from ui.pdf import PDF_MEDIA_TYPE, to_pdf

router = APIRouter(prefix="/cases", tags=["cases"])

_PDF = {200: {"content": {PDF_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


async def _issued(session: AsyncSession, docs: list[Document]) -> None:
    """A document filed before documents were numbered gets its number and snapshot at its first reading."""
    for d in docs:
        if d.snapshot is None:
            await issue_document(session, d, None)


async def visible_document(
    session: AsyncSession, principal: Principal, case_no: str, doc_id: int
) -> tuple[Case, Document]:
    case = await service.get_visible_case(session, principal, case_no)
    since = await visible_from_seq(session, principal, case.id)
    doc = (
        await session.execute(
            select(Document).where(Document.id == doc_id, Document.case_id == case.id, Document.seq >= since)
        )
    ).scalar_one_or_none()
    if doc is None:
        raise DomainError("not_found", "文书不存在或无权查看")
    await _issued(session, [doc])
    audit(session, principal, "read_document", case_no=case.case_no, child_id=case.child_id, detail=doc.kind)
    await session.commit()
    return case, doc


async def read_case_file(session: AsyncSession, client: Client, principal: Principal, case_no: str) -> CaseFile:
    detail = await service.get_case_detail(
        session=session, client=client, principal=principal, case_no=case_no, record_read=False
    )
    await _issued(session, detail.documents)
    case = detail.case
    ids = case_file_agency_ids(detail.process, case, detail.timeline)
    names = dict((await session.execute(select(Agency.id, Agency.name).where(Agency.id.in_(ids)))).all()) if ids else {}
    audit(
        session,
        principal,
        "read_case_file",
        case_no=case.case_no,
        child_id=case.child_id,
        detail=f"{len(detail.documents)} documents",
    )
    await session.commit()
    steps = current_steps(case, detail.live) if case.status == "open" else []
    return case_file(case, detail.process, detail.timeline, detail.documents, steps, names, datetime.now(UTC))


def pdf_response(data: bytes, name: str) -> Response:
    return Response(
        data,
        media_type=PDF_MEDIA_TYPE,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name + '.pdf')}"},
    )


async def document_pdf(session: AsyncSession, principal: Principal, case_no: str, doc_id: int) -> Response:
    case, doc = await visible_document(session, principal, case_no, doc_id)
    data = await to_pdf(document_pdf_html(get_process(case.process), doc))
    return pdf_response(data, f"{doc.title}{doc.number or ''}")


async def case_file_pdf(session: AsyncSession, client: Client, principal: Principal, case_no: str) -> Response:
    cf = await read_case_file(session, client, principal, case_no)
    return pdf_response(await to_pdf(case_file_pdf_html(cf)), f"案卷{cf.case.case_no}")


@router.get(
    "/{case_no}/documents/{doc_id}/pdf",
    summary="One document of the case as PDF (A4, its number, as it was issued, with the service receipt)",
    response_class=Response,
    responses=_PDF,
)
async def api_document_pdf(case_no: str, doc_id: int, principal: ApiUser, session: SessionDep) -> Response:
    return await document_pdf(session, principal, case_no, doc_id)


@router.get(
    "/{case_no}/file/pdf",
    summary="The case file (案卷) as PDF: facts, steps, every action with who and when, every document",
    response_class=Response,
    responses=_PDF,
)
async def api_case_file_pdf(case_no: str, principal: ApiUser, session: SessionDep, client: ClientDep) -> Response:
    return await case_file_pdf(session, client, principal, case_no)
