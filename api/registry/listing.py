"""The registry's list: the children living in a clerk's area, filtered and paged in SQL (decision 12),
exported to xlsx with ID numbers masked unless the clerk's agency registered the child; and a child's
key-child flags for whoever starts the follow-up of a key child."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field
from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from api.principal import Principal
from api.spreadsheet import Column, ColumnKind, Export, Table
from db.models import Child, ChildSource
from domain.deadlines import start_of_local_day
from domain.enums import AgencyType, Role
from domain.errors import DomainError
from domain.idnumber import mask_id_number
from domain.regions import counties_in, region_name
from domain.registry import KEY_CATEGORY_LABELS, SOURCE_LABELS, KeyCategory, Source

PAGE_MAX = 200
EXPORT_MAX = 50_000


class RegistryFilter(BaseModel):
    county: str | None = Field(default=None, max_length=6)
    township: str | None = Field(default=None, max_length=64)
    school: str | None = Field(default=None, max_length=128)
    key_child: bool | None = None
    category: KeyCategory | None = None
    migrant_since_from: date | None = None
    refreshed_before: date | None = None
    refreshed_after: date | None = None
    q: str | None = Field(default=None, max_length=64)  # a name


def area(principal: Principal) -> list[str]:
    """The counties whose children a civil-affairs clerk lists: their county, or every county for the city."""
    if principal.role == Role.admin or principal.agency.agency_type != AgencyType.civil_affairs:
        raise DomainError("not_permitted", "只有民政部门可以查看儿童台账")
    return counties_in(principal.agency.region_code)


def _where(principal: Principal, f: RegistryFilter) -> list[ColumnElement[bool]]:
    counties = area(principal)
    if f.county:
        if f.county not in counties:
            raise DomainError("not_permitted", "不能查看其他县（区）的台账", field="county")
        counties = [f.county]
    out: list[ColumnElement[bool]] = [Child.residence_region.in_(counties), Child.merged_into_id.is_(None)]
    if f.township:
        out.append(Child.township == f.township)
    if f.school:
        out.append(Child.school.contains(f.school, autoescape=True))
    if f.key_child is True:
        out.append(Child.key_flags != {})
    elif f.key_child is False:
        out.append(Child.key_flags == {})
    if f.category:
        out.append(Child.key_flags.has_key(f.category.value))
    if f.migrant_since_from:
        out.append(Child.migrant_since >= f.migrant_since_from)
    if f.refreshed_before:
        # Never named by any list counts as not refreshed: those are the ones a refresh is due for.
        # The dates are days in Changzhi: a day begins at midnight there, not at the database's midnight.
        before = start_of_local_day(f.refreshed_before)
        out.append(or_(Child.last_refreshed_at.is_(None), Child.last_refreshed_at < before))
    if f.refreshed_after:
        out.append(Child.last_refreshed_at >= start_of_local_day(f.refreshed_after))
    if f.q:
        out.append(Child.name.contains(f.q, autoescape=True))
    return out


_SOURCES = (
    select(func.array_agg(func.distinct(ChildSource.source)))
    .where(ChildSource.child_id == Child.id, ChildSource.left_at.is_(None))
    .correlate(Child)
    .scalar_subquery()
)


@dataclass
class RegistryRow:
    id: int
    name: str
    sex: str
    birth_date: date
    id_number: str | None
    id_full: bool
    residence_region: str
    township: str | None
    school: str | None
    key_flags: list[str]
    migrant_since: date | None
    last_refreshed_at: datetime | None
    sources: list[str]

    @property
    def shown_id(self) -> str:
        if not self.id_number:
            return ""
        return self.id_number if self.id_full else mask_id_number(self.id_number)


async def list_children(
    session: AsyncSession, principal: Principal, f: RegistryFilter, *, limit: int, offset: int
) -> tuple[list[RegistryRow], int]:
    where = _where(principal, f)
    total = (await session.execute(select(func.count()).select_from(Child).where(and_(*where)))).scalar_one()
    rows = await session.execute(
        select(
            Child.id,
            Child.name,
            Child.sex,
            Child.birth_date,
            Child.id_number,
            Child.created_by_agency_id == principal.agency.id,
            Child.residence_region,
            Child.township,
            Child.school,
            Child.key_flags,
            Child.migrant_since,
            Child.last_refreshed_at,
            _SOURCES,
        )
        .where(*where)
        .order_by(Child.residence_region, Child.township.nulls_last(), Child.name, Child.id)
        .limit(limit)
        .offset(offset)
    )
    out = [
        RegistryRow(
            id=r[0],
            name=r[1],
            sex=r[2],
            birth_date=r[3],
            id_number=r[4],
            id_full=bool(r[5]),
            residence_region=r[6],
            township=r[7],
            school=r[8],
            key_flags=sorted(r[9]),
            migrant_since=r[10],
            last_refreshed_at=r[11],
            sources=sorted(r[12] or []),
        )
        for r in rows.all()
    ]
    return out, total


def row_json(r: RegistryRow) -> dict[str, Any]:
    return {
        "id": r.id,
        "name": r.name,
        "sex": r.sex,
        "birth_date": r.birth_date.isoformat(),
        "id_number": r.shown_id or None,
        "id_number_full": r.id_full and bool(r.id_number),
        "residence_region": r.residence_region,
        "residence_region_name": region_name(r.residence_region) or r.residence_region,
        "township": r.township,
        "school": r.school,
        "key_flags": r.key_flags,
        "migrant_since": r.migrant_since.isoformat() if r.migrant_since else None,
        "last_refreshed_at": r.last_refreshed_at.isoformat() if r.last_refreshed_at else None,
        "sources": r.sources,
    }


SEX_LABELS = {"male": "男", "female": "女"}


async def export(session: AsyncSession, principal: Principal, f: RegistryFilter) -> Export:
    rows, total = await list_children(session, principal, f, limit=EXPORT_MAX, offset=0)
    if total > EXPORT_MAX:
        raise DomainError("too_many_items", f"一次最多导出{EXPORT_MAX}名儿童，请先筛选", field="county")
    columns = (
        Column("姓名", 10),
        Column("性别", 6),
        Column("出生日期", 12, ColumnKind.date),
        Column("身份证号", 22),
        Column("居住县（区）", 12),
        Column("乡镇（街道）", 14),
        Column("学校", 20),
        Column("重点对象类别", 18),
        Column("来本地居住时间", 14, ColumnKind.date),
        Column("最近更新", 18, ColumnKind.datetime),
        Column("数据来源", 30),
    )
    table = Table(
        columns=columns,
        rows=[
            (
                r.name,
                SEX_LABELS.get(r.sex, r.sex),
                r.birth_date,
                r.shown_id,
                region_name(r.residence_region) or r.residence_region,
                r.township or "",
                r.school or "",
                "、".join(KEY_CATEGORY_LABELS[KeyCategory(k)] for k in r.key_flags if k in KeyCategory.__members__),
                r.migrant_since,
                r.last_refreshed_at,
                "、".join(SOURCE_LABELS[Source(s)] for s in r.sources),
            )
            for r in rows
        ],
        sheet="儿童台账",
    )
    return Export(table=table, name="流动儿童台账")


@dataclass(frozen=True)
class KeyFlag:
    category: KeyCategory
    source: str
    import_id: int | None
    on: str


async def key_child_flags(session: AsyncSession, child_id: int) -> list[KeyFlag]:
    """The key-child categories raised for a child, each with the list it came from: what the key-child
    follow-up starts on (empty: not a key child)."""
    flags = (await session.execute(select(Child.key_flags).where(Child.id == child_id))).scalar_one_or_none()
    return [
        KeyFlag(KeyCategory(k), v.get("source", ""), v.get("import_id"), v.get("on", ""))
        for k, v in sorted((flags or {}).items())
        if k in KeyCategory.__members__
    ]
