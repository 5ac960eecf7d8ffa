"""Cases the registry proposes, for the processes whose definition accepts them (Process.registry_proposals):
a pupil on the county's last school roll and on no roll now, still living in the county. A person of an
agency that may start the process confirms (the case starts through the ordinary start, with the start
form that person fills) or rejects; nothing starts without that person."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.principal import Principal
from db.models import Child, ChildSource, RegistryChange, RegistryImport, RegistryProposal
from domain.enums import Role
from domain.errors import DomainError
from domain.process import Process
from domain.processes import PROCESSES
from domain.regions import counties_in, covers
from domain.registry import ProposalKind, Source


def accepting(kind: ProposalKind) -> list[Process]:
    """The processes whose definitions accept proposals of this kind."""
    return [p for p in PROCESSES.values() if kind.value in p.registry_proposals]


def proposer_types(process: Process) -> set[str]:
    """The agency types that may start the process (any of its start options)."""
    return {t.value for option in process.starts for t in option.agency_types}


async def propose_for_left(session: AsyncSession, imp: RegistryImport, change: RegistryChange) -> int:
    """A child gone from the county's school roll, on no other roll, still living in the county: one
    proposal per accepting process."""
    if imp.source != Source.education.value or change.child_id is None:
        return 0
    child = await session.get(Child, change.child_id)
    if child is None or child.residence_region != imp.county or child.merged_into_id is not None:
        return 0
    elsewhere = (
        await session.execute(
            select(ChildSource.county)
            .where(
                ChildSource.child_id == child.id,
                ChildSource.source == Source.education.value,
                ChildSource.left_at.is_(None),
            )
            .limit(1)
        )
    ).scalar_one_or_none()
    if elsewhere is not None:
        return 0
    made = 0
    for process in accepting(ProposalKind.left_school_roll):
        session.add(
            RegistryProposal(
                kind=ProposalKind.left_school_roll.value,
                process=process.name,
                child_id=child.id,
                county=imp.county,
                change_id=change.id,
                facts={"school": child.school or "", "school_roll_no": child.school_roll_no or "", "import_id": imp.id},
            )
        )
        made += 1
    return made


def _may_decide(principal: Principal, proposal: RegistryProposal) -> Process:
    process = PROCESSES[proposal.process]
    if principal.role == Role.admin or principal.agency.agency_type.value not in proposer_types(process):
        raise DomainError("not_permitted", f"本单位不能办理“{process.label}”的台账提示")
    if not covers(principal.agency.region_code, proposal.county):
        raise DomainError("not_permitted", "该提示不属于本县（区）")
    return process


def visible(principal: Principal) -> Any:
    """The proposals a principal sees: of the processes their agency may start, in their county."""
    kinds = [p.name for p in PROCESSES.values() if principal.agency.agency_type.value in proposer_types(p)]
    q = RegistryProposal.process.in_(kinds)
    return q & RegistryProposal.county.in_(counties_in(principal.agency.region_code))


async def list_proposals(
    session: AsyncSession, principal: Principal, status: str = "pending"
) -> list[tuple[RegistryProposal, Child]]:
    if principal.role == Role.admin:
        return []
    rows = await session.execute(
        select(RegistryProposal, Child)
        .join(Child, Child.id == RegistryProposal.child_id)
        .where(visible(principal), RegistryProposal.status == status)
        .order_by(RegistryProposal.id)
        .limit(500)
    )
    return [(p, c) for p, c in rows.all()]


async def _locked(session: AsyncSession, proposal_id: int) -> RegistryProposal:
    p = (
        await session.execute(select(RegistryProposal).where(RegistryProposal.id == proposal_id).with_for_update())
    ).scalar_one_or_none()
    if p is None:
        raise DomainError("not_found", "没有该台账提示")
    if p.status != "pending":
        raise DomainError("already_applied", "该提示已处理")
    return p


class ConfirmIn(BaseModel):
    """The start of the case, as the process's start form asks it (the step to start at, its fields)."""

    start_step: str = Field(max_length=64)
    facts: dict[str, Any] = Field(default_factory=dict)


async def check_open(
    session: AsyncSession, principal: Principal, proposal_id: int, *, child_id: int, process: str
) -> None:
    """The proposal a start form confirms: still open, of this child and process, for the starter to decide."""
    p = await session.get(RegistryProposal, proposal_id, populate_existing=True)
    if p is None or p.child_id != child_id or p.process != process:
        raise DomainError("not_found", "没有该台账提示", field="registry_proposal")
    if p.status != "pending":
        raise DomainError("already_applied", "该提示已处理", field="registry_proposal")
    _may_decide(principal, p)


async def mark_confirmed(session: AsyncSession, principal: Principal, proposal_id: int, case_no: str) -> None:
    """The case a person started from the proposal: the proposal is confirmed with that case (once)."""
    await session.execute(
        update(RegistryProposal)
        .where(RegistryProposal.id == proposal_id, RegistryProposal.status == "pending")
        .values(status="confirmed", decided_by=principal.user_id, decided_at=datetime.now(UTC), case_no=case_no)
    )
    await session.commit()


async def reject(*, session: AsyncSession, principal: Principal, proposal_id: int) -> RegistryProposal:
    p = await _locked(session, proposal_id)
    _may_decide(principal, p)
    p.status, p.decided_by, p.decided_at = "rejected", principal.user_id, datetime.now(UTC)
    await session.commit()
    return p


async def confirm(
    *, session: AsyncSession, client: Client, task_queue: str, principal: Principal, proposal_id: int, data: ConfirmIn
) -> RegistryProposal:
    """The person confirms: the case starts as any case starts (its checks, its number, its workflow)."""
    from api.cases.service import StartCaseIn, start_case

    p = await _locked(session, proposal_id)
    process = _may_decide(principal, p)
    child_id = p.child_id
    await session.commit()  # the lock is not held across the workflow's start
    started = await start_case(
        session=session,
        client=client,
        task_queue=task_queue,
        principal=principal,
        data=StartCaseIn(process=process.name, child_id=child_id, start_step=data.start_step, facts=data.facts),
        idempotency_key=f"registry-proposal-{proposal_id}",
    )
    p = await _locked(session, proposal_id)
    p.status, p.decided_by, p.decided_at, p.case_no = "confirmed", principal.user_id, datetime.now(UTC), started.case_no
    await session.commit()
    return p
