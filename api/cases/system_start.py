"""A case the system starts for a child (the registry's apply, when a key child is flagged): on behalf
of the civil affairs of the child's county, idempotent per child for a process of one open case per child."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.cases.one_open import lock_and_find_open
from api.cases.service import StartCaseIn, Started, start_case
from api.principal import Principal, agency_ref
from db.models import Agency, CaseRequest, Child
from domain.enums import AgencyType, Role
from domain.errors import DomainError
from domain.processes import get_process

SYSTEM_STARTER = AgencyType.civil_affairs
SYSTEM_NAME = "系统（台账）"


async def system_principal(session: AsyncSession, county: str) -> Principal:
    """The county's civil affairs (its default agency first), acting as the system: no person."""
    agency = (
        await session.execute(
            select(Agency)
            .where(Agency.agency_type == SYSTEM_STARTER.value, Agency.region_code == county, Agency.is_active)
            .order_by(Agency.is_default.desc(), Agency.id)
            .limit(1)
        )
    ).scalar_one_or_none()
    if agency is None:
        raise DomainError("not_found", "儿童所在县（区）没有可用的民政部门", field="child_id")
    return Principal(
        user_id=None,
        username="system",
        display_name=SYSTEM_NAME,
        role=Role.operator,
        agency=agency_ref(agency),
        channel="system",
    )


async def start_for_child(
    *,
    session: AsyncSession,
    client: Client,
    task_queue: str,
    process_name: str,
    child_id: int,
    facts: dict[str, Any],
    wait_seconds: float = 20.0,
    idempotency_key: str | None = None,
) -> Started:
    """Starts the process for the child as the system, at the first step civil affairs may start it at.
    Where the process allows one open case per child and the child has one, answers that case
    (`created` False) and starts nothing. With `idempotency_key`, a start tried again after a crash takes
    the number its first try reserved and launches that case (one workflow per number: never doubled)."""
    process = get_process(process_name)
    child = await session.get(Child, child_id)
    if child is None:
        raise DomainError("not_found", "未找到该儿童", field="child_id")
    principal = await system_principal(session, child.residence_region)
    options = process.starts_for(SYSTEM_STARTER)
    if not options:
        raise DomainError("not_permitted", f"“{process.label}”不能由系统立案")
    if process.one_open_per_child:
        # The lock is held until start_case commits its reservation: a concurrent start waits, then finds it.
        existing = await lock_and_find_open(session, process, child.id)
        if existing and existing != await reserved_for(session, principal, idempotency_key):
            await session.rollback()
            return Started(case_no=existing, created=False, result=None)
    data = StartCaseIn(process=process.name, start_step=options[0].step, child_id=child.id, facts=facts)
    return await start_case(
        session=session,
        client=client,
        task_queue=task_queue,
        principal=principal,
        data=data,
        idempotency_key=idempotency_key,
        wait_seconds=wait_seconds,
    )


async def reserved_for(session: AsyncSession, principal: Principal, key: str | None) -> str | None:
    """The case number an earlier try with this key reserved, if any (its own, so not a second case)."""
    if key is None:
        return None
    return (
        await session.execute(
            select(CaseRequest.case_no).where(
                CaseRequest.agency_id == principal.agency.id, CaseRequest.idempotency_key == key
            )
        )
    ).scalar_one_or_none()
