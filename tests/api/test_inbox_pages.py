"""我的待办 in keyset pages, on a real PostgreSQL and the Temporal dev server: paging through more steps than a
page holds, forwards and back, shows each exactly once in the inbox order (the most overdue first); another
agency's steps never appear; a step the agency helps on (协办) is paged with the rest; a cursor that is not one
the inbox handed out is refused with a Chinese reason, in the API and on the page."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import any_, func, literal_column, select

from db.models import Case, CaseStep
from db.seed import make_id_number
from domain.deadlines import local_date
from tests.api.test_cases_api import auth
from tests.api.test_dropout_api import report_body
from tests.conftest import Live, make_token
from tests.ui.test_pages import browser

CASE_LINK = re.compile(r'<a href="/cases/([A-Z]+-\d{4}-[^"]+)">')


async def register_child(live: Live, token: str, n: int) -> int:
    r = await live.http.post(
        "/api/v1/children",
        json={
            "name": f"分页儿童{n}",
            "id_number": make_id_number("410721", date(2015, 1, 1), 100 + n),
            "origin_region": "410721",
            "residence_region": "140403",
            "address": "东街街道城北社区",
            "guardians": [{"name": f"家长{n}", "relation": "父亲", "phone": "13900000000"}],
        },
        headers=auth(token),
    )
    assert r.status_code == 201, r.text
    return r.json()["id"]


async def open_case(live: Live, token: str, child_id: int, days_ago: int) -> str:
    """A guardianship case whose matter was found `days_ago`: its first step counts from then, so older
    ones are due earlier (overdue) and come first."""
    found = local_date(datetime.now(UTC)) - timedelta(days=days_ago)
    body = {
        "process": "guardianship",
        "start_step": "admonition",
        "child_id": child_id,
        "facts": {"facts": "儿童长期独自在家，监护人外出务工未委托照护", "occurred_on": found.isoformat()},
    }
    r = await live.http.post("/api/v1/cases", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


async def pages(live: Live, token: str, per_page: int, cursor_key: str = "next_cursor", start: str | None = None):
    """Every page from `start` on, following next_cursor (or prev_cursor)."""
    out: list[dict[str, Any]] = []
    cursor = start
    while True:
        params: dict[str, Any] = {"per_page": per_page}
        if cursor:
            params["cursor"] = cursor
        r = await live.http.get("/api/v1/inbox", params=params, headers=auth(token))
        assert r.status_code == 200, r.text
        page = r.json()
        out.append(page)
        cursor = page[cursor_key]
        if not cursor:
            return out
        assert len(out) < 50, "the cursors go round in a circle"


async def expected_order(live: Live, agency_code: str) -> list[tuple[str, str]]:
    """The inbox order straight from the tables: the soonest due first (no deadline last), then case, track."""
    from db.models import Agency

    async with live.db.sf() as s:
        agency = (await s.execute(select(Agency.id).where(Agency.code == agency_code))).scalar_one()
        rows = await s.execute(
            select(Case.case_no, CaseStep.step)
            .join(CaseStep, CaseStep.case_id == Case.id)
            .where(
                Case.status == "open",
                (CaseStep.holder_agency_id == agency) | (agency == any_(CaseStep.co_holder_ids)),
            )
            .order_by(
                func.coalesce(CaseStep.due_at, literal_column("'infinity'::timestamptz")),
                CaseStep.case_id,
                CaseStep.track,
            )
        )
        return [(r.case_no, r.step) for r in rows]


async def test_paging_through_the_inbox_shows_every_step_once_in_order(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    # Seven cases found on different days (two on the same day: a tie the case id breaks), held by the
    # committee, and one dropout case whose persuasion the committee only helps on.
    mine = [
        await open_case(live, vc, await register_child(live, vc, n), days)
        for n, days in enumerate((3, 0, 9, 9, 1, 6, 20))
    ]
    school = await make_token(live.db, "luzhou-school1")
    helped = (await live.http.post("/api/v1/cases", json=await report_body(live), headers=auth(school))).json()[
        "case_no"
    ]
    today = local_date(datetime.now(UTC)).isoformat()
    r = await live.http.post(
        f"/api/v1/cases/{helped}/actions",
        json={
            "step": "school_contact",
            "action": "not_returned",
            "payload": {"contacted_on": today, "visited_on": today, "family_says": "孩子不愿上学"},
        },
        headers=auth(school),
    )
    assert r.status_code == 200, r.text
    # Another committee's case, in the same county.
    vc2 = await make_token(live.db, "luzhou-vc2")
    theirs = await open_case(live, vc2, await register_child(live, vc2, 50), 30)

    want = await expected_order(live, "luzhou-vc1")
    assert sorted(c for c, _ in want) == sorted([*mine, helped])
    forward = await pages(live, vc, per_page=3)
    assert [len(p["items"]) for p in forward] == [3, 3, 2]
    assert all(p["total"] == 8 for p in forward)
    seen = [(i["case_no"], i["step"]["step"]) for p in forward for i in p["items"]]
    assert seen == want  # each exactly once, the most overdue first
    dues = [i["step"]["due_at"] for p in forward for i in p["items"]]
    assert dues == sorted(dues)
    assert forward[0]["items"][0]["case_no"] == mine[6]  # found 20 days ago: the most overdue
    co = next(i for p in forward for i in p["items"] if i["case_no"] == helped)
    assert co["step"]["holder"]["name"] == "潞州区教育局"
    assert "潞州区东街街道城北社区居民委员会" in [a["name"] for a in co["step"]["co_holders"]]
    assert forward[0]["prev_cursor"] is None and forward[-1]["next_cursor"] is None

    # Back from the last page: the same pages, in reverse.
    backward = await pages(live, vc, per_page=3, cursor_key="prev_cursor", start=forward[-1]["prev_cursor"])
    assert [[i["case_no"] for i in p["items"]] for p in backward] == [
        [i["case_no"] for i in p["items"]] for p in forward[:-1][::-1]
    ]

    # The other committee sees its own case only, and never the first's.
    other = [i["case_no"] for p in await pages(live, vc2, per_page=3) for i in p["items"]]
    assert other == [theirs]
    assert theirs not in [c for c, _ in seen]

    # A step done between two pages: the next page neither repeats nor skips the rest.
    first = forward[0]
    done = first["items"][0]
    r = await live.http.post(
        f"/api/v1/cases/{done['case_no']}/actions",
        json={
            "step": "admonition",
            "action": "record_admonition",
            "step_seq": done["step"]["step_seq"],
            "payload": {"done_on": today, "content": "已上门劝诫，监护人表示改正"},
        },
        headers=auth(vc),
    )
    assert r.status_code == 200, r.text
    rest = await pages(live, vc, per_page=3, start=first["next_cursor"])
    now_want = await expected_order(live, "luzhou-vc1")
    assert want[0] not in now_want  # its next step, if it has one, is placed by its own deadline
    after_cursor = now_want[now_want.index(want[2]) + 1 :]
    assert [(i["case_no"], i["step"]["step"]) for p in rest for i in p["items"]] == after_cursor
    assert set(want[3:]) <= set(after_cursor)


async def test_the_inbox_page_pages_with_links_and_keeps_its_content(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    cases = [await open_case(live, vc, await register_child(live, vc, n), days) for n, days in enumerate((5, 2, 8))]
    async with browser(live, "luzhou-vc1") as http:
        first = await http.get("/inbox", params={"per_page": 2})
        assert first.status_code == 200
        html = first.text
        assert "我的待办" in html and '<span class="count">3</span>' in html
        assert "本页 2 条，共 3 条" in html and "上一页" not in html
        assert [cases[2], cases[0]] == CASE_LINK.findall(html.split("最新通知")[0])
        assert "分页儿童2" in html and "劝诫" in html  # the child and the step, as before
        nxt = re.search(r'<a href="([^"]+)" rel="next">下一页</a>', html)
        assert nxt
        second = await http.get(nxt.group(1).replace("&amp;", "&"))
        assert second.status_code == 200
        listed = second.text.split("最新通知")[0]  # the steps, not the notifications below them
        assert CASE_LINK.findall(listed) == [cases[1]] and "下一页" not in listed
        prev = re.search(r'<a href="([^"]+)" rel="prev">上一页</a>', second.text)
        assert prev
        back = await http.get(prev.group(1).replace("&amp;", "&"))
        assert CASE_LINK.findall(back.text.split("最新通知")[0]) == [cases[2], cases[0]]

        bad = await http.get("/inbox", params={"cursor": "not-a-cursor"})
        assert 400 <= bad.status_code < 500
        assert "翻页参数无效" in bad.text


async def test_a_cursor_the_inbox_did_not_hand_out_is_refused_in_chinese(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    for cursor in ("not-a-cursor", "WyJ4IiwxLDIsM10", "W10", "%%%"):
        r = await live.http.get("/api/v1/inbox", params={"cursor": cursor}, headers=auth(vc))
        assert r.status_code == 422, (cursor, r.text)
        error = r.json()["error"]
        assert error["code"] == "bad_cursor" and error["field"] == "cursor"
        assert "翻页参数无效" in error["message"]
    r = await live.http.get("/api/v1/inbox", params={"per_page": 1000}, headers=auth(vc))
    assert r.status_code == 422


def test_a_cursor_names_its_place_whether_or_not_the_step_has_a_deadline() -> None:
    from api.cases.lists import InboxCursor, InboxKey
    from domain.errors import DomainError

    due = datetime(2026, 12, 2, 15, 59, 59, tzinfo=UTC)
    for cursor in (InboxCursor(InboxKey(due, 7, "main")), InboxCursor(InboxKey(None, 8, "visit"), before=True)):
        assert InboxCursor.decode(cursor.encode()) == cursor
    for bad in ("", "W10", InboxCursor(InboxKey(due, 7, "main")).encode()[:-3]):
        try:
            InboxCursor.decode(bad)
        except DomainError as e:
            assert e.code == "bad_cursor"
        else:
            raise AssertionError(f"{bad!r} was taken for a cursor")
