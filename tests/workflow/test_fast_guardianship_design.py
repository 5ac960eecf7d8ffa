"""Guardianship rules that processes.md §1 (and its clarifications) sets and first users missed, in
milliseconds on the fake activities (tests/fakes.py): guidance progress, the guidance order asked once and
who gives it, the police decision's bounded extension, a penalty decision's penalty, the procuratorate's
and court's start at the police report, long-term guardianship beside an open main track, and the
committee's ladder through the township's child supervisor."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.enums import AgencyType as T
from domain.errors import DomainError
from domain.processes.guardianship import GUARDIANSHIP
from tests.fakes import FakeCase, FakeEnv, agency, holders, op, sup
from tests.support import form, save_history_as, today_iso

FACTS = {"facts": "监护人长期外出，儿童独自在家", "occurred_on": today_iso()}


async def to_police_decision(f: FakeEnv) -> FakeCase:
    c = await FakeCase.open(f, "guardianship", op("vc1"), "admonition", FACTS)
    await c.act(op("vc1"), "report_serious", form("report_serious"))
    await c.act(op("police"), "accept", form("accept"))
    return c


async def test_the_order_is_asked_once_and_the_station_gives_the_guidance(fake_env: FakeEnv) -> None:
    c = await to_police_decision(fake_env)
    # 治安管理处罚法 Art. 99: extendable once, by at most 30 days.
    await c.supervise(sup("police"), "extend", "police_decision", reason="案情复杂", extend_by="30d")
    station = agency("station")
    await c.act(
        op("police"),
        "decide_reprimand",
        form("decide_reprimand", family_education_order=True, guidance_agency_id=station.id),
    )
    # The reprimand's form leaves the order unticked: the decision's order stands, with its station.
    r = await c.act(op("police"), "issue_reprimand", form("issue_reprimand", family_education_order=False))
    assert holders(r.steps) == {"main": ("family_education_guidance", "station")}
    assert c.events()[-1].document.fields["family_education_order"] is True
    await c.act(op("station"), "record_session", form("record_session"))
    await c.act(op("station"), "report_noncompliance", form("report_noncompliance"))
    r = await c.act(op("police"), "reprimand_again", form("reprimand_again"))
    # Reprimanded again, the order still stands: the event that opens the reprimand says so (Field.once).
    assert c.events()[-1].payload["family_education_order"] is True
    assert c.events()[-1].payload["guidance_agency_id"] == station.id
    r = await c.act(op("police"), "issue_reprimand", form("issue_reprimand", family_education_order=False))
    assert holders(r.steps) == {"main": ("family_education_guidance", "station")}
    assert (await c.step()).counters == {"sessions": 1}
    await c.act(op("station"), "record_session", form("record_session"))
    r = await c.act(op("station"), "record_session", form("record_session"))
    assert holders(r.steps) == {"main": ("monitoring", "vc1")}
    # Each session's event says which it was, of how many.
    sessions = [e.payload for e in c.events() if e.action == "record_session"]
    assert [(p["session_number"], p["sessions_required"]) for p in sessions] == [(1, 3), (2, 3), (3, 3)]
    await save_history_as(c.f.client, c.no, "guardianship-order-once-station")  # kept small: up to here
    await c.sleep_until((await c.step()).window_opens_at)
    await c.act(op("vc1"), "record_visit", form("record_visit"))
    await c.sleep_until((await c.step()).window_opens_at)
    r = await c.act(op("vc1"), "record_visit", form("record_visit"))
    assert r.closed
    visits = [e.payload for e in c.events() if e.action == "record_visit"]
    assert [(p["visit_number"], p["visits_required"]) for p in visits] == [(1, 2), (2, 2)]


async def test_a_decision_without_order_stands_against_the_reprimands_form(fake_env: FakeEnv) -> None:
    c = await to_police_decision(fake_env)
    await c.act(op("police"), "decide_reprimand", form("decide_reprimand", family_education_order=False))
    r = await c.act(op("police"), "issue_reprimand", form("issue_reprimand", family_education_order=True))
    assert holders(r.steps) == {"main": ("monitoring", "vc1")}
    assert c.events()[-1].document.fields["family_education_order"] is False


async def test_a_reprimand_that_starts_the_case_asks_the_order_there(fake_env: FakeEnv) -> None:
    c = await FakeCase.open(fake_env, "guardianship", op("court"), "reprimand", FACTS, village_committee="vc2")
    r = await c.act(op("court"), "issue_reprimand", form("issue_reprimand", guidance_agency_id=agency("station").id))
    assert holders(r.steps) == {"main": ("family_education_guidance", "station")}
    c = await FakeCase.open(fake_env, "guardianship", op("procuratorate"), "reprimand", FACTS, village_committee="vc2")
    r = await c.act(op("procuratorate"), "issue_reprimand", form("issue_reprimand"))
    assert holders(r.steps) == {"main": ("family_education_guidance", "wf")}  # not chosen: the women's federation


async def test_the_police_decision_extends_once_by_at_most_30_days(fake_env: FakeEnv) -> None:
    c = await to_police_decision(fake_env)
    before = c.path()
    for by, why in (("31d", "本环节每次延期不得超过30天"), ("10WD", "本环节每次延期不得超过30天")):
        with pytest.raises(DomainError) as e:
            await c.supervise(sup("police"), "extend", "police_decision", reason="案情复杂", extend_by=by)
        assert (e.value.code, e.value.message) == ("extension_limit", why)
    assert c.path() == before
    await c.supervise(sup("police"), "extend", "police_decision", reason="案情复杂")  # the step's own 30 d
    with pytest.raises(DomainError) as e:
        await c.supervise(sup("city-police"), "extend", "police_decision", reason="再延", extend_by="5d")
    assert (e.value.code, e.value.message) == ("extension_limit", "本环节依法只能延期1次，已延期1次")
    assert (await c.step()).extensions == ["30d"]


async def test_other_steps_extend_at_the_supervisors_will(fake_env: FakeEnv) -> None:
    c = await FakeCase.open(fake_env, "guardianship", op("vc1"), "admonition", FACTS)
    for _ in range(2):
        await c.supervise(sup("civil"), "extend", "admonition", reason="春节", extend_by="40d")
    assert (await c.step()).extensions == ["40d", "40d"]


async def test_a_penalty_decision_names_the_penalty(fake_env: FakeEnv) -> None:
    c = await to_police_decision(fake_env)
    before, history = c.path(), await c.history()
    with pytest.raises(DomainError) as e:
        await c.act(
            op("police"), "decide_reprimand", form("decide_reprimand", decision="reprimand_penalty", penalty=" ")
        )
    assert (e.value.code, e.value.field) == ("field_required", "penalty")
    assert c.path() == before and await c.history() == history
    await c.act(
        op("police"), "decide_reprimand", form("decide_reprimand", decision="reprimand_penalty", penalty="罚款")
    )
    assert (await c.step()).step == "reprimand"


def test_the_procuratorate_and_the_court_start_at_the_police_report_or_the_reprimand() -> None:
    for t in (T.procuratorate, T.court):
        assert [o.step for o in GUARDIANSHIP.starts_for(t)] == ["police_report", "reprimand"]


async def test_a_court_report_goes_to_the_police_and_is_answered(fake_env: FakeEnv) -> None:
    c = await FakeCase.open(fake_env, "guardianship", op("court"), "police_report", FACTS, village_committee="vc2")
    assert holders(c.events()[0].set_steps) == {"main": ("police_report", "police")}
    await c.act(op("police"), "accept", form("accept"))
    r = await c.act(op("police"), "no_violation", form("no_violation"))
    assert (r.seq, f"court#{op('court').user_id}", "feedback") in c.told(r.seq)


async def test_long_term_guardianship_ends_the_safety_track_and_the_case_goes_on(fake_env: FakeEnv) -> None:
    c = await FakeCase.open(fake_env, "guardianship", op("school1"), "police_report", FACTS, village_committee="vc2")
    await c.act(op("police"), "accept", form("accept"))
    await c.act(op("police"), "open_criminal_case", form("open_criminal_case"))
    await c.act(op("police"), "place_temporary_guardianship", form("place_temporary_guardianship"), step=None)
    await c.act(op("civil"), "accept_child", form("accept_child"))
    await c.act(op("civil"), "apply_revocation", form("apply_revocation"))
    await c.act(op("court"), "revoke", form("revoke"))
    r = await c.act(op("civil"), "confirm_placement", form("confirm_placement"))
    assert (r.closed, holders(r.steps)) == (False, {"main": ("monitoring", "vc2")})
    ev = c.events()[-1]
    assert (ev.track, ev.from_step, ev.to_step, ev.end_tracks) == (
        "safety",
        "long_term_guardianship",
        "@end",
        ["safety"],
    )
    assert c.told(r.seq) == [(r.seq, "vc2", "long_term_guardianship")]
    await save_history_as(c.f.client, c.no, "guardianship-long-term-goes-on")
    await c.sleep_until((await c.step()).window_opens_at)
    await c.act(op("vc2"), "record_visit", form("record_visit"))
    await c.sleep_until((await c.step()).window_opens_at)
    r = await c.act(op("vc2"), "record_visit", form("record_visit"))
    assert (r.closed, r.outcome) == (True, "resolved")


async def test_a_committees_step_reaches_the_township_child_supervisor_first(fake_env: FakeEnv) -> None:
    c = await FakeCase.open(fake_env, "guardianship", op("vc1"), "admonition", FACTS)
    d = (await c.step()).deadlines
    await c.sleep_until(d.level3_at + timedelta(seconds=1))
    events = await c.wait_seq(4)
    assert [e.note for e in events[1:]] == [
        "逾期1级，已报乡镇（街道）儿童督导员",
        "逾期未办，已报县级督导",
        "严重逾期，已报市级督导",
    ]
    told = [[(n.agency_id, n.agency_type, n.region_code, n.township) for n in e.notifications] for e in events[1:]]
    assert told == [
        [(agency("vc1").id, None, None, None), (None, T.township, "140403", "东街街道")],
        [(None, T.civil_affairs, "140403", None)],
        [(None, T.civil_affairs, "140400", None)],
    ]
