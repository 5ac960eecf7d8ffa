"""Guardianship intervention (processes.md §1), path by path, on the time-skipping server: who holds each
step, when it is due, what the timeline says (from which step to which), who is told, how the case ends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.cases import service
from api.children.service import ChildIn, GuardianIn, register_child
from db.models import PolicyOverrideRow
from db.seed import make_id_number
from domain.deadlines import birthday
from domain.errors import DomainError
from tests import support as s
from tests.support import CaseDriver, day_end, form

CLOSE = "@close"
END = "@end"


def holder(step) -> str:
    return step.holder.code


async def to_monitoring(c: CaseDriver) -> None:
    """admonition → follow-up → improved → monitoring, by the child's village committee."""
    await c.act("luzhou-vc1", "record_admonition", form("record_admonition"))
    await c.act("luzhou-vc1", "improved", form("improved"))
    assert (await c.step()).step == "monitoring"


async def to_police_decision(c: CaseDriver) -> None:
    await c.act("luzhou-vc1", "report_serious", form("report_serious"))
    await c.act("luzhou-police", "accept", form("accept"))
    assert (await c.step()).step == "police_decision"


async def two_clean_visits(c: CaseDriver, user: str = "luzhou-vc1-director") -> None:
    for _ in range(2):
        await c.sleep_to_window()
        await c.act(user, "record_visit", form("record_visit"))


# ---------------------------------------------------------------------------- admonition paths


