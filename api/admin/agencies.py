"""单位管理 (admins): the agencies cases are carried between: list, add, rename, move to another township,
switch off and on, and a CSV import that adds and renames hundreds at once. Every change leaves an audit entry.

The township (乡镇/街道) ties the agencies below a county together: a step held jointly (co-holders)
finds the township government of a child's village committee through activities/cases.resolve_agency, by an
exact match of their `township`. So a committee must name a township that has an active government in its
county, a county has one active government per township, and a government's new township name carries its
committees (and schools) along with it.

Switching an agency off keeps its users and its history. resolve_agency no longer picks it; deactivating is
refused while it holds open steps, since a step whose holder cannot log in would stall unseen.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import any_, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from api.admin.service import require_admin
from api.admin.users import _like
from api.audit import audit
from api.principal import Principal
from api.served import served_regions
from api.spreadsheet import Cell, Column, Table, is_xlsx, read_cell, xlsx_rows
from db.documents import short_name_of
from db.models import Agency, Case, CaseParty, CaseStep, User
from db.seed import ADMIN_AGENCY_CODE
from domain.enums import AGENCY_TYPE_LABELS, ROLE_LABELS, Role
from domain.enums import AgencyType as T
from domain.errors import DomainError
from domain.regions import Region, all_regions, is_city_level, province_of, region_name, served_by
from domain.text import check_text

CODE = re.compile(r"[a-z0-9][a-z0-9-]{1,63}")
CODE_RULE = "单位代码为2至64位小写字母、数字或 -（首位不能是 -），如 luzhou-school3"
NAME_MAX = 128  # agencies.name
TOWNSHIP_MAX = 64  # agencies.township
# Agencies that sit in one township and must say which (the seed fills it for these, and for schools).
NEEDS_TOWNSHIP = frozenset({T.township, T.village_committee})

IMPORT_HEADER = ("code", "name", "type", "region", "township")
IMPORT_MAX_BYTES = 2_000_000
IMPORT_MAX_ROWS = 5000


# ---------------------------------------------------------------------------- reading what was typed


def _key(text: str) -> str:
    """How a typed label is compared: full-width brackets and letters as ASCII, no spaces, lower case."""
    return "".join(unicodedata.normalize("NFKC", text).split()).lower()


# What a spreadsheet calls the types besides their labels: 学校 or 村委会 rather than 学校/幼儿园, 村（居）民委员会.
_TYPE_ALIASES: dict[str, T] = {
    "村（居）委会": T.village_committee,
    "村委会": T.village_committee,
    "居委会": T.village_committee,
    "村民委员会": T.village_committee,
    "居民委员会": T.village_committee,
    "社区居委会": T.village_committee,
    "乡镇": T.township,
    "街道": T.township,
    "乡镇政府": T.township,
    "街道办": T.township,
    "公安局": T.police,
    "派出所": T.police,
    "检察院": T.procuratorate,
    "法院": T.court,
    "医院": T.hospital,
    "卫健委": T.health_commission,
    "卫健局": T.health_commission,
    "共青团": T.youth_league,
    "社工机构": T.social_work_org,
}


def _type_names() -> dict[str, T]:
    names: dict[str, T] = {}
    for t, label in AGENCY_TYPE_LABELS.items():
        for name in (t.value, label, *label.split("/")):
            names[_key(name)] = t
    names.update({_key(k): v for k, v in _TYPE_ALIASES.items()})
    return names


_TYPES = _type_names()


@dataclass(frozen=True)
class _CityNames:
    """How the served city and its counties are named in a typed sheet or form."""

    city: str
    labels: dict[str, str]  # code → name: the city's and its counties'
    by_name: dict[str, str]  # typed name (as _key compares it) → code
    # Abolished units of the city (长治县, 140421, is 上党区 since 2018): named, they get a hint rather than "unknown".
    former: dict[str, Region]


@functools.cache
def _names_of(city: str) -> _CityNames:
    served = served_by(city)
    name, province = served.name, region_name(province_of(city)) or ""
    names = {name: city, f"{province}{name}": city, f"{name}（全市）": city, f"{name}本级": city}
    for code, county in served.counties:
        names.update({county: code, f"{name}{county}": code, f"{province}{name}{county}": code})
    former = {_key(r.name): r for r in all_regions() if r.historical and r.code.startswith(city[:4])}
    labels = {city: name, **served.county_names}
    return _CityNames(city, labels, {_key(k): v for k, v in names.items()}, former)


def _names() -> _CityNames:
    """The served city's (api/served.py): a deployment for another city names its own counties."""
    return _names_of(served_regions().city)


