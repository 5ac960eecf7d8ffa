"""The children's registry: register (ID number checked, or provisionally without one), find, read,
correct, add the ID number later, merge a provisional record into the registered child. A clerk browses
the children of their own county (a city agency: the whole city); a child elsewhere is found only by the
exact ID number, which a reporter has in front of them."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pydantic import BaseModel, Field
from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.audit import audit
from api.cases.visibility import scope_regions
from api.principal import Principal
from db.models import Agency, Case, Child, Guardian
from domain.deadlines import local_date
from domain.enums import SEX_LABELS, AgencyType, Role, Sex
from domain.errors import DomainError
from domain.identity import IdentityStatus, NoIdReason, check_may_merge, parse_no_id_reason
from domain.idnumber import age_on, parse_id_number
from domain.regions import CITY_CODE, is_changzhi, validate_region_code

# Names a clerk writes when the child's name is not known: never matched as part of another name.
UNKNOWN_NAMES = frozenset({"未知", "不详", "无名", "无名氏"})


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
    # 暂无身份证号码: registered with what is known, flagged provisional, the number added later.
    no_id_number: bool = False
    no_id_reason: str | None = None  # domain/identity.py NoIdReason
    birth_date_estimated: bool = False


class ChildMerged(DomainError):
    """The record was merged into another child's: reads lead there, changes are refused."""

    def __init__(self, into_id: int) -> None:
        super().__init__(
            "child_merged", f"该临时档案已合并到儿童档案（编号{into_id}），请在该档案中办理", field="child_id"
        )
        self.into_id = into_id
        self.extra = {"merged_into_id": into_id}


class MergeOffered(DomainError):
    """The ID number belongs to another child: the record may be that child, for a person to merge."""

    def __init__(self, child_id: int, other_id: int) -> None:
        super().__init__(
            "id_number_registered",
            f"该身份证号码已登记在另一名儿童的档案（编号{other_id}）中。如确为同一儿童，请由儿童居住县（区）"
            f"或市级民政部门的督导将本档案合并到该档案（合并后本档案的案件转入该档案）",
            field="id_number",
        )
        self.other_id = other_id
        self.extra = {"merge_into_child_id": other_id, "merge": f"/api/v1/children/{child_id}/merge"}


@dataclass(frozen=True)
class Identity:
    """Who the child is, as far as the registry knows: from a checked ID number, or as told (provisional)."""

    id_number: str | None
    status: IdentityStatus
    no_id_reason: NoIdReason | None
    sex: str
    birth_date: date
    birth_date_estimated: bool
    origin_region: str | None


def _required(value: str, field: str, label: str, limit: int = 64) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError("field_required", f"请填写“{label}”", field=field)
    if len(value) > limit:
        raise DomainError("field_too_long", f"“{label}”不能超过{limit}字", field=field)
    return value


def _name(value: str | None) -> str:
    if not (value or "").strip():
        raise DomainError("field_required", "请填写“姓名”（不详的可填部分姓名或“未知”）", field="name")
    return _required(value or "", "name", "姓名")


def _sex(value: str | None) -> str:
    try:
        return Sex((value or "").strip()).value
    except ValueError:
        raise DomainError("field_required", "请选择性别", field="sex") from None


def check_birth_date(birth_date: date | None, today: date) -> date:
    """A birth date told rather than read from a number: known or estimated, not later than today, a child."""
    if birth_date is None:
        raise DomainError("field_required", "请填写出生日期（不确切的可填估计日期并勾选“估计”）", field="birth_date")
    if birth_date > today:
        raise DomainError("date_in_future", "出生日期不能晚于今天", field="birth_date")
    if age_on(birth_date, today) >= 18:
        raise DomainError("not_a_child", "按出生日期该儿童已年满十八周岁", field="birth_date")
    return birth_date


def _origin(value: str | None) -> str | None:
    cleaned = (value or "").strip()
    return validate_region_code(cleaned, field="origin_region") if cleaned else None