async def test_admonition_improved_then_two_clean_visits_closes_resolved(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    first = await c.step()
    assert (first.step, holder(first), first.allowance) == ("admonition", "luzhou-vc1", "3WD")
    assert first.escalation_level == 0

    r = await c.act("luzhou-vc1", "record_admonition", form("record_admonition"))
    followup = await c.step()
    assert (followup.step, holder(followup), followup.allowance) == ("admonition_followup", "luzhou-vc1", "30d")
    assert followup.step_seq == r.seq == 2
    assert followup.due_at == day_end(followup.opened_at, 30)  # review 30 d after the admonition

    await c.sleep(timedelta(days=20))
    await c.act("luzhou-vc1", "improved", form("improved"))
    monitoring = await c.step()
    assert (monitoring.step, holder(monitoring), monitoring.allowance) == ("monitoring", "luzhou-vc1", "30d")
    assert monitoring.due_at == day_end(monitoring.opened_at, 30)  # first visit at 30 d
    assert monitoring.counters == {"visits": 0}

    await c.sleep(timedelta(days=25))
    await c.act("luzhou-vc1-director", "record_visit", form("record_visit"))  # the child director visits
    second = await c.step()
    assert (second.step, second.allowance, second.counters) == ("monitoring", "90d", {"visits": 1})
    assert second.due_at == day_end(monitoring.opened_at, 90)  # second visit at 90 d after monitoring began
    assert (await c.row()).status == "open"

    await c.sleep(timedelta(days=60))  # the 90-day visit may be recorded from day 83
    r = await c.act("luzhou-vc1-director", "record_visit", form("record_visit", note="一切正常"))
    assert r.closed and r.outcome == "resolved"

    row = await c.row()
    assert (row.status, row.outcome, row.main_step) == ("closed", "resolved", None)
    assert row.closed_at is not None
    assert await c.steps() == {}
    events = await c.events()
    assert s.path(events) == [
        ("opened", None, None, "admonition"),
        ("action", "record_admonition", "admonition", "admonition_followup"),
        ("action", "improved", "admonition_followup", "monitoring"),
        ("action", "record_visit", "monitoring", "monitoring"),
        ("action", "record_visit", "monitoring", CLOSE),
    ]
    assert events[3].payload["visit_number"] == 1 and events[4].note == "一切正常"
    assert events[3].actor_name == "潞州区东街街道城北社区居民委员会儿童主任"
    assert {a for _, a, _, _ in await c.notes()} == {"luzhou-vc1"}  # nobody else was involved
    closed = [n for n in await s.notifications(c.db, c.no) if n.seq == 5]
    clerk = await s.who(c.db, "luzhou-vc1")
    assert [(n.kind, n.user_id) for n in closed] == [("closed", clerk.user_id)]  # the clerk who opened it
    assert closed[0].title == f"{c.no}：您登记的案件已结案（已解决）"
    result = await c.handle().result()
    assert (result.outcome, result.seq) == ("resolved", 5)


async def test_serious_admonition_goes_to_the_county_police(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    r = await c.act("luzhou-vc1", "report_serious", form("report_serious"))
    step = await c.step()
    assert (step.step, holder(step), step.allowance) == ("police_report", "luzhou-police", "24h")
    assert step.due_at == step.opened_at + timedelta(hours=24)
    assert (await c.path())[-1] == ("action", "report_serious", "admonition", "police_report")
    assert await c.notes(r.seq) == [(r.seq, "luzhou-police", "", "new_step")]
    assert (await c.parties())["luzhou-police"] == ("holder", 0)


async def test_not_improved_police_reprimand_with_order_guidance_then_monitoring(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    await c.act("luzhou-vc1", "record_admonition", form("record_admonition"))
    await c.sleep(timedelta(days=28))
    await c.act("luzhou-vc1", "not_improved", form("not_improved"))
    report = await c.step()
    assert (report.step, holder(report)) == ("police_report", "luzhou-police")

    await c.act("luzhou-police", "accept", form("accept"))
    decision = await c.step()
    assert (decision.step, holder(decision), decision.allowance) == ("police_decision", "luzhou-police", "30d")

    await c.sleep(timedelta(days=10))
    r = await c.act("luzhou-police", "decide_reprimand", form("decide_reprimand"))
    reprimand = await c.step()
    assert (reprimand.step, holder(reprimand), reprimand.allowance) == ("reprimand", "luzhou-police", "3WD")
    assert [k for _, _, _, k in await c.notes(r.seq)] == ["new_step"]  # no reporter to give feedback to

    r = await c.act("luzhou-police", "issue_reprimand", form("issue_reprimand"))
    docs = await c.documents()
    assert [(d.kind, d.title, d.seq) for d in docs] == [("reprimand", "训诫书", r.seq)]
    assert docs[0].fields["authority"] == "潞州区公安局" and docs[0].fields["family_education_order"] is True
    guidance = await c.step()
    assert (guidance.step, holder(guidance), guidance.allowance) == ("family_education_guidance", "luzhou-wf", "15WD")
    assert guidance.counters == {"sessions": 0}
    assert await c.notes(r.seq) == [(r.seq, "luzhou-wf", "", "new_step")]
    assert (await c.parties())["luzhou-wf"] == ("holder", 0)

    # Three sessions (policy guardianship.guidance_sessions): the next is due 30 d after each.
    for n in (1, 2):
        r = await c.act("luzhou-wf", "record_session", form("record_session"))
        nxt = await c.step()
        assert (nxt.step, nxt.allowance, nxt.counters, nxt.step_seq) == (
            "family_education_guidance",
            "30d",
            {"sessions": n},
            r.seq,
        )
        assert nxt.due_at == day_end(nxt.opened_at, 30)
        await c.sleep(timedelta(days=20))
    r = await c.act("luzhou-wf", "record_session", form("record_session"))
    monitoring = await c.step()
    assert (monitoring.step, holder(monitoring)) == ("monitoring", "luzhou-vc1")
    assert await c.notes(r.seq) == [(r.seq, "luzhou-vc1", "", "new_step")]

    await two_clean_visits(c)
    assert ((await c.row()).status, (await c.row()).outcome) == ("closed", "resolved")
    events = await c.events()
    assert s.path(events) == [
        ("opened", None, None, "admonition"),
        ("action", "record_admonition", "admonition", "admonition_followup"),
        ("action", "not_improved", "admonition_followup", "police_report"),
        ("action", "accept", "police_report", "police_decision"),
        ("action", "decide_reprimand", "police_decision", "reprimand"),
        ("action", "issue_reprimand", "reprimand", "family_education_guidance"),
        ("action", "record_session", "family_education_guidance", "family_education_guidance"),
        ("action", "record_session", "family_education_guidance", "family_education_guidance"),
        ("action", "record_session", "family_education_guidance", "monitoring"),
        ("action", "record_visit", "monitoring", "monitoring"),
        ("action", "record_visit", "monitoring", CLOSE),
    ]
    assert [e.payload.get("session_number") for e in events[6:9]] == [1, 2, 3]
    assert events[4].payload["decision"] == "reprimand" and events[4].actor_agency_name == "潞州区公安局"
    await c.save_history("police-reprimand-guidance")
    await c.save_history("monitoring-counts-from-policy")  # with the patch marker of the counts read from policy
    await c.save_history("local-activities")  # the timeline written by local activities
    await c.save_history("step-inputs-at-once")  # a new step's agencies, deadline, window: one local activity


async def test_guidance_sessions_follow_the_county_policy(fresh_wf):
    """A county that requires two sessions (a policy override) moves to monitoring after the second."""
    async with fresh_wf.db.sf() as sess, sess.begin():
        sess.add(
            PolicyOverrideRow(
                key="guardianship.guidance_sessions",
                region_code="140403",
                value="2count",
                effective_from=datetime.now(UTC) - timedelta(days=1),
            )
        )
    c = await CaseDriver.open(fresh_wf, "luzhou-court", step="reprimand")
    await c.act("luzhou-court", "issue_reprimand", form("issue_reprimand"))
    await c.act("luzhou-wf", "record_session", form("record_session"))
    assert (await c.step()).step == "family_education_guidance"
    await c.act("luzhou-wf", "record_session", form("record_session"))
    assert (await c.step()).step == "monitoring"


async def test_reprimand_with_penalty_and_without_order_goes_to_monitoring(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    await to_police_decision(c)
    r = await c.act(
        "luzhou-police",
        "decide_reprimand",
        form("decide_reprimand", decision="reprimand_penalty", penalty="罚款500元", family_education_order=False),
    )
    ev = (await c.events())[-1]
    assert (ev.seq, ev.to_step, ev.payload["decision"], ev.payload["penalty"]) == (
        r.seq,
        "reprimand",
        "reprimand_penalty",
        "罚款500元",
    )
    assert holder(await c.step()) == "luzhou-police"

    r = await c.act("luzhou-police", "issue_reprimand", form("issue_reprimand", family_education_order=False))
    monitoring = await c.step()
    assert (monitoring.step, holder(monitoring)) == ("monitoring", "luzhou-vc1")
    assert (await c.path())[-1] == ("action", "issue_reprimand", "reprimand", "monitoring")
    [doc] = await c.documents()
    assert (doc.kind, doc.seq, doc.fields["family_education_order"]) == ("reprimand", r.seq, False)


@pytest.mark.parametrize(
    ("decision", "label"),
    [("decide_reprimand", "决定训诫"), ("open_criminal_case", "立案侦查"), ("no_violation", "不构成违法")],
)
async def test_mandatory_report_by_a_school_and_feedback(fresh_wf, decision, label):
    """A school's mandatory report goes straight to the county police; the school hears the decision."""
    c = await CaseDriver.open(fresh_wf, "luzhou-school1", step="police_report")
    report = await c.step()
    assert (report.step, holder(report), report.allowance) == ("police_report", "luzhou-police", "24h")
    assert report.due_at == report.opened_at + timedelta(hours=24)
    parties = await c.parties()
    assert parties["luzhou-school1"] == ("reporter", 0)
    assert parties["luzhou-police"] == ("holder", 0)
    assert parties["luzhou-vc1"] == ("participant", 0)  # the child's committee, for monitoring later
    assert await c.notes(1) == [(1, "luzhou-police", "", "new_step")]

    r = await c.act("luzhou-police", "accept", form("accept"))
    assert "feedback" not in [k for *_, k in await c.notes()]  # accepting is not yet the outcome
    r = await c.act("luzhou-police", decision, form(decision))
    told = await c.notes(r.seq)
    assert (r.seq, "luzhou-school1", "", "feedback") in told
    feedback = next(n for n in await s.notifications(c.db, c.no) if n.kind == "feedback")
    assert label in feedback.title and c.no in feedback.title
    assert feedback.user_id == (await s.who(c.db, "luzhou-school1")).user_id  # the clerk who reported
    nxt = await c.step()
    if decision == "decide_reprimand":
        assert (nxt.step, holder(nxt)) == ("reprimand", "luzhou-police")
    else:
        # criminal case (the case continues for the child's safety) or no violation → monitoring
        assert (nxt.step, holder(nxt)) == ("monitoring", "luzhou-vc1")
        assert (r.seq, "luzhou-vc1", "", "new_step") in told
        assert (await c.path())[-1] == ("action", decision, "police_decision", "monitoring")
    if decision == "open_criminal_case":
        await c.save_history("school-report-criminal")


# ---------------------------------------------------------------------------- guidance non-compliance


async def test_guidance_noncompliance_goes_back_to_the_police(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    await to_police_decision(c)
    await c.act("luzhou-police", "decide_reprimand", form("decide_reprimand"))
    await c.act("luzhou-police", "issue_reprimand", form("issue_reprimand"))
    await c.act("luzhou-wf", "record_session", form("record_session"))

    r = await c.act("luzhou-wf", "report_noncompliance", form("report_noncompliance"))
    back = await c.step()
    assert (back.step, holder(back), back.allowance) == ("guidance_noncompliance", "luzhou-police", "15WD")
    assert await c.notes(r.seq) == [(r.seq, "luzhou-police", "", "new_step")]
    with pytest.raises(DomainError) as e:  # only a court issues a family-education guidance order
        await c.act("luzhou-police", "issue_guidance_order", form("issue_guidance_order"))
    assert (e.value.code, e.value.message) == ("action_not_allowed", "承办单位类型不能进行“发出家庭教育指导令”")

    # reprimand again → the police's reprimand → guidance again, the session already held still counts
    await c.act("luzhou-police", "reprimand_again", form("reprimand_again"))
    again = await c.step()
    assert (again.step, holder(again)) == ("reprimand", "luzhou-police")
    await c.act("luzhou-police", "issue_reprimand", form("issue_reprimand"))
    guidance = await c.step()
    assert (guidance.step, holder(guidance), guidance.counters) == (
        "family_education_guidance",
        "luzhou-wf",
        {"sessions": 1},
    )
    assert len([d for d in await c.documents() if d.kind == "reprimand"]) == 2

    # penalise → guidance again
    await c.act("luzhou-wf", "report_noncompliance", form("report_noncompliance"))
    assert holder(await c.step()) == "luzhou-police"
    await c.act("luzhou-police", "penalise", form("penalise"))
    guidance = await c.step()
    assert (guidance.step, holder(guidance), guidance.allowance) == ("family_education_guidance", "luzhou-wf", "15WD")
    await c.act("luzhou-wf", "record_session", form("record_session"))
    await c.act("luzhou-wf", "record_session", form("record_session"))
    assert (await c.step()).step == "monitoring"
    assert (await c.path())[-7:] == [
        ("action", "report_noncompliance", "family_education_guidance", "guidance_noncompliance"),
        ("action", "reprimand_again", "guidance_noncompliance", "reprimand"),
        ("action", "issue_reprimand", "reprimand", "family_education_guidance"),
        ("action", "report_noncompliance", "family_education_guidance", "guidance_noncompliance"),
        ("action", "penalise", "guidance_noncompliance", "family_education_guidance"),
        ("action", "record_session", "family_education_guidance", "family_education_guidance"),
        ("action", "record_session", "family_education_guidance", "monitoring"),
    ]


async def test_court_reprimand_then_guidance_order_on_noncompliance(fresh_wf):
    """A court handling a case starts at reprimand; non-compliance comes back to the court, which issues
    a family-education guidance order (家庭教育指导令)."""
    c = await CaseDriver.open(fresh_wf, "luzhou-court", step="reprimand")
    first = await c.step()
    assert (first.step, holder(first), first.allowance) == ("reprimand", "luzhou-court", "3WD")
    assert (await c.parties())["luzhou-court"] == ("starter", 0)

    await c.act("luzhou-court", "issue_reprimand", form("issue_reprimand"))
    [doc] = await c.documents()
    assert doc.fields["authority"] == "潞州区人民法院"
    assert holder(await c.step()) == "luzhou-wf"
    await c.act("luzhou-wf", "report_noncompliance", form("report_noncompliance"))
    back = await c.step()
    assert (back.step, holder(back)) == ("guidance_noncompliance", "luzhou-court")
    with pytest.raises(DomainError) as e:  # penalties are the police's
        await c.act("luzhou-court", "penalise", form("penalise"))
    assert e.value.code == "action_not_allowed"
    with pytest.raises(DomainError) as e:  # the police never held this case's order
        await c.act_on("luzhou-police", "reprimand_again", form("reprimand_again"), step="guidance_noncompliance")
    assert e.value.code == "not_holder"

    r = await c.act("luzhou-court", "issue_guidance_order", form("issue_guidance_order"))
    guidance = await c.step()
    assert (guidance.step, holder(guidance), guidance.allowance) == ("family_education_guidance", "luzhou-wf", "15WD")
    assert (await c.events())[-1].payload["order_ref"] == "(2026)晋0403家指1号"
    assert await c.notes(r.seq) == [(r.seq, "luzhou-wf", "", "new_step")]
    assert (await c.path())[1:] == [
        ("action", "issue_reprimand", "reprimand", "family_education_guidance"),
        ("action", "report_noncompliance", "family_education_guidance", "guidance_noncompliance"),
        ("action", "issue_guidance_order", "guidance_noncompliance", "family_education_guidance"),
    ]
    await c.save_history("court-guidance-order")


async def test_procuratorate_starts_at_reprimand_without_order(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-procuratorate", step="reprimand")
    first = await c.step()
    assert (first.step, holder(first)) == ("reprimand", "luzhou-procuratorate")
    await c.act("luzhou-procuratorate", "issue_reprimand", form("issue_reprimand", family_education_order=False))
    monitoring = await c.step()
    assert (monitoring.step, holder(monitoring)) == ("monitoring", "luzhou-vc1")
    [doc] = await c.documents()
    assert (doc.kind, doc.fields["authority"]) == ("reprimand", "潞州区人民检察院")


# ---------------------------------------------------------------------------- monitoring


async def test_a_concern_visit_does_not_count(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    await to_monitoring(c)
    await c.sleep_to_window()
    await c.act("luzhou-vc1", "record_visit", form("record_visit", finding="concern"))
    assert ((await c.step()).counters, (await c.step()).allowance) == ({"visits": 0}, "30d")
    await c.sleep_to_window()
    await c.act("luzhou-vc1", "record_visit", form("record_visit"))
    assert (await c.step()).counters == {"visits": 1}
    await c.sleep_to_window()
    await c.act("luzhou-vc1", "record_visit", form("record_visit", finding="concern"))
    step = await c.step()
    assert (step.counters, step.allowance) == ({"visits": 1}, "30d")
    assert step.due_at == day_end(step.opened_at, 30)
    assert (await c.row()).status == "open"
    await c.sleep_to_window()
    r = await c.act("luzhou-vc1", "record_visit", form("record_visit"))
    assert r.closed and r.outcome == "resolved"
    assert [e.payload.get("finding") for e in (await c.events())[-4:]] == ["concern", "clean", "concern", "clean"]


async def test_new_harm_during_monitoring_goes_back_to_the_police(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    await to_monitoring(c)
    r = await c.act("luzhou-vc1-director", "report_new_harm", form("report_new_harm"))
    step = await c.step()
    assert (step.step, holder(step)) == ("police_report", "luzhou-police")
    assert (await c.path())[-1] == ("action", "report_new_harm", "monitoring", "police_report")
    assert await c.notes(r.seq) == [(r.seq, "luzhou-police", "", "new_step")]
    await c.act("luzhou-police", "accept", form("accept"))
    assert (await c.step()).step == "police_decision"


# ---------------------------------------------------------------------------- the child-safety branch


async def test_safety_branch_placed_by_police_returns_home_and_main_track_goes_on(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    r = await c.act("luzhou-police", "place_temporary_guardianship", form("place_temporary_guardianship"), step=None)
    steps = await c.steps()
    assert steps["main"].step == "admonition"  # the main track runs on beside the branch
    intake = steps["safety"]
    assert (intake.step, holder(intake), intake.allowance) == ("temporary_guardianship_intake", "luzhou-civil", "24h")
    assert intake.due_at == intake.opened_at + timedelta(hours=24)
    assert await c.notes(r.seq) == [(r.seq, "luzhou-civil", "", "new_step")]
    parties = await c.parties()
    assert parties["luzhou-civil"] == ("participant", 0)  # civil affairs follows every case from the start
    assert parties["luzhou-police"] == ("participant", 0)  # the placing police follow the case from now on
    ev = (await c.events())[-1]
    assert (ev.track, ev.from_step, ev.to_step, ev.actor_agency_name) == (
        "safety",
        None,
        "temporary_guardianship_intake",
        "潞州区公安局",
    )

    # Both tracks take actions independently.
    await c.act("luzhou-vc1", "record_admonition", form("record_admonition"), step="admonition")
    await c.act("luzhou-civil", "accept_child", form("accept_child"), step="temporary_guardianship_intake")
    steps = await c.steps()
    assert steps["main"].step == "admonition_followup"
    temp = steps["safety"]
    assert (temp.step, holder(temp), temp.allowance) == ("temporary_guardianship", "luzhou-civil", "30d")
    assert temp.due_at == day_end(temp.opened_at, 30)  # reassess every 30 d

    await c.sleep(timedelta(days=25))
    r = await c.act("luzhou-civil", "record_reassessment", form("record_reassessment"), step="temporary_guardianship")
    again = await c.step("safety")
    assert (again.step, again.step_seq) == ("temporary_guardianship", r.seq)
    assert again.due_at == day_end(again.opened_at, 30) and again.due_at > temp.due_at

    r = await c.act("luzhou-civil", "return_home", form("return_home"), step="temporary_guardianship")
    steps = await c.steps()
    assert set(steps) == {"main"} and steps["main"].step == "admonition_followup"
    assert await c.notes(r.seq) == [(r.seq, "luzhou-vc1", "", "child_returned")]
    events = await c.events()
    assert [(e.track, e.action, e.from_step, e.to_step) for e in events[1:]] == [
        ("safety", "place_temporary_guardianship", None, "temporary_guardianship_intake"),
        ("main", "record_admonition", "admonition", "admonition_followup"),
        ("safety", "accept_child", "temporary_guardianship_intake", "temporary_guardianship"),
        ("safety", "record_reassessment", "temporary_guardianship", "temporary_guardianship"),
        ("safety", "return_home", "temporary_guardianship", END),
    ]
    # The main track continues after the branch has ended.
    await c.act("luzhou-vc1", "improved", form("improved"))
    assert (await c.step()).step == "monitoring"


async def test_safety_branch_revocation_to_long_term_guardianship_ends_the_safety_track(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    await c.act("luzhou-civil", "place_temporary_guardianship", form("place_temporary_guardianship"), step=None)
    assert holder(await c.step("safety")) == "luzhou-civil"  # civil affairs placing the child holds intake itself
    await c.act("luzhou-civil", "accept_child", form("accept_child"), step="temporary_guardianship_intake")

    r = await c.act("luzhou-civil", "apply_revocation", form("apply_revocation"), step="temporary_guardianship")
    suit = await c.step("safety")
    assert (suit.step, holder(suit), suit.allowance) == ("guardianship_revocation", "luzhou-court", "30d")
    assert sorted(await c.notes(r.seq)) == [
        (r.seq, "luzhou-court", "", "new_step"),
        (r.seq, "luzhou-procuratorate", "", "revocation_filed"),
    ]
    parties = await c.parties()
    assert parties["luzhou-court"] == ("holder", 0) and parties["luzhou-procuratorate"] == ("participant", 0)

    # The procuratorate supports the suit: recorded, the court still holds the step.
    r = await c.act("luzhou-procuratorate", "support_suit", form("support_suit"), step="guardianship_revocation")
    after = await c.step("safety")
    assert (after.step, holder(after), after.step_seq, after.due_at) == (
        "guardianship_revocation",
        "luzhou-court",
        suit.step_seq,
        suit.due_at,
    )
    ev = (await c.events())[-1]
    assert (ev.action, ev.from_step, ev.to_step, ev.actor_agency_name) == (
        "support_suit",
        "guardianship_revocation",
        "guardianship_revocation",
        "潞州区人民检察院",
    )

    # Rejected: back to temporary guardianship with civil affairs.
    await c.act("luzhou-court", "reject_revocation", form("reject_revocation"), step="guardianship_revocation")
    back = await c.step("safety")
    assert (back.step, holder(back)) == ("temporary_guardianship", "luzhou-civil")
    assert (await c.step("main")).step == "admonition"

    # Applied again and revoked: long-term guardianship ends the safety track; the main track goes on.
    await c.act("luzhou-civil", "apply_revocation", form("apply_revocation"), step="temporary_guardianship")
    await c.act("luzhou-court", "revoke", form("revoke"), step="guardianship_revocation")
    long_term = await c.step("safety")
    assert (long_term.step, holder(long_term), long_term.allowance) == (
        "long_term_guardianship",
        "luzhou-civil",
        "15WD",
    )
    r = await c.act("luzhou-civil", "confirm_placement", form("confirm_placement"), step="long_term_guardianship")
    assert not r.closed
    row = await c.row()
    assert (row.status, row.outcome) == ("open", None)
    steps = await c.steps()
    assert sorted(steps) == ["main"] and steps["main"].step == "admonition"  # processes.md §1, clarifications
    assert await c.notes(r.seq) == [(r.seq, "luzhou-vc1", "", "long_term_guardianship")]
    assert [(e.track, e.action, e.from_step, e.to_step) for e in (await c.events())[1:]] == [
        ("safety", "place_temporary_guardianship", None, "temporary_guardianship_intake"),
        ("safety", "accept_child", "temporary_guardianship_intake", "temporary_guardianship"),
        ("safety", "apply_revocation", "temporary_guardianship", "guardianship_revocation"),
        ("safety", "support_suit", "guardianship_revocation", "guardianship_revocation"),
        ("safety", "reject_revocation", "guardianship_revocation", "temporary_guardianship"),
        ("safety", "apply_revocation", "temporary_guardianship", "guardianship_revocation"),
        ("safety", "revoke", "guardianship_revocation", "long_term_guardianship"),
        ("safety", "confirm_placement", "long_term_guardianship", "@end"),
    ]
    # tests/histories/guardianship-safety-revocation.json keeps the path before LONG_TERM_PATCH (it closed
    # the case); guardianship-long-term-goes-on the path after it.


# ---------------------------------------------------------------------------- hand-over and adulthood


async def test_child_moves_within_changzhi_and_the_receiver_acknowledges(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    await to_monitoring(c)
    dest = await s.agency_id(c.db, "shangdang-vc1")
    r = await c.act(
        "luzhou-vc1",
        "child_moved",
        {
            "destination_region": "140404",
            "destination_agency_id": dest,
            "destination_address": "韩店街道城北社区8号",
            "note": "随父母迁居",
        },
        step=None,
    )
    handover = await c.step()
    assert (handover.step, holder(handover), handover.allowance) == ("handover", "shangdang-vc1", "5WD")
    assert (await c.path())[-1] == ("action", "child_moved", "monitoring", "handover")
    assert (await c.parties())["shangdang-vc1"] == ("receiver", r.seq)  # sees the case from the hand-over on
    assert await c.notes(r.seq) == [(r.seq, "shangdang-vc1", "", "new_step")]
    [packet] = await c.documents()
    assert (packet.kind, packet.seq, packet.fields["destination_region"]) == ("transfer_packet", r.seq, "140404")

    # The receiving committee reads only what follows the hand-over.
    receiver = await s.who(c.db, "shangdang-vc1")
    async with c.db.sf() as sess:
        detail = await service.get_case_detail(
            session=sess, client=fresh_wf.client, principal=receiver, case_no=c.no, record_read=False
        )
    assert [e.seq for e in detail.timeline] == [r.seq]

    with pytest.raises(DomainError) as e:  # the sending committee cannot acknowledge its own hand-over
        await c.act("luzhou-vc1", "acknowledge_handover", form("acknowledge_handover"))
    assert e.value.code == "not_holder"
    r = await c.act("shangdang-vc1", "acknowledge_handover", form("acknowledge_handover"))
    assert r.closed and r.outcome == "moved"
    assert ((await c.row()).status, (await c.row()).outcome) == ("closed", "moved")
    assert (await c.path())[-1] == ("action", "acknowledge_handover", "handover", CLOSE)
    await c.save_history("moved")


async def test_child_moves_out_of_changzhi_and_the_committee_records_the_receipt(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    r = await c.act("luzhou-vc1", "child_moved", {"destination_region": "410721", "note": "迁回户籍地"}, step=None)
    handover = await c.step()
    assert (handover.step, holder(handover)) == ("handover", "luzhou-vc1")  # outside this deployment
    ev = (await c.events())[-1]
    assert (ev.seq, ev.from_step, ev.to_step, ev.payload["external"]) == (r.seq, "admonition", "handover", True)
    await c.act("luzhou-vc1", "record_external_ack", form("record_external_ack"))
    row = await c.row()
    assert (row.status, row.outcome) == ("closed", "moved")
    assert (await c.events())[-1].payload["receiver"] == "新乡县某村民委员会"


async def test_the_case_closes_when_the_child_turns_18(fresh_wf):
    w = fresh_wf
    today = await s.server_today(w.env)
    birthday18 = today + timedelta(days=10)
    if (birthday18.month, birthday18.day) == (2, 29):  # 18 years earlier there was no 29 February
        birthday18 += timedelta(days=1)
    birth = birthday18.replace(year=birthday18.year - 18)
    assert birthday(birth) == birthday18
    principal = await s.who(w.db, "luzhou-vc1")
    async with w.db.sf() as sess:
        await register_child(
            session=sess,
            principal=principal,
            data=ChildIn(
                name="周将满",
                id_number=make_id_number("140403", birth, 37),
                origin_region="140403",
                residence_region="140403",
                residence_committee_id=await s.agency_id(w.db, "luzhou-vc1"),
                guardians=[GuardianIn(name="周父", relation="父亲")],
            ),
        )
    c = await CaseDriver.open(w, "luzhou-vc1", child="周将满")
    await c.act("luzhou-vc1", "record_admonition", form("record_admonition"))

    await c.sleep_until(s.sh(birthday18.year, birthday18.month, birthday18.day, 0, 0, 0) - timedelta(hours=1))
    assert (await c.row()).status == "open"  # the day before the 18th birthday
    await c.sleep(timedelta(days=2))
    events = await c.wait_seq(3)
    assert s.path(events)[-1] == ("closed", None, "admonition_followup", CLOSE)
    assert events[-1].note == "儿童已年满18周岁，案件自动结案"
    row = await c.row()
    assert (row.status, row.outcome) == ("closed", "adult")
    assert s.local(row.closed_at).date() == birthday18
    assert await c.steps() == {}
    result = await c.handle().result()
    assert result.outcome == "adult"
    await c.save_history("adult")
    await c.save_history("adult-encrypted")  # kept as recorded with the payload codec (tests/replay)
