"""What the case page shows besides the steps' forms: the process's summary facts, a step's counters,
linked cases, actions reserved to another role, the forms' default values. Pure functions over the
definition and the case's records."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from db.models import Document, TimelineEvent
from domain import permissions
from domain.deadlines import date_after
from domain.enums import ROLE_LABELS
from domain.errors import DomainError
from domain.field_kinds import FieldKind, rules
from domain.messages import Actor, CaseState, StepState
from domain.policy import Allowance, Unit
from domain.process import ACKNOWLEDGE, HANDOVER_STEP, RECORD_EXTERNAL_ACK, Action, Field, Process
from domain.timing import not_yet
from ui.timeline import LINK_LABELS

# The hand-over step's two ways to end: the receiving agency in this deployment acknowledges; for a
# destination outside it, the sender records the receipt. Each hides the other.
INTERNAL_ONLY = ACKNOWLEDGE
EXTERNAL_ONLY = RECORD_EXTERNAL_ACK
# A date field's default from these needs no working-day calendar nor a time of day (1M@start included).
CALENDAR_UNITS = (Unit.days, Unit.months, Unit.years)


@dataclass(frozen=True)
class CaseLink:
    label: str
    case_no: str


def summary_items(process: Process, summary: dict[str, Any] | None) -> list[tuple[str, str]]:
    """The process's summary facts (学校, 复辍次数) as (label, value); '—' where not known yet."""
    values = summary or {}
    out = []
    for key, label in process.summary_fields:
        value = values.get(key)
        out.append((label, "—" if value is None or value == "" else str(value)))
    return out


def counter_items(process: Process, counters: dict[str, int], skip: str | None = None) -> list[tuple[str, str]]:
    labels = process.counter_labels
    return [
        (label, f"{counters[key]}{unit}") for key, (label, unit) in labels.items() if key in counters and key != skip
    ]


def step_progress(
    process: Process, step: str, counters: dict[str, int], policy: Callable[[str], Allowance]
) -> str | None:
    """How far a counted step is (sessions, clean visits, attendance checks): "已完成 2/3 次", from the step's
    counter and its count policy in force in the case's county (what the workflow compares it with)."""
    definition = process.step(step) if process.has_step(step) else None
    if definition is None or not definition.count_key or not definition.counter:
        return None
    unit = process.counter_labels.get(definition.counter, ("", "次"))[1]
    done = counters.get(definition.counter, 0)
    return f"已完成 {done}/{policy(definition.count_key).amount} {unit}"


def counted_key(process: Process, step: StepState) -> str | None:
    """The counter a step's progress shows (not listed again among its counters)."""
    return process.step(step.step).counter if process.has_step(step.step) else None


@dataclass(frozen=True)
class GivenAnswer:
    """A field of a step's form answered by the action that opened the step (Field.once)."""

    label: str
    value: str
    source: str  # the action that answered it


def given_answers(
    process: Process, step: StepState, events: Iterable[TimelineEvent], agencies: dict[int, str]
) -> dict[str, GivenAnswer]:
    """The `once` fields of the step's actions that the event opening the step answered (it carries the
    field, or its action asks it): the form shows these instead of asking again."""
    opened = opening_event(step, events)
    if opened is None or not opened.action or not process.has_step(step.step):
        return {}
    payload = opened.payload or {}
    asked = {f.name for f in _event_fields(process, opened)}
    source = process.action_label(opened.from_step, opened.action)
    out: dict[str, GivenAnswer] = {}
    for f in _once_fields(process, step.step):
        if f.name in payload or f.name in asked:
            value = payload.get(f.name)
            shown = rules(f.kind).show(f, value, agencies) if value not in (None, "") else ""
            out[f.name] = GivenAnswer(f.label, shown or ("否" if f.kind == FieldKind.bool else "未选"), source)
    return out


def given_agency_ids(process: Process, steps: Iterable[StepState], events: Iterable[TimelineEvent]) -> set[int]:
    """The agencies named by the answers that opened these steps (given_answers shows their names)."""
    events = list(events)
    ids = set()
    for st in steps:
        opened = opening_event(st, events)
        for f in _once_fields(process, st.step):
            value = (opened.payload or {}).get(f.name) if opened else None
            if f.kind == FieldKind.agency and isinstance(value, int):
                ids.add(value)
    return ids


