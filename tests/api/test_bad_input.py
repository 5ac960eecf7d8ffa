"""Bad input sent to the running app (real PostgreSQL, Temporal dev server, worker): each is refused at
once with a 4xx and a Chinese reason, and nothing changes (no case, event, notification or record)."""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from sqlalchemy import func, select

from db.models import Case, CaseRequest, Child, Notification, TimelineEvent
from tests.conftest import Live, make_token
from tests.support import child_id, today_iso

pytestmark = pytest.mark.live

CHINESE = re.compile(r"[\u4e00-\u9fff]")
# What pydantic and Starlette say when their messages leak through.
ENGLISH = re.compile(
    r"Input should|There was an error|Field required|Not Found|Method Not Allowed|value_error|decode error|Expecting"
)


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def counts(live: Live) -> tuple[int, ...]:
    async with live.db.sf() as s:
        return tuple(
            [
                (await s.execute(select(func.count()).select_from(m))).scalar_one()
                for m in (Case, CaseRequest, TimelineEvent, Notification, Child)
            ]
        )


def assert_refused(r: Any, status: int | tuple[int, ...] = 422, code: str | None = None) -> str:
    """A refusal as a client reads it: the status, the error's code, a Chinese reason and no English."""
    statuses = (status,) if isinstance(status, int) else status
    assert r.status_code in statuses, (r.status_code, r.text[:500])
    err = r.json()["error"]
    if code is not None:
        assert err["code"] == code, err
    assert CHINESE.search(err["message"]) and not ENGLISH.search(r.text), err
    return err["message"]


async def start_body(live: Live, **facts: object) -> dict:
    return {
        "process": "guardianship",
        "start_step": "admonition",
        "child_id": await child_id(live.db, "王小明"),
        "facts": {"facts": "儿童长期独自在家，监护人外出务工未委托照护", "occurred_on": today_iso(), **facts},
    }


async def a_case(live: Live, vc: str) -> tuple[str, int]:
    r = await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc))
    assert r.status_code == 201, r.text
    body = r.json()
    return body["case_no"], body["steps"][0]["step_seq"]


def admonition(seq: int, content: str = "已上门劝诫，监护人表示改正", **over: Any) -> dict:
    return {
        "step": "admonition",
        "step_seq": seq,
        "action": "record_admonition",
        "payload": {"done_on": today_iso(), "content": content},
        **over,
    }


@pytest.mark.parametrize("bad", ["事实\x00经过", "事实\ud800经过"])
async def test_unstorable_text_in_start_facts_is_refused(live: Live, bad: str) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    before = await counts(live)
    body = json.dumps(await start_body(live, facts=bad))  # the JSON escape \u0000 or \ud800
    r = await live.http.post("/api/v1/cases", content=body, headers={**auth(vc), "content-type": "application/json"})
    assert "无法保存的字符" in assert_refused(r, 422, "text_invalid")
    assert await counts(live) == before


