"""What a case looks like to a reader: the JSON shapes of the API, also used by the pages."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from api.cases.lists import InboxEntry, inbox_step_state, step_state_of
from api.cases.service import CaseDetail
from api.principal import Principal
from db.models import Case, TimelineEvent
from domain import permissions
from domain.enums import AGENCY_TYPE_LABELS, AgencyType
from domain.messages import CaseState, StepState
from domain.process import Field, Process
from domain.processes import get_process
from domain.regions import region_name
from domain.timing import available_from, not_yet


def field_json(f: Field) -> dict[str, Any]:
    return {
        "name": f.name,
        "label": f.label,
        "kind": f.kind.value,
        "required": f.required,
        "choices": [{"value": v, "label": label} for v, label in f.choices],
        "agency_type": f.agency_type.value if f.agency_type else None,
        "help": f.help,
    }


def step_json(process: Process, st: StepState) -> dict[str, Any]:
    d = st.deadlines
    return {
        "track": st.track,
        "step": st.step,
        "step_label": process.step_label(st.step),
        "step_seq": st.seq,
        "holder": {
            "id": st.holder.id,
            "name": st.holder.name,
            "agency_type": st.holder.agency_type.value,
            "agency_type_label": AGENCY_TYPE_LABELS[AgencyType(st.holder.agency_type)],
            "region_code": st.holder.region_code,
        },
        "co_holders": [{"id": a.id, "name": a.name} for a in st.co_holders],
        "external": st.external.model_dump(mode="json") if st.external else None,
        "opened_at": st.opened_at.isoformat(),
        "due_at": d.due_at.isoformat() if d else None,
        "level2_at": d.level2_at.isoformat() if d else None,
        "level3_at": d.level3_at.isoformat() if d else None,
        "due_provisional": bool(d and d.provisional),
        "allowance": st.allowance,
        "escalation_level": st.level,
        "counters": st.counters,
        "window_opens_at": st.window_opens_at.isoformat() if st.window_opens_at else None,
    }


def current_steps(case: Case, live: CaseState | None) -> list[StepState]:
    if live is not None:
        return list(live.steps.values())
    return [step_state_of(s) for s in case.steps]


def case_summary_json(case: Case) -> dict[str, Any]:
    process = get_process(case.process)
    return {
        "case_no": case.case_no,
        "process": case.process,
        "process_label": process.label,
        "status": case.status,
        "outcome": case.outcome,
        "outcome_label": process.outcome_label(case.outcome) if case.outcome else None,
        "child": {"id": case.child_id, "name": case.child.name, "identity_status": case.child.identity_status},
        "county": case.county,
        "county_name": region_name(case.county),
        "main_step": case.main_step,
        "main_step_label": process.step_label(case.main_step),
        "steps": [step_json(process, step_state_of(s)) for s in case.steps],
        "opened_at": case.opened_at.isoformat(),
        "closed_at": case.closed_at.isoformat() if case.closed_at else None,
        "last_activity_at": case.last_activity_at.isoformat(),
        "automation_error": case.automation_error,
        "summary": [
            {"key": k, "label": label, "value": (case.summary or {}).get(k)} for k, label in process.summary_fields
        ],
    }


def inbox_item_json(e: InboxEntry) -> dict[str, Any]:
    process = get_process(e.case.process)
    return {
        "case_no": e.case.case_no,
        "process": e.case.process,
        "process_label": process.label,
        "child": {"id": e.case.child.id, "name": e.case.child.name, "identity_status": e.case.child.identity_status},
        "county": e.case.county,
        "county_name": region_name(e.case.county),
        "summary": [{"key": k, "label": label, "value": e.case.summary.get(k)} for k, label in process.summary_fields],
        "step": step_json(process, inbox_step_state(e.step)),
    }


def event_json(process: Process, e: TimelineEvent) -> dict[str, Any]:
    return {
        "seq": e.seq,
        "at": e.at.isoformat(),
        "kind": e.kind,
        "track": e.track,
        "action": e.action,
        "action_label": process.action_label(e.from_step, e.action) if e.action else None,
        "from_step": e.from_step,
        "from_step_label": process.step_label(e.from_step),
        "to_step": e.to_step,
        "to_step_label": process.step_label(e.to_step),
        "actor": {"name": e.actor_name, "agency": e.actor_agency_name} if e.actor_name else None,
        "note": e.note,
        "payload": e.payload,
        "due_at": e.due_at.isoformat() if e.due_at else None,
    }


def allowed_actions_json(process: Process, state: CaseState | None, principal: Principal) -> list[dict[str, Any]]:
    if state is None:
        return []
    out = []
    now = datetime.now(UTC)
    for offer in permissions.offers(process, state, principal.actor()):
        step = offer.step
        at = available_from(offer.action, step) if step else None
        out.append(
            {
                "step": step.step if step else None,
                "step_seq": step.seq if step else None,
                "action": offer.action.name,
                "label": offer.action.label,
                "fields": [field_json(f) for f in offer.action.fields],
                # An action possible only from a time of its step (a visit's window, an order's date).
                "available_from": at.isoformat() if at else None,
                "not_yet": not_yet(process.step(step.step), offer.action, step, now) if step else None,
            }
        )
    return out


def supervision_json(state: CaseState | None, principal: Principal) -> list[dict[str, Any]]:
    if state is None or state.closed:
        return []
    return [
        {"step": s.step, "step_seq": s.seq, "kinds": list(permissions.SUPERVISOR_ACTIONS)}
        for s in permissions.supervisable_steps(state, principal.actor())
    ]


def case_detail_json(detail: CaseDetail, principal: Principal) -> dict[str, Any]:
    process = detail.process
    body = case_summary_json(detail.case)
    body["live"] = detail.live is not None
    body["steps"] = [step_json(process, s) for s in current_steps(detail.case, detail.live)]
    body["timeline"] = [event_json(process, e) for e in detail.timeline]
    body["documents"] = [{"id": d.id, "seq": d.seq, "kind": d.kind, "title": d.title} for d in detail.documents]
    body["allowed_actions"] = allowed_actions_json(process, detail.live, principal)
    body["supervision"] = supervision_json(detail.live, principal)
    return body


def process_json(process: Process) -> dict[str, Any]:
    return {
        "name": process.name,
        "label": process.label,
        "tracks": process.tracks,
        "starts": [
            {"step": o.step, "label": o.label, "agency_types": [t.value for t in o.agency_types]}
            for o in process.starts
        ],
        "start_fields": [field_json(f) for f in process.start_fields],
        "steps": [
            {
                "name": s.name,
                "label": s.label,
                "track": s.track,
                "responsible": [t.value for t in s.responsible],
                "policy_key": s.policy_key,
                "description": s.description,
                "actions": [
                    {"name": a.name, "label": a.label, "to": list(a.to), "fields": [field_json(f) for f in a.fields]}
                    for a in s.actions
                ],
            }
            for s in process.steps
        ],
        "case_actions": [
            {"name": a.name, "label": a.label, "to": list(a.to), "fields": [field_json(f) for f in a.fields]}
            for a in process.case_actions
        ],
        "outcomes": [{"name": o.name, "label": o.label} for o in process.outcomes],
    }
