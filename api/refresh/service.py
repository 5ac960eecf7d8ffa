"""The six-monthly registry refresh (domain/refresh.py): list a county's refreshes, and record one done,
by the registry's apply of the county's import (`record_by_import`) or by a person of its civil affairs."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.audit import audit
from api.principal import Principal
from api.served import served_regions
from db.models import RegistryRefresh
from domain.enums import AgencyType, Role
from domain.errors import DomainError
from domain.oversight import supervision_level
from domain.refresh import RECORD_UPDATE, RefreshDone, RefreshState, period_label
from domain.regions import covers


def check_county(county: str) -> None:
    if not served_regions().is_county(county):
        raise DomainError("field_invalid", "请填写本市县（区）的行政区划代码", field="county")


def may_read(p: Principal, county: str) -> bool:
    """Civil affairs keeps the registry: its county's agencies, and the city's for every county."""
    return p.agency.agency_type == AgencyType.civil_affairs and covers(p.agency.region_code, county)


def may_record(p: Principal, county: str) -> bool:
    return (
        p.agency.agency_type == AgencyType.civil_affairs
        and p.agency.region_code == county
        and p.role in (Role.operator, Role.supervisor)
    )


async def refreshes(*, session: AsyncSession, principal: Principal, county: str) -> list[RegistryRefresh]:
    check_county(county)
    if not may_read(principal, county):
        raise DomainError("not_permitted", "只有本县（区）或市级民政部门可以查看台账更新情况")
    rows = await session.execute(
        select(RegistryRefresh).where(RegistryRefresh.county == county).order_by(RegistryRefresh.period.desc())
    )
    return list(rows.scalars())


async def overdue_for_supervisor(
    *, session: AsyncSession, principal: Principal, include_overdue: bool = False
) -> list[RegistryRefresh]:
    """The open refreshes beside a civil-affairs supervisor's stalled list: those of their county (every
    county, for the city's) that escalated to their level, as a step held by civil affairs would be listed
    (domain/oversight.py supervision_level). Other supervisors oversee no refresh: none."""
    if not principal.is_supervisor or principal.agency.agency_type != AgencyType.civil_affairs:
        return []
    threshold = supervision_level(principal.is_city, include_overdue)
    q = select(RegistryRefresh).where(RegistryRefresh.done_at.is_(None), RegistryRefresh.escalation_level >= threshold)
    if not principal.is_city:
        q = q.where(RegistryRefresh.county == principal.agency.region_code)
    rows = await session.execute(
        q.order_by(RegistryRefresh.escalation_level.desc(), RegistryRefresh.due_at, RegistryRefresh.county)
    )
    return list(rows.scalars())


def overdue_json(r: RegistryRefresh) -> dict[str, object]:
    """A refresh as the stalled list carries it (api/cases/answers.py StalledRefresh)."""
    return {
        "county": r.county,
        "period": r.period,
        "period_label": period_label(r.period),
        "due_at": r.due_at.isoformat(),
        "escalation_level": r.escalation_level,
    }


async def record(*, session: AsyncSession, client: Client, county: str, done: RefreshDone) -> list[RefreshState]:
    """Every open refresh of the county is done with this record (an overdue half-year and the current
    one alike: one import refreshes the registry); none open is nothing to do. A record sent again
    answers the first (the workflow keeps the first)."""
    check_county(county)
    open_ids = (
        await session.execute(
            select(RegistryRefresh.workflow_id).where(
                RegistryRefresh.county == county, RegistryRefresh.done_at.is_(None)
            )
        )
    ).scalars()
    out = []
    for workflow_id in open_ids:
        handle = client.get_workflow_handle(workflow_id)
        out.append(await handle.execute_update(RECORD_UPDATE, done, result_type=RefreshState))
    return out


async def record_by_person(
    *, session: AsyncSession, client: Client, principal: Principal, county: str, note: str
) -> list[RefreshState]:
    check_county(county)
    if not may_record(principal, county):
        raise DomainError("not_permitted", "只有本县（区）民政部门可以登记台账更新")
    done = RefreshDone(
        agency_id=principal.agency.id,
        agency_name=principal.agency.name,
        user_id=principal.user_id,
        user_name=principal.display_name,
        note=note,
    )
    audit(session, principal, "refresh", detail=f"registry_refresh:{county}")
    await session.commit()
    return await record(session=session, client=client, county=county, done=done)


async def record_by_import(
    *, session: AsyncSession, client: Client, county: str, agency_id: int, agency_name: str, import_ref: str
) -> list[RefreshState]:
    """What the registry's apply calls once a county's import is applied."""
    done = RefreshDone(
        agency_id=agency_id, agency_name=agency_name, user_name="系统（台账导入）", import_ref=import_ref
    )
    return await record(session=session, client=client, county=county, done=done)
