"""合并档案: a person merges a provisional record (a child registered without an ID number) into the
registered child, never the system. Who may is domain/identity.py's rule."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from pydantic import BaseModel
from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit import audit
from api.cases.visibility import scope_regions
from api.children.identity import clean_number
from api.children.service import ChildMerged, get_child
from api.principal import Principal
from db.models import Case, Child, Guardian
from domain.errors import DomainError
from domain.identity import check_may_merge


class MergeIn(BaseModel):
    """The registered child a provisional record is merged into: by id (within the merger's area), or by the
    exact ID number (anywhere, as a child is found for a case)."""

    into_child_id: int | None = None
    into_id_number: str | None = None


@dataclass
class MergePair:
    source: Child  # the provisional record
    target: Child  # the registered child
    target_in_area: bool  # whether the merger may read the target's whole record (else: found by number)
    cases: int  # cases of the provisional record, all of which move


@dataclass
class Merged:
    target: Child
    case_nos: list[str]
    guardians_added: int


async def merge_source(*, session: AsyncSession, principal: Principal, child_id: int) -> Child:
    """The provisional record to merge, if the principal may merge it (domain/identity.py)."""
    source = await get_child(session=session, principal=principal, child_id=child_id)
    check_may_merge(principal.role, principal.agency, source.residence_region)
    if not source.provisional:
        raise DomainError("field_invalid", "只有身份待核实的临时档案可以合并到其他儿童档案", field="child_id")
    return source


async def merge_pair(*, session: AsyncSession, principal: Principal, child_id: int, data: MergeIn) -> MergePair:
    """Both records, for the merger to compare before confirming."""
    source = await merge_source(session=session, principal=principal, child_id=child_id)
    if data.into_id_number and data.into_id_number.strip():
        number = clean_number(data.into_id_number)
        target = (await session.execute(select(Child).where(Child.id_number == number))).scalar_one_or_none()
        if target is None:
            raise DomainError("child_not_found", "未找到该身份证号码的儿童", field="into_id_number")
    elif data.into_child_id is not None:
        target = await get_child(session=session, principal=principal, child_id=data.into_child_id, merged_ok=True)
    else:
        raise DomainError("field_required", "请选择要合并到的儿童档案，或填写其身份证号码", field="into_child_id")
    if target.id == source.id or target.merged_into_id is not None or target.provisional:
        raise DomainError(
            "field_invalid", "只能合并到另一名已核实身份（有身份证号码）的儿童档案", field="into_child_id"
        )
    in_area = target.residence_region in scope_regions(principal) or target.created_by_agency_id == principal.agency.id
    cases = (await session.execute(select(func.count()).where(Case.child_id == source.id))).scalar_one()
    return MergePair(source=source, target=target, target_in_area=in_area, cases=cases)


def _same_person(a: Guardian, b: Guardian) -> bool:
    return a.name == b.name and a.relation == b.relation and (a.phone == b.phone or not a.phone or not b.phone)


def _append_guardians(source: Child, target: Child) -> int:
    """The provisional record's guardians and contacts that the registered child lacks; a phone number the
    registered record lacks is filled in. Nothing is removed."""
    added = 0
    for g in source.guardians:
        same = next((t for t in target.guardians if _same_person(t, g)), None)
        if same is None:
            target.guardians.append(
                Guardian(name=g.name, relation=g.relation, phone=g.phone, is_guardian=g.is_guardian)
            )
            added += 1
        elif not same.phone and g.phone:
            same.phone = g.phone
    return added


async def merge_child(*, session: AsyncSession, principal: Principal, child_id: int, data: MergeIn) -> Merged:
    """Merges a provisional record into the registered child, in one transaction: every case of it now
    belongs to the registered child, guardians are appended where not already there, an address or school
    the registered record lacks is taken over, and the provisional record is kept, marked merged. Audited
    for both records and every case moved."""
    pair = await merge_pair(session=session, principal=principal, child_id=child_id, data=data)
    source, target = pair.source, pair.target
    # Both rows locked, in id order: a second merge waits and then finds the record merged, and a case the
    # worker is opening for the record meanwhile (activities/cases.py) waits and then opens on the target.
    await session.execute(
        select(Child.id).where(Child.id.in_([source.id, target.id])).order_by(Child.id).with_for_update()
    )
    await session.refresh(source)
    await session.refresh(target)
    if source.merged_into_id is not None:
        raise ChildMerged(source.merged_into_id)
    case_nos = list(
        (
            await session.execute(
                update(Case)
                .where(Case.child_id == source.id)
                .values(child_id=target.id)
                .returning(Case.case_no)
                .execution_options(synchronize_session=False)
            )
        ).scalars()
    )
    added = _append_guardians(source, target)
    if not target.address and source.address:
        target.address = source.address
    if not target.school and source.school:
        target.school = source.school
    source.merged_into_id = target.id
    source.merged_at = datetime.now(UTC)
    source.merged_by_user_id = principal.user_id
    audit(
        session, principal, "merge_child", child_id=source.id, detail=f"into child {target.id}; cases {len(case_nos)}"
    )
    audit(session, principal, "merge_child", child_id=target.id, detail=f"from child {source.id}; guardians {added}")
    for case_no in sorted(case_nos):
        audit(session, principal, "merge_child", case_no=case_no, child_id=target.id, detail=f"from child {source.id}")
    await session.commit()
    return Merged(target=target, case_nos=sorted(case_nos), guardians_added=added)
