"""Guardianship intervention (processes.md §1) in milliseconds: the real workflow on the time-skipping
server with fake activities (tests/fakes.py), no database. Each branch of the orchestration: who holds
the next step, when it is due, what is recorded and who is told. The same paths against PostgreSQL and
the real activities are in test_guardianship_paths.py."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from domain.deadlines import birthday, end_of_local_day, local_date, start_of_local_day
from domain.errors import DomainError
from domain.workdays import WorkCalendar
from tests.fakes import FakeCase, FakeEnv, agency, holders, op, sup
from tests.support import form, today_iso

CLOSE, END = "@close", "@end"
CAL = WorkCalendar()
FACTS = {"facts": "监护人长期外出，儿童独自在家", "occurred_on": today_iso()}


def wd_end(at, n: int):
    """The end of the local day n working days after `at` (where an "nWD" deadline falls)."""
    return end_of_local_day(CAL.add_working_days(local_date(at), n)[0])


def day_end(at, n: int):
    return end_of_local_day(local_date(at) + timedelta(days=n))


async def open_admonition(f: FakeEnv) -> FakeCase:
    return await FakeCase.open(f, "guardianship", op("vc1"), "admonition", FACTS)


async def to_monitoring(c: FakeCase) -> None:
    await c.act(op("vc1"), "record_admonition", form("record_admonition"))
    await c.act(op("vc1"), "improved", form("improved"))
    assert (await c.step()).step == "monitoring"


# ---------------------------------------------------------------------------- the main track


async def test_admonition_follow_up_monitoring_closed(fake_env: FakeEnv) -> None:
    c = await open_admonition(fake_env)
    first = await c.step()
    assert (first.step, first.holder.id, first.allowance, first.level) == ("admonition", agency("vc1").id, "3WD", 0)
    assert first.deadlines.due_at == wd_end(first.opened_at, 3)
    opened = c.events()[0]
    assert (opened.kind, opened.to_step, opened.note) == ("opened", "admonition", FACTS["facts"])
    # The committee starts it; civil affairs follows every guardianship case from the start.
    assert {(p.agency.id, p.role) for p in opened.parties} == {
        (agency("vc1").id, "starter"),
        (agency("civil").id, "participant"),
    }

    await c.act(op("vc1"), "record_admonition", form("record_admonition"))
    review = await c.step()
    assert (review.step, review.allowance, review.deadlines.due_at) == (
        "admonition_followup",
        "30d",
        day_end(review.opened_at, 30),
    )

    await c.sleep(timedelta(days=20))
    await c.act(op("vc1"), "improved", form("improved"))
    monitoring = await c.step()
    assert (monitoring.step, monitoring.counters, monitoring.deadlines.due_at) == (
        "monitoring",
        {"visits": 0},
        day_end(monitoring.opened_at, 30),
    )

    await c.sleep(timedelta(days=25))
    director = op("vc1", user_id=777)  # the 儿童主任 of the same committee
    await c.act(director, "record_visit", form("record_visit"))
    second = await c.step()
    # The second visit falls 90 days after monitoring began, counted from the same base.
    assert (second.allowance, second.counters, second.base) == ("90d", {"visits": 1}, monitoring.base)
    assert second.deadlines.due_at == day_end(monitoring.base, 90)
    assert second.worked_by == 777

    await c.sleep_until(second.window_opens_at)
    r = await c.act(director, "record_visit", form("record_visit", note="一切正常"))
    assert (r.closed, r.outcome, r.steps) == (True, "resolved", [])
    assert c.path() == [
        ("opened", None, None, "admonition"),
        ("action", "record_admonition", "admonition", "admonition_followup"),
        ("action", "improved", "admonition_followup", "monitoring"),
        ("action", "record_visit", "monitoring", "monitoring"),
        ("action", "record_visit", "monitoring", CLOSE),
    ]
    last = c.events()[-1]
    assert (last.note, last.closed_outcome, last.end_tracks) == ("一切正常", "resolved", ["*"])
    assert c.events()[3].payload["visit_number"] == 1
    # The clerk who opened the case is told in person how it ended.
    assert c.told(last.seq) == [(last.seq, f"vc1#{op('vc1').user_id}", "closed")]
    assert (await c.result()).outcome == "resolved"


async def test_police_report_decision_reprimand_guidance_sessions_monitoring(fake_env: FakeEnv) -> None:
    c = await open_admonition(fake_env)
    r = await c.act(op("vc1"), "report_serious", form("report_serious"))
    report = await c.step()
    assert (report.step, report.holder.id, report.allowance) == ("police_report", agency("police").id, "24h")
    assert report.deadlines.due_at == report.opened_at + timedelta(hours=24)
    assert c.told(r.seq) == [(r.seq, "police", "new_step")]

    await c.act(op("police"), "accept", form("accept"))
    decision = await c.step()
    assert (decision.step, decision.allowance) == ("police_decision", "30d")
    assert decision.worked_by == op("police").user_id  # the same officer goes on

    await c.act(op("police"), "decide_reprimand", form("decide_reprimand", family_education_order=True))
    reprimand = await c.step()
    assert (reprimand.step, reprimand.holder.id, reprimand.deadlines.due_at) == (
        "reprimand",
        agency("police").id,
        wd_end(reprimand.opened_at, 3),
    )
    # The order decided with the reprimand stands though the reprimand's form leaves it unticked.
    r = await c.act(op("police"), "issue_reprimand", form("issue_reprimand", family_education_order=False))
    doc = c.events()[-1].document
    assert (doc.kind, doc.title) == ("reprimand", "训诫书")
    assert doc.fields == {
        "issued_on": today_iso(),
        "content": "训诫监护人依法履行监护职责",
        "authority": "潞州区公安局",
        "family_education_order": True,
    }
    guidance = await c.step()
    assert (guidance.step, guidance.holder.id, guidance.allowance, guidance.counters) == (
        "family_education_guidance",
        agency("wf").id,
        "15WD",
        {"sessions": 0},
    )
    assert guidance.deadlines.due_at == wd_end(guidance.opened_at, 15)
    assert c.told(r.seq) == [(r.seq, "wf", "new_step")]

    for n in (1, 2):  # guardianship.guidance_sessions: three
        await c.act(op("wf"), "record_session", form("record_session"))
        nxt = await c.step()
        assert (nxt.step, nxt.allowance, nxt.counters) == ("family_education_guidance", "30d", {"sessions": n})
        assert nxt.deadlines.due_at == day_end(nxt.opened_at, 30)
    r = await c.act(op("wf"), "record_session", form("record_session"))
    assert holders(r.steps) == {"main": ("monitoring", "vc1")}
    assert [e.payload.get("session_number") for e in c.events()[-3:]] == [1, 2, 3]
    assert [p[1] for p in c.path()] == [
        None,
        "report_serious",
        "accept",
        "decide_reprimand",
        "issue_reprimand",
        "record_session",
        "record_session",
        "record_session",
    ]


async def test_a_county_that_asks_two_sessions(fake_env: FakeEnv) -> None:
    from datetime import UTC, datetime

    from domain.policy import Allowance, PolicyOverride

    fake_env.fakes.overrides.append(
        PolicyOverride(
            "guardianship.guidance_sessions", "140403", Allowance.parse("2count"), datetime(2020, 1, 1, tzinfo=UTC)
        )
    )
    c = await FakeCase.open(fake_env, "guardianship", op("court"), "reprimand", FACTS, village_committee="vc1")
    await c.act(op("court"), "issue_reprimand", form("issue_reprimand"))
    await c.act(op("wf"), "record_session", form("record_session"))
    r = await c.act(op("wf"), "record_session", form("record_session"))
    assert holders(r.steps) == {"main": ("monitoring", "vc1")}


async def test_noncompliance_goes_back_to_the_court_that_ordered(fake_env: FakeEnv) -> None:
    c = await FakeCase.open(fake_env, "guardianship", op("court"), "reprimand", FACTS, village_committee="vc2")
    await c.act(op("court"), "issue_reprimand", form("issue_reprimand"))
    await c.act(op("wf"), "record_session", form("record_session"))
    await c.act(op("wf"), "report_noncompliance", form("report_noncompliance"))
    back = await c.step()
    assert (back.step, back.holder.id, back.allowance) == ("guidance_noncompliance", agency("court").id, "15WD")
    # Only the police penalise; the court orders guidance (holder_types), refused before history.
    before = c.path()
    with pytest.raises(DomainError) as e:
        await c.act(op("court"), "penalise", form("penalise"))
    assert e.value.code == "action_not_allowed" and c.path() == before
    await c.act(op("court"), "issue_guidance_order", form("issue_guidance_order"))
    again = await c.step()
    # The session already held counts: the guidance goes on from one, due 15 WD after the order.
    assert (again.step, again.holder.id, again.counters, again.allowance) == (
        "family_education_guidance",
        agency("wf").id,
        {"sessions": 1},
        "15WD",
    )
    await c.act(op("wf"), "record_session", form("record_session"))
    r = await c.act(op("wf"), "record_session", form("record_session"))
    assert holders(r.steps) == {"main": ("monitoring", "vc2")}  # the child's committee, kept from the start


async def test_a_mandatory_report_is_answered_to_the_reporter(fake_env: FakeEnv) -> None:
    c = await FakeCase.open(fake_env, "guardianship", op("school1"), "police_report", FACTS, village_committee="vc2")
    opened = c.events()[0]
    assert holders(opened.set_steps) == {"main": ("police_report", "police")}
    assert {(p.agency.id, p.role) for p in opened.parties} == {
        (agency("school1").id, "reporter"),
        (agency("vc2").id, "participant"),
        (agency("civil").id, "participant"),
        (agency("police").id, "holder"),
    }
    await c.act(op("police"), "accept", form("accept"))
    r = await c.act(op("police"), "open_criminal_case", form("open_criminal_case"))
    assert holders(r.steps) == {"main": ("monitoring", "vc2")}
    assert sorted(c.told(r.seq)) == [
        (r.seq, f"school1#{op('school1').user_id}", "feedback"),
        (r.seq, "vc2", "new_step"),
    ]
    feedback = next(n for n in c.events()[-1].notifications if n.kind == "feedback")
    assert feedback.title == f"{c.no}：公安机关处理结果——立案侦查，追究刑事责任"


async def test_new_harm_in_monitoring_goes_back_to_the_police(fake_env: FakeEnv) -> None:
    c = await open_admonition(fake_env)
    await to_monitoring(c)
    await c.sleep_until((await c.step()).window_opens_at)
    await c.act(op("vc1"), "record_visit", form("record_visit", finding="concern"))
    concern = await c.step()
    assert (concern.step, concern.counters, concern.allowance) == ("monitoring", {"visits": 0}, "30d")  # not counted
    r = await c.act(op("vc1"), "report_new_harm", form("report_new_harm"))
    assert holders(r.steps) == {"main": ("police_report", "police")}
    await c.act(op("police"), "accept", form("accept"))
    r = await c.act(op("police"), "no_violation", form("no_violation"))
    assert holders(r.steps) == {"main": ("monitoring", "vc1")}
    assert c.told(r.seq) == [(r.seq, "vc1", "new_step")]  # a committee's own report: no feedback owed


# ---------------------------------------------------------------------------- the child-safety branch


async def test_safety_branch_revocation_rejected_then_granted_ends_the_branch(fake_env: FakeEnv) -> None:
    c = await open_admonition(fake_env)
    await to_monitoring(c)
    r = await c.act(op("police"), "place_temporary_guardianship", form("place_temporary_guardianship"), step=None)
    assert holders(r.steps) == {"main": ("monitoring", "vc1"), "safety": ("temporary_guardianship_intake", "civil")}
    intake = await c.step("safety")
    assert intake.deadlines.due_at == intake.opened_at + timedelta(hours=24)
    ev = c.events()[-1]
    assert (ev.track, ev.from_step, ev.to_step) == ("safety", None, "temporary_guardianship_intake")
    assert {(p.agency.id, p.role) for p in ev.parties} == {
        (agency("civil").id, "holder"),
        (agency("police").id, "participant"),
    }
    with pytest.raises(DomainError) as e:
        await c.act(op("police"), "place_temporary_guardianship", form("place_temporary_guardianship"), step=None)
    assert e.value.code == "already_open"

    await c.act(op("civil"), "accept_child", form("accept_child"))
    custody = await c.step("safety")
    assert (custody.step, custody.allowance, custody.deadlines.due_at) == (
        "temporary_guardianship",
        "30d",
        day_end(custody.opened_at, 30),
    )
    await c.sleep(timedelta(days=29))
    await c.act(op("civil"), "record_reassessment", form("record_reassessment"))
    reassessed = await c.step("safety")
    assert reassessed.deadlines.due_at == day_end(reassessed.opened_at, 30) > custody.deadlines.due_at
    r = await c.act(op("civil"), "apply_revocation", form("apply_revocation"))
    assert holders(r.steps)["safety"] == ("guardianship_revocation", "court")
    assert sorted(c.told(r.seq)) == [(r.seq, "court", "new_step"), (r.seq, "procuratorate", "revocation_filed")]
    await c.act(op("procuratorate"), "support_suit", form("support_suit"))
    assert c.path()[-1] == ("action", "support_suit", "guardianship_revocation", "guardianship_revocation")
    r = await c.act(op("court"), "reject_revocation", form("reject_revocation"))
    assert holders(r.steps)["safety"] == ("temporary_guardianship", "civil")
    await c.act(op("civil"), "apply_revocation", form("apply_revocation"))
    r = await c.act(op("court"), "revoke", form("revoke"))
    assert holders(r.steps)["safety"] == ("long_term_guardianship", "civil")
    assert (await c.step("safety")).allowance == "15WD"
    r = await c.act(op("civil"), "confirm_placement", form("confirm_placement"))
    # Long-term guardianship ends the safety track; the main track (monitoring) goes on.
    assert (r.closed, holders(r.steps)) == (False, {"main": ("monitoring", "vc1")})


async def test_return_home_ends_the_branch_and_the_case_goes_on(fake_env: FakeEnv) -> None:
    c = await open_admonition(fake_env)
    await c.act(op("civil"), "place_temporary_guardianship", form("place_temporary_guardianship"), step=None)
    await c.act(op("civil"), "accept_child", form("accept_child"))
    r = await c.act(op("civil"), "return_home", form("return_home"))
    assert holders(r.steps) == {"main": ("admonition", "vc1")}
    ev = c.events()[-1]
    assert (ev.track, ev.from_step, ev.to_step, ev.end_tracks) == ("safety", "temporary_guardianship", END, ["safety"])
    assert c.told(r.seq) == [(r.seq, "vc1", "child_returned")]


# ---------------------------------------------------------------------------- escalation


@pytest.mark.parametrize(
    ("start", "first", "overseer", "first_note"),
    [
        # A committee's step: the committee and the township's child supervisor (processes.md §1).
        ("admonition", ["vc1", "township@140403:supervisor"], "civil_affairs", "逾期1级，已报乡镇（街道）儿童督导员"),
        ("police_report", ["police"], "police", "已逾期"),
    ],
    ids=["committee", "police"],
)
async def test_escalation_levels_reach_the_holder_then_county_then_city(
    fake_env: FakeEnv, start: str, first: list[str], overseer: str, first_note: str
) -> None:
    c = await FakeCase.open(fake_env, "guardianship", op("vc1"), start, FACTS)
    d = (await c.step()).deadlines
    await c.sleep_until(d.due_at + timedelta(seconds=1))
    await c.wait_seq(2)
    assert (await c.step()).level == 1
    await c.sleep_until(d.level3_at + timedelta(seconds=1))
    events = await c.wait_seq(4)
    assert [(e.kind, e.payload.get("level"), e.note) for e in events[1:]] == [
        ("escalated", 1, first_note),
        ("escalated", 2, "逾期未办，已报县级督导"),
        ("escalated", 3, "严重逾期，已报市级督导"),
    ]
    for e, due in zip(events[1:], (d.due_at, d.level2_at, d.level3_at), strict=True):  # each at its own time
        assert due <= e.at < due + timedelta(seconds=1)
    assert [w for _, w, _ in c.told()[-2 - len(first) :]] == [
        *first,
        f"{overseer}@140403:supervisor",
        f"{overseer}@140400:supervisor",
    ]
    assert (await c.step()).level == 3
    label = {"admonition": "劝诫、制止", "police_report": "报告公安机关"}[start]
    assert events[-1].notifications[0].title == f"{c.no}「{label}」严重逾期，已报市级督导"


async def test_a_backdated_report_escalates_level_by_level_at_once(fake_env: FakeEnv) -> None:
    """Entered 20 days late (补录), the first step is past all three thresholds: each level is recorded and
    its audience told, in order, without waiting."""
    reported = await fake_env.env.get_current_time() - timedelta(days=20)
    c = await FakeCase.open(fake_env, "guardianship", op("vc1"), "admonition", FACTS, reported_at=reported)
    events = await c.wait_seq(4)
    first = events[0].set_steps[0]
    assert (first.base, first.level, first.deadlines.due_at) == (reported, 0, wd_end(reported, 3))
    assert [(e.kind, e.payload.get("level")) for e in events[1:]] == [
        ("escalated", 1),
        ("escalated", 2),
        ("escalated", 3),
    ]
    assert [w for _, w, k in c.told() if k in ("overdue", "escalated")] == [
        "vc1",
        "township@140403:supervisor",
        "civil_affairs@140403:supervisor",
        "civil_affairs@140400:supervisor",
    ]


async def test_a_supervisors_urge_extension_and_reassignment(fake_env: FakeEnv) -> None:
    c = await open_admonition(fake_env)
    first = await c.step()
    r = await c.supervise(sup("civil"), "urge", "admonition", reason="请尽快劝诫")
    assert c.path()[-1] == ("urged", "urge", "admonition", "admonition") and c.events()[-1].note == "请尽快劝诫"
    assert c.told(r.seq) == [(r.seq, "vc1", "urged")]
    with pytest.raises(DomainError) as e:
        await c.supervise(sup("police"), "urge", "admonition", reason="x")  # not the overseeing type
    assert e.value.code == "not_permitted"

    await c.supervise(sup("city-civil"), "extend", "admonition", reason="春节期间", extend_by="5WD")
    extended = await c.step()
    # Counted from the old deadline; the ladder stays the step's own (half of 3WD → 2WD).
    assert extended.deadlines.due_at == wd_end(first.deadlines.due_at, 5)
    assert extended.deadlines.level2_at == wd_end(extended.deadlines.due_at, 2)
    assert extended.extensions == ["5WD"] and extended.allowance == "3WD"

    r = await c.supervise(sup("civil"), "reassign", "admonition", reason="辖区调整", new_holder=agency("vc2"))
    assert holders(r.steps) == {"main": ("admonition", "vc2")}
    assert sorted(c.told(r.seq)) == [(r.seq, "vc1", "reassigned"), (r.seq, "vc2", "reassigned")]
    await c.act(op("vc2"), "record_admonition", form("record_admonition"))
    assert (await c.step()).holder.id == agency("vc2").id


async def test_a_refused_action_leaves_no_trace(fake_env: FakeEnv) -> None:
    c = await open_admonition(fake_env)
    before, history = c.path(), await c.history()
    refusals = [
        (op("vc2"), "record_admonition", form("record_admonition"), "not_holder"),
        (op("vc1"), "record_admonition", form("record_admonition", done_on="2999-01-01"), "date_in_future"),
        (op("vc1"), "record_admonition", {"done_on": today_iso()}, "field_required"),
        (op("police"), "accept", form("accept"), "action_not_allowed"),
    ]
    for actor, action, payload, code in refusals:
        with pytest.raises(DomainError) as e:
            await c.act(actor, action, payload, step="admonition")
        assert e.value.code == code
    assert c.path() == before
    assert await c.history() == history  # no Update, activity or timer reached the history


# ---------------------------------------------------------------------------- hand-over and the age limit


async def test_hand_over_to_a_committee_in_the_city_which_acknowledges(fake_env: FakeEnv) -> None:
    c = await open_admonition(fake_env)
    await to_monitoring(c)
    dest = agency("sd-vc")
    r = await c.act(
        op("vc1"),
        "child_moved",
        {"destination_region": "140404", "destination_agency_id": dest.id, "destination_address": "韩店街道"},
        step=None,
    )
    handover = await c.step()
    assert (handover.step, handover.holder.id, handover.allowance) == ("handover", dest.id, "5WD")
    ev = c.events()[-1]
    assert (ev.from_step, ev.to_step, ev.document.kind) == ("monitoring", "handover", "transfer_packet")
    assert (
        ev.document.fields["destination_region"] == "140404" and ev.document.fields["from_agency"] == "城北社区居委会"
    )
    assert (dest.id, "receiver") in {(p.agency.id, p.role) for p in ev.parties}
    with pytest.raises(DomainError) as e:
        await c.act(op("sd-vc"), "record_external_ack", form("record_external_ack"))
    assert e.value.message == "迁入地村（居）民委员会在本系统中，须由其确认接收"
    r = await c.act(op("sd-vc"), "acknowledge_handover", form("acknowledge_handover"))
    assert (r.closed, r.outcome) == (True, "moved")
    assert (r.seq, "vc1", "handover_acknowledged") in c.told(r.seq)


async def test_hand_over_outside_the_city_ends_with_the_senders_record(fake_env: FakeEnv) -> None:
    c = await open_admonition(fake_env)
    await c.act(op("vc1"), "child_moved", {"destination_region": "410721", "note": "迁回户籍地"}, step=None)
    handover = await c.step()
    assert (handover.step, handover.holder.id) == ("handover", agency("vc1").id)
    assert c.events()[-1].payload["external"] is True
    with pytest.raises(DomainError) as e:
        await c.act(op("vc1"), "acknowledge_handover", form("acknowledge_handover"))
    assert e.value.message == "迁入地不在本系统中，请记录迁入地回执"
    r = await c.act(op("vc1"), "record_external_ack", form("record_external_ack"))
    assert (r.closed, r.outcome) == (True, "moved")


async def test_a_move_waits_while_the_police_hold_the_case(fake_env: FakeEnv) -> None:
    c = await open_admonition(fake_env)
    await c.act(op("vc1"), "report_serious", form("report_serious"))
    with pytest.raises(DomainError) as e:
        await c.act(op("vc1"), "child_moved", {"destination_region": "140404"}, step=None)
    assert e.value.message == "案件正在“报告公安机关”环节，由潞州区公安局办理；办结后再办理迁出移交"


async def test_the_case_closes_on_the_childs_18th_birthday(fake_env: FakeEnv) -> None:
    today = date.fromisoformat(today_iso())
    turns_18 = today + timedelta(days=10)
    born = turns_18.replace(year=turns_18.year - 18)
    assert birthday(born) == turns_18
    c = await FakeCase.open(fake_env, "guardianship", op("vc1"), "admonition", FACTS, born=born)
    await c.act(op("vc1"), "record_admonition", form("record_admonition"))
    await c.sleep_until(start_of_local_day(turns_18) + timedelta(seconds=1))
    last = (await c.wait_closed())[-1]
    assert (await c.result()).outcome == "adult"
    assert (last.kind, last.closed_outcome, last.note) == ("closed", "adult", "儿童已年满18周岁，案件自动结案")
    assert local_date(last.at) == turns_18
