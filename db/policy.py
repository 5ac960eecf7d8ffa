"""The policy value in force, as SQL: domain/policy.py `resolve_policy` for a column of counties, so that a
list decides per row inside the one query that reads it (tests/api/test_operations.py checks that the two
agree)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Integer, case, cast, func, or_, select

from db.models import PolicyOverrideRow
from domain.policy import Unit
from domain.processes import POLICY_DEFAULTS


def policy_in_force(key: str, county: ColumnElement[str], at: datetime) -> ColumnElement[str]:
    """The value (e.g. '10d') in force at `at` for `county`: the county's latest override that has taken
    effect, else the city's, else the default. Of two taking effect at the same time, the later entered."""
    o = PolicyOverrideRow
    city = func.concat(func.left(county, 4), "00")  # as resolve_policy: the county's prefecture
    latest = (
        select(o.value)
        .where(o.key == key, o.effective_from <= at, or_(o.region_code == county, o.region_code == city))
        .order_by((o.region_code == county).desc(), o.effective_from.desc(), o.id.desc())
        .limit(1)
        .correlate_except(o)
        .scalar_subquery()
    )
    return func.coalesce(latest, str(POLICY_DEFAULTS[key].value))


def calendar_interval(value: ColumnElement[str]) -> ColumnElement:
    """A value such as '10d' or '48h' as an interval. Keys decided in SQL are counted in calendar time
    (PolicyDefault.calendar_only: the admin refuses working days for them)."""
    amount = cast(func.regexp_replace(value, r"\D", "", "g"), Integer)
    return case(
        (value.like(f"%{Unit.hours.value}"), func.make_interval(0, 0, 0, 0, amount)),
        else_=func.make_interval(0, 0, 0, amount),
    )
