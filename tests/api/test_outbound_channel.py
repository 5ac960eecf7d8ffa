"""The outbound channel against a real HTTP receiver started by the test: a crisis's notifications go to the
counselling centre's webhook, signed, without personal data, delivered exactly once although the receiver
fails the first two attempts; a receiver that stays down puts the case on the supervisors' stalled list.
Real PostgreSQL, Temporal dev server and worker."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import threading
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select

from activities.outbound import DELIVERY_HEADER, SIGNATURE_HEADER
from db.models import AgencyWebhook, Case, OutboundDelivery
from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.support import agency_id, child_id

SECRET = "gateway-secret-for-tests"
SIGNS = "来电称有自伤念头"


@dataclass
class Receiver:
    """The city's message gateway, as the test plays it: fails the first `failures` requests (HTTP 500)."""

    failures: int = 0
    down: bool = False  # fails every request while set (a gateway that is down until the test says)
    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            status = 500 if self.down or self.failures > 0 else 200
            self.failures -= 1
            self.requests.append((headers, body, status))
            return status

    def accepted(self) -> list[tuple[dict[str, str], bytes, int]]:
        with self.lock:
            return [r for r in self.requests if r[2] == 200]


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = state.answer({k: v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/gateway"
    finally:
        server.shutdown()
        server.server_close()


async def hook(live: Live, url: str) -> None:
    """The administrator points the counselling centre's notifications at the gateway."""
    centre = await agency_id(live.db, "luzhou-counselling")
    admin = await make_token(live.db, "admin")
    path = f"/api/v1/admin/agencies/{centre}/webhook"
    r = await live.http.put(path, json={"url": url, "secret": SECRET}, headers=auth(admin))
    assert r.status_code == 200, r.text
    assert (r.json()["configured"], r.json()["url"], r.json()["is_active"]) == (True, url, True)
    assert SECRET not in r.text  # never read back
    refused = await live.http.put(path, json={"url": "ftp://x", "secret": SECRET}, headers=auth(admin))
    assert refused.status_code == 422 and refused.json()["error"]["message"] == "请填写以 https:// 开头的消息网关地址"
    clerk = await make_token(live.db, "luzhou-counselling-sup")
    r = await live.http.put(path, json={"url": "https://evil.example/x", "secret": SECRET}, headers=auth(clerk))
    assert r.status_code == 403
    async with live.db.sf() as s:
        assert (await s.get(AgencyWebhook, centre)).url == url  # type: ignore[union-attr]


async def crisis(live: Live, child: str = "王小明") -> str:
    body = {
        "process": "mental_health",
        "start_step": "triage",
        "child_id": await child_id(live.db, child),
        "facts": {"channel": "hotline", "signs": SIGNS, "risk_level": "crisis", "contact": "来电人"},
    }
    token = await make_token(live.db, "luzhou-school1")
    r = await live.http.post("/api/v1/cases", json=body, headers={**auth(token), "Idempotency-Key": uuid.uuid4().hex})
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


async def until(probe, within: float = 40.0):  # type: ignore[no-untyped-def]
    for _ in range(int(within / 0.2)):
        got = await probe()
        if got:
            return got
        await asyncio.sleep(0.2)
    return await probe()


async def deliveries(live: Live, case_no: str) -> list[OutboundDelivery]:
    async with live.db.sf() as s:
        return list(
            (
                await s.execute(
                    select(OutboundDelivery)
                    .join(Case, Case.id == OutboundDelivery.case_id)
                    .where(Case.case_no == case_no)
                )
            ).scalars()
        )


async def test_delivered_once_though_the_gateway_fails_twice(live: Live, receiver: tuple[Receiver, str]) -> None:
    gateway, url = receiver
    gateway.failures = 2
    await hook(live, url)
    case_no = await crisis(live)

    async def delivered() -> bool:
        return len(gateway.accepted()) == 1

    assert await until(delivered)
    await asyncio.sleep(3)  # a retry that sent again would have come by now
    assert [r[2] for r in gateway.requests] == [500, 500, 200]
    assert len({h[DELIVERY_HEADER] for h, _, _ in gateway.requests}) == 1  # the same delivery each time
    headers, body, _ = gateway.accepted()[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(headers[SIGNATURE_HEADER], expected)
    message = json.loads(body)
    assert set(message) == {"case_no", "kind", "step", "step_label", "due_at", "minutes_left", "link"}
    assert (message["case_no"], message["step"], message["kind"]) == (case_no, "crisis_ack", "new_step")
    assert 0 < message["minutes_left"] <= 60 and message["link"].endswith(f"/cases/{case_no}")
    text = body.decode("utf-8")
    assert SIGNS not in text and "王小明" not in text  # no personal data

    [row] = await deliveries(live, case_no)
    assert (row.status, row.attempts, row.last_error) == ("delivered", 3, None)


async def test_a_gateway_that_stays_down_puts_the_case_on_the_stalled_list(
    live: Live, receiver: tuple[Receiver, str]
) -> None:
    gateway, url = receiver
    gateway.failures = 10_000
    await hook(live, url)
    case_no = await crisis(live, "李娜")
    sup = await make_token(live.db, "luzhou-counselling-sup")

    async def on_the_list() -> list[str]:
        r = await live.http.get("/api/v1/stalled", headers=auth(sup))
        assert r.status_code == 200, r.text
        return next((i["reasons"] for i in r.json()["items"] if i["case_no"] == case_no), [])

    reasons = await until(on_the_list)
    assert "外发通知（短信/政务微信）未送达" in reasons
    [whose] = [r for r in reasons if "消息网关自" in r]  # whose gateway, since when (Beijing time)
    assert re.fullmatch(r"潞州区心理辅导中心的消息网关自\d{4}-\d{2}-\d{2} \d{2}:\d{2}起未送达", whose), whose
    [row] = await deliveries(live, case_no)
    assert row.status == "pending" and row.attempts >= 3 and row.last_error == "HTTP 500"
    assert gateway.accepted() == []
