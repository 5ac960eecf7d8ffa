"""Policy: the deadlines and counts processes use, each with its default and legal basis.

A deployment changes a number per county through the policy_overrides table; the value is read when a
step opens, so a change applies to steps opened after it (see activities/cases.py `compute_deadlines`).
`stalled_after` is read by the stalled list itself (db/policy.py), so a change applies to every open case
from when it takes effect.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Literal

from domain.errors import DomainError


class Unit(StrEnum):
    working_days = "WD"
    days = "d"
    hours = "h"
    # Calendar months are upper-case "M" (as in date patterns: "M" month, "m" minute), so that a lower-case
    # "m" stays free and is refused rather than read as either; years are "y", like "d" and "h".
    months = "M"
    years = "y"
    count = "count"


UNIT_LABELS: dict[Unit, str] = {
    Unit.working_days: "个工作日",
    Unit.days: "天",
    Unit.hours: "小时",
    Unit.months: "个月",
    Unit.years: "年",
    Unit.count: "次",
}


class Anchor(StrEnum):
    """Where a value lands: `none`, exactly the amount on; `month_start`, on the first day of the month
    that many months on ('1M@start': from the first day of the next month)."""

    none = ""
    month_start = "@start"


# The most a value may say, per unit, so that no policy, override or extension can make a deadline
# computation walk the calendar for ever (or a step wait for centuries).
MAX_AMOUNT: dict[Unit, int] = {
    Unit.working_days: 500,
    Unit.days: 1100,
    Unit.hours: 1000,
    Unit.months: 60,
    Unit.years: 10,
    Unit.count: 100,
}

ValueKind = Literal["duration", "count", "month_start"]

_FORMAT_HINT = "（例如 15WD、30d、24h、3M、1y、1M@start）"


@dataclass(frozen=True)
class Allowance:
    amount: int
    unit: Unit
    anchor: Anchor = Anchor.none

    @property
    def kind(self) -> ValueKind:
        """What the value measures: a step's time, a number of times, or "from the first of a month"."""
        if self.anchor == Anchor.month_start:
            return "month_start"
        return "count" if self.unit == Unit.count else "duration"

    def label(self) -> str:
        if self.anchor == Anchor.month_start:
            return {0: "当月1日起", 1: "次月1日起"}.get(self.amount, f"{self.amount}个月后当月的1日起")
        return f"{self.amount}{UNIT_LABELS[self.unit]}"

    @classmethod
    def parse(cls, text: str) -> Allowance:
        """'15WD', '30d', '24h', '3M', '1y', '3count', '1M@start' (the form used in policy files and the admin
        page). Only '@start' takes 0 ('0M@start': from the first day of this month)."""
        t = text.strip()
        anchor = Anchor.month_start if t.endswith(Anchor.month_start.value) else Anchor.none
        t = t.removesuffix(anchor.value).strip()
        minimum = 0 if anchor == Anchor.month_start else 1
        for unit in sorted(Unit, key=lambda u: -len(u.value)):
            number = t.removesuffix(unit.value).strip()
            if t.endswith(unit.value) and number.isdecimal() and int(number) >= minimum:
                if len(number) > 6 or int(number) > MAX_AMOUNT[unit]:
                    raise DomainError(
                        "policy_value_invalid",
                        f"期限过长：“{text}”超过上限{MAX_AMOUNT[unit]}{UNIT_LABELS[unit]}",
                        field="value",
                    )
                if anchor == Anchor.month_start and unit != Unit.months:
                    raise DomainError(
                        "policy_value_invalid", f"“@start”只能用于月（如 1M@start）：“{text}”", field="value"
                    )
                return cls(int(number), unit, anchor)
        if t.endswith("m") and t[:-1].strip().isdecimal():
            raise DomainError("policy_value_invalid", f"月份请用大写 M（如 3M）：“{text}”", field="value")
        raise DomainError("policy_value_invalid", f"期限格式不正确：“{text}”{_FORMAT_HINT}", field="value")

    def __str__(self) -> str:
        return f"{self.amount}{self.unit.value}{self.anchor.value}"


