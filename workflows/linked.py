"""Linked cases: a case opens another for the same child (a county that takes a hand-over goes on in a case
of its own), started as an abandoned child workflow so that each lives on its own."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain.ids import workflow_id
    from domain.messages import ActionRequest, AgencyRef, CaseInput, CaseStart, FollowOnRequest
    from workflows import activity_names as names
    from workflows.retry import ACTIVITY_TIMEOUT, WRITE_RETRY
    from workflows.steps import StepMachinery


class LinkedCases(StepMachinery):
    async def start_follow_on(
        self,
        req: ActionRequest,
        *,
        county: str,
        start_step: str,
        facts: dict[str, Any],
        village_committee: AgencyRef | None = None,
    ) -> str:
        """Open a new case of the same process for the same child in `county`, started by the request's
        agency and linked to this one (a pupil handed to another county is taken on there). Returns the
        new case number."""
        st = self._st
        case_no = await workflow.execute_activity(
            names.OPEN_FOLLOW_ON,
            FollowOnRequest(
                origin_case_no=st.case_no,
                process=self.process.name,
                agency_id=req.actor.agency.id,
                county=county,
                child_id=st.child.id,
            ),
            result_type=str,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=WRITE_RETRY,
        )
        start = CaseStart(
            case_no=case_no,
            process=self.process.name,
            start_step=start_step,
            child=st.child.model_copy(update={"residence_region": county}),
            county=county,
            starter=req.actor,
            facts={**facts, "follows": st.case_no},
            village_committee=village_committee,
        )
        await workflow.start_child_workflow(
            self.process.name,
            CaseInput(start=start, history_limit=self._history_limit),  # the same limit as this case's
            id=workflow_id(case_no),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        return case_no