def parse_type(value: str | None, field: str = "agency_type") -> T:
    """An AgencyType from its English value, its Chinese label (or either half of 学校/幼儿园) or a common name."""
    text = (value or "").strip()
    if not text:
        raise DomainError("field_required", "请填写单位类型", field=field)
    found = _TYPES.get(_key(text))
    if found is None:
        raise DomainError(
            "field_invalid",
            f"单位类型“{text}”无法识别，应为类型名称（如 学校、村（居）委会）或代码（如 school）",
            field=field,
        )
    return found


def parse_region(value: str | None, field: str = "region_code") -> str:
    """The served city's code or one of its counties', from the 6-digit code or the Chinese name (潞州区)."""
    text = unicodedata.normalize("NFKC", value or "").strip()
    if not text:
        raise DomainError("field_required", "请填写所属县（区）", field=field)
    names = _names()
    city = names.labels[names.city]
    if text.isascii() and text.isdigit():
        if text in names.labels:
            return text
        former = next((r for r in names.former.values() if r.code == text), None)
        if former is not None:
            raise DomainError("region_unknown", f"“{text}”（{former.name}）已撤销，请填写现行县（区）", field=field)
        raise DomainError("region_unknown", f"“{text}”不是{city}或其所辖县（区）的行政区划代码", field=field)
    code = names.by_name.get(_key(text))
    if code is not None:
        return code
    if _key(text) in names.former:
        raise DomainError("region_unknown", f"“{text}”已撤销，请填写现行县（区）", field=field)
    raise DomainError(
        "region_unknown", f"县（区）“{text}”不在{city}，应为{city}所辖县（区）的名称或6位行政区划代码", field=field
    )


def _code(value: str | None) -> str:
    code = (value or "").strip()
    if not code:
        raise DomainError("field_required", "请填写单位代码", field="code")
    if not CODE.fullmatch(code):
        raise DomainError("field_invalid", CODE_RULE, field="code")
    return code


def _name(value: str | None) -> str:
    name = (value or "").strip()
    if not name:
        raise DomainError("field_required", "请填写单位名称", field="name")
    if len(name) > NAME_MAX:
        raise DomainError("field_invalid", f"单位名称不能超过{NAME_MAX}个字", field="name")
    return name


def _township(value: str | None, agency_type: T, region_code: str) -> str | None:
    township = (value or "").strip()
    if len(township) > TOWNSHIP_MAX:
        raise DomainError("field_invalid", f"乡镇（街道）名称不能超过{TOWNSHIP_MAX}个字", field="township")
    if agency_type in NEEDS_TOWNSHIP:
        if is_city_level(region_code):
            raise DomainError(
                "field_invalid",
                f"{AGENCY_TYPE_LABELS[agency_type]}应属于某个县（区），不能设在{region_name(region_code) or '市'}本级",
                field="region_code",
            )
        if not township:
            raise DomainError("field_required", "请填写所在乡镇（街道），如 东街街道", field="township")
    return township or None


def region_label(code: str) -> str:
    return _names().labels.get(code, code)


# ---------------------------------------------------------------------------- the rules among agencies


@dataclass
class _Row:
    """An agency as it is, or as it will be after the change being checked."""

    code: str
    name: str
    agency_type: T
    region_code: str
    township: str | None
    is_active: bool = True

    def values(self) -> tuple[object, ...]:
        return (self.name, self.agency_type, self.region_code, self.township, self.is_active)


def _row(a: Agency) -> _Row:
    return _Row(a.code, a.name, T(a.agency_type), a.region_code, a.township, a.is_active)


