"""The outbound channel against a real HTTP receiver started by the test: a crisis's notifications go to the
counselling centre's webhook, signed, without personal data, delivered exactly once although the receiver
fails the first two attempts, and although the case's run continues as new or closes before the gateway
takes it (each delivery is a workflow of its own); failed attempts alone do not put the case on the
stalled list (an hour does: tests/workflow/test_outbound_hour.py). Real PostgreSQL, Temporal dev server and
worker."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import uuid
from collections.abc import Iterator

import pytest
from prometheus_client import REGISTRY
from sqlalchemy import select

from activities.outbound import DELIVERY_HEADER, SIGNATURE_HEADER
from api.cases import service
from db.models import AgencyWebhook, Case, OutboundDelivery
from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.gateway import Receiver, serve_gateway
from tests.support import act, agency_id, child_id, open_steps, supervise, today_iso, who

SECRET = "gateway-secret-for-tests"
SIGNS = "来电称有自伤念头"


@pytest.fixture
def receiver() -> Iterator[tuple[Receiver, str]]:
    with serve_gateway() as served:
        yield served


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


def attempts_counted(result: str) -> float:
    """referrals_outbound_deliveries_total for the webhook channel, as /metrics serves it (the test's worker
    runs in this process)."""
    labels = {"channel": "webhook", "result": result}
    return REGISTRY.get_sample_value("referrals_outbound_deliveries_total", labels) or 0.0


async def test_delivered_once_though_the_gateway_fails_twice(live: Live, receiver: tuple[Receiver, str]) -> None:
    gateway, url = receiver
    gateway.failures = 2
    before = {result: attempts_counted(result) for result in ("delivered", "failed")}
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
    # Other tests' deliveries in this process may still be retrying: at least this one's attempts.
    assert attempts_counted("delivered") - before["delivered"] >= 1
    assert attempts_counted("failed") - before["failed"] >= 2


async def test_a_gateway_down_for_minutes_is_not_yet_stalled(live: Live, receiver: tuple[Receiver, str]) -> None:
    """Failed attempts alone no longer put the case on the stalled list (they did after three): only a
    delivery still failing after `outbound_undelivered_after` (1 hour) does, which
    tests/workflow/test_outbound_hour.py shows on the time-skipping server."""
    gateway, url = receiver
    gateway.down = True
    await hook(live, url)
    case_no = await crisis(live, "李娜")
    sup = await make_token(live.db, "luzhou-counselling-sup")

    async def failed_thrice() -> bool:
        return any(r.attempts >= 3 for r in await deliveries(live, case_no))

    assert await until(failed_thrice)
    r = await live.http.get("/api/v1/stalled", headers=auth(sup))
    assert r.status_code == 200, r.text
    assert case_no not in [i["case_no"] for i in r.json()["items"]]
    async with live.db.sf() as s:
        case = (await s.execute(select(Case).where(Case.case_no == case_no))).scalar_one()
    assert case.automation_error is None
    [row] = await deliveries(live, case_no)
    assert (row.status, row.last_error, row.marked_at) == ("pending", "HTTP 500", None)
    assert gateway.accepted() == []


# ---------------------------------------------------------------------------- deliveries outlive their run


async def delivered_once_after_recovery(live: Live, gateway: Receiver, case_no: str, seqs: int) -> None:
    """The deliveries of `seqs` events at least have each failed (the gateway down) after their run ended;
    the gateway comes back: each reaches it once."""

    async def each_failed() -> list[OutboundDelivery]:
        got = await deliveries(live, case_no)
        return got if len(got) >= seqs and all(r.attempts >= 1 for r in got) else []

    rows = await until(each_failed)
    assert rows and all(r.status == "pending" for r in rows) and gateway.accepted() == []
    gateway.down = False

    async def all_delivered() -> bool:
        got = await deliveries(live, case_no)
        return bool(got) and all(r.status == "delivered" for r in got)

    assert await until(all_delivered, within=90)
    await asyncio.sleep(3)  # a second sending would have come by now
    sent = [h[DELIVERY_HEADER] for h, _, _ in gateway.accepted()]
    assert sorted(sent) == sorted(str(r.id) for r in rows)  # every delivery once, none twice
    assert {json.loads(b)["case_no"] for _, b, _ in gateway.accepted()} == {case_no}


async def current_run_continued(live: Live, case_no: str) -> bool:
    history = await live.temporal.get_workflow_handle(f"case-{case_no}").fetch_history()  # type: ignore[attr-defined]
    return bool(history.events[0].workflow_execution_started_event_attributes.continued_execution_run_id)


async def test_a_delivery_pending_when_the_case_continues_as_new_is_still_delivered_once(
    live: Live, receiver: tuple[Receiver, str]
) -> None:
    gateway, url = receiver
    gateway.down = True
    await hook(live, url)
    p = await who(live.db, "luzhou-school1")
    async with live.db.sf() as s:
        started = await service.start_case(
            session=s,
            client=live.temporal,
            task_queue=live.task_queue,
            principal=p,
            data=service.StartCaseIn(
                process="mental_health",
                start_step="triage",
                child_id=await child_id(live.db, "王小明"),
                facts={"channel": "hotline", "signs": SIGNS, "risk_level": "crisis", "contact": "来电人"},
            ),
            idempotency_key=uuid.uuid4().hex,
            history_limit=20,  # the least: the run continues as new after its first action
        )
    case_no = started.case_no

    async def failed_once() -> bool:
        return any(r.attempts >= 1 for r in await deliveries(live, case_no))

    assert await until(failed_once)
    await act(live.db, live.temporal, case_no, "luzhou-counselling", "acknowledge", {"safety_measures": "已联系监护人"})
    # The run is past its limit now; it continues as new at its next task: a supervisor's urge.
    [step] = (await open_steps(live.db, case_no)).values()
    await supervise(live.db, live.temporal, case_no, "luzhou-counselling-sup", "urge", step.step, reason="请尽快")
    assert await until(lambda: current_run_continued(live, case_no))
    await delivered_once_after_recovery(live, gateway, case_no, seqs=2)


async def test_a_delivery_pending_when_the_case_closes_is_still_delivered_once(
    live: Live, receiver: tuple[Receiver, str]
) -> None:
    gateway, url = receiver
    gateway.down = True
    await hook(live, url)
    case_no = await crisis(live, "李娜")
    centre, hospital = "luzhou-counselling", "luzhou-hospital"
    await act(live.db, live.temporal, case_no, centre, "acknowledge", {"safety_measures": "已联系监护人"})
    consent = {
        "hospital_id": await agency_id(live.db, hospital),
        "consenter_name": "李某",
        "consenter_relation": "mother",
        "consented_on": today_iso(),
        "consent_method": "phone",
        "consent_form_ref": "档-2",
    }
    await act(live.db, live.temporal, case_no, centre, "refer_with_consent", consent)
    await act(live.db, live.temporal, case_no, hospital, "accept_referral", {})
    r = await act(
        live.db,
        live.temporal,
        case_no,
        hospital,
        "discharge",
        {"discharged_on": today_iso(), "back_to": "community_rehab", "stability": "stable", "discharge_summary": "-"},
    )
    assert (r.closed, r.outcome) == (True, "community_rehab")
    result = await live.temporal.get_workflow_handle(f"case-{case_no}").result()  # type: ignore[attr-defined]
    assert result["outcome"] == "community_rehab"  # the run has ended, its deliveries not

    await delivered_once_after_recovery(live, gateway, case_no, seqs=2)
