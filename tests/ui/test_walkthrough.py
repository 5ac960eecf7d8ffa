"""The issue's walk-through, through the pages only: a guardianship case from the committee's admonition
to closing as resolved, and a late case climbing to the county and city supervisors, who urge, extend
and reassign."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from tests import support
from tests.conftest import Live
from tests.ui.test_pages import browser, current_steps, form, location, submit


async def act(http: httpx.AsyncClient, case_url: str, step: str, action: str, **values: str) -> str:
    page = await http.get(case_url)
    assert page.status_code == 200, page.text[:500]
    r = await submit(http, form(page.text, container=f"act-{step}-{action}"), **values)
    assert location(r) == case_url
    after = await http.get(case_url)
    assert "已提交" in after.text
    return after.text


async def start_for(http: httpx.AsyncClient, child: str, **values: str) -> str:
    found = await submit(http, form((await http.get("/cases/new")).text, action="/cases/new"), q=child)
    link = re.search(r'href="(/cases/new\?child_id=\d+(?:&amp;process=\w+)?)"', found.text)
    assert link, found.text[:1000]
    start_form = form((await http.get(link.group(1).replace("&amp;", "&"))).text, action="/cases")
    return location(await submit(http, start_form, **values))


@pytest.fixture
async def visits_any_day(live: Live) -> AsyncIterator[None]:
    async with support.visits_any_day(live.db):
        yield


async def test_case_from_admonition_to_resolved(live: Live, visits_any_day: None) -> None:
    today = support.today_iso()
    async with browser(live, "luzhou-vc1") as clerk:
        case_url = await start_for(clerk, "李娜", facts="父亲长期酗酒，儿童经常无人照料", occurred_on=today)
        await act(clerk, case_url, "admonition", "record_admonition", content="当面劝诫父亲戒酒并照料孩子")
        await act(clerk, case_url, "admonition_followup", "not_improved", note="父亲仍酗酒，儿童独自在家")
    case_no = case_url.rsplit("/", 1)[1]

    async with browser(live, "luzhou-police") as police:
        inbox = await police.get("/inbox")
        assert case_no in inbox.text and "剩余" in inbox.text  # the time left
        await act(police, case_url, "police_report", "accept", police_case_ref="潞公受字〔2026〕88号")
        html = await act(
            police,
            case_url,
            "police_decision",
            "decide_reprimand",
            decision="reprimand",
            family_education_order="on",
            note="调查属实",
        )
        assert current_steps(html) == {"reprimand"}
        html = await act(
            police,
            case_url,
            "reprimand",
            "issue_reprimand",
            content="训诫监护人依法履行监护职责",
            family_education_order="on",
        )
        assert current_steps(html) == {"family_education_guidance"}
        doc = re.search(rf'href="(/cases/{case_no}/documents/\d+)"', html)
        assert doc, "the reprimand document is linked"
        printed = await police.get(doc.group(1))
        assert printed.status_code == 200 and "训诫书" in printed.text and "训诫监护人依法履行监护职责" in printed.text

    async with browser(live, "luzhou-wf") as wf:
        for n in range(3):
            html = await act(
                wf,
                case_url,
                "family_education_guidance",
                "record_session",
                content=f"第{n + 1}次家庭教育指导",
                guardian_attended="on",
            )
        assert current_steps(html) == {"monitoring"}

    async with browser(live, "luzhou-vc1-director") as director:
        await act(director, case_url, "monitoring", "record_visit", finding="clean", note="儿童状况良好")
        html = await act(director, case_url, "monitoring", "record_visit", finding="clean", note="家庭稳定")
        assert "已解决" in html and current_steps(html) == set()
        # The timeline has every step, from 立案 to 结案.
        for label in ("立案", "记录劝诫", "受理", "决定训诫", "制发训诫书", "记录一次指导", "记录回访", "结案"):
            assert label in html, label
    row = await support.case_row(live.db, case_no)
    assert (row.status, row.outcome) == ("closed", "resolved")


async def test_late_case_climbs_to_the_supervisors_who_act(live: Live) -> None:
    async with browser(live, "luzhou-vc1") as clerk:
        # Entered late (补录): found before the National Day holiday, so all its deadlines have passed.
        case_url = await start_for(clerk, "王小明", facts="儿童长期独自在家", occurred_on="2026-09-30")
    case_no = case_url.rsplit("/", 1)[1]

    async def level() -> int | None:
        step = (await support.open_steps(live.db, case_no))["main"]
        return step.escalation_level if step.escalation_level == 3 else None

    await support.wait_for(level, what="escalation to level 3")
    async with browser(live, "luzhou-civil-sup") as county:
        listed = await county.get("/supervision")
        assert case_no in listed.text and "逾期（3级）" in listed.text
        page = await county.get(case_url)
        assert "2026-10-10 23:59" in page.text  # 3 working days across the holiday, to the make-up Saturday
        # The timeline shows the date the clerk entered, not the time its clock counts from.
        assert "补录：发现日期：</span>2026-09-30</div>" in page.text and "2026-09-30 18:00" not in page.text
        assert location(await submit(county, form(page.text, container="sup-admonition-urge"), reason="请立即劝诫"))
        page = await county.get(case_url)
        extend = form(page.text, container="sup-admonition-extend")
        assert (
            location(await submit(county, extend, reason="监护人外出，需等待返回", extend_amount="5", extend_unit="WD"))
            == case_url
        )
        page = await county.get(case_url)
        assert "延期" in page.text and "监护人外出，需等待返回" in page.text
        assert "5个工作日" in page.text  # the timeline says the extension as a reader says it, not "5WD"
        reassign = form(page.text, container="sup-admonition-reassign")
        other = re.search(r'<option value="(\d+)"[^>]*>[^<]*南庄村民委员会', page.text)
        assert other, "the other committee of the county is offered"
        assert location(await submit(county, reassign, reason="儿童实际住在南庄村", new_agency_id=other.group(1)))
    async with browser(live, "city-civil-sup") as city:
        assert case_no in (await city.get("/supervision?include_overdue=on")).text
    async with browser(live, "luzhou-vc2") as new_holder:
        inbox = await new_holder.get("/inbox")
        assert case_no in inbox.text
    kinds = [e.kind for e in await support.timeline(live.db, case_no)]
    assert kinds[:4] == ["opened", "escalated", "escalated", "escalated"]
    assert kinds[-3:] == ["urged", "extended", "reassigned"]