class _Registry:
    """The agencies of some regions, changed in memory first: rules that involve several agencies (one name, one
    government per township) are checked on the result, and only then is anything written."""

    def __init__(self, agencies: Iterable[Agency]) -> None:
        self.agencies = {a.code: a for a in agencies}
        self.rows = {code: _row(a) for code, a in self.agencies.items()}
        self.before = {code: r.values() for code, r in self.rows.items()}

    @classmethod
    async def load(cls, session: AsyncSession, regions: Iterable[str] | None = None) -> _Registry:
        stmt = select(Agency).order_by(Agency.id)
        if regions is not None:
            stmt = stmt.where(Agency.region_code.in_(list(regions)))
        return cls((await session.execute(stmt)).scalars())

    def active(self, region_code: str) -> list[_Row]:
        return [r for r in self.rows.values() if r.region_code == region_code and r.is_active]

    def governments(self, region_code: str, township: str | None) -> list[_Row]:
        return [r for r in self.active(region_code) if r.agency_type == T.township and r.township == township]

    def committees(self, region_code: str, township: str | None) -> list[_Row]:
        return [r for r in self.active(region_code) if r.agency_type == T.village_committee and r.township == township]

    def set_township(self, row: _Row, township: str | None) -> list[_Row]:
        """Sets `row`'s township. A township government's new name carries the agencies that named the old one
        (撤镇设街道 renames a township, not its committees' places); returns them."""
        old, row.township = row.township, township
        if row.agency_type != T.township or not row.is_active or not old or old == township:
            return []
        if self.governments(row.region_code, old):
            return []  # another government still serves the old name
        moved = [
            r
            for r in self.rows.values()
            if r.region_code == row.region_code and r.agency_type != T.township and r.township == old
        ]
        for r in moved:
            r.township = township
        return moved

    def problem(self, row: _Row) -> DomainError | None:
        """The first rule `row` breaks among the others; only active agencies are held to them."""
        if not row.is_active:
            return None
        county = region_label(row.region_code)
        same_name = [r for r in self.active(row.region_code) if r.code != row.code and r.name == row.name]
        if same_name:
            return DomainError(
                "agency_name_taken", f"{county}已有名为“{row.name}”的单位（代码 {same_name[0].code}）", field="name"
            )
        if row.agency_type == T.township:
            others = [g for g in self.governments(row.region_code, row.township) if g.code != row.code]
            if others:
                return DomainError(
                    "township_taken",
                    f"{county}{row.township}已有乡镇人民政府/街道办事处：{others[0].name}（代码 {others[0].code}）",
                    field="township",
                )
        if row.agency_type == T.village_committee and not self.governments(row.region_code, row.township):
            return DomainError(
                "township_unknown",
                f"{county}没有启用的乡镇（街道）“{row.township}”：请先新增该乡镇人民政府/街道办事处，"
                "或填写已有的乡镇（街道）名称",
                field="township",
            )
        return None

    def add(self, row: _Row) -> None:
        self.rows[row.code] = row

    def changed(self) -> list[_Row]:
        return [r for code, r in self.rows.items() if self.before.get(code) != r.values()]


# ---------------------------------------------------------------------------- list and read


class AgencyFilter(BaseModel):
    region_code: str | None = None  # the city's code or a county's
    agency_type: str | None = None
    active: bool | None = None
    q: str | None = None  # part of the code or the name
    page: int = Field(1, ge=1)
    per_page: int = Field(50, ge=1, le=200)


@dataclass
class AgencyPage:
    items: list[Agency]
    total: int
    page: int
    per_page: int


def _conditions(f: AgencyFilter) -> list:
    conds = []
    if f.region_code:
        conds.append(Agency.region_code == f.region_code)
    if f.agency_type:
        conds.append(Agency.agency_type == f.agency_type)
    if f.active is not None:
        conds.append(Agency.is_active.is_(f.active))
    q = (f.q or "").strip()
    if q:
        conds.append(or_(Agency.code.ilike(_like(q), escape="\\"), Agency.name.ilike(_like(q), escape="\\")))
    return conds


