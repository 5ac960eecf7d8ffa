"""When a step's actions may be taken and the dates they record (processes.md §1 clarifications).

A date of something that happened (Field.happened: done on, visited on, returned on) lies between the
step's opening (for a backdated first step, the day the matter was found) and today; the next step counts
from it. An action with `not_before` becomes possible at a time of its step: a scheduled visit once its
window opens, a "not complied" once the date the order set has passed.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from domain.deadlines import SHANGHAI, local_date, start_of_local_day
from domain.errors import DomainError
from domain.field_kinds import FieldKind
from domain.messages import StepInputs, StepState
from domain.policy import Allowance, Unit
from domain.process import Action, Field, NotBefore, Step

# A date entered without a time counts as the end of that working day (as a backdated report does).
END_OF_WORKING_DAY = time(18, 0)


def happened_fields(fields: tuple[Field, ...]) -> tuple[Field, ...]:
    return tuple(f for f in fields if f.kind == FieldKind.date and f.happened)


def earliest_date(step: StepState) -> date:
    """The first day a date on `step` may name: the day it opened, or its base if earlier (a backdated
    first step counts from the day the matter was found; a follow-up from the day the last thing was done)."""
    return local_date(min(step.opened_at, step.base))


def check_happened(fields: tuple[Field, ...], payload: dict[str, object], step: StepState, today: date) -> None:
    """Refuses a date of something that happened before the step opened, or in the future."""
    first = earliest_date(step)
    for f in happened_fields(fields):
        value = payload.get(f.name)
        if not value:
            continue
        day = date.fromisoformat(str(value))
        if day > today:
            raise DomainError("date_in_future", f"“{f.label}”不能晚于今天", field=f.name)
        if day < first:
            raise DomainError(
                "date_before_step", f"“{f.label}”不能早于本环节开始的日期（{first.isoformat()}）", field=f.name
            )


def happened_on(fields: tuple[Field, ...], payload: dict[str, object]) -> date | None:
    """The latest date the form says something happened on (None where it records none)."""
    days = [date.fromisoformat(str(payload[f.name])) for f in happened_fields(fields) if payload.get(f.name)]
    return max(days) if days else None


def counts_from(day: date, now: datetime) -> datetime | None:
    """What a next step's deadline counts from when the action was done on `day`: the end of that working
    day; None (now) for today."""
    if day >= local_date(now):
        return None
    return datetime.combine(day, END_OF_WORKING_DAY, tzinfo=SHANGHAI).astimezone(now.tzinfo)


def window_opens(due_at: datetime, lead: Allowance) -> datetime:
    """A scheduled step may be recorded from the start of the day `lead` (days) before the day it is due."""
    assert lead.unit == Unit.days, f"a window is counted in days, not {lead}"
    return start_of_local_day(local_date(due_at) - timedelta(days=lead.amount))


def fill_step(step: StepState, got: StepInputs) -> None:
    """A new step's deadline, allowance and window from what the worker read for it: the same in the workflow
    and in the activity that writes the event opening it (activities/cases.py `record_with_step`)."""
    if got.deadline is not None:
        step.deadlines, step.allowance = got.deadline.deadlines, got.deadline.allowance
    due = step.deadlines
    step.window_opens_at = window_opens(due.due_at, Allowance.parse(got.window)) if due and got.window else None


def available_from(action: Action, step: StepState) -> datetime | None:
    """When `action` becomes possible on `step` (None: now, or no such time is known)."""
    match action.not_before:
        case NotBefore.window:
            return step.window_opens_at
        case NotBefore.deadline:
            return step.deadlines.due_at if step.deadlines else None
    return None


def not_yet(definition: Step, action: Action, step: StepState, now: datetime) -> str | None:
    """Why `action` cannot be taken on `step` yet, saying from when it can ("改正期限2026-12-20届满后可办理");
    None when it can."""
    at = available_from(action, step)
    if at is None or now >= at:
        return None
    if action.not_before == NotBefore.deadline:
        return f"{definition.due_label}{local_date(at).isoformat()}届满后可办理"
    due = step.deadlines.due_at if step.deadlines else None
    when = f"（{definition.due_label}{local_date(due).isoformat()}）" if due else ""
    return f"{local_date(at).isoformat()}起可办理{when}"


def check_not_before(definition: Step, action: Action, step: StepState, now: datetime) -> None:
    reason = not_yet(definition, action, step, now)
    if reason:
        raise DomainError("not_yet", f"“{action.label}”{reason}")
