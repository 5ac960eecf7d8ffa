"""Linked cases: a case opens another for the same child, of its own process (a county that takes a
hand-over goes on in a case of its own) or of another (a visit finds harm: a case of the process that deals with it),
started as an abandoned child workflow so that each lives on its own. Both show the link: the new case's
facts name the case it came from; the event that opened it names the new case."""

from __future__ import annotations

from typing import Any

from temporalio import workflow
from temporalio.workflow import ParentClosePolicy

with workflow.unsafe.imports_passed_through():
    from domain.ids import workflow_id
    from domain.messages import ActionRequest, AgencyRef, CaseInput, CaseStart, FollowOnRequest
    from domain.process import Process
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
        return await self._open_linked(
            req,
            self.process,
            county=county,
            start_step=start_step,
            facts={**facts, "follows": self._st.case_no},
            village_committee=village_committee,
            key=None,
        )

    async def open_linked(
        self,
        req: ActionRequest,
        process: Process,
        *,
        start_step: str,
        facts: dict[str, Any],
        village_committee: AgencyRef | None = None,
    ) -> str:
        """Open a case of another process for the same child in this case's county, started by the
        request's agency (it must be one that may start it there). Returns the new case number, which the
        caller names in its event's payload as `linked_case`."""
        return await self._open_linked(
            req,
            process,
            county=self._st.county,
            start_step=start_step,
            facts={**facts, "linked_from": self._st.case_no},
            village_committee=village_committee,
            # One linked case per event: the seq the request's event is about to take.
            key=f"linked:{self._st.case_no}:{self._st.seq + 1}",
        )

    async def _open_linked(
        self,
        req: ActionRequest,
        process: Process,
        *,
        county: str,
        start_step: str,
        facts: dict[str, Any],
        village_committee: AgencyRef | None,
        key: str | None,
    ) -> str:
        st = self._st
        case_no = await workflow.execute_activity(
            names.OPEN_FOLLOW_ON,
            FollowOnRequest(
                origin_case_no=st.case_no,
                process=process.name,
                agency_id=req.actor.agency.id,
                county=county,
                child_id=st.child.id,
                key=key,
            ),
            result_type=str,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=WRITE_RETRY,
        )
        start = CaseStart(
            case_no=case_no,
            process=process.name,
            start_step=start_step,
            child=st.child.model_copy(update={"residence_region": county}),
            county=county,
            starter=req.actor,
            facts=facts,
            village_committee=village_committee,
            served_city=st.served_city,
        )
        await workflow.start_child_workflow(
            process.name,
            CaseInput(start=start, history_limit=self._history_limit),  # the same limit as this case's
            id=workflow_id(case_no),
            parent_close_policy=ParentClosePolicy.ABANDON,
        )
        return case_no
