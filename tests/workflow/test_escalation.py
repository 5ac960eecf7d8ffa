"""The escalation ladder (level 1 at the deadline, 2 at + half the allowance, 3 at + the full allowance),
each level telling its own audience, and the supervisors' urge, extend and reassign."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from api.cases import lists
from db.models import Agency, PolicyOverrideRow, User
from domain.errors import DomainError
from tests import support as s
from tests.support import CaseDriver, form

MINUTE = timedelta(minutes=1)


async def at_police_report(w) -> CaseDriver:
    c = await CaseDriver.open(w, "luzhou-vc1")
    await c.act("luzhou-vc1", "report_serious", form("report_serious"))
    assert (await c.step()).step == "police_report"
    return c


async def stalled_for(c: CaseDriver, username: str) -> list[str]:
    """The case numbers on a supervisor's stalled list."""
    p = await s.who(c.db, username)
    async with c.db.sf() as sess:
        found = await lists.stalled(session=sess, principal=p, per_page=10_000)  # every page at once
        return [row.case.case_no for row in found.items]


async def escalations(c: CaseDriver) -> list[tuple[int, int]]:
    return [(e.seq, e.payload["level"]) for e in await c.events() if e.kind == "escalated"]


async def test_the_ladder_on_a_24_hour_step(fresh_wf):
    c = await at_police_report(fresh_wf)
    step = await c.step()
    seq = (await c.row()).last_seq
    due, level2, level3 = step.due_at, step.level2_at, step.level3_at
    assert (level2 - due, level3 - due) == (timedelta(hours=12), timedelta(hours=24))

    await c.sleep_until(due - MINUTE)
    await s.settle(c.db, c.no)
    assert (await c.step()).escalation_level == 0 and await escalations(c) == []

    # Level 1 at the deadline: the holder is told the step is overdue.
    await c.sleep_until(due + MINUTE)
    ev = (await c.wait_seq(seq + 1))[-1]
    assert (ev.kind, ev.track, ev.from_step, ev.to_step, ev.payload) == (
        "escalated",
        "main",
        "police_report",
        "police_report",
        {"level": 1},
    )
    assert due <= ev.at <= due + MINUTE
    assert (await c.step()).escalation_level == 1
    assert await c.notes(seq + 1) == [(seq + 1, "luzhou-police", "", "overdue")]
    title = (await s.notifications(c.db, c.no))[-1].title
    assert c.no in title and "报告公安机关" in title and "已逾期" in title
    assert c.no not in await stalled_for(c, "luzhou-police-sup")  # level 1 is not yet the supervisor's

    # Level 2 at + half the allowance: the county's police supervisors; the case is on their stalled list.
    await c.sleep_until(level2 - MINUTE)
    await s.settle(c.db, c.no)
    assert (await c.step()).escalation_level == 1
    await c.sleep_until(level2 + MINUTE)
    ev = (await c.wait_seq(seq + 2))[-1]
    assert (ev.kind, ev.payload, ev.note) == ("escalated", {"level": 2}, "逾期未办，已报县级督导")
    assert (await c.step()).escalation_level == 2
    assert await c.notes(seq + 2) == [(seq + 2, "luzhou-police", "supervisor", "escalated")]
    assert c.no in await stalled_for(c, "luzhou-police-sup")
    assert c.no not in await stalled_for(c, "city-police-sup")  # the city's list starts at level 3
    assert c.no not in await stalled_for(c, "shangdang-police-sup")

    # Level 3 at + the full allowance: the city's police supervisors.
    await c.sleep_until(level3 - MINUTE)
    await s.settle(c.db, c.no)
    assert (await c.step()).escalation_level == 2
    await c.sleep_until(level3 + MINUTE)
    ev = (await c.wait_seq(seq + 3))[-1]
    assert (ev.kind, ev.payload, ev.note) == ("escalated", {"level": 3}, "严重逾期，已报市级督导")
    assert (await c.step()).escalation_level == 3
    assert await c.notes(seq + 3) == [(seq + 3, "city-police", "supervisor", "escalated")]
    assert c.no in await stalled_for(c, "city-police-sup")

    # The ladder ends at level 3; the step is still open and the police can still act.
    await c.sleep(timedelta(days=10))
    await s.settle(c.db, c.no)
    assert await escalations(c) == [(seq + 1, 1), (seq + 2, 2), (seq + 3, 3)]
    await c.act("luzhou-police", "accept", form("accept"))
    assert ((await c.step()).step, (await c.step()).escalation_level) == ("police_decision", 0)


