"""Policy: the deadlines and counts processes use, each with its default and legal basis.

A deployment changes a number per county through the policy_overrides table; the value is read when a
step opens, so a change applies to steps opened after it (see activities/deadlines.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from domain.errors import DomainError


class Unit(StrEnum):
    working_days = "WD"
    days = "d"
    hours = "h"
    count = "count"


UNIT_LABELS: dict[Unit, str] = {
    Unit.working_days: "个工作日",
    Unit.days: "天",
    Unit.hours: "小时",
    Unit.count: "次",
}


@dataclass(frozen=True)
class Allowance:
    amount: int
    unit: Unit

    def label(self) -> str:
        return f"{self.amount}{UNIT_LABELS[self.unit]}"

    @classmethod
    def parse(cls, text: str) -> Allowance:
        """'15WD', '30d', '24h', '3count' (the form used in policy files and the admin page)."""
        t = text.strip()
        for unit in sorted(Unit, key=lambda u: -len(u.value)):
            if t.endswith(unit.value):
                number = t[: -len(unit.value)].strip()
                if number.isdigit() and int(number) > 0:
                    return cls(int(number), unit)
        raise DomainError("policy_value_invalid", f"期限格式不正确：“{text}”（例如 15WD、30d、24h）", field="value")

    def __str__(self) -> str:
        return f"{self.amount}{self.unit.value}"


@dataclass(frozen=True)
class PolicyDefault:
    key: str
    value: Allowance
    basis: str  # legal basis, or that the number is a reasonable default
    description: str


def policy(key: str, value: str, description: str, basis: str = "默认值（无法定期限）") -> PolicyDefault:
    """A policy default as a process definition declares it: `policy("x.y", "3WD", "...", "legal basis")`."""
    return PolicyDefault(key, Allowance.parse(value), basis, description)


# Policies of the shared machinery; each process declares its own in its definition (Process.policies), and
# the registry (domain/processes) joins them into one table.
SHARED_POLICIES: tuple[PolicyDefault, ...] = (policy("stalled_after", "30d", "无任何进展即视为停滞"),)


@dataclass(frozen=True)
class PolicyOverride:
    key: str
    region_code: str  # a county code, or the city code for a city-wide value
    value: Allowance
    effective_from: datetime


def resolve_policy(default: PolicyDefault, county: str, overrides: list[PolicyOverride], at: datetime) -> Allowance:
    """The value in force at `at` for `county`: the county's latest override, else the city's, else the
    default. Overrides that take effect later than `at` are ignored."""
    key = default.key
    city = county[:4] + "00"
    best: dict[str, PolicyOverride] = {}
    for o in overrides:
        if o.key != key or o.effective_from > at or o.region_code not in (county, city):
            continue
        if o.region_code not in best or o.effective_from > best[o.region_code].effective_from:
            best[o.region_code] = o
    for region in (county, city):
        if region in best:
            return best[region].value
    return default.value
