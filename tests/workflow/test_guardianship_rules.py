"""Rules of guardianship intervention that sit between steps: when a move can be handed over, and an
order decided with the police's reprimand carrying through to the reprimand document."""

from __future__ import annotations

import pytest

from domain.errors import DomainError
from tests.support import CaseDriver, agency_id, form


async def test_a_move_is_handed_over_only_from_a_committee_held_step(wf) -> None:
    c = await CaseDriver.open(wf, "luzhou-vc1")
    await c.act("luzhou-vc1", "report_serious", form("report_serious"))
    assert (await c.step()).step == "police_report"
    before = await c.snapshot()
    moved = {"destination_region": "140404", "destination_agency_id": await agency_id(c.db, "shangdang-vc1")}
    with pytest.raises(DomainError) as e:
        await c.act("luzhou-vc1", "child_moved", moved, step=None)
    assert e.value.code == "not_now"
    assert "报告公安机关" in e.value.message and "潞州区公安局" in e.value.message
    assert await c.snapshot() == before  # refused: nothing recorded


async def test_an_order_decided_by_the_police_stands_at_the_reprimand(wf) -> None:
    c = await CaseDriver.open(wf, "luzhou-vc1")
    await c.act("luzhou-vc1", "report_serious", form("report_serious"))
    await c.act("luzhou-police", "accept", form("accept"))
    await c.act("luzhou-police", "decide_reprimand", form("decide_reprimand", family_education_order=True))
    # The reprimand form leaves the box unticked; the order decided with it still goes to guidance.
    await c.act("luzhou-police", "issue_reprimand", form("issue_reprimand", family_education_order=False))
    step = await c.step()
    assert step.step == "family_education_guidance"
    (doc,) = await c.documents()
    assert (doc.kind, doc.fields["family_education_order"]) == ("reprimand", True)


async def test_a_hand_over_closes_only_its_own_way(wf) -> None:
    c = await CaseDriver.open(wf, "luzhou-vc1")
    moved = {"destination_region": "140404", "destination_agency_id": await agency_id(c.db, "shangdang-vc1")}
    await c.act("luzhou-vc1", "child_moved", moved, step=None)
    before = await c.snapshot()
    with pytest.raises(DomainError) as e:
        await c.act("shangdang-vc1", "record_external_ack", form("record_external_ack"))
    assert (e.value.code, e.value.message) == ("action_not_allowed", "迁入地村（居）民委员会在本系统中，须由其确认接收")
    assert await c.snapshot() == before
    await c.act("shangdang-vc1", "acknowledge_handover", form("acknowledge_handover"))
    assert (await c.row()).outcome == "moved"
