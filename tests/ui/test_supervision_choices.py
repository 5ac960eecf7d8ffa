"""What the pages offer a supervisor and a clerk, and what the API accepts, on the real PostgreSQL and
the Temporal dev server: reassigning within the county to its police stations (派出所) and within the city
by county; an extension as a number and a Chinese unit, bounded by policy, shown on the step card; a
hand-over destination chosen by name; agency lists limited to the county the action may name."""

from __future__ import annotations

import re
from datetime import timedelta

from domain.deadlines import SHANGHAI
from tests import support
from tests.api.test_cases_api import auth
from tests.api.test_dropout_api import act as api_act
from tests.api.test_dropout_api import report_body
from tests.conftest import Live, make_token
from tests.support import today_iso
from tests.ui.test_pages import browser, form, location, submit


def section(html: str, container: str) -> str:
    """The HTML of one form's <details> block."""
    found = re.search(rf'id="{container}".*?</details>', html, re.S)
    assert found, f"no {container}"
    return found.group(0)


def select_of(html: str, select_id: str) -> str:
    found = re.search(rf'<select id="{select_id}".*?</select>', html, re.S)
    assert found, f"no select {select_id}"
    return found.group(0)


def options(html: str) -> list[str]:
    return re.findall(r'<option value="\d+"[^>]*>([^<]+)</option>', html)


def groups(html: str) -> dict[str, set[str]]:
    found = re.findall(r'<optgroup label="([^"]+)">(.*?)</optgroup>', html, re.S)
    return {label: set(options(body)) for label, body in found}


async def police_case(live: Live) -> str:
    """A case of 张浩, who lives in 西街街道 (潞州区), reported to the police by his committee."""
    case_no = await support.start(live.db, live.temporal, live.task_queue, "luzhou-vc2", child="张浩")
    await support.act(live.db, live.temporal, case_no, "luzhou-vc2", "report_serious", {"note": "儿童身上有新伤"})
    return case_no


async def test_the_police_step_goes_to_the_station_and_supervisors_reassign_within_their_scope(live: Live) -> None:
    case_no = await police_case(live)
    step = (await support.open_steps(live.db, case_no))["main"]
    assert (step.step, step.holder.name) == ("police_report", "潞州区公安局西街派出所")
    case_url = f"/cases/{case_no}"

    async with browser(live, "luzhou-police-sup") as county:
        offered = section((await county.get(case_url)).text, "sup-police_report-reassign")
        assert groups(offered) == {"潞州区": {"潞州区公安局"}}  # the county's other police agencies only
    async with browser(live, "city-police-sup") as city:
        offered = groups(section((await city.get(case_url)).text, "sup-police_report-reassign"))
        assert offered["长治市"] == {"长治市公安局"} and offered["潞州区"] == {"潞州区公安局"}
        assert offered["上党区"] == {"上党区公安局", "上党区公安局荫城派出所"} and len(offered) == 13
    async with browser(live, "luzhou-ps2-sup") as station:
        # A supervisor at the station reads its case but oversees nobody.
        page = (await station.get(case_url)).text
        assert case_no in page and "sup-police_report-" not in page

    sup = await make_token(live.db, "luzhou-police-sup")
    other = await support.agency_id(live.db, "shangdang-ps2")
    body = {"kind": "reassign", "step": "police_report", "reason": "辖区调整", "new_agency_id": other}
    snap = await support.snapshot(live.db, case_no)
    r = await live.http.post(f"/api/v1/cases/{case_no}/supervision", json=body, headers=auth(sup))
    assert r.status_code == 403 and r.json()["error"]["message"] == "县级督导只能改派给本县（区）的单位"
    assert await support.snapshot(live.db, case_no) == snap
    body["new_agency_id"] = await support.agency_id(live.db, "luzhou-police")
    r = await live.http.post(f"/api/v1/cases/{case_no}/supervision", json=body, headers=auth(sup))
    assert r.status_code == 200, r.text
    assert (await support.open_steps(live.db, case_no))["main"].holder.name == "潞州区公安局"