_ORDER = (Agency.region_code, Agency.agency_type, Agency.name, Agency.id)


async def list_agencies(*, session: AsyncSession, principal: Principal, f: AgencyFilter) -> AgencyPage:
    """By region (the city first), type, then name."""
    require_admin(principal)
    base = select(Agency).where(*_conditions(f))
    total = (await session.execute(select(func.count()).select_from(base.subquery()))).scalar_one()
    rows = (await session.execute(base.order_by(*_ORDER).offset((f.page - 1) * f.per_page).limit(f.per_page))).scalars()
    return AgencyPage(items=list(rows), total=total, page=f.page, per_page=f.per_page)


async def all_matching(*, session: AsyncSession, principal: Principal, f: AgencyFilter) -> list[Agency]:
    """Every agency the filters match, unpaged (the export)."""
    require_admin(principal)
    return list((await session.execute(select(Agency).where(*_conditions(f)).order_by(*_ORDER))).scalars())


async def get_agency(
    *, session: AsyncSession, principal: Principal, agency_id: int, for_update: bool = False
) -> Agency:
    require_admin(principal)
    agency = await session.get(Agency, agency_id, with_for_update=for_update)
    if agency is None:
        raise DomainError("agency_not_found", "单位不存在")
    return agency


async def open_steps(session: AsyncSession, agency_id: int) -> int:
    """Open case steps the agency holds, or takes part in as a co-holder (joint persuasion)."""
    return (
        await session.execute(
            select(func.count())
            .select_from(CaseStep)
            .where(or_(CaseStep.holder_agency_id == agency_id, any_(CaseStep.co_holder_ids) == agency_id))
        )
    ).scalar_one()


async def open_cases(session: AsyncSession, agency_id: int) -> int:
    """Open cases the agency is a party to (it started, held or received one of them)."""
    return (
        await session.execute(
            select(func.count(func.distinct(CaseParty.case_id)))
            .join(Case, Case.id == CaseParty.case_id)
            .where(CaseParty.agency_id == agency_id, Case.status == "open")
        )
    ).scalar_one()


async def agency_users(session: AsyncSession, agency_id: int) -> list[User]:
    return list(
        (await session.execute(select(User).where(User.agency_id == agency_id).order_by(User.username))).scalars()
    )


async def user_counts(session: AsyncSession, agency_ids: Iterable[int]) -> dict[int, int]:
    ids = list(agency_ids)
    if not ids:
        return {}
    rows = await session.execute(
        select(User.agency_id, func.count()).where(User.agency_id.in_(ids)).group_by(User.agency_id)
    )
    return {agency_id: n for agency_id, n in rows.all()}


async def township_names(session: AsyncSession) -> list[tuple[str, str]]:
    """(county, township) of every active township government, for the form's suggestions."""
    rows = await session.execute(
        select(Agency.region_code, Agency.township)
        .where(Agency.agency_type == T.township.value, Agency.is_active.is_(True), Agency.township.is_not(None))
        .order_by(Agency.region_code, Agency.township)
    )
    return [(region_label(region), township) for region, township in rows.all()]


# ---------------------------------------------------------------------------- create and change


class AgencyCreateIn(BaseModel):
    code: str = Field(max_length=64)
    name: str = Field(max_length=128)
    agency_type: str = Field(max_length=40)  # the English value or the Chinese label
    region_code: str = Field(max_length=100)  # the 6-digit code or the county's name
    township: str | None = Field(
        default=None, max_length=64
    )  # required for township governments and village committees


class AgencyUpdateIn(BaseModel):
    """Only the fields sent are changed; `township` sent as null or "" clears it (where it is not required).
    Type, county and code stay: open steps and users' scopes are tied to them."""

    name: str | None = Field(default=None, max_length=128)
    township: str | None = Field(default=None, max_length=64)
    is_active: bool | None = None
    # What its document numbers start with (潞公); "" or null: derived from the name again.
    short_name: str | None = Field(default=None, max_length=16)


