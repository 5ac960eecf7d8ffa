"""What a case holds never reaches the Temporal server in clear: on the real dev server, a case's raw
history (read by a client without the codec) holds none of its facts, notes, the child's birth date or
the staff's names; a database error in an activity leaves no facts in the failure Temporal keeps or in
the log; the codec endpoint decodes for an administrator only."""

from __future__ import annotations

import base64
import json
import logging

import pytest
from google.protobuf.json_format import MessageToDict
from sqlalchemy import func, select, text
from temporalio.api.common.v1 import Payload
from temporalio.client import Client, WorkflowHistory

from db.models import AuditEntry, Child, User
from domain.ids import workflow_id
from tests.api.test_cases_api import auth, start_body
from tests.codec_keys import CONVERTER
from tests.conftest import Live, make_token
from tests.support import child_id, wait_for
from tests.ui.test_pages import browser

FACTS = "邻居反映监护人酗酒后把孩子锁在柴房里过夜"
NOTE = "孩子手臂有淤青，班主任李春燕拍照留存"
FAILING_NOTE = "监护人威胁要把孩子带去外省打工"


def forms(s: str) -> list[bytes]:
    """The ways a string could show in a history: UTF-8, JSON-escaped, and base64 at each alignment."""
    raw = s.encode()
    found = [raw, json.dumps(s).encode()[1:-1]]
    for pad in range(3):
        encoded = base64.b64encode(b"\0" * pad + raw)
        # Leave out the characters that also depend on the padding or what follows.
        found.append(encoded[(pad * 4 + 2) // 3 + 1 : -4])
    return found


def raw_bytes(history: WorkflowHistory) -> bytes:
    """The history as the server holds it (protobuf) and as it is exported (JSON)."""
    return b"".join(e.SerializeToString() for e in history.events) + history.to_json().encode()


async def without_codec(live: Live) -> Client:
    """A client on the same server that cannot decrypt: what anyone reading the server sees."""
    return Client(live.temporal.service_client, namespace=live.temporal.namespace)


async def staff_and_birth_date(live: Live) -> tuple[str, str]:
    async with live.db.sf() as s:
        name = (await s.execute(select(User.display_name).where(User.username == "luzhou-vc1"))).scalar_one()
        born = (await s.execute(select(Child.birth_date).where(Child.name == "王小明"))).scalar_one()
    return name, born.isoformat()


async def open_case_with_note(live: Live) -> str:
    vc = await make_token(live.db, "luzhou-vc1")
    body = await start_body(live)
    body["facts"]["facts"] = FACTS
    r = await live.http.post("/api/v1/cases", json=body, headers=auth(vc))
    assert r.status_code == 201, r.text
    case_no = r.json()["case_no"]
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        headers=auth(vc),
        json={"request_id": "note-1", "step": "admonition", "action": "report_serious", "payload": {"note": NOTE}},
    )
    assert r.status_code == 200, r.text
    return case_no


async def test_a_raw_history_holds_no_fact_note_birth_date_or_staff_name(live: Live) -> None:
    case_no = await open_case_with_note(live)
    staff, born = await staff_and_birth_date(live)
    history = await (await without_codec(live)).get_workflow_handle(workflow_id(case_no)).fetch_history()
    raw = raw_bytes(history)
    for secret in (FACTS, NOTE, "李春燕", staff, born):
        leaks = [f for f in forms(secret) if f in raw]
        assert not leaks, (secret, leaks)
    # Not because nothing was carried: decrypted, the same history holds each of them.
    started = history.events[0].workflow_execution_started_event_attributes.input.payloads
    decoded = json.dumps(MessageToDict((await CONVERTER.payload_codec.decode(started))[0]))  # type: ignore[union-attr]
    plain = base64.b64decode(json.loads(decoded)["data"]).decode()
    assert FACTS in plain and staff in plain and born in plain


async def first_payload(live: Live, case_no: str) -> Payload:
    history = await (await without_codec(live)).get_workflow_handle(workflow_id(case_no)).fetch_history()
    return history.events[0].workflow_execution_started_event_attributes.input.payloads[0]


def codec_body(*payloads: Payload) -> dict:
    return {"payloads": [MessageToDict(p) for p in payloads]}


async def audited_decodes(live: Live) -> int:
    async with live.db.sf() as s:
        return (
            await s.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "codec_decode"))
        ).scalar_one()


async def test_the_codec_endpoint_decodes_for_an_administrator_only(live: Live) -> None:
    case_no = await open_case_with_note(live)
    payload = await first_payload(live, case_no)
    assert payload.metadata["encoding"] == b"binary/encrypted"
    headers = {"X-Namespace": "default"}

    admin = await make_token(live.db, "admin")
    r = await live.http.post("/codec/decode", json=codec_body(payload), headers={**headers, **auth(admin)})
    assert r.status_code == 200, r.text
    [plain] = r.json()["payloads"]
    assert base64.b64decode(plain["metadata"]["encoding"]) == b"json/plain"
    assert FACTS in base64.b64decode(plain["data"]).decode()
    assert await audited_decodes(live) == 1
    # What the UI sends back to be encoded comes out encrypted and decodes again.
    r = await live.http.post("/codec/encode", json={"payloads": [plain]}, headers=auth(admin))
    [sealed] = r.json()["payloads"]
    assert base64.b64decode(sealed["metadata"]["encoding"]) == b"binary/encrypted"
    assert FACTS.encode() not in base64.b64decode(sealed["data"])

    # An administrator logged in to the pages: the cookie the Temporal UI sends with "include credentials".
    async with browser(live, "admin") as page:
        r = await page.post("/codec/decode", json=codec_body(payload), headers=headers)
        assert r.status_code == 200 and r.json()["payloads"] == [plain]
    assert await audited_decodes(live) == 2

    # Anyone else: a supervisor, a clerk of the case's own committee, an integration, nobody.
    for who in ("luzhou-civil-sup", "luzhou-vc1"):
        r = await live.http.post(
            "/codec/decode", json=codec_body(payload), headers=auth(await make_token(live.db, who))
        )
        assert r.status_code == 403, r.text
        assert r.json()["error"]["message"] == "只有系统管理员可以查看解密后的流程记录"
    async with browser(live, "luzhou-vc1") as page:
        assert (await page.post("/codec/decode", json=codec_body(payload))).status_code == 403
    r = await live.http.post("/codec/decode", json=codec_body(payload))
    assert r.status_code == 401 and "管理员" in r.json()["error"]["message"]
    r = await live.http.post("/codec/encode", json={"payloads": [plain]})
    assert r.status_code == 401
    assert await audited_decodes(live) == 2  # refusals decode nothing

    r = await live.http.post("/codec/decode", json={"payloads": "x"}, headers=auth(admin))
    assert r.status_code == 422 and "payloads" in r.json()["error"]["message"]


