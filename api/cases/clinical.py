"""The clinical-content rule (domain/clinical.py) on the one path every reader of a case goes through
(service.get_case_detail: the API, the case page, the case file): a reader who may read clinical content
is audited with the reason; for everyone else the case's facts, its events' payloads and its documents'
fields carry the marker in place of each clinical value. The values are replaced as loaded, never as
changes: nothing is written back."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm.attributes import set_committed_value

from api.audit import audit
from api.principal import Principal
from db.models import Case, CaseParty, Document, TimelineEvent
from domain.clinical import clinical_reason, reads_clinical, withhold
from domain.process import Process


async def is_party(session: AsyncSession, principal: Principal, case: Case) -> bool:
    found = await session.execute(
        select(CaseParty.case_id).where(CaseParty.case_id == case.id, CaseParty.agency_id == principal.agency.id)
    )
    return found.first() is not None


async def apply_clinical_rule(
    session: AsyncSession,
    principal: Principal,
    process: Process,
    case: Case,
    timeline: list[TimelineEvent],
    documents: list[Document],
) -> bool:
    """Whether the principal reads the clinical content (audited, with why); if not, it is withheld from
    the loaded rows."""
    if not process.clinical_names():
        return False
    if not principal.is_admin and reads_clinical(
        process, principal.agency.agency_type, await is_party(session, principal, case)
    ):
        reason = clinical_reason(principal.agency.agency_type)
        audit(session, principal, "read_clinical", case_no=case.case_no, child_id=case.child_id, detail=reason)
        return True
    set_committed_value(case, "facts", withhold(process, case.facts))
    for e in timeline:
        set_committed_value(e, "payload", withhold(process, e.payload))
    for d in documents:
        set_committed_value(d, "fields", withhold(process, d.fields))
    return False