def _spec(
    code: str | None, name: str | None, agency_type: str | None, region: str | None, township: str | None
) -> _Row:
    """A new agency's row from what was typed, each field checked in the form's order."""
    clean_code, clean_name = _code(code), _name(name)
    kind, region_code = parse_type(agency_type), parse_region(region)
    return _Row(clean_code, clean_name, kind, region_code, _township(township, kind, region_code))


def _row_of(cells: dict[str, str], extra: bool) -> tuple[_Row | None, list[str]]:
    """A file row's agency, or every reason it is wrong (a clerk fixes them all at once, not one per import)."""
    if extra:
        return None, [f"列数多于表头（应为 {','.join(IMPORT_HEADER)}）"]
    reasons: list[str] = []

    def check(parse: Callable[..., Any], *args: Any) -> Any:
        try:
            return parse(*args)
        except DomainError as e:
            reasons.append(e.message)
            return None

    code, name = check(_code, cells["code"]), check(_name, cells["name"])
    kind, region = check(parse_type, cells["type"]), check(parse_region, cells["region"])
    township = check(_township, cells["township"], kind, region) if kind and region else None
    if reasons:
        return None, reasons
    return _Row(code, name, kind, region, township), []


async def _code_free(session: AsyncSession, code: str) -> None:
    taken = (await session.execute(select(Agency.name).where(Agency.code == code))).scalar_one_or_none()
    if taken is not None:
        raise DomainError("agency_code_taken", f"单位代码“{code}”已被使用（{taken}）", field="code")


def _new(row: _Row) -> Agency:
    return Agency(
        code=row.code,
        name=row.name,
        agency_type=row.agency_type.value,
        region_code=row.region_code,
        township=row.township,
        is_default=False,
        is_active=True,
    )


async def _flush(session: AsyncSession, message: str, field: str) -> None:
    try:
        await session.flush()
    except IntegrityError:
        # Another admin added the same code in the meantime: the unique index decides.
        await session.rollback()
        raise DomainError("agency_code_taken", message, field=field) from None


async def create_agency(*, session: AsyncSession, principal: Principal, data: AgencyCreateIn) -> Agency:
    require_admin(principal)
    row = _spec(data.code, data.name, data.agency_type, data.region_code, data.township)
    await _code_free(session, row.code)
    registry = await _Registry.load(session, [row.region_code])
    registry.add(row)
    problem = registry.problem(row)
    if problem is not None:
        raise problem
    agency = _new(row)
    session.add(agency)
    await _flush(session, f"单位代码“{row.code}”已被使用", "code")
    audit(session, principal, "agency_create", detail=_who(agency, f"{row.agency_type.value}@{row.region_code}"))
    await session.commit()
    return agency


def _who(a: Agency, more: str = "") -> str:
    return f"agency={a.id} {a.code} {more}".strip()


async def _deactivation_problem(session: AsyncSession, registry: _Registry, agency: Agency) -> DomainError | None:
    if agency.code == ADMIN_AGENCY_CODE:
        return DomainError("agency_protected", f"{agency.name}是系统管理员所在的单位，不能停用", field="is_active")
    steps = await open_steps(session, agency.id)
    if steps:
        return DomainError(
            "agency_has_open_steps",
            f"{agency.name}仍承办{steps}个未办结的案件环节，请先由督导将这些环节改派给其他单位，再停用",
            field="is_active",
        )
    row = registry.rows[agency.code]
    county = region_label(row.region_code)
    if row.agency_type == T.township and len(registry.governments(row.region_code, row.township)) == 1:
        committees = registry.committees(row.region_code, row.township)
        if committees:
            return DomainError(
                "agency_in_use",
                f"{county}{row.township}仍有{len(committees)}个启用的村（居）委会（如 {committees[0].name}），"
                "停用后联合劝返将找不到其所在乡镇（街道）：请先将它们改到其他乡镇（街道）",
                field="is_active",
            )
    city = _names().city
    if row.region_code != city:
        # resolve_agency falls back to the city's agency of the type; with none there either, a case needing one
        # would wait for an admin (the activity retries) instead of moving on.
        others = [
            r
            for region in (row.region_code, city)
            for r in registry.active(region)
            if r.agency_type == row.agency_type and r.code != row.code
        ]
        if not others:
            label = AGENCY_TYPE_LABELS[row.agency_type]
            return DomainError(
                "agency_in_use",
                f"{county}（及{_names().labels[city]}本级）没有其他启用的{label}，停用后需要该类单位的案件将无法流转："
                "请先新增或启用另一家",
                field="is_active",
            )
    return None