async def test_unstorable_text_in_an_action_and_a_search_is_refused(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    case_no, seq = await a_case(live, vc)
    before = await counts(live)
    for bad in ("劝诫\x00", "劝诫\udc00"):
        r = await live.http.post(
            f"/api/v1/cases/{case_no}/actions",
            content=json.dumps(admonition(seq, bad)),
            headers={**auth(vc), "content-type": "application/json"},
        )
        assert_refused(r, 422, "text_invalid")
    assert_refused(await live.http.get("/api/v1/children", params={"q": "王\x00"}, headers=auth(vc)), 422)
    assert await counts(live) == before
    # The case still takes the next action.
    r = await live.http.post(f"/api/v1/cases/{case_no}/actions", json=admonition(seq), headers=auth(vc))
    assert r.status_code == 200, r.text


async def test_unstorable_text_in_a_page_form_is_refused(live: Live) -> None:
    r = await live.http.post(
        "/login", content=b"username=a%00b&password=x", headers={"content-type": "application/x-www-form-urlencoded"}
    )
    assert r.status_code == 422 and "“表单内容”含有无法保存的字符" in r.text
    r = await live.http.post("/login", files={"username": (None, "a\x00b"), "password": (None, "x")})
    assert r.status_code == 422 and "“表单内容”含有无法保存的字符" in r.text


@pytest.mark.parametrize(
    ("method", "url", "body"),
    [
        ("GET", "/api/v1/children/2147483648", None),
        ("GET", "/api/v1/admin/users/99999999999999999999", None),
        ("GET", "/api/v1/cases?page=2147483648", None),
        ("POST", "/api/v1/notifications/read", {"ids": [2**31]}),
        ("POST", "/api/v1/notifications/read", {"ids": [2**63]}),
    ],
)
async def test_integers_beyond_postgresql_are_refused(live: Live, method: str, url: str, body: Any) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    r = await live.http.request(method, url, json=body, headers=auth(vc))
    assert "数值超出范围" in assert_refused(r, 422, "field_invalid")


async def test_too_many_notification_ids_are_refused_at_once(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    began = time.monotonic()
    r = await live.http.post("/api/v1/notifications/read", json={"ids": list(range(1, 100_001))}, headers=auth(vc))
    assert_refused(r, (413, 422))
    assert time.monotonic() - began < 3


async def test_deep_json_is_refused(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    before = await counts(live)
    deep = "[" * 500 + "]" * 500
    body = json.dumps(await start_body(live))[:-1] + f', "extra": {deep}}}'
    r = await live.http.post("/api/v1/cases", content=body, headers={**auth(vc), "content-type": "application/json"})
    assert "层级过深" in assert_refused(r, 422, "body_too_deep")
    # FastAPI parses a body sent without a content type as JSON: refused the same.
    r = await live.http.post("/api/v1/cases", content=body.encode(), headers=auth(vc))
    assert "层级过深" in assert_refused(r, 422, "body_too_deep")
    nul = json.dumps(await start_body(live, facts="事实\x00"))
    assert_refused(await live.http.post("/api/v1/cases", content=nul.encode(), headers=auth(vc)), 422, "text_invalid")
    assert await counts(live) == before


async def test_ten_thousand_guardians_are_refused(live: Live) -> None:
    admin_like = await make_token(live.db, "luzhou-vc1")
    cid = await child_id(live.db, "王小明")
    guardians = [{"name": "张三", "relation": "父亲", "phone": "13800000000"}] * 11
    r = await live.http.patch(f"/api/v1/children/{cid}", json={"guardians": guardians}, headers=auth(admin_like))
    assert "最多10项" in assert_refused(r, 422)
    r = await live.http.patch(f"/api/v1/children/{cid}", json={"guardians": guardians * 1000}, headers=auth(admin_like))
    assert_refused(r, (413, 422))
    async with live.db.sf() as s:
        kept = (await s.get(Child, cid)).guardians
    assert len(kept or []) < 11


async def test_a_megabyte_of_action_text_is_refused_before_the_workflow(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    case_no, seq = await a_case(live, vc)
    before = await counts(live)
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/actions", json=admonition(seq, "字" * 1_000_000), headers=auth(vc)
    )
    assert "过大" in assert_refused(r, 413, "body_too_large")
    # Below the body cap, still above what a field takes: the field's own limit answers.
    r = await live.http.post(f"/api/v1/cases/{case_no}/actions", json=admonition(seq, "字" * 20_000), headers=auth(vc))
    assert_refused(r, 422)
    assert await counts(live) == before
    r = await live.http.post(f"/api/v1/cases/{case_no}/actions", json=admonition(seq), headers=auth(vc))
    assert r.status_code == 200, r.text


async def test_a_request_id_reused_for_another_request_is_refused(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    case_no, seq = await a_case(live, vc)
    rid = uuid.uuid4().hex
    first = await live.http.post(
        f"/api/v1/cases/{case_no}/actions", json=admonition(seq, request_id=rid), headers=auth(vc)
    )
    assert first.status_code == 200, first.text
    again = await live.http.post(
        f"/api/v1/cases/{case_no}/actions", json=admonition(seq, request_id=rid), headers=auth(vc)
    )
    assert again.status_code == 200 and again.json() == first.json()  # the same request: the same answer
    before = await counts(live)
    other = await live.http.post(
        f"/api/v1/cases/{case_no}/actions", json=admonition(seq, "另一份劝诫记录", request_id=rid), headers=auth(vc)
    )
    assert "request_id" in assert_refused(other, 409, "idempotency_conflict")
    assert await counts(live) == before


async def test_a_refused_request_id_may_be_sent_again_corrected(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    case_no, seq = await a_case(live, vc)
    rid = uuid.uuid4().hex
    wrong = admonition(seq, request_id=rid)
    wrong["payload"]["done_on"] = "2999-01-01"
    assert_refused(await live.http.post(f"/api/v1/cases/{case_no}/actions", json=wrong, headers=auth(vc)), 422)
    r = await live.http.post(f"/api/v1/cases/{case_no}/actions", json=admonition(seq, request_id=rid), headers=auth(vc))
    assert r.status_code == 200, r.text


@pytest.mark.parametrize(
    ("content", "body"),
    [
        ("application/json", b"{not json"),
        ("application/json", b'{"process": 3, "start_step": "admonition"}'),
        ("application/json", b'{"start_step": "admonition"}'),
        ("application/json", b"\xff\xfe"),
    ],
)
async def test_malformed_requests_are_answered_in_chinese(live: Live, content: str, body: bytes) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    r = await live.http.post("/api/v1/cases", content=body, headers={**auth(vc), "content-type": content})
    assert_refused(r, 422)


async def test_a_wrong_type_in_an_action_names_the_field_in_chinese(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    case_no, _ = await a_case(live, vc)
    r = await live.http.post(f"/api/v1/cases/{case_no}/actions", json=admonition(0, step_seq="abc"), headers=auth(vc))
    assert assert_refused(r, 422, "invalid_request") == "请求格式不正确：“step_seq”应为整数"


async def test_a_wrong_method_is_answered_in_chinese(live: Live) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    assert_refused(await live.http.delete("/api/v1/cases", headers=auth(vc)), 405)


async def test_an_extension_of_99999_working_days_is_refused_at_once(live: Live) -> None:
    sup = await make_token(live.db, "luzhou-civil-sup")
    vc = await make_token(live.db, "luzhou-vc1")
    case_no, _ = await a_case(live, vc)
    began = time.monotonic()
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/supervision",
        json={"kind": "extend", "step": "admonition", "reason": "x", "extend_by": "99999WD"},
        headers=auth(sup),
    )
    assert "超过上限" in assert_refused(r, 422)
    assert time.monotonic() - began < 2


async def test_an_absence_reaching_back_centuries_is_refused_at_once(live: Live) -> None:
    """Counting school days since 0001-01-01 took 20 s on the event loop, every user waiting."""
    school = await make_token(live.db, "luzhou-school1")
    before = await counts(live)
    body = {
        "process": "dropout_return",
        "start_step": "school_contact",
        "child_id": await child_id(live.db, "王小明"),
        "facts": {
            "class_name": "五年级二班",
            "known": "家长外出务工",
            "absent_from": "0001-01-01",
            "absent_to": today_iso(),
        },
    }
    began = time.monotonic()
    r = await live.http.post("/api/v1/cases", json=body, headers=auth(school))
    assert "超过一年" in assert_refused(r, 422, "absence_too_long")
    assert time.monotonic() - began < 2
    assert await counts(live) == before


@pytest.mark.parametrize(
    ("url", "body"),
    [
        (
            "/api/v1/admin/users",
            {"username": "u" * 65, "display_name": "张三", "password": "Passw0rd!x", "agency_id": 1},
        ),
        ("/api/v1/admin/agencies", {"code": "c", "name": "名" * 129, "agency_type": "school", "region_code": "140403"}),
    ],
)
async def test_admin_text_longer_than_its_column_is_refused(live: Live, url: str, body: dict) -> None:
    admin = await make_token(live.db, "admin")
    before = await counts(live)
    assert "不能超过" in assert_refused(await live.http.post(url, json=body, headers=auth(admin)), 422)
    assert await counts(live) == before


FORM = "multipart/form-data; boundary=x"


@pytest.mark.parametrize(
    ("content", "body"),
    [
        ("multipart/form-data", b'--x\r\nContent-Disposition: form-data; name="kind"\r\n\r\na\r\n--x--\r\n'),
        (FORM, b"not a form at all"),
        (FORM, b'--x\r\nContent-Disposition: form-data; name="file"; filename="a.csv"\r\n\r\nabc'),  # never closed
        (FORM, b"--x\r\nContent-Disposition: form-data\r\n\r\nabc\r\n--x--\r\n"),  # a part without a name
        (FORM, b'--x\r\nContent-Disposition: form-data; name="kind"\r\n\r\n' + b"a" * 2**21 + b"\r\n--x--\r\n"),
    ],
)
async def test_malformed_forms_with_files_are_answered_in_chinese(live: Live, content: str, body: bytes) -> None:
    """A form that carries a file is parsed as it streams (web/limits.py): a broken one is refused in Chinese
    with a 4xx on every route that takes one, and nothing is stored."""
    before = await counts(live)
    clerk, admin = await make_token(live.db, "luzhou-civil"), await make_token(live.db, "admin")
    for token, url in (
        (clerk, "/api/v1/registry/imports"),
        (clerk, "/api/v1/cases/LZ-0000-000000/attachments"),
        (admin, "/api/v1/admin/agencies/import"),
    ):
        r = await live.http.post(url, content=body, headers={**auth(token), "content-type": content})
        assert_refused(r, (400, 404, 413, 422))
    assert await counts(live) == before