async def test_the_ladder_steps_are_at_least_one_unit(fresh_wf):
    """A one-hour allowance (a county's policy): level 2 comes one hour after the deadline, not half an hour."""
    async with fresh_wf.db.sf() as sess, sess.begin():
        sess.add(
            PolicyOverrideRow(
                key="guardianship.police_accept",
                region_code="140403",
                value="1h",
                effective_from=datetime.now(UTC) - MINUTE,
            )
        )
    c = await at_police_report(fresh_wf)
    step = await c.step()
    assert step.allowance == "1h"
    assert (step.due_at - step.opened_at, step.level2_at - step.due_at, step.level3_at - step.due_at) == (
        timedelta(hours=1),
        timedelta(hours=1),
        timedelta(hours=1),
    )
    seq = (await c.row()).last_seq
    await c.sleep_until(step.level3_at + MINUTE)
    await c.wait_seq(seq + 3)
    assert [lvl for _, lvl in await escalations(c)] == [1, 2, 3]


async def test_county_and_city_supervisors_urge(fresh_wf):
    c = await at_police_report(fresh_wf)
    before = await c.step()
    r = await c.supervise("luzhou-police-sup", "urge", "police_report", reason="请于今日受理")
    ev = (await c.events())[-1]
    assert (ev.seq, ev.kind, ev.action, ev.from_step, ev.to_step, ev.note) == (
        r.seq,
        "urged",
        "urge",
        "police_report",
        "police_report",
        "请于今日受理",
    )
    assert (ev.actor_name, ev.actor_agency_name) == ("潞州区公安局督导", "潞州区公安局")
    assert await c.notes(r.seq) == [(r.seq, "luzhou-police", "", "urged")]

    r = await c.supervise("city-police-sup", "urge", "police_report", reason="市局督办")
    ev = (await c.events())[-1]
    assert (ev.kind, ev.actor_agency_name, ev.note) == ("urged", "长治市公安局", "市局督办")
    assert await c.notes(r.seq) == [(r.seq, "luzhou-police", "", "urged")]

    after = await c.step()  # urging changes neither the step nor its deadline
    assert (after.step_seq, after.due_at, after.holder_agency_id) == (
        before.step_seq,
        before.due_at,
        before.holder_agency_id,
    )


