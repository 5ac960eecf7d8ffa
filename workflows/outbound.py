"""One event's outbound delivery as a workflow of its own, so that it outlives the case's run that recorded
the event (a run that continues as new or closes takes its pending activities with it).

The case's run hands the delivery over through a short activity (activities/outbound.py
`hand_over_outbound`) that starts this workflow with the worker's client: no parent and child, so the
case's run never waits on it and its closing or continuing as new leaves it running. Its ID comes from the
case number and the event's seq only, so a retried hand-over starts nothing twice.

It sends until the gateway takes every message (the activity retried with backoff for up to two days; the
delivery log makes each message go out once). A delivery still failing after `undelivered_after` on
Temporal's clock marks the case on the stalled list; delivering clears the mark."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.messages import DeliveryOrder, OutboundRequest
    from workflows import activity_names as names
    from workflows.retry import ACTIVITY_TIMEOUT, OUTBOUND_RETRY, OUTBOUND_WITHIN, WRITE_RETRY

DELIVERY_WORKFLOW = "outbound_delivery"


@workflow.defn(name=DELIVERY_WORKFLOW)
class OutboundDeliveryWorkflow:
    @workflow.run
    async def run(self, order: DeliveryOrder) -> int:
        """How many messages were delivered (0: no agency of the event has a webhook)."""
        req = OutboundRequest(case_no=order.case_no, seq=order.seq)
        sending = workflow.start_activity(
            names.DELIVER_OUTBOUND,
            req,
            result_type=int,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            schedule_to_close_timeout=OUTBOUND_WITHIN,
            retry_policy=OUTBOUND_RETRY,
        )
        marked = False
        while not marked:
            try:
                await workflow.wait_condition(sending.done, timeout=timedelta(seconds=order.undelivered_after_s))
                break
            except TimeoutError:
                # Marks only what has failed (a delivery row with a failed attempt), else looks again later.
                marked = await workflow.execute_activity(
                    names.MARK_UNDELIVERED,
                    req,
                    result_type=bool,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=WRITE_RETRY,
                )
        return await sending