def _once_fields(process: Process, step: str) -> list[Field]:
    if not process.has_step(step):
        return []
    return [f for a in process.step(step).actions for f in a.fields if f.once]


def _event_fields(process: Process, e: TimelineEvent) -> tuple[Field, ...]:
    if e.from_step and process.has_step(e.from_step):
        action = process.step(e.from_step).action(e.action or "")
        if action:
            return action.fields
    action = process.case_action(e.action or "")
    return action.fields if action else ()


def linked_cases(facts: dict[str, Any], events: Iterable[TimelineEvent]) -> list[CaseLink]:
    """The case this one was taken on from (facts "follows"), and the cases it led to (an event's
    payload "follow_on")."""
    out = []
    if facts.get("follows"):
        out.append(CaseLink("由原案件移交而来", str(facts["follows"])))
    if facts.get("linked_from"):
        out.append(CaseLink("由关联案件转来", str(facts["linked_from"])))
    for e in events:
        payload = e.payload or {}
        out += [CaseLink(label, str(payload[key])) for key, label in LINK_LABELS.items() if payload.get(key)]
    return out


def reserved_actions(process: Process, state: CaseState, step: StepState, actor: Actor) -> list[tuple[str, str]]:
    """Actions of `step` the actor's agency may take but only in another role (a supervisor's sign-off):
    (action label, who may take it), so an operator knows whom to ask."""
    out = []
    for action in process.step(step.step).actions if process.has_step(step.step) else ():
        if not action.roles or actor.role in action.roles:
            continue
        stand_in = actor.model_copy(update={"role": action.roles[0]})
        try:
            permissions.check_step_action(process, state, step, action.name, stand_in)
        except DomainError:
            continue
        out.append((action.label, "、".join(ROLE_LABELS[r] for r in action.roles)))
    return out


def opening_event(step: StepState, events: Iterable[TimelineEvent]) -> TimelineEvent | None:
    return next((e for e in events if e.seq == step.seq), None)


def is_external_handover(step: StepState, events: Iterable[TimelineEvent]) -> bool:
    opened = opening_event(step, events)
    return bool(opened and (opened.payload or {}).get("external"))


def hidden_actions(step: StepState, events: Iterable[TimelineEvent]) -> set[str]:
    """Actions the page does not offer on `step` although the definition allows them."""
    if step.step != HANDOVER_STEP:
        return set()
    return {INTERNAL_ONLY} if is_external_handover(step, events) else {EXTERNAL_ONLY}


def possible_now(
    process: Process, step: StepState, actions: list[Action], now: datetime
) -> tuple[list[Action], list[tuple[str, str]]]:
    """A step's offers split into those that can be taken now and those that become possible later, as
    (label, when: "改正期限2026-12-20届满后可办理"), so the page offers only what it can do."""
    if not process.has_step(step.step):
        return actions, []
    definition = process.step(step.step)
    now_, later = [], []
    for action in actions:
        reason = not_yet(definition, action, step, now)
        if reason is None:
            now_.append(action)
        else:
            later.append((action.label, reason))
    return now_, later


def step_documents(step: StepState, documents: Iterable[Document]) -> list[Document]:
    """The documents produced by the event that opened `step` (the order a compliance step waits on,
    the packet of a hand-over)."""
    return [d for d in documents if d.seq == step.seq]


def date_defaults(process: Process, today: date, policy: Callable[[str], Allowance]) -> dict[str, str]:
    """Prefilled dates of the process's forms, by field name (e.g. the compliance date of an order)."""
    out = {}
    fields = [f for s in process.steps for a in s.actions for f in a.fields]
    for f in [*fields, *process.start_fields]:
        if f.default_policy:
            allowance = policy(f.default_policy)
            if allowance.unit in CALENDAR_UNITS:
                out[f.name] = date_after(today, allowance).isoformat()
    return out
