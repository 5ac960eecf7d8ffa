"""A document's text and the case file (案卷), as a page and as PDF: every document is rendered from the
snapshot it took when it was issued (db/documents.py), never from the case as it is now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from fastapi import Response
from markupsafe import Markup
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.cases import documents as records
from api.principal import Principal
from db.documents import snapshot
from db.models import Case, Document, TimelineEvent
from domain.documents import DocumentSnapshot
from domain.messages import StepState
from domain.process import Process
from domain.processes import get_process
from ui.pdf import PDF_MEDIA_TYPE, to_pdf
from ui.render import templates
from ui.timeline import EventView, agency_ids_in, event_view, field_details, passed_steps


def document_context(process: Process, doc: Document) -> dict[str, Any]:
    """What a document's template (ui/templates/docs/) reads: its fields and its snapshot."""
    snap: DocumentSnapshot = snapshot(doc)
    kind = process.document(doc.kind)
    return {
        "doc": doc,
        "f": doc.fields or {},
        "field_label": lambda key: kind.field_labels.get(key, key) if kind else key,
        "doc_template": f"docs/{doc.kind}.html" if kind and kind.layout else "docs/generic.html",
        "case_no": snap.case_no,
        "process_label": snap.process_label,
        "issued_at": snap.issued_at,
        **snap.context(),
    }


def document_body(process: Process, doc: Document) -> Markup:
    """The document's own text (its template), as the page, the PDF and the case file show it."""
    ctx = document_context(process, doc)
    text = Markup(templates.get_template(ctx["doc_template"]).render(ctx))  # autoescaped by the environment
    return Markup('<article class="document doc-{}">').format(doc.kind) + text + Markup("</article>")


def document_pdf_html(process: Process, doc: Document) -> str:
    return templates.get_template("pdf/document.html").render(
        title=f"{doc.title} {doc.number or ''}", body=document_body(process, doc)
    )


@dataclass
class StepLine:
    label: str
    state: str  # 办理中 / 已办理
    holder: str
    due_at: datetime | None


@dataclass
class CaseFile:
    """Everything the case file shows: the case, the child, the facts, every step, every action with who and
    when, and every document as it was issued."""

    case: Case
    process: Process
    facts: list[tuple[str, str]]
    steps: list[StepLine]
    events: list[EventView]
    documents: list[Markup]
    printed_at: datetime


def case_file(
    case: Case,
    process: Process,
    timeline: list[TimelineEvent],
    documents: list[Document],
    current: list[StepState],
    agency_names: dict[int, str],
    now: datetime,
) -> CaseFile:
    open_steps = {s.step: s for s in current} if case.status == "open" else {}
    passed = passed_steps(timeline)
    steps = [
        StepLine(
            s.label,
            "办理中" if s.name in open_steps else "已办理",
            open_steps[s.name].holder.name if s.name in open_steps else "",
            d.due_at if s.name in open_steps and (d := open_steps[s.name].deadlines) else None,
        )
        for s in process.steps
        if s.name in passed or s.name in open_steps
    ]
    return CaseFile(
        case=case,
        process=process,
        facts=field_details(process.start_fields, dict(case.facts or {}), agency_names),
        steps=steps,
        events=[event_view(process, e, agency_names) for e in timeline],
        documents=[document_body(process, d) for d in documents],
        printed_at=now,
    )


def case_file_pdf_html(cf: CaseFile) -> str:
    body = Markup(templates.get_template("case_file_body.html").render(cf=cf))
    return templates.get_template("pdf/document.html").render(title=f"案卷 {cf.case.case_no}", body=body)


async def read_case_file(session: AsyncSession, client: Client, principal: Principal, case_no: str) -> CaseFile:
    r = await records.case_file_records(session, client, principal, case_no)
    d = r.detail
    names = await records.agency_names(session, agency_ids_in(d.process, d.timeline, dict(d.case.facts or {})))
    return case_file(d.case, d.process, d.timeline, d.documents, r.current, names, datetime.now(UTC))


def pdf_response(data: bytes, name: str) -> Response:
    return Response(
        data,
        media_type=PDF_MEDIA_TYPE,
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name + '.pdf')}"},
    )


async def document_pdf(session: AsyncSession, principal: Principal, case_no: str, doc_id: int) -> Response:
    case, doc = await records.visible_document(session, principal, case_no, doc_id)
    data = await to_pdf(document_pdf_html(get_process(case.process), doc))
    return pdf_response(data, f"{doc.title}{doc.number or ''}")


async def case_file_pdf(session: AsyncSession, client: Client, principal: Principal, case_no: str) -> Response:
    cf = await read_case_file(session, client, principal, case_no)
    return pdf_response(await to_pdf(case_file_pdf_html(cf)), f"案卷{cf.case.case_no}")