@dataclass(frozen=True)
class PolicyDefault:
    key: str
    value: Allowance
    basis: str  # legal basis, or that the number is a reasonable default
    description: str
    # Decided in SQL against timestamps (db/policy.py), so counted in calendar days or hours only.
    calendar_only: bool = False


def policy(
    key: str, value: str, description: str, basis: str = "默认值（无法定期限）", *, calendar_only: bool = False
) -> PolicyDefault:
    """A policy default as a process definition declares it: `policy("x.y", "3WD", "...", "legal basis")`."""
    return PolicyDefault(key, Allowance.parse(value), basis, description, calendar_only)


# The units a supervisor may extend a step by, and the policy that bounds an extension in each.
EXTENSION_UNITS: tuple[Unit, ...] = (Unit.working_days, Unit.days, Unit.hours, Unit.months)
DURATION_UNITS: tuple[Unit, ...] = (*EXTENSION_UNITS, Unit.years)


def extension_max_key(unit: Unit) -> str:
    return f"extension_max.{unit.value}"


# Policies of the shared machinery; each process declares its own in its definition (Process.policies), and
# the registry (domain/processes) joins them into one table.
SHARED_POLICIES: tuple[PolicyDefault, ...] = (
    policy("stalled_after", "30d", "无任何进展即视为停滞", calendar_only=True),
    # Read when an event's delivery is handed over (activities/outbound.py), counted on Temporal's clock.
    policy("outbound_undelivered_after", "1h", "外发通知持续发送失败超过此时长即列入停滞", calendar_only=True),
    policy(extension_max_key(Unit.working_days), "30WD", "督导一次延期的上限（按工作日延长时）"),
    policy(extension_max_key(Unit.days), "60d", "督导一次延期的上限（按天延长时）"),
    policy(extension_max_key(Unit.hours), "72h", "督导一次延期的上限（按小时延长时）"),
    policy(extension_max_key(Unit.months), "3M", "督导一次延期的上限（按月延长时）"),
)


def extension(text: str, units: tuple[Unit, ...] = EXTENSION_UNITS) -> Allowance:
    """A supervisor's extension ('15WD'), refused unless it is a duration in a unit steps are extended by
    (the workflow's validator, which cases extended in years before the bound must still pass on replay,
    gives `DURATION_UNITS`)."""
    try:
        by = Allowance.parse(text)
    except DomainError as e:
        raise DomainError(e.code, e.message, field="extend_by") from None
    if by.kind != "duration" or by.unit not in units:
        raise DomainError("policy_value_invalid", "延长期限应按工作日、天、小时或月计", field="extend_by")
    return by


def check_extension(by: Allowance, limit: Allowance) -> None:
    """An extension at most the policy's maximum for its unit (`extension_max.<unit>`, in force in the
    case's county); checked before any deadline is computed."""
    if by.unit == limit.unit and by.amount > limit.amount:
        raise DomainError(
            "extension_too_long", f"一次最多延长{limit.label()}，“{by.label()}”超出上限", field="extend_by"
        )


EXTENSION_FORM_UNITS: dict[Unit, str] = {
    Unit.working_days: "工作日",
    Unit.days: "天",
    Unit.hours: "小时",
    Unit.months: "个月",
}


def extension_from_form(amount: str, unit: str) -> str | None:
    """The code ('15WD') for what a clerk chose: a number and a unit (工作日、天、小时、个月); None when no
    number was given (the step's own allowance)."""
    amount = amount.strip()
    if not amount:
        return None
    if not (amount.isascii() and amount.isdecimal()) or len(amount) > 6 or int(amount) < 1:
        raise DomainError("field_invalid", "延长的时长应为不超过6位的正整数", field="extend_amount")
    if unit not in {u.value for u in EXTENSION_FORM_UNITS}:
        raise DomainError("field_invalid", "请选择延长的单位（工作日、天、小时或月）", field="extend_unit")
    return f"{int(amount)}{unit}"


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