def _audit_change(session: AsyncSession, principal: Principal, agency: Agency, row: _Row, via: str = "") -> None:
    """One audit entry per kind of change, before the row is written to `agency`."""
    if row.name != agency.name:
        audit(session, principal, "agency_rename", detail=_who(agency, via))
    if row.township != agency.township:
        audit(session, principal, "agency_township", detail=_who(agency, f"{agency.township}->{row.township} {via}"))
    if row.is_active != agency.is_active:
        audit(
            session, principal, "agency_reactivate" if row.is_active else "agency_deactivate", detail=_who(agency, via)
        )


def _write(agency: Agency, row: _Row) -> None:
    agency.name, agency.township, agency.is_active = row.name, row.township, row.is_active


@dataclass
class AgencyChanged:
    agency: Agency
    moved: int  # agencies carried along to the township's new name


async def update_agency(
    *, session: AsyncSession, principal: Principal, agency_id: int, data: AgencyUpdateIn
) -> AgencyChanged:
    """Applies the fields sent (see AgencyUpdateIn), all checked before any is changed."""
    agency = await get_agency(session=session, principal=principal, agency_id=agency_id, for_update=True)
    sent = data.model_fields_set
    kind = T(agency.agency_type)
    name = _name(data.name) if "name" in sent else agency.name
    township = _township(data.township, kind, agency.region_code) if "township" in sent else agency.township
    active = data.is_active if "is_active" in sent and data.is_active is not None else agency.is_active
    short = _short_name(data.short_name) if "short_name" in sent else agency.short_name
    registry = await _Registry.load(session, {agency.region_code, _names().city})
    if agency.is_active and not active:
        problem = await _deactivation_problem(session, registry, agency)
        if problem is not None:
            raise problem
    row = registry.rows[agency.code]
    row.name, row.is_active = name, active
    moved = registry.set_township(row, township)
    problem = registry.problem(row)
    if problem is not None:
        raise problem
    _audit_change(session, principal, agency, row)
    _write(agency, row)
    if short != agency.short_name:
        change = f"short name {agency.short_name!r} -> {short!r}"
        audit(session, principal, "agency_update", detail=_who(agency, change))
        agency.short_name = short
    for other in moved:
        follower = registry.agencies[other.code]
        _audit_change(session, principal, follower, other, via=f"(with {agency.code})")
        _write(follower, other)
    await session.commit()
    return AgencyChanged(agency, len(moved))


def _short_name(value: str | None) -> str | None:
    """An agency's short name for document numbers: 1 to 8 Chinese characters; empty: derived."""
    text = (value or "").strip()
    if not text:
        return None
    if not re.fullmatch(r"[\u4e00-\u9fff]{1,8}", text):
        raise DomainError("invalid_short_name", "文号简称应为1至8个汉字，如“潞公”", field="short_name")
    return text


# ---------------------------------------------------------------------------- import


class AgencyImportError(DomainError):
    """A file with wrong rows: every reason, one per row ("第3行：…"), and nothing imported."""

    def __init__(self, rows: list[str]) -> None:
        super().__init__("import_invalid", f"共{len(rows)}行有误，未导入任何单位：" + "；".join(rows), field="file")
        self.rows = rows


@dataclass
class ImportedRow:
    row: int  # as the spreadsheet numbers it: the header is row 1
    code: str
    result: str  # created | updated | unchanged


@dataclass
class ImportResult:
    created: int
    updated: int
    unchanged: int
    moved: int  # agencies not in the file carried along to a township's new name
    dry_run: bool
    rows: list[ImportedRow]