async def test_extend_moves_the_deadline_and_resets_the_level(fresh_wf):
    c = await at_police_report(fresh_wf)
    step = await c.step()
    seq = (await c.row()).last_seq
    await c.sleep_until(step.due_at + MINUTE)
    await c.wait_seq(seq + 1)
    assert (await c.step()).escalation_level == 1

    snap = await c.snapshot()
    with pytest.raises(DomainError) as e:
        await c.supervise("luzhou-police-sup", "extend", "police_report", extend_by="48h")
    assert (e.value.code, e.value.message) == ("reason_required", "请填写理由")
    assert await c.snapshot() == snap

    r = await c.supervise(
        "luzhou-police-sup", "extend", "police_report", reason="当事人外出，需补充调查", extend_by="48h"
    )
    extended = await c.step()
    new_due = step.due_at + timedelta(hours=48)
    assert extended.due_at == new_due
    # The step's own ladder (half its 24 h allowance, then all of it), whatever the extension's amount.
    assert extended.level2_at == new_due + timedelta(hours=12)
    assert extended.level3_at == new_due + timedelta(hours=24)
    assert extended.escalation_level == 0  # the new deadline is in the future
    assert extended.step_seq == step.step_seq  # the same step
    ev = (await c.events())[-1]
    assert (ev.seq, ev.kind, ev.from_step, ev.to_step, ev.note) == (
        r.seq,
        "extended",
        "police_report",
        "police_report",
        "当事人外出，需补充调查",
    )
    assert ev.payload == {
        "extend_by": "48h",
        "old_due_at": step.due_at.astimezone(UTC).isoformat(),
        "new_due_at": new_due.astimezone(UTC).isoformat(),
    }
    assert ev.due_at == new_due
    assert await c.notes(r.seq) == [(r.seq, "luzhou-police", "", "extended")]

    # Without an amount, the step's own allowance (24 h) is added.
    r = await c.supervise("city-police-sup", "extend", "police_report", reason="再次延期")
    assert (await c.step()).due_at == new_due + timedelta(hours=24)
    assert (await c.step()).level2_at == new_due + timedelta(hours=36)
    assert (await c.events())[-1].payload["extend_by"] == "24h"

    # The new deadline escalates in its turn.
    await c.sleep_until(new_due + timedelta(hours=24) + MINUTE)
    ev = (await c.wait_seq(r.seq + 1))[-1]
    assert (ev.kind, ev.payload) == ("escalated", {"level": 1})


async def add_police_station(c: CaseDriver) -> Agency:
    """A second police agency in 潞州区 (a station), with an operator account."""
    async with c.db.sf() as sess, sess.begin():
        station = Agency(
            code="luzhou-police-dj",
            name="潞州区公安局东街派出所",
            agency_type="police",
            region_code="140403",
            township="东街街道",
            is_default=False,
            is_active=True,
        )
        sess.add(station)
        await sess.flush()
        sess.add(
            User(
                username="luzhou-police-dj",
                display_name="东街派出所民警",
                agency_id=station.id,
                role="operator",
                password_hash="x",
                is_active=True,
            )
        )
    return station


async def test_reassign_to_another_police_agency(fresh_wf):
    c = await at_police_report(fresh_wf)
    station = await add_police_station(c)
    before = await c.step()

    snap = await c.snapshot()
    refusals = [
        (
            {"new_agency_id": await s.agency_id(c.db, "shangdang-police"), "reason": "x"},
            "not_permitted",
            "县级督导只能改派给本县（区）的单位",
        ),
        (
            {"new_agency_id": await s.agency_id(c.db, "luzhou-civil"), "reason": "x"},
            "not_permitted",
            "只能改派给同类型的单位",
        ),
        ({"new_agency_id": before.holder_agency_id, "reason": "x"}, "not_permitted", "改派单位与当前承办单位相同"),
        ({"new_agency_id": station.id}, "reason_required", "请填写理由"),
        ({"reason": "x"}, "field_required", "请选择改派的单位"),
    ]
    for kw, code, message in refusals:
        with pytest.raises(DomainError) as e:
            await c.supervise("luzhou-police-sup", "reassign", "police_report", **kw)
        assert (e.value.code, e.value.message) == (code, message), kw
    assert await c.snapshot() == snap

    r = await c.supervise(
        "luzhou-police-sup", "reassign", "police_report", reason="属东街派出所辖区", new_agency_id=station.id
    )
    moved = await c.step()
    assert (moved.step, moved.holder.code, moved.step_seq, moved.due_at) == (
        "police_report",
        "luzhou-police-dj",
        before.step_seq,
        before.due_at,
    )
    ev = (await c.events())[-1]
    assert (ev.kind, ev.from_step, ev.to_step, ev.note) == (
        "reassigned",
        "police_report",
        "police_report",
        "属东街派出所辖区",
    )
    assert ev.payload == {"from_agency": "潞州区公安局", "to_agency": "潞州区公安局东街派出所"}
    assert sorted(await c.notes(r.seq)) == [
        (r.seq, "luzhou-police", "", "reassigned"),
        (r.seq, "luzhou-police-dj", "", "reassigned"),
    ]
    assert (await c.parties())["luzhou-police-dj"] == ("holder", 0)

    # The old holder can no longer act; the new one can.
    snap = await c.snapshot()
    with pytest.raises(DomainError) as e:
        await c.act("luzhou-police", "accept", form("accept"))
    assert (e.value.code, e.value.message) == ("not_holder", "本单位不是“报告公安机关”环节的承办单位")
    assert await c.snapshot() == snap
    await c.act("luzhou-police-dj", "accept", form("accept"))
    decision = await c.step()
    assert (decision.step, decision.holder.code) == ("police_decision", "luzhou-police-dj")


