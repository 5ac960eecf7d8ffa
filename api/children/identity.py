"""A child's identity in the registry: read from a checked ID number, or told (a provisional record, the
number added later). What the record says and what the number says must agree: a conflict is refused
with the reason, never overwritten; only an estimated birth date gives way to the number's."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from datetime import date

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.children.schemas import ChildIn, ChildUpdate
from db.models import Child
from domain.enums import SEX_LABELS, Sex
from domain.errors import DomainError
from domain.identity import IdentityStatus, NoIdReason, parse_no_id_reason
from domain.idnumber import age_on, parse_id_number
from domain.regions import is_known_region, validate_region_code


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


def required_text(value: str, field: str, label: str, limit: int = 64) -> str:
    value = (value or "").strip()
    if not value:
        raise DomainError("field_required", f"请填写“{label}”", field=field)
    if len(value) > limit:
        raise DomainError("field_too_long", f"“{label}”不能超过{limit}字", field=field)
    return value


def name_of(value: str | None) -> str:
    if not (value or "").strip():
        raise DomainError("field_required", "请填写“姓名”（不详的可填部分姓名或“未知”）", field="name")
    return required_text(value or "", "name", "姓名")


def sex_of(value: str | None) -> str:
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


def origin_of(value: str | None) -> str | None:
    cleaned = (value or "").strip()
    return validate_region_code(cleaned, field="origin_region") if cleaned else None


def identity_of(data: ChildIn, today: date) -> Identity:
    if data.no_id_number:
        if (data.id_number or "").strip():
            raise DomainError("field_invalid", "已勾选“暂无身份证号码”，请不要再填写号码", field="id_number")
        return Identity(
            id_number=None,
            status=IdentityStatus.provisional,
            no_id_reason=parse_no_id_reason(data.no_id_reason),
            sex=sex_of(data.sex),
            birth_date=check_birth_date(data.birth_date, today),
            birth_date_estimated=data.birth_date_estimated,
            origin_region=origin_of(data.origin_region),
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


IDENTITY_FIELDS = ("sex", "birth_date", "birth_date_estimated", "origin_region", "no_id_reason")


def refuse_identity_change(child: Child, data: ChildUpdate) -> None:
    """A verified record's identity comes from its number: the same values may be sent, others are refused."""
    sent = data.model_fields_set
    if "id_number" in sent and data.id_number and clean_number(data.id_number) != child.id_number:
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


def clean_number(value: str) -> str:
    return unicodedata.normalize("NFKC", value).strip().upper()


def complete_provisional(child: Child, data: ChildUpdate, today: date) -> list[str]:
    """What was learnt about a provisional record's child, short of the ID number."""
    sent, changed = data.model_fields_set, []
    if "sex" in sent and data.sex:
        sex = sex_of(data.sex)
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
        origin = origin_of(data.origin_region)
        if origin != child.origin_region:
            child.origin_region, changed = origin, [*changed, "origin_region"]
    if "no_id_reason" in sent and data.no_id_reason:
        reason = parse_no_id_reason(data.no_id_reason).value
        if reason != child.no_id_reason:
            child.no_id_reason, changed = reason, [*changed, "no_id_reason"]
    return changed


async def add_id_number(
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
        # A residence permit's code (港澳台) names no region in the registry: the origin stays unknown then.
        if is_known_region(info.region_code, allow_historical=True):
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