def decode_upload(data: bytes) -> list[list[str]]:
    """The rows of an uploaded file, xlsx (its first sheet) or CSV."""
    if len(data) > IMPORT_MAX_BYTES:
        raise DomainError("file_too_large", f"文件不能超过{IMPORT_MAX_BYTES // 1_000_000}MB，请分批导入", field="file")
    if is_xlsx(data):
        return [[check_text(c, "文件", "file") for c in row] for row in xlsx_rows(data, max_rows=IMPORT_MAX_ROWS)]
    return csv_lines(decode_csv(data))


def decode_csv(data: bytes) -> str:
    """The text of an uploaded CSV: UTF-8, with or without the BOM Excel writes."""
    if len(data) > IMPORT_MAX_BYTES:
        raise DomainError("file_too_large", f"文件不能超过{IMPORT_MAX_BYTES // 1_000_000}MB，请分批导入", field="file")
    try:
        return check_text(data.decode("utf-8-sig"), "文件", "file")
    except UnicodeDecodeError:
        # Excel's plain "CSV" is GBK on a Chinese Windows; guessing an encoding could garble names silently.
        raise DomainError(
            "file_encoding", "文件不是UTF-8编码：请在Excel中“另存为”时选择“CSV UTF-8（逗号分隔）”", field="file"
        ) from None


def csv_lines(text: str) -> list[list[str]]:
    try:
        return list(csv.reader(io.StringIO(text.removeprefix("\ufeff"), newline="")))
    except csv.Error as e:
        raise DomainError("file_invalid", f"文件不是有效的CSV：{e}", field="file") from None


def _records(lines: list[list[str]]) -> list[tuple[int, dict[str, str], bool]]:
    """(spreadsheet row number, cells by column, whether there are more cells than columns) of each non-blank
    data row, after checking the header."""
    expected = ",".join(IMPORT_HEADER)
    if not lines:
        raise DomainError("file_invalid", f"文件是空的；第1行应为表头 {expected}", field="file")
    header = [_key(c) for c in lines[0]]
    while header and not header[-1]:
        header.pop()
    if sorted(header) != sorted(IMPORT_HEADER):
        raise DomainError("file_invalid", f"第1行应为表头 {expected}", field="file")
    out: list[tuple[int, dict[str, str], bool]] = []
    for n, cells in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        row = {name: (read_cell(cells[i]) if i < len(cells) else "") for i, name in enumerate(header)}
        out.append((n, row, any(c.strip() for c in cells[len(header) :])))
    if not out:
        raise DomainError("file_invalid", "文件中没有单位（第2行起每行一个单位）", field="file")
    if len(out) > IMPORT_MAX_ROWS:
        raise DomainError("file_too_large", f"一次最多导入{IMPORT_MAX_ROWS}个单位，请分批导入", field="file")
    return out