def _identity(data: ChildIn, today: date) -> Identity:
    if data.no_id_number:
        if (data.id_number or "").strip():
            raise DomainError("field_invalid", "已勾选“暂无身份证号码”，请不要再填写号码", field="id_number")
        return Identity(
            id_number=None,
            status=IdentityStatus.provisional,
            no_id_reason=parse_no_id_reason(data.no_id_reason),
            sex=_sex(data.sex),
            birth_date=check_birth_date(data.birth_date, today),
            birth_date_estimated=data.birth_date_estimated,
            origin_region=_origin(data.origin_region),
        )
    if not (data.id_number or "").strip():
        raise DomainError("field_required", "请填写身份证号码；暂无号码的，请勾选“暂无身份证号码”", field="id_number")
    info = parse_id_number(data.id_number, today=today)
    if data.birth_date and data.birth_date != info.birth_date:
        raise DomainError("birth_date_mismatch", "出生日期与身份证号码不一致", field="birth_date")
    if data.birth_date and data.birth_date > today:
        raise DomainError("date_in_future", "出生日期不能晚于今天", field="birth_date")
    if data.sex and data.sex != info.sex.value:
        raise DomainError("sex_mismatch", "性别与身份证号码不一致", field="sex")
    if age_on(info.birth_date, today) >= 18:
        raise DomainError("not_a_child", "该身份证号码对应的人已年满十八周岁", field="id_number")
    return Identity(
        id_number=info.id_number,
        status=IdentityStatus.verified,
        no_id_reason=None,
        sex=info.sex.value,
        birth_date=info.birth_date,
        birth_date_estimated=False,
        origin_region=validate_region_code(data.origin_region, field="origin_region"),
    )


def _residence(value: str | None) -> str:
    residence = validate_region_code(value or "", field="residence_region")
    if not is_changzhi(residence) or residence == CITY_CODE:
        raise DomainError("region_outside", "居住地应为长治市的县（区）", field="residence_region")
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
        _required(g.relation, f"guardians.{i}.relation", "与儿童关系", 32)
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
    name = _name(data.name)
    who = _identity(data, today)
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


async def get_child(*, session: AsyncSession, principal: Principal, child_id: int, merged_ok: bool = False) -> Child:
    """The record, if within the principal's area (or registered by their agency). A merged record raises
    ChildMerged (the caller leads the reader to the child it was merged into) unless `merged_ok`."""
    child = (
        await session.execute(select(Child).where(Child.id == child_id, browse_condition(principal)))
    ).scalar_one_or_none()
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
    return await get_child(session=session, principal=principal, child_id=child_id)


class ChildUpdate(BaseModel):
    """A correction or a change of a child's record; only the fields sent change. A verified identity (the
    ID number, and the birth date, sex and origin it fixes) is not changed here; a provisional record's is
    completed: what is learnt, and the ID number once known (the record becomes verified)."""

    name: str | None = None
    residence_region: str | None = None
    residence_committee_id: int | None = None
    address: str | None = None
    school: str | None = None
    guardians: list[GuardianIn] | None = None  # the whole list, replacing the old one
    # Provisional records only:
    id_number: str | None = None
    sex: str | None = None
    birth_date: date | None = None
    birth_date_estimated: bool | None = None
    origin_region: str | None = None  # sent with the ID number: confirms an origin other than the number's
    no_id_reason: str | None = None


IDENTITY_FIELDS = ("sex", "birth_date", "birth_date_estimated", "origin_region", "no_id_reason")


def _refuse_identity_change(child: Child, data: ChildUpdate) -> None:
    """A verified record's identity comes from its number: the same values may be sent, others are refused."""
    sent = data.model_fields_set
    if "id_number" in sent and data.id_number and _clean_number(data.id_number) != child.id_number:
        raise DomainError(
            "id_number_fixed", "身份证号码登记后不能修改；号码有误的，请联系登记单位核实", field="id_number"
        )
    current = {
        "sex": child.sex,
        "birth_date": child.birth_date,
        "birth_date_estimated": False,
        "origin_region": child.origin_region,
        "no_id_reason": None,
    }
    for name in IDENTITY_FIELDS:
        value = getattr(data, name)
        if name in sent and value not in (None, "") and value != current[name]:
            raise DomainError(
                "identity_fixed", "该儿童身份已按身份证号码核实，性别、出生日期和户籍地不能在此修改", field=name
            )


