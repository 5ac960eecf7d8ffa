"""Outages on the real stack: PostgreSQL or Temporal out of reach answers a JSON 503 with a retry hint
under /api/ and a Chinese notice page elsewhere, never a plain-text 500; an action that took effect is
answered though its audit entry cannot be written."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from sqlalchemy import func, select, text
from temporalio.client import Client

from api.cases import service
from config.settings import Settings
from db.models import AuditEntry
from db.session import make_engine, make_session_factory
from tests.api.test_cases_api import auth, start_body
from tests.codec_keys import CONVERTER, TEST_PAYLOAD_KEYS
from tests.conftest import Live, make_token
from tests.support import today_iso, who
from tests.ui.test_pages import browser, csrf_of
from web.app import create_app
from worker.client import build_worker


def closed_port() -> int:
    """A local port nothing listens on."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@asynccontextmanager
async def second_app(
    live: Live, *, database_url: str | None = None, temporal: bool = True
) -> AsyncIterator[httpx.AsyncClient]:
    """Another web app beside the live one: on a database at a closed port, or with a Temporal client to
    a closed port."""
    url = database_url or live.db.url
    engine = make_engine(url, connect_args={"connect_timeout": 2})
    client = (
        live.temporal
        if temporal
        else await Client.connect(f"127.0.0.1:{closed_port()}", data_converter=CONVERTER, lazy=True)
    )
    settings = Settings(
        environment="dev",
        database_url=url,
        task_queue=live.task_queue,
        secret_key="test-secret",
        secure_cookies=False,
        payload_keys=TEST_PAYLOAD_KEYS,
    )
    app = create_app(settings, client=client, session_factory=make_session_factory(engine))  # type: ignore[arg-type]
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http:
            yield http
    finally:
        await engine.dispose()


def reprimand() -> dict:
    return {
        "step": "reprimand",
        "action": "issue_reprimand",
        "payload": {"done_on": today_iso(), "content": "训诫", "family_education_order": True},
    }


async def reprimand_case(live: Live, token: str) -> str:
    body = {**await start_body(live), "start_step": "reprimand"}
    r = await live.http.post("/api/v1/cases", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


def assert_unavailable(r: httpx.Response) -> None:
    assert r.status_code == 503, r.text
    assert int(r.headers["Retry-After"]) > 0
    error = r.json()["error"]
    assert error["code"] == "unavailable"
    assert "稍后重试" in error["message"]
    assert set(error) >= {"code", "message", "field"}


async def test_database_down_answers_503_json_and_a_notice_page(live: Live) -> None:
    token = await make_token(live.db, "luzhou-vc1")
    body = await start_body(live)
    down = f"postgresql://postgres@127.0.0.1:{closed_port()}/referrals"
    async with second_app(live, database_url=down) as http:
        assert_unavailable(await http.get("/api/v1/cases", headers=auth(token)))
        assert_unavailable(await http.post("/api/v1/cases", json=body, headers=auth(token)))
        login = await http.get("/login")  # needs no database
        assert login.status_code == 200
        page = await http.post(
            "/login", data={"csrf": csrf_of(login.text), "username": "luzhou-vc1", "password": "demo1234", "next": "/"}
        )
        assert page.status_code == 503
        assert page.headers["content-type"].startswith("text/html")
        assert "系统暂时无法使用" in page.text and "稍后重试" in page.text


async def test_temporal_unreachable_answers_503(live: Live) -> None:
    token = await make_token(live.db, "luzhou-police")
    case_no = await reprimand_case(live, token)
    async with second_app(live, temporal=False) as http:
        # Reading still works from the projection.
        assert (await http.get(f"/api/v1/cases/{case_no}", headers=auth(token))).status_code == 200
        assert_unavailable(await http.post(f"/api/v1/cases/{case_no}/actions", headers=auth(token), json=reprimand()))
        body = {**await start_body(live), "start_step": "reprimand"}
        assert_unavailable(await http.post("/api/v1/cases", json=body, headers=auth(token)))


async def test_an_applied_action_is_answered_when_its_audit_entry_cannot_be_written(live: Live) -> None:
    police = await make_token(live.db, "luzhou-police")
    case_no = await reprimand_case(live, police)
    async with live.db.engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE FUNCTION refuse_act_audit() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit down'; END $$"
                " LANGUAGE plpgsql"
            )
        )
        await conn.execute(
            text(
                "CREATE TRIGGER refuse_act_audit BEFORE INSERT ON audit_log FOR EACH ROW"
                " WHEN (NEW.action = 'act') EXECUTE FUNCTION refuse_act_audit()"
            )
        )
    r = await live.http.post(f"/api/v1/cases/{case_no}/actions", headers=auth(police), json=reprimand())
    assert r.status_code == 200, r.text
    case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(police))).json()
    assert case["steps"][0]["step"] == "family_education_guidance"
    async with live.db.sf() as s:
        acts = (
            await s.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "act"))
        ).scalar_one()
    assert acts == 0


async def test_the_creator_acts_on_a_case_whose_worker_was_down_when_the_start_answered(live: Live) -> None:
    idle_queue = f"{live.task_queue}-stopped"
    police = await make_token(live.db, "luzhou-police")
    body = {**await start_body(live), "start_step": "reprimand"}
    async with live.db.sf() as s:
        started = await service.start_case(
            session=s,
            client=live.temporal,
            task_queue=idle_queue,
            principal=await who(live.db, "luzhou-police"),
            data=service.StartCaseIn(**body),
            wait_seconds=0.5,
        )
    assert started.result is None  # answered before the first event was written
    case_no = started.case_no
    seen = await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(police))
    assert seen.status_code == 503, seen.text
    assert seen.json()["error"]["code"] == "case_pending" and "正在创建" in seen.json()["error"]["message"]
    assert int(seen.headers["Retry-After"]) <= 5
    async with browser(live, "luzhou-police") as page:
        shown = await page.get(f"/cases/{case_no}")
    assert shown.status_code == 503
    assert "案件正在创建" in shown.text and 'http-equiv="refresh"' in shown.text
    other = await make_token(live.db, "luzhou-wf")  # not the creator: nothing to see
    assert (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(other))).status_code == 404

    action = asyncio.create_task(
        live.http.post(f"/api/v1/cases/{case_no}/actions", headers=auth(police), json=reprimand())
    )
    await asyncio.sleep(1.0)  # the action is waiting on the case, not refused
    assert not action.done()
    async with build_worker(live.temporal, idle_queue, live.db.sf):
        r = await action
        assert r.status_code == 200, r.text
        case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(police))).json()
    assert case["steps"][0]["step"] == "family_education_guidance"
