"""Policy: every deadline and count a process uses, with its default and legal basis.

A deployment changes a number per county through the policy_overrides table; the value is read when a
step opens, so a change applies to steps opened after it (see activities/deadlines.py).
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


def _p(key: str, value: str, description: str, basis: str = "默认值（无法定期限）") -> PolicyDefault:
    return PolicyDefault(key, Allowance.parse(value), basis, description)


POLICY_DEFAULTS: dict[str, PolicyDefault] = {
    p.key: p
    for p in [
        _p("stalled_after", "30d", "无任何进展即视为停滞"),
        # guardianship intervention (processes.md §1)
        _p("guardianship.admonition", "3WD", "村（居）委会记录劝诫、制止"),
        _p("guardianship.admonition_review", "30d", "劝诫后回访复查"),
        _p("guardianship.police_accept", "24h", "公安机关受理报告", "公安机关受案立案规定：行政案件24小时内受案"),
        _p("guardianship.police_decision", "30d", "公安机关作出处理决定", "治安管理处罚法第99条（可延长一次30日）"),
        _p("guardianship.reprimand_issue", "3WD", "制发训诫书"),
        _p("guardianship.guidance_first", "15WD", "责令后首次家庭教育指导"),
        _p("guardianship.guidance_next", "30d", "下一次家庭教育指导"),
        _p("guardianship.guidance_sessions", "3count", "家庭教育指导应完成次数"),
        _p("guardianship.noncompliance_decision", "15WD", "监护人拒不接受指导后，责令机关作出处理"),
        _p("guardianship.monitoring_visit", "30d", "跟踪回访：第一次回访（开始跟踪后）"),
        _p("guardianship.monitoring_final", "90d", "跟踪回访：第二次回访（开始跟踪后）"),
        _p("guardianship.handover_ack", "5WD", "迁入地村（居）委会确认接收"),
        _p("guardianship.temp_custody_accept", "24h", "未成年人救助保护机构接收儿童", "未成年人保护法第92条"),
        _p("guardianship.temp_custody_reassess", "30d", "临时监护期间监护能力再评估"),
        _p("guardianship.revocation_decision", "30d", "法院审理撤销监护人资格", "审理期限一个月"),
        _p("guardianship.long_term_placement", "15WD", "儿童福利机构办理长期监护安置"),
        # dropout return (processes.md §2)
        _p("dropout.absence_threshold", "7count", "连续无故缺课达到该上学日数即按疑似辍学报告"),
        _p("dropout.school_contact", "3WD", "学校联系监护人并家访"),
        _p("dropout.joint_persuasion", "15WD", "县教育局会同乡镇、村（居）委会联合劝返"),
        _p("dropout.written_order_issue", "5WD", "制发书面责令限期改正通知", "义务教育法第58条"),
        _p("dropout.written_order_comply", "15d", "责令改正期限（默认）", "义务教育法第58条规定“限期”，未定具体天数"),
        _p("dropout.legal_review", "30d", "依法控辍：每30日记录一次进展"),
        _p("dropout.unresolved_signoff", "5WD", "督导审核“依法控辍用尽仍未复学”"),
        _p("dropout.locate", "15WD", "查找去向"),
        _p("dropout.handoff_ack", "5WD", "迁入地县教育局确认接收"),
        _p("dropout.consolidation_check", "30d", "复学后第一次到校核查（复学后30日）"),
        _p("dropout.consolidation_final", "90d", "复学后第二次到校核查（复学后90日）"),
    ]
}


@dataclass(frozen=True)
class PolicyOverride:
    key: str
    region_code: str  # a county code, or the city code for a city-wide value
    value: Allowance
    effective_from: datetime


def resolve_policy(key: str, county: str, overrides: list[PolicyOverride], at: datetime) -> Allowance:
    """The value in force at `at` for `county`: the county's latest override, else the city's, else the
    default. Overrides that take effect later than `at` are ignored."""
    if key not in POLICY_DEFAULTS:
        raise KeyError(key)
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
    return POLICY_DEFAULTS[key].value
