"""Policy: every deadline and count a process uses, with its default and legal basis.

A deployment changes a number per county through the policy_overrides table; the value is read when a
step opens, so a change applies to steps opened after it (see activities/cases.py `compute_deadlines`).
`stalled_after` is read by the stalled list itself (db/policy.py), so a change applies to every open case
from when it takes effect.
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
    # Decided in SQL against timestamps (db/policy.py), so counted in calendar days or hours only.
    calendar_only: bool = False


def _p(
    key: str, value: str, description: str, basis: str = "默认值（无法定期限）", *, calendar_only: bool = False
) -> PolicyDefault:
    return PolicyDefault(key, Allowance.parse(value), basis, description, calendar_only)


POLICY_DEFAULTS: dict[str, PolicyDefault] = {
    p.key: p
    for p in [
        _p("stalled_after", "30d", "无任何进展即视为停滞", calendar_only=True),
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