async def import_agencies(
    session: AsyncSession, principal: Principal, lines: list[list[str]], *, dry_run: bool = False
) -> ImportResult:
    """Adds and renames agencies from the rows of an xlsx or CSV file (header `code,name,type,region,township`),
    by code: a new code adds an agency, a known one takes the row's name and township (its type and county
    cannot change here), the same row again changes nothing. Every row is checked first, against the others and
    the agencies already there; any wrong row imports nothing (AgencyImportError lists them all). Active state is
    left as it is. `dry_run` checks and counts without writing."""
    require_admin(principal)
    errors: list[tuple[int, str]] = []
    specs: list[tuple[int, _Row]] = []
    seen: dict[str, int] = {}
    for n, cells, extra in _records(lines):
        spec, reasons = _row_of(cells, extra)
        if spec is None:
            errors.append((n, "；".join(reasons)))
            continue
        if spec.code in seen:
            errors.append((n, f"单位代码 {spec.code} 与第{seen[spec.code]}行重复"))
            continue
        seen[spec.code] = n
        specs.append((n, spec))

    registry = await _Registry.load(session)
    applied: list[tuple[int, _Row]] = []
    # Township governments first: a new township name carries its committees before the file's own rows for
    # committees are set (a committee row then wins).
    for n, spec in sorted(specs, key=lambda p: (p[1].agency_type != T.township, p[0])):
        current = registry.rows.get(spec.code)
        if current is None:
            registry.add(spec)
            applied.append((n, spec))
            continue
        if (current.agency_type, current.region_code) != (spec.agency_type, spec.region_code):
            errors.append(
                (
                    n,
                    f"单位代码 {spec.code} 已是{region_label(current.region_code)}的"
                    f"{AGENCY_TYPE_LABELS[current.agency_type]}（{current.name}），导入不能修改单位类型和所属县（区）",
                )
            )
            continue
        current.name = spec.name
        registry.set_township(current, spec.township)
        applied.append((n, current))
    results: list[ImportedRow] = []
    for n, row in sorted(applied, key=lambda p: p[0]):
        before = registry.before.get(row.code)
        result = "created" if before is None else ("unchanged" if before == row.values() else "updated")
        # Unchanged rows too: a committee row may keep a township name the same file gives its government up.
        problem = registry.problem(row)
        if problem is not None:
            errors.append((n, problem.message))
        results.append(ImportedRow(n, row.code, result))
    if errors:
        raise AgencyImportError([f"第{n}行：{message}" for n, message in sorted(errors)])

    in_file = {r.code for r in results}
    moved = [r for r in registry.changed() if r.code not in in_file]
    counts = {k: sum(1 for r in results if r.result == k) for k in ("created", "updated", "unchanged")}
    result = ImportResult(**counts, moved=len(moved), dry_run=dry_run, rows=results)
    if dry_run:
        return result
    created: list[Agency] = []
    for row in registry.changed():
        existing = registry.agencies.get(row.code)
        if existing is None:
            created.append(_new(row))
        else:
            _audit_change(session, principal, existing, row, via="(import)")
            _write(existing, row)
    session.add_all(created)
    await _flush(session, "导入期间其他管理员新增了相同代码的单位，请重新导入", "file")
    for agency in created:
        audit(
            session,
            principal,
            "agency_create",
            detail=_who(agency, f"{agency.agency_type}@{agency.region_code} (import)"),
        )
    audit(
        session,
        principal,
        "agency_import",
        detail=f"{len(results)} rows: {counts['created']} created, {counts['updated']} updated, "
        f"{counts['unchanged']} unchanged, {len(moved)} moved with their township",
    )
    await session.commit()
    return result


def agencies_table(agencies: Iterable[Agency]) -> Table:
    """The agencies in the import's format: edited in Excel or WPS and imported again, it renames and adds."""
    columns = (Column("code", 22), Column("name", 30), Column("type", 14), Column("region", 14), Column("township", 18))
    rows: list[Sequence[Cell]] = [
        [a.code, a.name, AGENCY_TYPE_LABELS[T(a.agency_type)], region_label(a.region_code), a.township or ""]
        for a in agencies
    ]
    return Table(columns, rows, sheet="单位")


# ---------------------------------------------------------------------------- JSON


def agency_json(a: Agency) -> dict[str, object]:
    kind = T(a.agency_type)
    return {
        "id": a.id,
        "code": a.code,
        "name": a.name,
        "agency_type": kind.value,
        "agency_type_label": AGENCY_TYPE_LABELS[kind],
        "region_code": a.region_code,
        "region_name": region_label(a.region_code),
        "township": a.township,
        "is_default": a.is_default,
        "is_active": a.is_active,
        "short_name": short_name_of(a),  # what its document numbers start with, set or derived
    }


def agency_detail_json(a: Agency, users: list[User], steps: int, cases: int) -> dict[str, object]:
    return {
        **agency_json(a),
        "open_steps": steps,
        "open_cases": cases,
        "users": [
            {
                "id": u.id,
                "username": u.username,
                "display_name": u.display_name,
                "role": u.role,
                "role_label": ROLE_LABELS[Role(u.role)],
                "is_active": u.is_active,
            }
            for u in users
        ],
    }


def import_json(r: ImportResult) -> dict[str, object]:
    return {
        "created": r.created,
        "updated": r.updated,
        "unchanged": r.unchanged,
        "moved": r.moved,
        "dry_run": r.dry_run,
        "rows": [{"row": x.row, "code": x.code, "result": x.result} for x in r.rows],
    }
