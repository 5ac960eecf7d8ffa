"""How a case's timeline and facts read on the page: pure functions over the process definition."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from db.models import TimelineEvent
from domain.field_kinds import FieldKind, rules
from domain.process import CLOSE, Field, FieldRole, PayloadLabel, Process
from ui.filters import allowance_label, as_datetime, fmt_date, fmt_dt

# Facts the shared machinery adds to events (a process's own are in its definition: payload_labels).
MACHINERY_LABELS = (PayloadLabel("external", "迁入地在本市以外"),)
# Payload keys naming another case (shown as a link where the reader may open it).
LINK_LABELS = {"follow_on": "迁入地继续办理的案件", "linked_case": "由此开立的关联案件"}


def _extra_details(process: Process, payload: dict[str, Any]) -> list[tuple[str, str]]:
    out = []
    if payload.get("reported_at"):
        # A first step entered later counts from the end of the day the matter was found (18:00): the
        # clerk entered a date, and the date is what the timeline shows.
        found = process.start_field_with(FieldRole.occurred_on)
        label = f"补录：{found.label if found else '情况发现日期'}"
        out.append((label, fmt_date(as_datetime(payload["reported_at"]))))
    for label in (*process.payload_labels, *MACHINERY_LABELS):
        shown = label.read(payload)
        if shown is not None:
            out.append((label.label, shown))
    return out


@dataclass
class EventView:
    seq: int
    at: datetime
    who: str
    agency: str
    what: str
    kind: str
    steps: str
    note: str
    details: list[tuple[str, str]] = field(default_factory=list)
    due_at: datetime | None = None
    links: list[tuple[str, str]] = field(default_factory=list)  # (label, case number)
    # (label, attachment id) of the files the action named, for a reader who may open them; for anyone
    # else the value is withheld (domain/clinical.py) and reads as a detail, the marker.
    files: list[tuple[str, int]] = field(default_factory=list)


def field_value(f: Field, value: Any, agencies: dict[int, str]) -> str:
    """A form value as a reader sees it: 是/否, a choice's label, an agency's or region's name."""
    if value is None or value == "":
        return ""
    return rules(f.kind).show(f, value, agencies)


def field_details(fields: tuple[Field, ...], values: dict[str, Any], agencies: dict[int, str]) -> list[tuple[str, str]]:
    out = []
    for f in fields:
        if f.name == "note" or f.name not in values:
            continue
        shown = field_value(f, values[f.name], agencies)
        if shown:
            out.append((f.label, shown))
    return out


def _action_fields(process: Process, e: TimelineEvent) -> tuple[Field, ...]:
    if not e.action:
        return ()
    if e.from_step and process.has_step(e.from_step):
        action = process.step(e.from_step).action(e.action)
        if action:
            return action.fields
    action = process.case_action(e.action)
    return action.fields if action else ()


def event_what(process: Process, e: TimelineEvent) -> str:
    p = e.payload or {}
    match e.kind:
        case "opened":
            return "立案"
        case "escalated":
            return f"逾期升级（{p.get('level', '')}级）"
        case "urged":
            return "督办"
        case "extended":
            return f"延期（{fmt_dt(p.get('old_due_at'))} → {fmt_dt(p.get('new_due_at'))}）"
        case "reassigned":
            return f"改派（{p.get('from_agency', '')} → {p.get('to_agency', '')}）"
        case "deadline_confirmed":
            return f"期限已确定（{fmt_dt(p.get('old_due_at'))} → {fmt_dt(p.get('new_due_at'))}）"
        case "closed":
            return "结案"
        case "age_reached":
            return "年龄届满，案件继续"
        case "rearmed":
            return "期限重新起算"
        case "child_updated":
            return "儿童档案已核实"
        case "action":
            label = process.action_label(e.from_step, e.action) if e.action else "办理"
            return f"{label}（结案）" if e.to_step == CLOSE else label
    return e.kind


def event_steps(process: Process, e: TimelineEvent) -> str:
    a, b = process.step_label(e.from_step), process.step_label(e.to_step)
    if a and b and a != b:
        return f"{a} → {b}"
    return b or a


def event_view(process: Process, e: TimelineEvent, agencies: dict[int, str]) -> EventView:
    payload = dict(e.payload or {})
    fields = _action_fields(process, e)
    files = [(f.label, payload[f.name]) for f in fields if _names_a_file(f, payload)]
    details = field_details(tuple(f for f in fields if not _names_a_file(f, payload)), payload, agencies)
    details += _extra_details(process, payload)
    if e.kind == "extended" and payload.get("extend_by"):
        details.append(("延长", allowance_label(str(payload["extend_by"]))))
    return EventView(
        seq=e.seq,
        at=e.at,
        who=e.actor_name or "系统",
        agency=e.actor_agency_name or "",
        what=event_what(process, e),
        kind=e.kind,
        steps=event_steps(process, e),
        note=e.note or "",
        details=details,
        due_at=e.due_at,
        links=[(label, str(payload[key])) for key, label in LINK_LABELS.items() if payload.get(key)],
        files=files,
    )


def _names_a_file(f: Field, payload: dict[str, Any]) -> bool:
    """An attachment field holding an id (not the marker of withheld content)."""
    value = payload.get(f.name)
    return f.kind == FieldKind.attachment and isinstance(value, int) and not isinstance(value, bool)


def agency_ids_in(process: Process, events: list[TimelineEvent], facts: dict[str, Any]) -> set[int]:
    """The agency ids that forms recorded (for showing their names)."""
    ids: set[int] = set()

    def collect(fields: tuple[Field, ...], values: dict[str, Any]) -> None:
        for f in fields:
            if f.kind == FieldKind.agency and values.get(f.name) not in (None, ""):
                try:
                    ids.add(int(values[f.name]))
                except (TypeError, ValueError):
                    continue

    collect(process.start_fields, facts)
    for e in events:
        collect(_action_fields(process, e), e.payload or {})
    return ids


def passed_steps(events: list[TimelineEvent]) -> set[str]:
    """Every step the timeline has been through."""
    out: set[str] = set()
    for e in events:
        out.update(s for s in (e.from_step, e.to_step) if s and not s.startswith("@"))
    return out
