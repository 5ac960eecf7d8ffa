"""The children's registry: register (ID number checked, or provisionally without one), find, read,
correct, add the ID number later, merge a provisional record into the registered child. A clerk browses
the children of their own county (a city agency: the whole city); a child elsewhere is found only by the
exact ID number, which a reporter has in front of them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import raiseload

from api.audit import audit
from api.cases.visibility import scope_regions
from api.children.identity import (
    add_id_number,
    complete_provisional,
    identity_of,
    name_of,
    refuse_identity_change,
    required_text,
)
from api.children.schemas import ChildIn, ChildUpdate, GuardianIn
from api.principal import Principal
from api.served import served_regions
from db.models import Agency, Child, Guardian
from domain.deadlines import local_date
from domain.enums import AgencyType, Role
from domain.errors import DomainError
from domain.identity import IdentityStatus
from domain.record_access import RecordAccess, check_may_edit, record_access
from domain.regions import validate_region_code

# Names a clerk writes when the child's name is not known: never matched as part of another name.
UNKNOWN_NAMES = frozenset({"未知", "不详", "无名", "无名氏"})


class ChildMerged(DomainError):
    """The record was merged into another child's: reads lead there, changes are refused."""

    def __init__(self, into_id: int) -> None:
        super().__init__(
            "child_merged", f"该临时档案已合并到儿童档案（编号{into_id}），请在该档案中办理", field="child_id"
        )
        self.into_id = into_id
        self.extra = {"merged_into_id": into_id}


def _residence(value: str | None) -> str:
    residence = validate_region_code(value or "", field="residence_region")
    served = served_regions()
    if not served.is_county(residence):
        raise DomainError("region_outside", f"居住地应为{served.name}的县（区）", field="residence_region")
    return residence


async def _committee(session: AsyncSession, committee_id: int | None, residence: str) -> Agency | None:
    if not committee_id:
        return None
    committee = await session.get(Agency, committee_id)
    if (
        committee is None
        or committee.agency_type != AgencyType.village_committee.value
        or committee.region_code != residence
    ):
        raise DomainError("field_invalid", "所选村（居）委会不在居住地县（区）", field="residence_committee_id")
    return committee


def _guardians(given: list[GuardianIn], *, required: bool) -> list[GuardianIn]:
    """The guardians with a name; at least one unless the child is registered provisionally (not known yet)."""
    guardians = [g for g in given if (g.name or "").strip()]
    if required and not guardians:
        raise DomainError("field_required", "请至少填写一名监护人", field="guardians")
    for i, g in enumerate(guardians):
        required_text(g.relation, f"guardians.{i}.relation", "与儿童关系", 32)
    return guardians


def browse_condition(principal: Principal):
    return or_(Child.residence_region.in_(scope_regions(principal)), Child.created_by_agency_id == principal.agency.id)


async def duplicate_candidates(
    *, session: AsyncSession, principal: Principal, name: str, birth_date: date, exclude_id: int | None = None
) -> list[Child]:
    """Records in the principal's area that may be the same child: the same birth date and the same name, or
    a name containing the partial one given ("小明" for 王小明). Shown as a warning; a person decides."""
    name = name.strip()
    named = Child.name == name
    if len(name) >= 2 and name not in UNKNOWN_NAMES:
        named = or_(named, Child.name.contains(name, autoescape=True))
    stmt = select(Child).where(
        browse_condition(principal), Child.merged_into_id.is_(None), Child.birth_date == birth_date, named
    )
    if exclude_id is not None:
        stmt = stmt.where(Child.id != exclude_id)
    return list((await session.execute(stmt.order_by(Child.id).limit(10))).scalars())


class PossibleDuplicates(DomainError):
    """A provisional registration that may be a child already registered: the clerk looks and decides."""

    def __init__(self, candidates: list[Child]) -> None:
        super().__init__("possible_duplicate", "台账中已有姓名和出生日期相符的儿童，请先核对是否为同一儿童")
        self.candidates = candidates