async def test_the_temporal_ui_origin_may_call_the_codec_and_no_other(live: Live) -> None:
    ui = live.app.state.settings.ui_origin()
    preflight = {
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type,x-namespace",
    }
    r = await live.http.options("/codec/decode", headers={"Origin": ui, **preflight})
    assert r.status_code == 200
    assert r.headers["access-control-allow-origin"] == ui
    assert r.headers["access-control-allow-credentials"] == "true"
    assert "x-namespace" in r.headers["access-control-allow-headers"].lower()
    r = await live.http.options("/codec/decode", headers={"Origin": "http://evil.example", **preflight})
    assert "access-control-allow-origin" not in r.headers
    # The rest of the app answers no other origin, the UI's neither.
    r = await live.http.get("/healthz", headers={"Origin": ui})
    assert "access-control-allow-origin" not in r.headers


async def test_a_database_error_in_an_activity_leaves_no_facts_in_the_failure_or_the_log(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    r = await live.http.post("/api/v1/cases", json=await start_body(live), headers=auth(vc))
    case_no = r.json()["case_no"]
    # The timeline refuses this note: the server's error quotes the whole row ("Failing row contains").
    async with live.db.engine.begin() as conn:
        await conn.execute(
            text(f"ALTER TABLE timeline_events ADD CONSTRAINT refuse_note CHECK (note NOT LIKE '%{FAILING_NOTE}%')")
        )
    live.app.state.settings.update_timeout_seconds = 2.0
    caplog.set_level(logging.INFO)
    r = await live.http.post(
        f"/api/v1/cases/{case_no}/actions",
        headers=auth(vc),
        json={
            "request_id": "fail-1",
            "step": "admonition",
            "action": "report_serious",
            "payload": {"note": FAILING_NOTE},
        },
    )
    assert r.status_code == 503, r.text
    handle = live.temporal.get_workflow_handle(workflow_id(case_no))

    async def retried():
        pending = (await handle.describe()).raw_description.pending_activities
        return next((p for p in pending if p.attempt >= 2 and p.HasField("last_failure")), None)

    activity = await wait_for(retried, what="the activity to fail and retry", within=30)
    failure = activity.last_failure
    for secret in (FAILING_NOTE, "监护人威胁"):
        assert not any(f in failure.SerializeToString() for f in forms(secret))
    message = str(await CONVERTER.decode_failure(failure))
    assert message == "CheckViolation: database error (SQLSTATE 23514)"
    assert FAILING_NOTE not in caplog.text
    assert "CheckViolation" in caplog.text  # the failure was logged, without the row

    # The database fixed, the action goes through.
    async with live.db.engine.begin() as conn:
        await conn.execute(text("ALTER TABLE timeline_events DROP CONSTRAINT refuse_note"))
    live.app.state.settings.update_timeout_seconds = 20.0

    async def noted():
        case = (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(vc))).json()
        return [e for e in case["timeline"] if e.get("note") == FAILING_NOTE] or None

    await wait_for(noted, what="the note on the timeline", within=60)


async def test_a_database_error_in_a_request_is_logged_without_the_values(
    live: Live, caplog: pytest.LogCaptureFixture
) -> None:
    """The server's text quotes what the statement carried (here a trigger's message, as a failing row's
    DETAIL would): the log names the error's type and SQLSTATE, the caller gets a Chinese 500."""
    vc = await make_token(live.db, "luzhou-vc1")
    cid = await child_id(live.db, "王小明")
    async with live.db.engine.begin() as conn:
        await conn.execute(
            text(
                "CREATE FUNCTION refuse_name() RETURNS trigger LANGUAGE plpgsql AS "
                "$$ BEGIN RAISE EXCEPTION 'refused: %', NEW.address; END $$"
            )
        )
        await conn.execute(
            text("CREATE TRIGGER refuse_name BEFORE UPDATE ON children FOR EACH ROW EXECUTE FUNCTION refuse_name()")
        )
    caplog.set_level(logging.INFO)
    address = "长治市潞州区英雄南路88号3单元"
    r = await live.http.patch(f"/api/v1/children/{cid}", headers=auth(vc), json={"address": address})
    assert r.status_code == 500
    assert r.json()["error"]["message"] == "系统内部错误，本次操作未完成，请稍后重试或联系管理员"
    assert "RaiseException (SQLSTATE P0001)" in caplog.text
    assert address not in caplog.text
