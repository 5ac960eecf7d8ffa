"""The outbound channel: the notifications of an hour-level step also go to each receiving agency's
webhook (the city's message gateway: SMS, 政务微信), signed with the agency's secret. One row of the delivery
log per notification: a retried activity sends again only what has not been delivered, so a receiver gets
each notification once. What is sent names no one: the case number, the step, the time left and a link.

A case's run hands each event's delivery to a workflow of its own (workflows/outbound.py) through
`hand_over_outbound`; that workflow marks the case on the stalled list (`mark_undelivered`) when a delivery
has failed and is still undelivered after the policy `outbound_undelivered_after`, and delivering clears
the mark."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
from datetime import UTC, datetime
from typing import Any

import httpx
from sqlalchemy import exists, func, select, update
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from temporalio import activity
from temporalio.client import Client
from temporalio.common import WorkflowIDConflictPolicy, WorkflowIDReusePolicy
from temporalio.exceptions import ApplicationError, WorkflowAlreadyStartedError

from db.models import AgencyWebhook, Case, CaseStep, Notification, OutboundDelivery
from db.policy import policy_in_force
from db.session import transaction
from domain.ids import outbound_workflow_id
from domain.messages import DeliveryOrder, OutboundRequest
from domain.policy import Allowance, Unit
from domain.processes import get_process, policy_default
from worker.metrics import OUTBOUND_DELIVERIES
from workflows.activity_names import DELIVER_OUTBOUND, HAND_OVER_OUTBOUND, MARK_UNDELIVERED
from workflows.outbound import DELIVERY_WORKFLOW

SIGNATURE_HEADER = "X-Referrals-Signature"
DELIVERY_HEADER = "X-Referrals-Delivery"
TIMEOUT = httpx.Timeout(10.0)
CHANNEL = "webhook"  # the label of referrals_outbound_deliveries_total: the only channel there is
UNDELIVERED_AFTER = "outbound_undelivered_after"
# The stalled-list mark a delivery workflow sets (the list reads any mark starting with DELIVER_OUTBOUND as
# an undelivered message). Runs recorded before the hand-over are marked by the activity interceptor instead,
# after three failed attempts, with the error's type; delivering clears only this one.
UNDELIVERED_MARK = f"{DELIVER_OUTBOUND}: undelivered past {UNDELIVERED_AFTER}"


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class OutboundActivities:
    def __init__(self, session_factory: async_sessionmaker[AsyncSession], public_url: str | None = None) -> None:
        self.sf = session_factory
        # Where the message's link points (the web app as the recipients reach it).
        self.public_url = (public_url if public_url is not None else os.environ.get("REFERRALS_PUBLIC_URL", "")).rstrip(
            "/"
        )

    def all(self) -> list:
        return [self.deliver_outbound, self.hand_over_outbound, self.mark_undelivered]

    @activity.defn(name=HAND_OVER_OUTBOUND)
    async def hand_over_outbound(self, req: OutboundRequest) -> bool:
        """Starts the event's delivery workflow on this worker's task queue, unless it exists already;
        returns once it does. Idempotent: a retry, or a run recording the event again, starts nothing."""
        order = DeliveryOrder(case_no=req.case_no, seq=req.seq, undelivered_after_s=await self._after(req.case_no))
        await start_delivery(activity.client(), activity.info().task_queue, order)
        return True

    async def _after(self, case_no: str) -> int:
        """The policy in force now in the case's county, in seconds (calendar days or hours only)."""
        async with self.sf() as s:
            value = (
                await s.execute(
                    select(policy_in_force(UNDELIVERED_AFTER, Case.county, datetime.now(UTC))).where(
                        Case.case_no == case_no
                    )
                )
            ).scalar_one_or_none()
        return seconds(Allowance.parse(value) if value else policy_default(UNDELIVERED_AFTER).value)

    @activity.defn(name=MARK_UNDELIVERED)
    async def mark_undelivered(self, req: OutboundRequest) -> bool:
        """Marks the event's deliveries that have failed and are still undelivered, and their case (shown on
        the stalled list as an undelivered message, unless another failure marks it already). False: none
        has failed yet (nothing marked)."""
        async with transaction(self.sf) as s:
            case_id = (await s.execute(select(Case.id).where(Case.case_no == req.case_no))).scalar_one_or_none()
            if case_id is None:
                return False
            of_event = select(Notification.id).where(Notification.case_id == case_id, Notification.seq == req.seq)
            marked = (
                await s.execute(
                    update(OutboundDelivery)
                    .where(
                        OutboundDelivery.notification_id.in_(of_event),
                        OutboundDelivery.status == "pending",
                        OutboundDelivery.attempts >= 1,
                        OutboundDelivery.last_error.is_not(None),
                    )
                    .values(marked_at=func.now())
                    .returning(OutboundDelivery.id)
                )
            ).all()
            if marked:
                await s.execute(
                    update(Case)
                    .where(
                        Case.id == case_id,
                        (Case.automation_error.is_(None)) | Case.automation_error.startswith(DELIVER_OUTBOUND),
                    )
                    .values(automation_error=UNDELIVERED_MARK)
                )
            return bool(marked)

    @activity.defn(name=DELIVER_OUTBOUND)
    async def deliver_outbound(self, req: OutboundRequest) -> int:
        """Sends what is not delivered yet; returns how many were delivered now. Fails (and is retried) while
        any is undelivered, after trying every one."""
        pending = await self._pending(req)
        failed = 0
        delivered = 0
        async with httpx.AsyncClient(timeout=TIMEOUT) as http:
            for row, hook in pending:
                error = await self._send(http, row, hook)
                await self._settle(row.id, error)
                OUTBOUND_DELIVERIES.labels(CHANNEL, "failed" if error else "delivered").inc()
                failed += error is not None
                delivered += error is None
        if failed:
            raise ApplicationError(f"{failed} outbound message(s) undelivered", type="OutboundUndelivered")
        await self._unmark(req.case_no)  # also when an earlier attempt delivered everything and then failed
        return delivered

    async def _pending(self, req: OutboundRequest) -> list[tuple[OutboundDelivery, AgencyWebhook]]:
        """The event's notifications to agencies with an active webhook, each with its delivery row (made
        here the first time), those not yet delivered."""
        async with transaction(self.sf) as s:
            case = (await s.execute(select(Case).where(Case.case_no == req.case_no))).scalar_one_or_none()
            if case is None:
                return []
            rows = (
                await s.execute(
                    select(Notification, AgencyWebhook)
                    .join(AgencyWebhook, AgencyWebhook.agency_id == Notification.agency_id)
                    .where(Notification.case_id == case.id, Notification.seq == req.seq, AgencyWebhook.is_active)
                    .order_by(Notification.id)
                )
            ).all()
            for n, _ in rows:
                body = await self._body(s, case, n)
                await s.execute(
                    insert(OutboundDelivery)
                    .values(notification_id=n.id, case_id=case.id, agency_id=n.agency_id, status="pending", body=body)
                    .on_conflict_do_nothing(index_elements=["notification_id"])
                )
            hooks = {n.id: hook for n, hook in rows}
            found = (
                await s.execute(
                    select(OutboundDelivery).where(
                        OutboundDelivery.notification_id.in_(hooks), OutboundDelivery.status == "pending"
                    )
                )
            ).scalars()
            out = [(d, hooks[d.notification_id]) for d in found]
            s.expunge_all()
            return out

    async def _body(self, s: AsyncSession, case: Case, n: Notification) -> dict[str, Any]:
        step = None
        if n.track:
            step = (
                await s.execute(select(CaseStep).where(CaseStep.case_id == case.id, CaseStep.track == n.track))
            ).scalar_one_or_none()
        process = get_process(case.process)
        now = datetime.now(UTC)
        due = step.due_at if step else None
        return {
            "case_no": case.case_no,
            "kind": n.kind,
            "step": step.step if step else None,
            "step_label": process.step_label(step.step) if step else None,
            "due_at": due.isoformat() if due else None,
            "minutes_left": int((due - now).total_seconds() // 60) if due else None,
            "link": f"{self.public_url}/cases/{case.case_no}",
        }

    @staticmethod
    async def _send(http: httpx.AsyncClient, row: OutboundDelivery, hook: AgencyWebhook) -> str | None:
        """None when the gateway took it (2xx); else what went wrong, without the message."""
        body = json.dumps(row.body, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
        headers = {
            "Content-Type": "application/json; charset=utf-8",
            SIGNATURE_HEADER: signature(hook.secret, body),
            DELIVERY_HEADER: str(row.id),  # the same on every attempt: a gateway may drop a repeat
        }
        try:
            r = await http.post(hook.url, content=body, headers=headers)
        except httpx.HTTPError as e:
            return type(e).__name__
        return None if 200 <= r.status_code < 300 else f"HTTP {r.status_code}"

    async def _unmark(self, case_no: str) -> None:
        """Clears the case's undelivered mark once none of its marked deliveries is still undelivered."""
        still = exists().where(
            OutboundDelivery.case_id == Case.id,
            OutboundDelivery.status == "pending",
            OutboundDelivery.marked_at.is_not(None),
        )
        async with transaction(self.sf) as s:
            await s.execute(
                update(Case)
                .where(Case.case_no == case_no, Case.automation_error == UNDELIVERED_MARK, ~still)
                .values(automation_error=None)
            )

    async def _settle(self, delivery_id: int, error: str | None) -> None:
        values: dict[str, Any] = {"attempts": OutboundDelivery.attempts + 1, "last_error": error}
        if error is None:
            values |= {"status": "delivered", "delivered_at": datetime.now(UTC)}
        async with transaction(self.sf) as s:
            await s.execute(update(OutboundDelivery).where(OutboundDelivery.id == delivery_id).values(**values))


def seconds(a: Allowance) -> int:
    return a.amount * (3600 if a.unit == Unit.hours else 86400)


async def start_delivery(client: Client, task_queue: str, order: DeliveryOrder) -> None:
    """Starts the event's delivery workflow unless one with its ID is running (then it is that one) or has
    run (refused, as the ID is never reused: it has delivered, or given up after two days)."""
    try:
        await client.start_workflow(
            DELIVERY_WORKFLOW,
            order,
            id=outbound_workflow_id(order.case_no, order.seq),
            task_queue=task_queue,
            id_reuse_policy=WorkflowIDReusePolicy.REJECT_DUPLICATE,
            id_conflict_policy=WorkflowIDConflictPolicy.USE_EXISTING,
        )
    except WorkflowAlreadyStartedError:
        pass
