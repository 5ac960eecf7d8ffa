"""After an admin loads a year's official holiday schedule, every open case with a provisional
deadline is told to recompute it. A workflow, so that the fan-out survives a crash half-way."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.ids import workflow_id
    from workflows.retry import WRITE_RETRY

PROVISIONAL_CASES = "provisional_cases"


@workflow.defn(name="calendar_update")
class CalendarUpdateWorkflow:
    @workflow.run
    async def run(self, year: int) -> int:
        case_nos: list[str] = await workflow.execute_activity(
            PROVISIONAL_CASES,
            year,
            start_to_close_timeout=timedelta(seconds=60),
            retry_policy=WRITE_RETRY,
            result_type=list[str],
        )
        for case_no in case_nos:
            handle = workflow.get_external_workflow_handle(workflow_id(case_no))
            try:
                await handle.signal("recompute_deadlines")
            except Exception:  # the case closed meanwhile: nothing to recompute
                workflow.logger.info("a case could not be signalled; it has closed")
        return len(case_nos)
