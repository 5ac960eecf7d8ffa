"""A message gateway down for an hour, on the time-skipping server: the hour is Temporal's clock, so it
passes in seconds while every attempt is a real HTTP request to a receiver the test starts (real
PostgreSQL, the worker's real activities). The case shows on the stalled list as undelivered once a
delivery has failed and is still undelivered after `outbound_undelivered_after` (1 hour by default), not
before; once the gateway is back, each message arrives once and the mark is gone."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta

from sqlalchemy import select
from temporalio.client import WorkflowHandle

from activities.cases import mark_automation
from activities.outbound import DELIVERY_HEADER, UNDELIVERED_MARK
from api.admin.service import PolicyIn, set_policy
from api.admin.webhooks import save_webhook
from api.cases import service
from api.cases.lists import stalled
from db.models import Case, OutboundDelivery
from domain.ids import outbound_workflow_id
from tests.gateway import serve_gateway
from tests.support import HISTORIES, SAVE_HISTORIES, agency_id, child_id, wait_for, who
from tests.workflow.conftest import Wf

SECRET = "gateway-secret-for-tests"
UNDELIVERED = "外发通知（短信/政务微信）未送达"


async def crisis(w: Wf) -> str:
    p = await who(w.db, "luzhou-school1")
    async with w.db.sf() as s:
        started = await service.start_case(
            session=s,
            client=w.client,
            task_queue=w.tq,
            principal=p,
            data=service.StartCaseIn(
                process="mental_health",
                start_step="triage",
                child_id=await child_id(w.db, "王小明"),
                facts={"channel": "hotline", "signs": "来电称有自伤念头", "risk_level": "crisis", "contact": "来电人"},
            ),
            idempotency_key=uuid.uuid4().hex,
        )
    return started.case_no


async def deliveries(w: Wf, case_no: str) -> list[OutboundDelivery]:
    async with w.db.sf() as s:
        rows = await s.execute(
            select(OutboundDelivery)
            .join(Case, Case.id == OutboundDelivery.case_id)
            .where(Case.case_no == case_no)
            .order_by(OutboundDelivery.id)
        )
        return list(rows.scalars())


async def case_of(w: Wf, case_no: str) -> Case:
    async with w.db.sf() as s:
        return (await s.execute(select(Case).where(Case.case_no == case_no))).scalar_one()


async def reasons(w: Wf, case_no: str) -> list[str]:
    """What the counselling centre's county supervisor's stalled list says of the case ([]: not on it)."""
    sup = await who(w.db, "luzhou-counselling-sup")
    async with w.db.sf() as s:
        page = await stalled(session=s, principal=sup)
    return next((r.reasons for r in page.items if r.case.case_no == case_no), [])


async def test_a_gateway_down_for_an_hour_puts_the_case_on_the_stalled_list_until_it_delivers(fresh_wf: Wf) -> None:
    w = fresh_wf
    with serve_gateway() as (gateway, url):
        gateway.down = True
        async with w.db.sf() as s:
            admin = await who(w.db, "admin")
            await save_webhook(s, admin, await agency_id(w.db, "luzhou-counselling"), url, SECRET, is_active=True)
        opened = await w.env.get_current_time()
        case_no = await crisis(w)

        async def first_failed() -> bool:
            return any(r.attempts >= 1 for r in await deliveries(w, case_no))

        await wait_for(first_failed, what="the first refused attempt")

        # 58 minutes of refusals: tried again and again, still not stalled.
        await w.env.sleep(opened + timedelta(minutes=58) - await w.env.get_current_time())
        [first, *_] = await deliveries(w, case_no)
        assert (first.status, first.last_error, first.marked_at) == ("pending", "HTTP 500", None)
        assert first.attempts >= 5 and gateway.refused() >= 5 and gateway.accepted() == []
        assert UNDELIVERED not in await reasons(w, case_no)

        # Past the hour: on the list, as undelivered (level 1 at the hour is below the county's level 2).
        await w.env.sleep(timedelta(minutes=3))

        async def marked() -> list[str]:
            got = await reasons(w, case_no)
            return got if UNDELIVERED in got else []

        listed = await wait_for(marked, what="the undelivered mark")
        assert not any(r.startswith("逾期（2") for r in listed), listed
        [whose] = [r for r in listed if "消息网关自" in r]
        assert re.fullmatch(r"潞州区心理辅导中心的消息网关自\d{4}-\d{2}-\d{2} \d{2}:\d{2}起未送达", whose), whose
        assert (await case_of(w, case_no)).automation_error == UNDELIVERED_MARK
        assert (await deliveries(w, case_no))[0].marked_at is not None
        # Another activity of the case retrying, then succeeding, neither replaces nor clears the mark.
        await mark_automation(w.db.sf, case_no, "write_events", "write_events: OperationalError (第3次重试)")
        await mark_automation(w.db.sf, case_no, "write_events", None)
        assert (await case_of(w, case_no)).automation_error == UNDELIVERED_MARK

        # The gateway is back: within the longest backoff (5 minutes) every message arrives, once.
        gateway.down = False
        await w.env.sleep(timedelta(minutes=6))

        async def all_delivered() -> list[OutboundDelivery]:
            rows = await deliveries(w, case_no)
            return rows if rows and all(r.status == "delivered" for r in rows) else []

        rows = await wait_for(all_delivered, what="every message delivered")
        assert len(rows) >= 2  # the crisis opened, and escalated at the hour
        sent = sorted(h[DELIVERY_HEADER] for h, _, _ in gateway.accepted())
        assert sent == sorted(str(r.id) for r in rows)
        assert UNDELIVERED not in await reasons(w, case_no)
        assert (await case_of(w, case_no)).automation_error is None
        delivery = w.client.get_workflow_handle(outbound_workflow_id(case_no, 1))
        assert await delivery.result() == 1
        await save_delivery_history(delivery, "outbound-undelivered-marked")


async def test_a_county_that_allows_two_hours_is_marked_after_two(fresh_wf: Wf) -> None:
    """The hour is a policy (outbound_undelivered_after, calendar hours or days) a county may change: read
    when the delivery is handed over."""
    w = fresh_wf
    admin = await who(w.db, "admin")
    async with w.db.sf() as s:
        two_hours = PolicyIn(key="outbound_undelivered_after", region_code="140403", value="2h")
        await set_policy(session=s, principal=admin, data=two_hours)
    with serve_gateway() as (gateway, url):
        gateway.down = True
        async with w.db.sf() as s:
            await save_webhook(s, admin, await agency_id(w.db, "luzhou-counselling"), url, SECRET, is_active=True)
        opened = await w.env.get_current_time()
        case_no = await crisis(w)
        await w.env.sleep(opened + timedelta(minutes=90) - await w.env.get_current_time())
        [first, *_] = await deliveries(w, case_no)
        assert first.status == "pending" and first.attempts >= 5 and first.marked_at is None
        assert (await case_of(w, case_no)).automation_error is None
        await w.env.sleep(opened + timedelta(minutes=121) - await w.env.get_current_time())

        async def marked() -> bool:
            return (await deliveries(w, case_no))[0].marked_at is not None

        await wait_for(marked, what="the mark after two hours")


async def save_delivery_history(handle: WorkflowHandle, stem: str) -> None:
    """With REFERRALS_SAVE_HISTORIES=1, the delivery workflow's history for tests/replay."""
    if SAVE_HISTORIES:
        text = json.dumps((await handle.fetch_history()).to_json_dict(), separators=(",", ":"))
        (HISTORIES / f"{stem}.json").write_text(text + "\n", encoding="utf-8")
