"""Form helpers for the pages: reading a posted form, turning a process form into a payload, the
agencies a form may offer, where a redirect may go."""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from api.deps import check_csrf
from api.served import served_regions
from db.models import Agency
from domain.enums import AgencyType
from domain.field_kinds import REGION_OUTSIDE, REGION_OUTSIDE_SUFFIX, rules
from domain.process import Field


async def read_form(request: Request) -> dict[str, str]:
    """The posted form as plain strings (the first value of each name), after the CSRF check."""
    form = await request.form()
    out: dict[str, str] = {}
    for k, v in form.multi_items():
        if isinstance(v, str):
            out.setdefault(k, v)
    check_csrf(request, out.get("csrf"))
    return out


def to_int(value: str | None) -> int | None:
    """A whole number typed or posted as ASCII digits (at most 9, so no database overflow), else None."""
    value = (value or "").strip()
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 9 else None


def new_request_id() -> str:
    return uuid.uuid4().hex


def payload_from_form(fields: Iterable[Field], form: dict[str, str]) -> dict[str, Any]:
    """An action's payload from its form: every field by name; a checkbox that is not ticked is False."""
    out: dict[str, Any] = {}
    for f in fields:
        value = rules(f.kind).from_form(f, form)
        if value is not None:
            out[f.name] = value
    return out


def shown_values(form: dict[str, str], *, drop: tuple[str, ...] = ("csrf",)) -> dict[str, str]:
    """What a refused form shows again: what was posted, with a place named beside “本市以外” as its region
    field's value (the widget selects “本市以外” and writes the name again)."""
    values = {k: v for k, v in form.items() if k not in drop}
    for key, value in form.items():
        base = key.removesuffix(REGION_OUTSIDE_SUFFIX)
        if base != key and values.get(base) == REGION_OUTSIDE:
            values[base] = value
    return values


def local_path(target: str | None, default: str = "/") -> str:
    """`target` if it is a path on this site ("/cases/<case_no>"), else `default`: never another host."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return default
    if any(ord(c) < 32 for c in target):
        return default
    return target


@dataclass
class OptionGroup:
    label: str
    options: list[tuple[int, str]] = field(default_factory=list)


def county_choices(with_city: bool = False) -> list[tuple[str, str]]:
    served = served_regions()
    head = [(served.city, f"{served.name}（全市）")] if with_city else []
    return head + list(served.counties)


async def agencies_of(
    session: AsyncSession,
    agency_type: AgencyType | str,
    regions: Iterable[str] | None = None,
    *,
    exclude: Iterable[int] = (),
) -> list[Agency]:
    stmt = select(Agency).where(Agency.agency_type == AgencyType(agency_type).value, Agency.is_active.is_(True))
    if regions is not None:
        stmt = stmt.where(Agency.region_code.in_(list(regions)))
    skip = list(exclude)
    if skip:
        stmt = stmt.where(Agency.id.not_in(skip))
    return list((await session.execute(stmt.order_by(Agency.region_code, Agency.name))).scalars())


def group_by_county(agencies: Iterable[Agency]) -> list[OptionGroup]:
    """Options grouped by county (the city first), for a <select> with <optgroup>s."""
    served = served_regions()
    names = {served.city: served.name, **served.county_names}
    groups: dict[str, OptionGroup] = {}
    for a in agencies:
        group = groups.setdefault(a.region_code, OptionGroup(names.get(a.region_code, a.region_code)))
        group.options.append((a.id, a.name))
    order = [served.city, *served.county_names]
    return [groups[c] for c in order if c in groups] + [g for c, g in groups.items() if c not in order]
