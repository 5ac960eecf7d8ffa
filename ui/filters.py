"""Formatting for the pages: times in Asia/Shanghai, time left to a deadline, Chinese labels."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from domain.deadlines import SHANGHAI
from domain.enums import AGENCY_TYPE_LABELS, ROLE_LABELS, SEX_LABELS, AgencyType, Role, Sex
from domain.errors import DomainError
from domain.policy import Allowance
from domain.regions import full_region_name, region_name

LEVEL_LABELS = {1: "已逾期", 2: "逾期未办，已报县级督导", 3: "严重逾期，已报市级督导"}


def as_datetime(value: datetime | str | None) -> datetime | None:
    """A datetime from a model field or an ISO string in a payload; naive values are taken as UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError:
            return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def fmt_dt(value: datetime | str | None) -> str:
    """'2026-12-01 18:00' in Beijing time; '' for nothing."""
    at = as_datetime(value)
    return at.astimezone(SHANGHAI).strftime("%Y-%m-%d %H:%M") if at else ""


def fmt_date(value: date | datetime | str | None) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, datetime):
        return value.astimezone(SHANGHAI).strftime("%Y-%m-%d")
    if isinstance(value, date):
        return value.isoformat()
    return str(value)


def _span(delta: timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}天{hours}小时" if hours else f"{days}天"
    if hours:
        return f"{hours}小时"
    return f"{max(mins, 1)}分钟"


def time_left(due: datetime | str | None, now: datetime | None = None) -> tuple[str, bool]:
    """('剩余2天5小时', False) before the deadline, ('已逾期3小时', True) after it; ('', False) without one."""
    at = as_datetime(due)
    if at is None:
        return "", False
    now = now or datetime.now(UTC)
    if at >= now:
        return f"剩余{_span(at - now)}", False
    return f"已逾期{_span(now - at)}", True


def overdue_for(due: datetime | str | None, now: datetime | None = None) -> str:
    """How long past its deadline a step is ('3天2小时'), '' when not overdue."""
    at = as_datetime(due)
    now = now or datetime.now(UTC)
    return _span(now - at) if at and at < now else ""


def level_label(level: int | None) -> str:
    return LEVEL_LABELS.get(level or 0, "")


def role_label(role: Role | str) -> str:
    return ROLE_LABELS.get(Role(role), str(role))


def agency_type_label(value: AgencyType | str | None) -> str:
    if not value:
        return ""
    try:
        return AGENCY_TYPE_LABELS[AgencyType(value)]
    except ValueError:
        return str(value)


def sex_label(value: str | None) -> str:
    try:
        return SEX_LABELS[Sex(value)] if value else ""
    except ValueError:
        return str(value)


def region_label(code: str | None) -> str:
    if not code:
        return ""
    name = region_name(code)
    return f"{name}（{code}）" if name else code


def region_full_name(code: Any) -> str:
    """ "河南省新乡市辉县市" for a code (as the region field's list names places); anything else as it is."""
    text = str(code or "")
    return full_region_name(text) or text


def yes_no(value: Any) -> str:
    return "是" if value else "否"


def allowance_label(value: str | None) -> str:
    """'3WD' as '3个工作日' (a policy value as a reader says it); anything else as it is."""
    if not value:
        return ""
    try:
        return Allowance.parse(value).label()
    except DomainError:
        return value


def cn_date(value: date | datetime | str | None) -> str:
    """'2026年12月4日', as dates are written in an official document; '' for nothing."""
    text = fmt_date(value)
    try:
        d = date.fromisoformat(text)
    except ValueError:
        return text
    return f"{d.year}年{d.month}月{d.day}日"


def without_case_no(title: str, case_no: str) -> str:
    """A notification's title without its case number, which the list shows in front of every entry:
    titles carry it at the start ('…：', '…「step」'), or after a lead ('改派给本单位：…「step」')."""
    if not case_no or case_no not in title:
        return title
    head, _, tail = title.partition(case_no)
    if not head:
        return tail.removeprefix("：").lstrip()
    return head + tail


FILTERS = {
    "dt": fmt_dt,
    "d": fmt_date,
    "level_label": level_label,
    "role_label": role_label,
    "agency_type_label": agency_type_label,
    "sex_label": sex_label,
    "region_label": region_label,
    "region_full_name": region_full_name,
    "yes_no": yes_no,
    "allowance_label": allowance_label,
    "cn_date": cn_date,
    "without_case_no": without_case_no,
}
