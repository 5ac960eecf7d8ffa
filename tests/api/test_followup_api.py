"""Key-child follow-up through the JSON API, the system's start and the Chinese pages, on a real PostgreSQL
and the Temporal dev server: civil affairs lists a key child, the child director records contacts and
visits, a visit opens a linked case; one open follow-up per child; the refusals change nothing."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select

from api.cases.system_start import start_for_child
from db.models import Case, TimelineEvent
from domain.deadlines import local_date
from domain.months import add_months
from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.support import child_id, wait_for
from tests.ui.test_pages import browser, form, location, submit

PROCESS = "key_child_followup"
COMMITTEE = "潞州区东街街道城北社区居民委员会"


def today():
    return local_date(datetime.now(UTC))


async def start_body(live: Live, child: str = "王小明", **facts: object) -> dict:
    return {
        "process": PROCESS,
        "start_step": "contact",
        "child_id": await child_id(live.db, child),
        "facts": {"categories": ["hardship", "guardian_missing"], "known": "父母在外务工", **facts},
    }


async def counts(live: Live) -> tuple[int, int]:
    async with live.db.sf() as s:
        cases = (await s.execute(select(func.count()).select_from(Case))).scalar_one()
        events = (await s.execute(select(func.count()).select_from(TimelineEvent))).scalar_one()
    return cases, events


async def act(live: Live, token: str, case_no: str, step: str, action: str, **payload: object):
    return await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        headers=auth(token),
        json={"step": step, "action": action, "payload": payload},
    )


def contact(day=None) -> dict:
    return {"done_on": (day or today()).isoformat(), "kind": "phone", "content": "电话联系，儿童近况良好"}


def visit(day=None, **over: object) -> dict:
    return {"done_on": (day or today()).isoformat(), "findings": "入户走访，家中有人照料", **over}


async def test_civil_affairs_lists_a_key_child_and_the_director_follows(live: Live) -> None:
    civil = await make_token(live.db, "luzhou-civil")
    r = await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(civil))
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    assert case_no.startswith("GA-")
    steps = {s["step"]: s for s in r.json()["steps"]}
    assert set(steps) == {"contact", "home_visit"}
    assert {s["holder"] for s in steps.values()} == {COMMITTEE}

    # One open follow-up per child: a second start names the open case, and nothing is added.
    before = await counts(live)
    town = await make_token(live.db, "luzhou-town1")
    again = await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(town))
    assert again.status_code == 409, again.text
    assert again.json()["error"]["code"] == "case_already_open" and case_no in again.json()["error"]["message"]
    # A retry of the first request with its idempotency key is not a second case either.
    assert await counts(live) == before

    director = await make_token(live.db, "luzhou-vc1-director")
    r = await act(live, director, case_no, "contact", "record_contact", **contact())
    assert r.status_code == 200, r.text
    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(director))).json()
    by_step = {s["step"]: s for s in case["steps"]}
    due = datetime.fromisoformat(by_step["contact"]["due_at"])
    assert local_date(due) == add_months(today(), 3)
    assert {s["key"]: s["value"] for s in case["summary"]} == {"categories": "生活困难、监护缺失"}

    # A visit opens a linked guardianship case for the same child, started by the committee.
    r = await act(live, director, case_no, "home_visit", "record_visit", **visit(open_case="guardianship"))
    assert r.status_code == 200, r.text

    async def linked() -> Case | None:
        async with live.db.sf() as s:
            return (
                await s.execute(
                    select(Case).where(Case.process == "guardianship", Case.facts["linked_from"].astext == case_no)
                )
            ).scalar_one_or_none()

    found = await wait_for(linked, what="the linked case")
    assert found.child_id == await child_id(live.db, "王小明") and found.main_step == "admonition"
    assert found.facts["facts"] == "入户走访，家中有人照料"


async def test_refusals_change_nothing(live: Live) -> None:
    civil = await make_token(live.db, "luzhou-civil")
    bad = await live.http.post(
        "/api/v1/cases", json=await start_body(live, categories=["hardship", "rich"]), headers=auth(civil)
    )
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "categories", bad.text
    assert "重点对象类别" in bad.json()["error"]["message"]
    assert await counts(live) == (0, 0)
    director_of_school = await make_token(live.db, "luzhou-school1")
    r = await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(director_of_school))
    assert r.status_code == 403

    r = await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(civil))
    case_no = r.json()["case_no"]
    before = await counts(live)
    director = await make_token(live.db, "luzhou-vc1-director")
    other = await make_token(live.db, "luzhou-vc2-director")
    refusals = [
        (director, "home_visit", "record_visit", visit(today() + timedelta(days=1)), 422, "date_in_future"),
        (director, "home_visit", "record_visit", visit(today() - timedelta(days=2)), 422, "date_before_step"),
        (director, "contact", "record_contact", contact(today() + timedelta(days=1)), 422, "date_in_future"),
        (other, "contact", "record_contact", contact(), 404, "case_not_found"),  # another committee's child
        (civil, "contact", "record_contact", contact(), 403, "not_holder"),
        (director, "contact", "leave_key_list", {"note": "已不困难"}, 403, "not_permitted"),
        (
            director,
            "home_visit",
            "record_visit",
            visit(open_case="mental_health"),
            422,
            "field_invalid",
        ),  # needs its own start form
    ]
    for token, step, action, payload, status, code in refusals:
        r = await act(live, token, case_no, step, action, **payload)
        assert (r.status_code, r.json()["error"]["code"]) == (status, code), (action, r.text)
        assert any("\u4e00" <= ch <= "\u9fff" for ch in r.json()["error"]["message"]), r.text
    assert await counts(live) == before

    r = await act(live, civil, case_no, "contact", "leave_key_list", note="家庭困难已解决")
    assert r.status_code == 200 and r.json()["closed"] is True, r.text
    # Closed, the child may be listed again.
    r = await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(civil))
    assert r.status_code == 201, r.text


async def test_the_system_starts_it_once_per_child(live: Live) -> None:
    child = await child_id(live.db, "李娜")

    async def system_start():
        async with live.db.sf() as s:
            return await start_for_child(
                session=s,
                client=live.temporal,
                task_queue=live.task_queue,
                process_name=PROCESS,
                child_id=child,
                facts={"categories": ["disability"], "known": "残联数据：持证残疾儿童"},
            )

    # Two at once (the registry applied twice): one case.
    first, second = await asyncio.gather(system_start(), system_start())
    assert first.case_no == second.case_no and {first.created, second.created} == {True, False}
    third = await system_start()
    assert (third.case_no, third.created) == (first.case_no, False)
    async with live.db.sf() as s:
        case = (await s.execute(select(Case).where(Case.case_no == first.case_no))).scalar_one()
        opened = (
            await s.execute(select(TimelineEvent).where(TimelineEvent.case_id == case.id, TimelineEvent.seq == 1))
        ).scalar_one()
    assert (case.process, case.child_id, case.status) == (PROCESS, child, "open")
    assert opened.actor_name == "系统（台账）"
    # A person's start for the same child answers the system's case.
    civil = await make_token(live.db, "luzhou-civil")
    r = await live.http.post("/api/v1/cases", json=await start_body(live, "李娜"), headers=auth(civil))
    assert r.status_code == 409 and first.case_no in r.json()["error"]["message"]


async def test_through_the_pages(live: Live) -> None:
    child = await child_id(live.db, "张浩")
    async with browser(live, "luzhou-civil") as clerk:
        page = await clerk.get(f"/cases/new?child_id={child}&process={PROCESS}")
        assert page.status_code == 200 and "重点对象关爱服务" in page.text and "重点对象类别" in page.text
        start = form(page.text, action="/cases")
        r = await submit(clerk, start, **{"categories.hardship": "on", "categories.vagrancy": "on", "known": "曾流浪"})
        case_url = location(r)
        case_page = await clerk.get(case_url)
        assert "联系家庭" in case_page.text and "入户走访" in case_page.text
        assert "生活困难、流浪" in case_page.text
        # Nothing ticked: refused with the reason; ticked again, refused naming the open case.
        again = form((await clerk.get(f"/cases/new?child_id={child}&process={PROCESS}")).text, action="/cases")
        refused = await submit(clerk, again)
        assert refused.status_code == 422 and "请填写“重点对象类别”" in refused.text
        refused = await submit(clerk, again, **{"categories.hardship": "on"})
        assert refused.status_code == 409 and "已有进行中的“重点对象关爱服务”案件" in refused.text
    async with browser(live, "luzhou-vc2-director") as director:
        page = await director.get(case_url)
        for step, action, values in (
            (
                "contact",
                "record_contact",
                {"done_on": today().isoformat(), "kind": "meeting", "content": "见面了解情况"},
            ),
            (
                "home_visit",
                "record_visit",
                {"done_on": today().isoformat(), "findings": "祖父年迈无力照料", "open_case": "guardianship"},
            ),
        ):
            page = await director.get(case_url)
            r = await submit(director, form(page.text, container=f"act-{step}-{action}"), **values)
            assert location(r) == case_url
            after = await director.get(case_url)
            assert "已提交" in after.text, after.text[:3000]
        assert "记录联系" in after.text and "记录入户走访" in after.text
        # The visit opened a guardianship case, linked from the follow-up's timeline.
        assert "由此开立的关联案件" in after.text and "JH-" in after.text


async def test_a_visit_on_the_page_opens_a_mental_health_referral_with_its_start_form(live: Live) -> None:
    """The visit form offers the linked processes' start fields; filled for the referral chosen, the visit
    opens it (before, it was refused as needing more than the visit record)."""
    civil = await make_token(live.db, "luzhou-civil")
    r = await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(civil))
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    async with browser(live, "luzhou-vc1-director") as director:
        case_url = f"/cases/{case_no}"
        page = await director.get(case_url)
        visit_form = form(page.text, container="act-home_visit-record_visit")
        assert "linked_facts.mental_health.risk_level" in visit_form.fields
        assert "选择开立“心理健康转介”时填写" in page.text
        values = {
            "done_on": today().isoformat(),
            "findings": "儿童情绪低落，不愿上学",
            "open_case": "mental_health",
            "linked_facts.mental_health.channel": "community",
        }
        refused = await submit(director, visit_form, **values)
        assert refused.status_code == 422 and "初步风险等级" in refused.text
        r = await submit(director, visit_form, **values, **{"linked_facts.mental_health.risk_level": "medium"})
        assert location(r) == case_url

    async def referral() -> Case | None:
        async with live.db.sf() as s:
            return (
                await s.execute(
                    select(Case).where(Case.process == "mental_health", Case.facts["linked_from"].astext == case_no)
                )
            ).scalar_one_or_none()

    found = await wait_for(referral, what="the linked referral")
    assert found.child_id == await child_id(live.db, "王小明")
    assert (found.facts["channel"], found.facts["risk_level"]) == ("community", "medium")
