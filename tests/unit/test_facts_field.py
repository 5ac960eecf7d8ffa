"""The facts field kind (a linked case's start form carried by an action's form): bounded and typed when
cleaned, taken from a page form only for the process chosen, and rendered as that process's start
fields less what the action's own form gives."""

from __future__ import annotations

from datetime import date

import pytest

from domain.errors import DomainError
from domain.field_kinds import FACTS_MAX_KEYS, rules
from domain.process import FieldKind, clean_payload
from domain.processes import get_process
from ui.forms import payload_from_form
from ui.render import _env, start_forms

TODAY = date(2026, 3, 2)
VISIT = get_process("key_child_followup").step("home_visit").action("record_visit")
assert VISIT is not None
FACTS = next(f for f in VISIT.fields if f.kind == FieldKind.facts)


def test_cleaned_bounded_and_typed() -> None:
    raw = {"channel": " community ", "guardian_aware": True, "n": 3, "tags": ["a"], "blank": ""}
    assert rules(FieldKind.facts).clean(FACTS, raw, TODAY) == {
        "channel": "community",
        "guardian_aware": True,
        "n": 3,
        "tags": ["a"],
    }
    for bad in ("text", {"x": {"nested": 1}}, {"bad key": "v"}, {f"k{i}": "v" for i in range(FACTS_MAX_KEYS + 1)}):
        with pytest.raises(DomainError) as e:
            rules(FieldKind.facts).clean(FACTS, bad, TODAY)
        assert e.value.field == "linked_facts" and "关联案件的立案信息" in e.value.message
    with pytest.raises(DomainError) as e:
        rules(FieldKind.facts).clean(FACTS, {"signs": "长" * 4001}, TODAY)
    assert e.value.code == "field_too_long"
    # Optional on the visit: a visit without it is a visit.
    payload = clean_payload(VISIT.fields, {"done_on": "2026-03-01", "findings": "良好"}, today=TODAY)
    assert "linked_facts" not in payload


def test_a_page_form_gives_only_the_chosen_process_inputs() -> None:
    form = {
        "done_on": "2026-03-01",
        "findings": "情绪低落",
        "open_case": "mental_health",
        "linked_facts.mental_health.channel": "community",
        "linked_facts.mental_health.risk_level": "high",
        "linked_facts.mental_health.contact": "",
        "linked_facts.guardianship.other": "not taken",
    }
    payload = payload_from_form(VISIT.fields, form)
    assert payload["linked_facts"] == {"channel": "community", "risk_level": "high"}
    assert "linked_facts" not in payload_from_form(VISIT.fields, {**form, "open_case": ""})


def test_rendered_as_each_offered_process_start_fields_less_the_visits_own() -> None:
    forms = {name: [f.name for f in fields] for name, _, fields in start_forms(FACTS)}
    assert forms["mental_health"] == [
        "linked_facts.mental_health.channel",
        "linked_facts.mental_health.risk_level",
        "linked_facts.mental_health.guardian_aware",
        "linked_facts.mental_health.contact",
    ]  # the signs are the visit's findings, the date the visit's
    assert forms["guardianship"] == ["linked_facts.guardianship.guardian_aware"]  # the visit gives the rest
    html = _env.from_string('{% import "_macros.html" as m %}{{ m.field(f, prefix="v-") }}').render(f=FACTS)
    assert 'name="linked_facts.mental_health.risk_level"' in html and "选择开立“" in html
    assert 'id="v-linked_facts-mental_health-risk_level"' in html
