"""/api/v1/cases/{case_no}/documents/{doc_id}/pdf and /api/v1/cases/{case_no}/file/pdf: the PDFs the pages
offer, for integrations (web/app.py mounts this router with the API's)."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.deps import ApiUser, ClientDep, SessionDep
from ui import documents
from ui.pdf import PDF_MEDIA_TYPE

router = APIRouter(prefix="/cases", tags=["cases"])

_PDF = {200: {"content": {PDF_MEDIA_TYPE: {"schema": {"type": "string", "format": "binary"}}}}}


@router.get(
    "/{case_no}/documents/{doc_id}/pdf",
    summary="One document of the case as PDF (A4, its number, as it was issued, with the service receipt)",
    response_class=Response,
    responses=_PDF,
)
async def document_pdf(case_no: str, doc_id: int, principal: ApiUser, session: SessionDep) -> Response:
    return await documents.document_pdf(session, principal, case_no, doc_id)


@router.get(
    "/{case_no}/file/pdf",
    summary="The case file (案卷) as PDF: facts, steps, every action with who and when, every document",
    response_class=Response,
    responses=_PDF,
)
async def case_file_pdf(case_no: str, principal: ApiUser, session: SessionDep, client: ClientDep) -> Response:
    return await documents.case_file_pdf(session, client, principal, case_no)
