"""The children's registry: register (ID number checked), find, read. A clerk browses the children of
their own county (a city agency: the whole city); a child elsewhere is found only by the exact ID
number, which a reporter has in front of them."""

from __future__ import annotations

from datetime import UTC, date, datetime

from pydantic import BaseModel, Field
from sqlalchemy import or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit import audit
from api.cases.visibility import scope_regions
from api.principal import Principal
from db.models import Agency, Child, Guardian
from domain.deadlines import local_date
from domain.enums import AgencyType, Role
from domain.errors import DomainError
from domain.idnumber import age_on, parse_id_number
from domain.regions import CITY_CODE, is_changzhi, validate_region_code


class GuardianIn(BaseModel):
    name: str = ""
    relation: str = ""
    phone: str = ""
    is_guardian: bool = True


class ChildIn(BaseModel):
    name: str = ""
    sex: str | None = None
    id_number: str = ""
    birth_date: date | None = None
    origin_region: str = ""
    residence_region: str = ""
    residence_committee_id: int | None = None
    address: str = ""
    school: str | None = None
    guardians: list[GuardianIn] = Field(default_factory=list)


def _required(value: str, field: str, label: str, limit: int = 64) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError("field_required", f"请填写“{label}”", field=field)
    if len(value) > limit:
        raise DomainError("field_too_long", f"“{label}”不能超过{limit}字", field=field)
    return value


def browse_condition(principal: Principal):
    return or_(Child.residence_region.in_(scope_regions(principal)), Child.created_by_agency_id == principal.agency.id)


async def register_child(*, session: AsyncSession, principal: Principal, data: ChildIn) -> Child:
    if principal.role == Role.admin:
        raise DomainError("not_permitted", "管理员账号不能登记儿童")
    today = local_date(datetime.now(UTC))
    name = _required(data.name, "name", "姓名")
    info = parse_id_number(data.id_number or "", today=today)
    if data.birth_date and data.birth_date != info.birth_date:
        raise DomainError("birth_date_mismatch", "出生日期与身份证号码不一致", field="birth_date")
    if data.birth_date and data.birth_date > today:
        raise DomainError("date_in_future", "出生日期不能晚于今天", field="birth_date")
    if data.sex and data.sex != info.sex.value:
        raise DomainError("sex_mismatch", "性别与身份证号码不一致", field="sex")
    if age_on(info.birth_date, today) >= 18:
        raise DomainError("not_a_child", "该身份证号码对应的人已年满十八周岁", field="id_number")
    origin = validate_region_code(data.origin_region, field="origin_region")
    residence = validate_region_code(data.residence_region, field="residence_region")
    if not is_changzhi(residence) or residence == CITY_CODE:
        raise DomainError("region_outside", "居住地应为长治市的县（区）", field="residence_region")
    committee = None
    if data.residence_committee_id:
        committee = await session.get(Agency, data.residence_committee_id)
        if (
            committee is None
            or committee.agency_type != AgencyType.village_committee.value
            or committee.region_code != residence
        ):
            raise DomainError("field_invalid", "所选村（居）委会不在居住地县（区）", field="residence_committee_id")
    guardians = [g for g in data.guardians if (g.name or "").strip()]
    if not guardians:
        raise DomainError("field_required", "请至少填写一名监护人", field="guardians")
    for i, g in enumerate(guardians):
        _required(g.relation, f"guardians.{i}.relation", "与儿童关系", 32)
    existing = (await session.execute(select(Child).where(Child.id_number == info.id_number))).scalar_one_or_none()
    if existing is not None:
        raise DomainError("child_exists", "该身份证号码已登记，请按身份证号码查找该儿童", field="id_number")
    child = Child(
        name=name,
        sex=info.sex.value,
        id_number=info.id_number,
        birth_date=info.birth_date,
        origin_region=origin,
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
    audit(session, principal, "register_child", child_id=child.id)
    await session.commit()
    return child


async def find_children(
    *, session: AsyncSession, principal: Principal, q: str | None = None, id_number: str | None = None, limit: int = 50
) -> list[Child]:
    """By exact ID number (any child), or by name within the principal's area."""
    if principal.role == Role.admin:
        return []
    if id_number:
        cleaned = id_number.strip().upper()
        stmt = select(Child).where(Child.id_number == cleaned)
    else:
        stmt = select(Child).where(browse_condition(principal))
        if q:
            stmt = stmt.where(Child.name.contains(q.strip()))
    rows = list((await session.execute(stmt.order_by(Child.id.desc()).limit(limit))).scalars())
    audit(session, principal, "find_children", detail=f"{len(rows)} found")
    await session.commit()
    return rows


async def get_child(*, session: AsyncSession, principal: Principal, child_id: int) -> Child:
    child = (
        await session.execute(select(Child).where(Child.id == child_id, browse_condition(principal)))
    ).scalar_one_or_none()
    if child is None or principal.role == Role.admin:
        raise DomainError("child_not_found", "儿童不存在或无权查看", field="child_id")
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
    return await get_child(session=session, principal=principal, child_id=child_id)


class ChildUpdate(BaseModel):
    """A correction or a change of a child's record; only the fields sent change. The identity (ID number,
    and the birth date and sex it fixes) is not changed here."""

    name: str | None = None
    residence_region: str | None = None
    residence_committee_id: int | None = None
    address: str | None = None
    school: str | None = None
    guardians: list[GuardianIn] | None = None  # the whole list, replacing the old one


async def update_child(*, session: AsyncSession, principal: Principal, child_id: int, data: ChildUpdate) -> Child:
    """Who can read the record (the child's county, or the registering agency) can correct it; the change
    is audited by field names, never values. A move to another county changes no case: the hand-over
    step of a case carries it (and the county is set by the receiving side then)."""
    child = await get_child(session=session, principal=principal, child_id=child_id)
    sent = data.model_fields_set
    changed: list[str] = []
    if "name" in sent and data.name is not None:
        name = _required(data.name, "name", "姓名")
        if name != child.name:
            child.name, changed = name, [*changed, "name"]
    residence = child.residence_region
    if "residence_region" in sent and data.residence_region is not None:
        residence = validate_region_code(data.residence_region, field="residence_region")
        if not is_changzhi(residence) or residence == CITY_CODE:
            raise DomainError("region_outside", "居住地应为长治市的县（区）", field="residence_region")
    committee_id = child.residence_committee_id if residence == child.residence_region else None
    if "residence_committee_id" in sent:
        committee_id = data.residence_committee_id or None
    if committee_id is not None:
        committee = await session.get(Agency, committee_id)
        if (
            committee is None
            or committee.agency_type != AgencyType.village_committee.value
            or committee.region_code != residence
        ):
            raise DomainError("field_invalid", "所选村（居）委会不在居住地县（区）", field="residence_committee_id")
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
        guardians = [g for g in data.guardians if (g.name or "").strip()]
        if not guardians:
            raise DomainError("field_required", "请至少填写一名监护人", field="guardians")
        for i, g in enumerate(guardians):
            _required(g.relation, f"guardians.{i}.relation", "与儿童关系", 32)
        new = [(g.name.strip()[:64], g.relation.strip()[:32], g.phone.strip()[:32], g.is_guardian) for g in guardians]
        old = [(g.name, g.relation, g.phone, g.is_guardian) for g in child.guardians]
        if new != old:
            child.guardians = [Guardian(name=n, relation=r, phone=p, is_guardian=ig) for n, r, p, ig in new]
            changed.append("guardians")
    if changed:
        audit(session, principal, "update_child", child_id=child.id, detail="fields: " + ", ".join(changed))
        await session.commit()
    return child