async def test_supervisors_of_another_county_or_type_are_refused(fresh_wf):
    c = await at_police_report(fresh_wf)
    # Civil affairs places the child in temporary guardianship: it is now a party and can read the case.
    await c.act("luzhou-civil", "place_temporary_guardianship", form("place_temporary_guardianship"), step=None)
    snap = await c.snapshot()

    # Through the service: a supervisor who cannot see the case is told it does not exist.
    with pytest.raises(DomainError) as e:
        await c.supervise("shangdang-police-sup", "urge", "police_report", reason="x")
    assert (e.value.code, e.value.message) == ("case_not_found", "案件不存在或无权查看")
    # A civil-affairs supervisor sees the case (civil affairs is a party) but may not supervise the police.
    other_type = ("not_permitted", "只有承办单位所在县（区）或市级的主管督导可以督办、延期或改派")
    for kind, kw in (
        ("urge", {}),
        ("extend", {"extend_by": "24h"}),
        ("reassign", {"new_agency_id": await s.agency_id(c.db, "luzhou-civil")}),
    ):
        with pytest.raises(DomainError) as e:
            await c.supervise("luzhou-civil-sup", kind, "police_report", reason="x", **kw)
        assert (e.value.code, e.value.message) == other_type
    # An operator is not a supervisor.
    with pytest.raises(DomainError) as e:
        await c.supervise("luzhou-police", "urge", "police_report", reason="x")
    assert (e.value.code, e.value.message) == ("not_permitted", "只有督导可以督办、延期或改派")

    # The workflow refuses on its own too, whatever a caller skips.
    for user in ("shangdang-police-sup", "luzhou-civil-sup", "city-civil-sup"):
        with pytest.raises(DomainError) as e:
            await c.act_on(user, "urge", step="police_report", supervisor="urge", reason="x")
        assert e.value.code == "not_permitted", user
    assert await c.snapshot() == snap


async def test_the_station_of_residence_holds_the_report_and_an_extension_is_bounded(fresh_wf):
    # 张浩 lives in 西街街道, which has a police station: it takes the report; the county bureau supervises.
    c = await CaseDriver.open(fresh_wf, "luzhou-vc2", child="张浩")
    await c.act("luzhou-vc2", "report_serious", form("report_serious"))
    step = await c.step()
    assert (step.step, step.holder.code) == ("police_report", "luzhou-ps2")

    snap = await c.snapshot()
    for extend_by, code, message in [
        ("99999WD", "policy_value_invalid", "期限过长：“99999WD”超过上限500个工作日"),
        ("73h", "extension_too_long", "一次最多延长72小时，“73小时”超出上限"),
    ]:
        with pytest.raises(DomainError) as e:
            await c.supervise("luzhou-police-sup", "extend", "police_report", reason="需补充调查", extend_by=extend_by)
        assert (e.value.code, e.value.message) == (code, message)
    assert await c.snapshot() == snap

    await c.supervise("luzhou-police-sup", "extend", "police_report", reason="需补充调查", extend_by="72h")
    assert (await c.step()).due_at == step.due_at + timedelta(hours=72)
    assert await c.notes((await c.row()).last_seq) == [((await c.row()).last_seq, "luzhou-ps2", "", "extended")]
    await c.save_history("station-extension-bounded")