def _clean_number(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().upper()


def _complete_provisional(child: Child, data: ChildUpdate, today: date) -> list[str]:
    """What was learnt about a provisional record's child, short of the ID number."""
    sent, changed = data.model_fields_set, []
    if "sex" in sent and data.sex:
        sex = _sex(data.sex)
        if sex != child.sex:
            child.sex, changed = sex, [*changed, "sex"]
    if "birth_date" in sent and data.birth_date is not None:
        born = check_birth_date(data.birth_date, today)
        if born != child.birth_date:
            child.birth_date, changed = born, [*changed, "birth_date"]
    if "birth_date_estimated" in sent and data.birth_date_estimated is not None:
        if data.birth_date_estimated != child.birth_date_estimated:
            child.birth_date_estimated, changed = data.birth_date_estimated, [*changed, "birth_date_estimated"]
    if "origin_region" in sent and data.origin_region is not None:
        origin = _origin(data.origin_region)
        if origin != child.origin_region:
            child.origin_region, changed = origin, [*changed, "origin_region"]
    if "no_id_reason" in sent and data.no_id_reason:
        reason = parse_no_id_reason(data.no_id_reason).value
        if reason != child.no_id_reason:
            child.no_id_reason, changed = reason, [*changed, "no_id_reason"]
    return changed


async def _add_id_number(
    session: AsyncSession, child: Child, number: str, *, origin_confirmed: bool, today: date
) -> list[str]:
    """The ID number of a provisional record, checked as at registration and against what the record says:
    a conflict is refused with the reason, never overwritten. An estimated birth date gives way to the
    number's. A number that another child has is refused with the offer to merge."""
    info = parse_id_number(number, today=today)
    other = (
        await session.execute(select(Child.id).where(Child.id_number == info.id_number, Child.id != child.id))
    ).scalar_one_or_none()
    if other is not None:
        raise MergeOffered(child.id, other)
    if age_on(info.birth_date, today) >= 18:
        raise DomainError("not_a_child", "该身份证号码对应的人已年满十八周岁", field="id_number")
    if info.sex.value != child.sex:
        raise DomainError(
            "sex_mismatch",
            f"身份证号码显示的性别（{SEX_LABELS[info.sex]}）与档案中的性别（{SEX_LABELS[Sex(child.sex)]}）不一致，"
            "请核对号码；档案有误的，请先更正性别",
            field="id_number",
        )
    changed = ["id_number"]
    if info.birth_date != child.birth_date:
        if not child.birth_date_estimated:
            raise DomainError(
                "birth_date_mismatch",
                f"身份证号码中的出生日期（{info.birth_date.isoformat()}）与档案中的出生日期"
                f"（{child.birth_date.isoformat()}）不一致，请核对号码；档案有误的，请先更正出生日期",
                field="id_number",
            )
        child.birth_date, changed = info.birth_date, [*changed, "birth_date"]
    if child.origin_region is None:
        child.origin_region, changed = info.region_code, [*changed, "origin_region"]
    elif child.origin_region != info.region_code and not origin_confirmed:
        raise DomainError(
            "origin_mismatch",
            f"身份证号码前6位（{info.region_code}）与档案中的户籍地（{child.origin_region}）不一致，请核对；"
            "如户籍已迁移、档案中的户籍地无误，请确认户籍地后再保存",
            field="origin_region",
        )
    child.id_number = info.id_number
    child.identity_status = IdentityStatus.verified.value
    child.birth_date_estimated = False
    child.no_id_reason = None
    return changed


async def update_child(*, session: AsyncSession, principal: Principal, child_id: int, data: ChildUpdate) -> Child:
    """Who can read the record (the child's county, or the registering agency) can correct it; the change
    is audited by field names, never values. A move to another county changes no case: the hand-over
    step of a case carries it (and the county is set by the receiving side then)."""
    child = await get_child(session=session, principal=principal, child_id=child_id)
    today = local_date(datetime.now(UTC))
    sent = data.model_fields_set
    changed: list[str] = []
    # Guardians may stay unknown on a record registered without a number, also once the number is added.
    guardians_required = not child.provisional
    if "name" in sent and data.name is not None:
        name = _name(data.name)
        if name != child.name:
            child.name, changed = name, [*changed, "name"]
    if child.provisional:
        changed += _complete_provisional(child, data, today)
        if "id_number" in sent and (data.id_number or "").strip():
            changed += [
                f
                for f in await _add_id_number(
                    session, child, data.id_number or "", origin_confirmed="origin_region" in sent, today=today
                )
                if f not in changed
            ]
    else:
        _refuse_identity_change(child, data)
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


# ---------------------------------------------------------------------------- merging a provisional record


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
        number = _clean_number(data.into_id_number)
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
