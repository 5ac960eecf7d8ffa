"""Refused actions: each is refused with a stable code and a reason a clerk can read, and leaves the
case exactly as it was (no timeline event, the same open steps, no notification, no document)."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from db.models import Case
from domain.errors import DomainError
from domain.messages import ActionResult
from tests import support as s
from tests.support import CaseDriver, form, refused

NOT_FOUND = "案件不存在或无权查看"


async def test_refusals_at_admonition(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    tomorrow = (await s.server_today(fresh_wf.env) + timedelta(days=1)).isoformat()

    # An action the current step does not allow (the service knows the step's actions; so does the workflow).
    await refused(c, "action_not_allowed", "本案件不能进行“accept”操作", c.act("luzhou-vc1", "accept"))
    await refused(
        c,
        "action_not_allowed",
        "“劝诫、制止”环节不能进行“accept”操作",
        c.act_on("luzhou-vc1", "accept", step="admonition"),
    )
    # A step the case is not at.
    await refused(
        c,
        "step_not_open",
        "案件当前不在“报告公安机关”环节，可能已被他人处理，请刷新页面",
        c.act("luzhou-vc1", "accept", form("accept"), step="police_report"),
    )

    # Another agency: the police, another committee of the county, a committee of another county. None is
    # a party, so the service does not even admit that the case exists; the workflow refuses them as well.
    for user in ("luzhou-police", "luzhou-vc2", "shangdang-vc1"):
        await refused(c, "case_not_found", NOT_FOUND, c.act(user, "record_admonition", form("record_admonition")))
        await refused(
            c,
            "not_holder",
            "本单位不是“劝诫、制止”环节的承办单位",
            c.act_on(user, "record_admonition", form("record_admonition"), step="admonition"),
        )
    # A case-level action open to the county's police, by the police of another county.
    await refused(
        c,
        "case_not_found",
        NOT_FOUND,
        c.act("shangdang-police", "place_temporary_guardianship", form("place_temporary_guardianship"), step=None),
    )
    await refused(
        c,
        "not_permitted",
        "本单位不在案件所在县（区），不能办理",
        c.act_on("shangdang-police", "place_temporary_guardianship", form("place_temporary_guardianship"), step=None),
    )
    # ... and by an agency type it is not open to.
    await refused(
        c,
        "case_not_found",
        NOT_FOUND,
        c.act("luzhou-school1", "place_temporary_guardianship", form("place_temporary_guardianship"), step=None),
    )
    await refused(
        c,
        "not_permitted",
        "本单位类型不能进行“采取临时监护措施”",
        c.act_on("luzhou-school1", "place_temporary_guardianship", form("place_temporary_guardianship"), step=None),
    )

    # The form: a required field missing, a date in the future, a malformed date.
    await refused(
        c,
        "field_required",
        "请填写“劝诫内容及监护人态度”",
        c.act("luzhou-vc1", "record_admonition", {"done_on": s.today_iso()}),
    )
    await refused(c, "field_required", "请填写“情况说明”", c.act("luzhou-vc1", "report_serious", {"note": "  "}))
    err = await refused(
        c,
        "date_in_future",
        "“日期”不能晚于今天",
        c.act("luzhou-vc1", "record_admonition", form("record_admonition", done_on=tomorrow)),
    )
    assert err.field == "done_on"
    await refused(
        c,
        "field_invalid",
        "“日期”日期格式应为 YYYY-MM-DD",
        c.act("luzhou-vc1", "record_admonition", form("record_admonition", done_on="2026/11/01")),
    )

    # An administrator manages the system and acts on no case.
    await refused(c, "case_not_found", NOT_FOUND, c.act("admin", "record_admonition", form("record_admonition")))
    await refused(
        c,
        "not_permitted",
        "管理员账号不能办理案件",
        c.act_on("admin", "record_admonition", form("record_admonition"), step="admonition"),
    )

    # After all that, the holder's own action still goes through.
    r = await c.act("luzhou-vc1", "record_admonition", form("record_admonition"))
    assert [e.kind for e in await c.events()] == ["opened", "action"] and r.seq == 2


async def test_refused_starts_open_no_case(fresh_wf):
    w = fresh_wf
    tomorrow = (await s.server_today(w.env) + timedelta(days=1)).isoformat()
    attempts = [
        ("admin", "admonition", {}, "not_permitted", "管理员账号不能立案"),
        ("luzhou-police", "admonition", {}, "not_permitted", "本单位类型不能以“村（居）委会劝诫、制止”方式立案"),
        ("luzhou-school1", "reprimand", {}, "not_permitted", "本单位类型不能以“办案中直接训诫”方式立案"),
        ("luzhou-vc1", "admonition", {"facts": ""}, "field_required", "请填写“监护人失职的情况”"),
        ("luzhou-vc1", "admonition", {"occurred_on": tomorrow}, "date_in_future", "“发现日期”不能晚于今天"),
        ("luzhou-vc1", "monitoring", {}, "field_invalid", "该流程不能从所选环节开始"),
    ]
    for user, step, facts, code, message in attempts:
        with pytest.raises(DomainError) as e:
            await s.open_case(w.db, w.client, w.tq, user, step=step, facts=facts)
        assert (e.value.code, e.value.message) == (code, message), user
    # A child of another county, by registry id: not found for a committee of 潞州区.
    with pytest.raises(DomainError) as e:
        await s.open_case(w.db, w.client, w.tq, "luzhou-vc1", child="赵雨涵")
    assert e.value.code == "child_not_found"
    async with w.db.sf() as sess:
        assert (await sess.execute(select(func.count()).select_from(Case))).scalar_one() == 0


async def test_a_stale_form_is_refused(fresh_wf):
    """The guidance step reopens after each session with a new seq; a form shown before is stale."""
    c = await CaseDriver.open(fresh_wf, "luzhou-court", step="reprimand")
    await c.act("luzhou-court", "issue_reprimand", form("issue_reprimand"))
    shown = (await c.step()).step_seq
    await c.act("luzhou-wf", "record_session", form("record_session"), step_seq=shown)
    assert (await c.step()).step_seq > shown
    stale = "该环节已有新的办理记录，请刷新页面后再操作"
    await refused(c, "stale", stale, c.act("luzhou-wf", "record_session", form("record_session"), step_seq=shown))
    await refused(
        c, "stale", stale, c.supervise("luzhou-wf-sup", "urge", "family_education_guidance", step_seq=shown, reason="x")
    )
    # The current seq is accepted.
    await c.act("luzhou-wf", "record_session", form("record_session"), step_seq=(await c.step()).step_seq)
    assert (await c.step()).counters == {"sessions": 2}


async def test_the_same_form_submitted_again_after_the_step_moved(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    shown = (await c.step()).step_seq
    await c.act("luzhou-vc1", "record_admonition", form("record_admonition"), step="admonition", step_seq=shown)
    again = "案件当前不在“劝诫、制止”环节，可能已被他人处理，请刷新页面"
    for user in ("luzhou-vc1", "luzhou-vc1-director"):
        await refused(
            c,
            "step_not_open",
            again,
            c.act(user, "record_admonition", form("record_admonition"), step="admonition", step_seq=shown),
        )
    assert [e.action for e in await c.events()].count("record_admonition") == 1


async def test_two_clerks_submit_at_once_and_one_wins(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    results = await asyncio.gather(
        c.act("luzhou-vc1", "record_admonition", form("record_admonition"), step="admonition"),
        c.act("luzhou-vc1-director", "record_admonition", form("record_admonition"), step="admonition"),
        return_exceptions=True,
    )
    won = [r for r in results if isinstance(r, ActionResult)]
    lost = [r for r in results if isinstance(r, DomainError)]
    assert len(won) == 1 and len(lost) == 1, results
    assert lost[0].code in ("busy", "step_not_open")
    assert s.path(await c.events()) == [
        ("opened", None, None, "admonition"),
        ("action", "record_admonition", "admonition", "admonition_followup"),
    ]


async def test_case_action_refusals(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    shangdang_vc = await s.agency_id(c.db, "shangdang-vc1")
    luzhou_vc2 = await s.agency_id(c.db, "luzhou-vc2")

    def moved(user: str, payload: dict, direct: bool = False):
        return (c.act_on if direct else c.act)(user, "child_moved", payload, step=None)

    await refused(
        c,
        "same_region",
        "迁入地与当前所在县（区）相同，无需移交",
        moved("luzhou-vc1", {"destination_region": "140403", "destination_agency_id": luzhou_vc2}),
    )
    await refused(
        c,
        "field_required",
        "迁入地在本市的，请选择接收的村（居）委会",
        moved("luzhou-vc1", {"destination_region": "140404"}),
    )
    await refused(
        c,
        "field_invalid",
        "“迁入地村（居）委会”不在所填的迁入地",
        moved("luzhou-vc1", {"destination_region": "140404", "destination_agency_id": luzhou_vc2}),
    )
    await refused(c, "region_unknown", None, moved("luzhou-vc1", {"destination_region": "149999"}))
    # Only the child's own committee hands the child over (another committee of the county reaches the
    # workflow, since the action is open to the county's committees, and the workflow refuses it).
    await refused(
        c,
        "not_holder",
        "只有儿童居住地的村（居）委会可以办理迁出移交",
        moved("luzhou-vc2", {"destination_region": "140404", "destination_agency_id": shangdang_vc}),
    )
    await refused(
        c,
        "case_not_found",
        NOT_FOUND,
        moved("shangdang-vc1", {"destination_region": "140404", "destination_agency_id": shangdang_vc}),
    )
    await refused(
        c,
        "not_permitted",
        "本单位不在案件所在县（区），不能办理",
        moved("shangdang-vc1", {"destination_region": "140404", "destination_agency_id": shangdang_vc}, direct=True),
    )

    await c.act("luzhou-civil", "place_temporary_guardianship", form("place_temporary_guardianship"), step=None)
    await refused(
        c,
        "already_open",
        "儿童已处于临时监护程序中",
        c.act("luzhou-police", "place_temporary_guardianship", form("place_temporary_guardianship"), step=None),
    )
    await refused(
        c, "not_now", "儿童处于临时监护中，不能办理迁出移交", moved("luzhou-vc1", {"destination_region": "410721"})
    )

    other = await CaseDriver.open(fresh_wf, "luzhou-vc1", child="李娜")
    await other.act("luzhou-vc1", "child_moved", {"destination_region": "410721"}, step=None)
    await refused(
        other,
        "already_open",
        "已在办理迁出移交",
        other.act("luzhou-vc1", "child_moved", {"destination_region": "410721"}, step=None),
    )


async def test_a_closed_case_takes_no_action(fresh_wf):
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1")
    await c.act("luzhou-vc1", "record_admonition", form("record_admonition"))
    await c.act("luzhou-vc1", "improved", form("improved"))
    for _ in range(2):
        await c.sleep_to_window()
        await c.act("luzhou-vc1", "record_visit", form("record_visit"))
    assert (await c.row()).status == "closed"
    closed = "案件已结案，不能再办理"
    await refused(
        c, "case_closed", closed, c.act("luzhou-vc1", "record_visit", form("record_visit"), step="monitoring")
    )
    await refused(
        c, "case_closed", closed, c.act("luzhou-vc1", "child_moved", {"destination_region": "410721"}, step=None)
    )
    await refused(c, "case_closed", closed, c.supervise("luzhou-vc1-sup", "urge", "monitoring", reason="x"))
