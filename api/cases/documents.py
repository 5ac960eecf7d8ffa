"""Reading a case's documents and its case file (案卷): as the case page is read (the reader's scope, from a
hand-over on where the reader came in there), and audited. The pages and the PDFs are ui/documents.py's."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.audit import audit
from api.cases import service
from api.cases.views import current_steps
from api.cases.visibility import visible_from_seq
from api.principal import Principal
from db.documents import issue_document
from db.models import Agency, Case, Document
from domain.errors import DomainError
from domain.messages import StepState


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


@dataclass
class CaseFileRecords:
    detail: service.CaseDetail
    current: list[StepState]


async def case_file_records(
    session: AsyncSession, client: Client, principal: Principal, case_no: str
) -> CaseFileRecords:
    """What the case file shows, from what the reader may see; every document issued."""
    detail = await service.get_case_detail(
        session=session, client=client, principal=principal, case_no=case_no, record_read=False
    )
    await _issued(session, detail.documents)
    case = detail.case
    audit(
        session,
        principal,
        "read_case_file",
        case_no=case.case_no,
        child_id=case.child_id,
        detail=f"{len(detail.documents)} documents",
    )
    await session.commit()
    return CaseFileRecords(
        detail=detail,
        current=current_steps(case, detail.live) if case.status == "open" else [],
    )


async def agency_names(session: AsyncSession, ids: set[int]) -> dict[int, str]:
    if not ids:
        return {}
    return {i: n for i, n in await session.execute(select(Agency.id, Agency.name).where(Agency.id.in_(ids)))}