async def test_an_extension_is_a_number_and_a_chinese_unit_bounded_by_policy(live: Live) -> None:
    case_no = await police_case(live)
    case_url = f"/cases/{case_no}"
    before = (await support.open_steps(live.db, case_no))["main"]
    async with browser(live, "luzhou-police-sup") as sup:
        page = (await sup.get(case_url)).text
        extend = section(page, "sup-police_report-extend")
        units = re.findall(r'<option value="(\w+)"[^>]*>([^<]+)</option>', extend)
        assert units == [("WD", "工作日"), ("d", "天"), ("h", "小时")]  # no months for an hour-based step
        assert 'value="h" selected' in extend and "15WD" not in extend
        f = form(page, container="sup-police_report-extend")
        for amount, unit, message in [
            ("99999", "WD", "期限过长：“99999WD”超过上限500个工作日"),
            ("31", "WD", "一次最多延长30个工作日，“31个工作日”超出上限"),
            ("73", "h", "一次最多延长72小时，“73小时”超出上限"),
        ]:
            bad = await submit(sup, f, reason="需补充调查", extend_amount=amount, extend_unit=unit)
            assert bad.status_code == 422 and message in bad.text, amount
        assert (await support.open_steps(live.db, case_no))["main"].due_at == before.due_at
        assert location(await submit(sup, f, reason="需补充调查", extend_amount="2", extend_unit="d")) == case_url
        page = (await sup.get(case_url)).text
    after = (await support.open_steps(live.db, case_no))["main"]
    assert before.due_at + timedelta(days=1) < after.due_at <= before.due_at + timedelta(days=3)
    card = re.search(r"<dt>办理期限</dt><dd>(.*?)</dd>", page, re.S)
    assert card
    assert f"{after.due_at.astimezone(SHANGHAI):%Y-%m-%d %H:%M}" in card.group(1)
    assert "（24小时，已延期2天）" in card.group(1)

    # Machines send the code; the same bound applies, before the workflow is asked.
    token = await make_token(live.db, "luzhou-police-sup")
    body = {"kind": "extend", "step": "police_report", "reason": "x", "extend_by": "99999WD"}
    r = await live.http.post(f"/api/v1/cases/{case_no}/supervision", json=body, headers=auth(token))
    assert r.status_code == 422 and r.json()["error"]["message"] == "期限过长：“99999WD”超过上限500个工作日"
    body["extend_by"] = "3d"
    assert (
        await live.http.post(f"/api/v1/cases/{case_no}/supervision", json=body, headers=auth(token))
    ).status_code == 200


async def test_a_hand_over_destination_is_chosen_by_name(live: Live) -> None:
    case_no = await support.start(live.db, live.temporal, live.task_queue, "luzhou-vc1", child="李娜")
    case_url = f"/cases/{case_no}"
    async with browser(live, "luzhou-vc1") as clerk:
        page = (await clerk.get(case_url)).text
        moved = section(page, "act-case-child_moved")
        region = re.search(r'<select id="[^"]*destination_region" name="destination_region".*?</select>', moved, re.S)
        assert region and "上党区" in region.group(0) and 'value="outside"' in region.group(0)
        assert page.count('<datalist id="region-places">') == 1 and '<option value="河南省新乡市辉县市">' in page
        f = form(page, container="act-case-child_moved")
        twice = await submit(
            clerk, f, destination_region="outside", destination_region_outside="朝阳区", note="随父母迁居"
        )
        assert twice.status_code == 422 and "有多个“朝阳区”（北京市朝阳区、吉林省长春市朝阳区）" in twice.text
        shown = section(twice.text, "act-case-child_moved")  # shown again as typed
        assert 'value="outside" selected' in shown and 'name="destination_region_outside" value="朝阳区"' in shown
        r = await submit(
            clerk, f, destination_region="outside", destination_region_outside="河南省新乡市辉县市", note="随父母迁居"
        )
        assert location(r) == case_url
        page = (await clerk.get(case_url)).text
        assert "河南省新乡市辉县市（410782）" in page
    events = await support.timeline(live.db, case_no)
    assert [e.payload.get("destination_region") for e in events if e.action == "child_moved"] == ["410782"]


async def test_agency_lists_offer_only_the_county_the_action_may_name(live: Live) -> None:
    school = await make_token(live.db, "luzhou-school1")
    r = await live.http.post("/api/v1/cases", json=await report_body(live), headers=auth(school))
    case_no = r.json()["case_no"]
    facts = {"contacted_on": today_iso(), "visited_on": today_iso(), "family_says": "举家外出"}
    assert (await api_act(live, school, case_no, "school_contact", "not_returned", **facts)).status_code == 200
    edu = await make_token(live.db, "luzhou-edu")
    moved = {"known_destination": "上党区", "note": "举家迁往上党区"}
    assert (await api_act(live, edu, case_no, "joint_persuasion", "moved_or_unknown", **moved)).status_code == 200
    assert (await api_act(live, edu, case_no, "locate", "hand_over", destination_region="140404")).status_code == 200

    async with browser(live, "shangdang-edu") as dest:
        ack = section((await dest.get(f"/cases/{case_no}")).text, "act-handover-acknowledge_handover")
        assert groups(ack) == {"上党区": {"上党区荫城镇南庄村民委员会", "上党区韩店街道城北社区居民委员会"}}
    dest_token = await make_token(live.db, "shangdang-edu")
    origin_committee = await support.agency_id(live.db, "luzhou-vc1")
    r = await api_act(
        live, dest_token, case_no, "handover", "acknowledge_handover", destination_committee_id=origin_committee
    )
    assert (
        r.status_code == 422
        and r.json()["error"]["message"] == "“学生现居住地村（居）委会（参与联合劝返）”不在迁入地县（区）"
    )

    # Registering a child: a county's clerk is offered the county's committees, not every county's.
    async with browser(live, "luzhou-edu") as clerk:
        committees = select_of((await clerk.get("/children/new")).text, "f-residence_committee_id")
        assert set(groups(committees)) == {"潞州区"}
