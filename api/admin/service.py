"""Administration: the official holiday schedule of a year, and per-county policy values."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime

from pydantic import BaseModel, Field
from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession
from temporalio.client import Client

from api.audit import audit
from api.principal import Principal
from api.served import served_regions
from db.models import Case, CaseStep, HolidayDay, HolidayYear, PolicyOverrideRow
from domain.errors import DomainError
from domain.policy import Allowance, Unit, ValueKind
from domain.processes import POLICY_DEFAULTS
from domain.workdays import WorkCalendar


def require_admin(principal: Principal) -> None:
    if not principal.is_admin:
        raise DomainError("not_permitted", "只有管理员可以进行此项设置")


class HolidayScheduleIn(BaseModel):
    year: int = Field(ge=2000, le=2100)
    holidays: list[date] = Field(default_factory=list)  # days off (the whole blocks, weekends included)
    workdays: list[date] = Field(default_factory=list)  # weekend days made working days (调休)
    source: str = ""  # e.g. 国务院办公厅关于2027年部分节假日安排的通知


def parse_schedule_text(year: int, holidays: str, workdays: str) -> HolidayScheduleIn:
    """The admin page's form: dates separated by spaces, commas or new lines; ranges as A~B or A..B."""

    def dates(text: str, field: str) -> list[date]:
        out: list[date] = []
        for token in text.replace("，", ",").replace(",", " ").split():
            try:
                if "~" in token or ".." in token:
                    a, b = token.replace("..", "~").split("~")
                    start, end = date.fromisoformat(a), date.fromisoformat(b)
                    if end < start:
                        raise ValueError
                    out.extend(date.fromordinal(o) for o in range(start.toordinal(), end.toordinal() + 1))
                else:
                    out.append(date.fromisoformat(token))
            except ValueError:
                raise DomainError(
                    "field_invalid", f"日期“{token}”格式不正确（YYYY-MM-DD 或 起~止）", field=field
                ) from None
        return out

    return HolidayScheduleIn(year=year, holidays=dates(holidays, "holidays"), workdays=dates(workdays, "workdays"))


@dataclass
class ScheduleLoaded:
    year: int
    holidays: int
    workdays: int
    provisional_cases: int


async def load_holiday_schedule(
    *, session: AsyncSession, client: Client, task_queue: str, principal: Principal, data: HolidayScheduleIn
) -> ScheduleLoaded:
    """Replaces the year's schedule, then starts the calendar-update workflow that tells every open case
    with a provisional deadline to recompute it."""
    require_admin(principal)
    if not data.holidays:
        raise DomainError("field_required", "请填写放假日期", field="holidays")
    for field, days in (("holidays", data.holidays), ("workdays", data.workdays)):
        wrong = [d for d in days if d.year != data.year]
        if wrong:
            raise DomainError("field_invalid", f"{wrong[0].isoformat()}不在{data.year}年", field=field)
    both = set(data.holidays) & set(data.workdays)
    if both:
        raise DomainError("field_invalid", f"{min(both).isoformat()}不能既放假又上班", field="workdays")
    weekday_workdays = [d for d in data.workdays if d.weekday() < 5]
    if weekday_workdays:
        raise DomainError("field_invalid", f"调休上班日{weekday_workdays[0].isoformat()}不是周末", field="workdays")
    await session.execute(delete(HolidayDay).where(HolidayDay.year == data.year))
    await session.execute(
        insert(HolidayYear)
        .values(year=data.year, source=data.source[:256], loaded_by=principal.user_id, loaded_at=func.now())
        .on_conflict_do_update(
            index_elements=[HolidayYear.year],
            set_={"source": data.source[:256], "loaded_by": principal.user_id, "loaded_at": func.now()},
        )
    )
    rows = [{"day": d, "year": data.year, "kind": "holiday"} for d in sorted(set(data.holidays))]
    rows += [{"day": d, "year": data.year, "kind": "workday"} for d in sorted(set(data.workdays))]
    await session.execute(insert(HolidayDay).values(rows))
    audit(
        session,
        principal,
        "holiday_schedule",
        detail=f"{data.year}: {len(data.holidays)} off, {len(data.workdays)} make-up",
    )
    provisional = (
        await session.execute(
            select(func.count(func.distinct(Case.id)))
            .join(CaseStep, CaseStep.case_id == Case.id)
            .where(Case.status == "open", CaseStep.due_provisional.is_(True))
        )
    ).scalar_one()
    await session.commit()
    await client.start_workflow(
        "calendar_update", data.year, id=f"calendar-{data.year}-{uuid.uuid4().hex[:8]}", task_queue=task_queue
    )
    return ScheduleLoaded(data.year, len(set(data.holidays)), len(set(data.workdays)), provisional)


@dataclass
class YearStatus:
    year: int
    exact: bool
    loaded: bool
    source: str


async def calendar_status(*, session: AsyncSession, years: list[int]) -> list[YearStatus]:
    loaded = {y.year: y for y in (await session.execute(select(HolidayYear))).scalars()}
    cal = WorkCalendar()
    return [
        YearStatus(y, y in loaded or cal.is_exact(y), y in loaded, loaded[y].source if y in loaded else "")
        for y in years
    ]


VALUE_KIND_HINTS: dict[ValueKind, str] = {
    "duration": "期限（工作日、天、小时、月或年，如 15WD、30d、24h、3M、1y）",
    "count": "次数（如 3count）",
    "month_start": "起算月份（如 1M@start：次月1日起）",
}


class PolicyIn(BaseModel):
    key: str
    region_code: str
    value: str
    effective_from: datetime | None = None


async def set_policy(*, session: AsyncSession, principal: Principal, data: PolicyIn) -> PolicyOverrideRow:
    """A county's (or the city's) own value for a policy key, applying to steps opened from then on."""
    require_admin(principal)
    default = POLICY_DEFAULTS.get(data.key)
    if default is None:
        raise DomainError("field_invalid", f"未知的期限设置“{data.key}”", field="key")
    served = served_regions()
    if not served.serves(data.region_code):
        raise DomainError("region_unknown", f"只能为{served.name}或其所辖县（区）设置", field="region_code")
    value = Allowance.parse(data.value)
    if value.kind != default.value.kind:
        raise DomainError("policy_value_invalid", "该设置应填写" + VALUE_KIND_HINTS[default.value.kind], field="value")
    if default.calendar_only and value.unit not in (Unit.days, Unit.hours):
        raise DomainError(
            "policy_value_invalid", "该设置按自然日或小时计算，请填写天数或小时数（例如 30d）", field="value"
        )
    row = PolicyOverrideRow(
        key=data.key,
        region_code=data.region_code,
        value=str(value),
        effective_from=data.effective_from or datetime.now(UTC),
        created_by=principal.user_id,
    )
    session.add(row)
    audit(session, principal, "policy", detail=f"{data.key}@{data.region_code}={value}")
    await session.commit()
    return row


async def list_overrides(*, session: AsyncSession) -> list[PolicyOverrideRow]:
    return list(
        (
            await session.execute(
                select(PolicyOverrideRow).order_by(PolicyOverrideRow.key, PolicyOverrideRow.effective_from)
            )
        ).scalars()
    )
