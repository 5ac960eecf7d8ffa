"""One event's outbound delivery as a workflow of its own: started by the case (a child that the case's
closing or continuing as new abandons, not cancels), so that a gateway down for hours is retried to the
end although the run that started it is gone. Its ID comes from the case number and the event's seq, so a
notification's delivery is started once."""

from __future__ import annotations

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.messages import OutboundRequest
    from workflows import activity_names as names
    from workflows.retry import ACTIVITY_TIMEOUT, OUTBOUND_RETRY, OUTBOUND_WITHIN


@workflow.defn(name="outbound_delivery")
class OutboundDeliveryWorkflow:
    @workflow.run
    async def run(self, req: OutboundRequest) -> int:
        # The activity sends only what the delivery log has not marked delivered: a retry sends nothing twice.
        return await workflow.execute_activity(
            names.DELIVER_OUTBOUND,
            req,
            result_type=int,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            schedule_to_close_timeout=OUTBOUND_WITHIN,
            retry_policy=OUTBOUND_RETRY,
        )