async def register_child(
    *, session: AsyncSession, principal: Principal, data: ChildIn, refuse_possible_duplicates: bool = False
) -> Child:
    """Registers the child. With `refuse_possible_duplicates` (the page, before the clerk confirmed), a
    provisional registration that matches recorded children raises PossibleDuplicates instead."""
    if principal.role == Role.admin:
        raise DomainError("not_permitted", "管理员账号不能登记儿童")
    today = local_date(datetime.now(UTC))
    name = name_of(data.name)
    who = identity_of(data, today)
    residence = _residence(data.residence_region)
    committee = await _committee(session, data.residence_committee_id, residence)
    guardians = _guardians(data.guardians, required=who.status == IdentityStatus.verified)
    if who.id_number is not None:
        existing = (await session.execute(select(Child).where(Child.id_number == who.id_number))).scalar_one_or_none()
        if existing is not None:
            raise DomainError("child_exists", "该身份证号码已登记，请按身份证号码查找该儿童", field="id_number")
    elif refuse_possible_duplicates:
        candidates = await duplicate_candidates(
            session=session, principal=principal, name=name, birth_date=who.birth_date
        )
        if candidates:
            raise PossibleDuplicates(candidates)
    child = Child(
        name=name,
        sex=who.sex,
        id_number=who.id_number,
        identity_status=who.status.value,
        no_id_reason=who.no_id_reason.value if who.no_id_reason else None,
        birth_date=who.birth_date,
        birth_date_estimated=who.birth_date_estimated,
        origin_region=who.origin_region,
        residence_region=residence,
        residence_committee_id=committee.id if committee else None,
        address=(data.address or "").strip()[:256],
        school=(data.school or "").strip()[:128] or None,
        created_by_agency_id=principal.agency.id,
        guardians=[
            Guardian(
                name=g.name.strip()[:64],
                relation=g.relation.strip()[:32],
                phone=g.phone.strip()[:32],
                is_guardian=g.is_guardian,
            )
            for g in guardians
        ],
    )
    session.add(child)
    try:
        await session.flush()
    except IntegrityError:
        await session.rollback()
        raise DomainError("child_exists", "该身份证号码已登记，请按身份证号码查找该儿童", field="id_number") from None
    audit(session, principal, "register_child", child_id=child.id, detail=who.status.value)
    await session.commit()
    return child


async def find_children(
    *, session: AsyncSession, principal: Principal, q: str | None = None, id_number: str | None = None, limit: int = 50
) -> list[Child]:
    """By exact ID number (any child), or by name within the principal's area; merged records are not found
    (their child is)."""
    if principal.role == Role.admin:
        return []
    if id_number:
        cleaned = id_number.strip().upper()
        stmt = select(Child).where(Child.id_number == cleaned)
    else:
        stmt = select(Child).where(browse_condition(principal), Child.merged_into_id.is_(None))
        if q:
            stmt = stmt.where(Child.name.contains(q.strip()))
    rows = list((await session.execute(stmt.order_by(Child.id.desc()).limit(limit))).scalars())
    audit(session, principal, "find_children", detail=f"{len(rows)} found")
    await session.commit()
    return rows


async def get_child(
    *, session: AsyncSession, principal: Principal, child_id: int, merged_ok: bool = False, guardians: bool = True
) -> Child:
    """The record, if within the principal's area (or registered by their agency). A merged record raises
    ChildMerged (the caller leads the reader to the child it was merged into) unless `merged_ok`. Without
    `guardians` they are not read (and reading them raises)."""
    stmt = select(Child).where(Child.id == child_id, browse_condition(principal))
    if not guardians:
        stmt = stmt.options(raiseload(Child.guardians))
    child = (await session.execute(stmt)).scalar_one_or_none()
    if child is None or principal.role == Role.admin:
        raise DomainError("child_not_found", "儿童不存在或无权查看", field="child_id")
    if child.merged_into_id is not None and not merged_ok:
        raise ChildMerged(child.merged_into_id)
    return child


