"""Issuing a document: its number (文号) and the snapshot of what it says, taken in the transaction that files
it (activities/cases.py), so that the number and the facts are those of the moment of issue.

Numbers are counted per issuing agency, word (训字) and year by one upsert, as case numbers are
(db/case_numbers.py): the counter row stays locked until the transaction ends, so concurrent issues get
distinct consecutive numbers, and a rolled-back issue gives its number back. A document is numbered once:
issuing one that already has its snapshot changes nothing, so a retried activity leaves no gap."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession

from db.models import Agency, Case, Child, Document, DocumentCounter, TimelineEvent
from domain.deadlines import local_date
from domain.documents import (
    ChildAtIssue,
    DocumentSnapshot,
    GuardianAtIssue,
    derive_short_name,
    document_number,
)
from domain.enums import AGENCY_TYPE_LABELS, AgencyType
from domain.field_kinds import FieldKind, rules
from domain.oversight import LOCAL_TYPES
from domain.process import HANDOVER_STEP, DocumentKind, Field, Process
from domain.processes import get_process
from domain.regions import full_region_name, region_name


def short_name_of(agency: Agency) -> str:
    """The short name the agency's numbers start with: the one set, or the one its name gives."""
    return agency.short_name or derived_short_name(agency)


def derived_short_name(agency: Agency) -> str:
    return derive_short_name(agency.name, AgencyType(agency.agency_type), region_name(agency.region_code) or "")


async def next_document_no(session: AsyncSession, *, agency_id: int, word: str, year: int) -> int:
    stmt = (
        insert(DocumentCounter)
        .values(agency_id=agency_id, word=word, year=year, last=1)
        .on_conflict_do_update(
            index_elements=[DocumentCounter.agency_id, DocumentCounter.word, DocumentCounter.year],
            set_={"last": DocumentCounter.last + 1},
        )
        .returning(DocumentCounter.last)
    )
    return (await session.execute(stmt)).scalar_one()


def packet_addressee(process: Process, destination: str) -> str:
    """Whom a transfer packet is addressed to: the usual holder of the process's hand-over step at the
    destination ("上党区教育局"; "…有关村（居）民委员会" where there are several)."""
    kind = (
        process.step(HANDOVER_STEP).responsible[0] if process.has_step(HANDOVER_STEP) else AgencyType.village_committee
    )
    place = destination or "迁入地"
    label = AGENCY_TYPE_LABELS[kind]
    return f"{place}有关{label}" if kind in LOCAL_TYPES else f"{place}{label}"


def _shown(fields: tuple[Field, ...], values: dict[str, Any], agencies: dict[int, str]) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for f in fields:
        value = values.get(f.name)
        if f.name == "note" or value in (None, ""):
            continue
        if shown := rules(f.kind).show(f, value, agencies):
            out.append((f.label, shown))
    return out


async def _agency_names(session: AsyncSession, fields: tuple[Field, ...], values: dict[str, Any]) -> dict[int, str]:
    ids: set[int] = set()
    for f in fields:
        if f.kind == FieldKind.agency and values.get(f.name) not in (None, ""):
            try:
                ids.add(int(values[f.name]))
            except (TypeError, ValueError):
                continue
    if not ids:
        return {}
    rows = await session.execute(select(Agency.id, Agency.name).where(Agency.id.in_(ids)))
    return {i: n for i, n in rows}


def _child(child: Child) -> ChildAtIssue:
    return ChildAtIssue(
        name=child.name,
        sex=child.sex,
        birth_date=child.birth_date,
        birth_date_estimated=child.birth_date_estimated,
        id_number=child.id_number,
        identity_status=child.identity_status,
        address=child.address or "",
        school=child.school,
        guardians=[
            GuardianAtIssue(name=g.name, relation=g.relation, phone=g.phone or "", is_guardian=g.is_guardian)
            for g in child.guardians
        ],
    )


async def snapshot_of(
    session: AsyncSession, case: Case, doc: Document, kind: DocumentKind | None, number: str, issuer: Agency
) -> DocumentSnapshot:
    process = get_process(case.process)
    child = case.child
    facts = dict(case.facts or {})
    committee = await session.get(Agency, child.residence_committee_id) if child.residence_committee_id else None
    fields = doc.fields or {}
    dest = str(fields.get("destination_region", ""))
    destination = (full_region_name(dest) or dest) if dest else ""
    addressee = packet_addressee(process, destination) if dest else ""
    at_issue = _child(child)
    guardians = "、".join(g.name for g in at_issue.guardians if g.is_guardian)
    to_guardians = kind is None or kind.served_to_guardians
    return DocumentSnapshot(
        number=number,
        issuer=issuer.name,
        issued_at=doc.created_at,
        case_no=case.case_no,
        process_label=process.label,
        purpose=process.purpose or process.label,
        child=at_issue,
        committee_name=committee.name if committee else "",
        origin_name=(full_region_name(child.origin_region) or child.origin_region) if child.origin_region else "",
        residence_name=full_region_name(child.residence_region) or child.residence_region,
        case_county_name=full_region_name(case.county) or case.county,
        facts=_shown(process.start_fields, facts, await _agency_names(session, process.start_fields, facts)),
        raw=facts,
        addressee=addressee,
        destination=destination,
        served_to=guardians if to_guardians else addressee,
        served_at=at_issue.address if to_guardians else str(fields.get("destination_address") or destination),
    )


async def issue_document(session: AsyncSession, doc: Document, issuer_agency_id: int | None) -> None:
    """Numbers the document and freezes what it says, in the caller's transaction; a document issued already
    is left as it is. Issued by `issuer_agency_id` (the acting agency); for a document filed before numbering,
    by the agency of the event that filed it, frozen at its first reading."""
    locked = (await session.execute(select(Document).where(Document.id == doc.id).with_for_update())).scalar_one()
    if locked.snapshot is not None:
        return
    case = (await session.execute(select(Case).where(Case.id == locked.case_id))).unique().scalar_one()
    if issuer_agency_id is None:  # a document filed before documents were numbered: the agency that acted
        issuer_agency_id = (
            await session.execute(
                select(TimelineEvent.actor_agency_id).where(
                    TimelineEvent.case_id == case.id, TimelineEvent.seq == locked.seq
                )
            )
        ).scalar_one_or_none()
    issuer = await session.get(Agency, issuer_agency_id or case.started_by_agency_id)
    assert issuer is not None
    kind = get_process(case.process).document(locked.kind)
    year = local_date(locked.created_at).year
    word = kind.word if kind else "字"
    n = await next_document_no(session, agency_id=issuer.id, word=word, year=year)
    number = document_number(short_name_of(issuer), word, year, n)
    snapshot = await snapshot_of(session, case, locked, kind, number, issuer)
    locked.issuer_agency_id = issuer.id
    locked.number = number
    locked.snapshot = snapshot.model_dump(mode="json")
    await session.flush()


def snapshot(doc: Document) -> DocumentSnapshot:
    """What an issued document says (issue_document has run)."""
    assert doc.snapshot is not None
    return DocumentSnapshot.model_validate(doc.snapshot)
