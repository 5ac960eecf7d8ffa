"""A case's documents (文书) and its case file (案卷): the printable page of each, and each as PDF."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse

from api.cases import documents as records
from api.deps import ClientDep, PageUser, SessionDep
from domain.errors import DomainError
from domain.processes import get_process
from ui import documents
from ui.forms import to_int
from ui.render import render

router = APIRouter(include_in_schema=False)


def _doc_id(value: str) -> int:
    number = to_int(value)
    if number is None:
        raise DomainError("not_found", "文书不存在或无权查看")
    return number


@router.get("/cases/{case_no}/documents/{doc_id}", response_class=HTMLResponse)
async def document(request: Request, case_no: str, doc_id: str, user: PageUser, session: SessionDep) -> HTMLResponse:
    case, doc = await records.visible_document(session, user, case_no, _doc_id(doc_id))
    body = documents.document_body(get_process(case.process), doc)
    return render(request, "document.html", user, case=case, doc=doc, body=body)


@router.get("/cases/{case_no}/documents/{doc_id}/pdf")
async def document_pdf(case_no: str, doc_id: str, user: PageUser, session: SessionDep) -> Response:
    return await documents.document_pdf(session, user, case_no, _doc_id(doc_id))


@router.get("/cases/{case_no}/file", response_class=HTMLResponse)
async def case_file(
    request: Request, case_no: str, user: PageUser, session: SessionDep, client: ClientDep
) -> HTMLResponse:
    cf = await documents.read_case_file(session, client, user, case_no)
    return render(request, "case_file.html", user, cf=cf)


@router.get("/cases/{case_no}/file/pdf")
async def case_file_pdf(case_no: str, user: PageUser, session: SessionDep, client: ClientDep) -> Response:
    return await documents.case_file_pdf(session, client, user, case_no)