async def get_child_for_case(
    *, session: AsyncSession, principal: Principal, child_id: int | None, id_number: str | None = None
) -> Child:
    """The child a case is opened for: within the principal's area by id, anywhere by exact ID number."""
    if id_number:
        found = await find_children(session=session, principal=principal, id_number=id_number)
        if not found:
            raise DomainError("child_not_found", "未找到该身份证号码的儿童，请先登记", field="id_number")
        return found[0]
    if child_id is None:
        raise DomainError("field_required", "请选择儿童", field="child_id")
    return await get_child(session=session, principal=principal, child_id=child_id, guardians=False)


def access_to(principal: Principal, child: Child) -> RecordAccess:
    """What the principal's agency may see and change of a record it can find (domain/record_access.py)."""
    return record_access(principal.agency.agency_type, registered_it=child.created_by_agency_id == principal.agency.id)


async def update_child(*, session: AsyncSession, principal: Principal, child_id: int, data: ChildUpdate) -> Child:
    """Those who keep the record (domain/record_access.py) correct it; the change is audited by field
    names, never values. A move to another county changes no case: the hand-over
    step of a case carries it (and the county is set by the receiving side then)."""
    child = await get_child(session=session, principal=principal, child_id=child_id)
    check_may_edit(access_to(principal, child))
    today = local_date(datetime.now(UTC))
    sent = data.model_fields_set
    changed: list[str] = []
    # Guardians may stay unknown on a record registered without a number, also once the number is added.
    guardians_required = not child.provisional
    if "name" in sent and data.name is not None:
        name = name_of(data.name)
        if name != child.name:
            child.name, changed = name, [*changed, "name"]
    if child.provisional:
        changed += complete_provisional(child, data, today)
        if "id_number" in sent and (data.id_number or "").strip():
            changed += [
                f
                for f in await add_id_number(
                    session, child, data.id_number or "", origin_confirmed="origin_region" in sent, today=today
                )
                if f not in changed
            ]
    else:
        refuse_identity_change(child, data)
    residence = child.residence_region
    if "residence_region" in sent and data.residence_region is not None:
        residence = _residence(data.residence_region)
    committee_id = child.residence_committee_id if residence == child.residence_region else None
    if "residence_committee_id" in sent:
        committee_id = data.residence_committee_id or None
    await _committee(session, committee_id, residence)
    if residence != child.residence_region:
        child.residence_region, changed = residence, [*changed, "residence_region"]
    if committee_id != child.residence_committee_id:
        child.residence_committee_id, changed = committee_id, [*changed, "residence_committee_id"]
    if "address" in sent and data.address is not None and data.address.strip()[:256] != (child.address or ""):
        child.address, changed = data.address.strip()[:256], [*changed, "address"]
    if "school" in sent:
        school = (data.school or "").strip()[:128] or None
        if school != child.school:
            child.school, changed = school, [*changed, "school"]
    if "guardians" in sent and data.guardians is not None:
        guardians = _guardians(data.guardians, required=guardians_required)
        new = [(g.name.strip()[:64], g.relation.strip()[:32], g.phone.strip()[:32], g.is_guardian) for g in guardians]
        old = [(g.name, g.relation, g.phone, g.is_guardian) for g in child.guardians]
        if new != old:
            child.guardians = [Guardian(name=n, relation=r, phone=p, is_guardian=ig) for n, r, p, ig in new]
            changed.append("guardians")
    if changed:
        audit(session, principal, "update_child", child_id=child.id, detail="fields: " + ", ".join(changed))
        try:
            await session.commit()
        except IntegrityError:  # another record took the number in the meantime
            await session.rollback()
            raise DomainError("child_exists", "该身份证号码已登记在另一名儿童的档案中", field="id_number") from None
    return child
