"""What the pages show of a guardianship case's guidance (processes.md §1): the court reports to the police;
the guidance order, decided with the police's decision, is not asked again on the reprimand; the chosen
guidance station holds the guidance; the step, the inbox and the timeline say how many sessions are done."""

from __future__ import annotations

import html
import re

from tests import support
from tests.conftest import Live
from tests.ui.test_pages import browser, form, location, submit


async def test_guidance_progress_and_the_order_asked_once(live: Live) -> None:
    station = await support.agency(live.db, "luzhou-guidance")
    vc = await support.agency_id(live.db, "luzhou-vc1")
    # The court, handling a case, reports to the police (未成年人保护法 Art. 118; processes.md §1).
    no = await support.start(
        live.db,
        live.temporal,
        live.task_queue,
        "luzhou-court",
        step="police_report",
        facts={"village_committee_id": vc},
    )
    act = support.act
    await act(live.db, live.temporal, no, "luzhou-police", "accept", support.form("accept"))
    decided = support.form("decide_reprimand", family_education_order=True, guidance_agency_id=station.id)
    await act(live.db, live.temporal, no, "luzhou-police", "decide_reprimand", decided)
    url = f"/cases/{no}"

    async with browser(live, "luzhou-police") as police:
        page = await police.get(url)
        issue = form(page.text, container="act-reprimand-issue_reprimand")
        assert "family_education_order" not in issue.fields and "guidance_agency_id" not in issue.fields
        text = html.unescape(re.sub(r"<[^>]+>", "", page.text))
        assert "责令接受家庭教育指导：是 （已在“决定训诫”时决定，无需再填）" in text
        assert "家庭教育指导站：潞州区家庭教育指导站 （已在“决定训诫”时决定，无需再填）" in text
        assert location(await submit(police, issue, content="予以训诫")) == url

    steps = await support.open_steps(live.db, no)
    assert (steps["main"].step, steps["main"].holder_agency_id) == ("family_education_guidance", station.id)

    async with browser(live, "luzhou-guidance") as counsellor:
        page = await counsellor.get(url)
        assert "已完成 0/3 次" in page.text
        session = form(page.text, container="act-family_education_guidance-record_session")
        assert location(await submit(counsellor, session, content="亲子沟通指导")) == url
        page = await counsellor.get(url)
        assert "已完成 1/3 次" in page.text
        assert "第1次（共3次）" in page.text  # the timeline
        assert "已完成指导" not in page.text  # the counter is the progress, not listed twice
        inbox = await counsellor.get("/inbox")
        assert no in inbox.text and "已完成 1/3 次" in inbox.text
