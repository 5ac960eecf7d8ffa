"""A home visit's form offers to open a linked case only of processes the visitor's agency may start: the
workflow refuses the others, so the page must not offer them."""

from __future__ import annotations

from domain.enums import AgencyType
from domain.processes import get_process
from ui.case_pages import as_offered

VISIT = get_process("key_child_followup").step("home_visit").action("record_visit")


def linked_choices(agency_type: AgencyType) -> dict[str, list[str]]:
    form = as_offered(VISIT, agency_type)
    return {f.name: [v for v, _ in f.choices] for f in form.fields if f.name in ("open_case", "linked_facts")}


def test_the_child_director_is_offered_what_a_committee_may_open() -> None:
    offered = linked_choices(AgencyType.village_committee)
    assert offered == {
        "open_case": ["guardianship", "mental_health"],
        "linked_facts": ["guardianship", "mental_health"],
    }
    committee_starts = {"guardianship", "mental_health"}
    assert {
        n
        for n in ("guardianship", "mental_health", "dropout_return")
        if get_process(n).starts_for(AgencyType.village_committee)
    } == committee_starts


def test_an_agency_that_may_open_none_is_not_asked() -> None:
    form = as_offered(VISIT, AgencyType.counselling_center)
    assert [f.name for f in form.fields] == ["done_on", "findings"]
    assert [f.name for f in VISIT.fields] == ["done_on", "findings", "open_case", "linked_facts"]  # unchanged
