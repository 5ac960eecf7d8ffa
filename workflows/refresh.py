"""The six-monthly registry refresh of one county and half-year (domain/refresh.py): opened by the county's
Schedule, due at the end of the half-year on the `registry.refresh` policy, escalated on the usual ladder
until the `refresh_recorded` Update says the county's import was applied. A few events per half-year."""

from __future__ import annotations

from datetime import timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.deadlines import local_date, start_of_local_day
    from domain.messages import DeadlineAnswer, DeadlineRequest
    from domain.refresh import (
        RECORD_UPDATE,
        REFRESH_POLICY,
        WORKFLOW_TYPE,
        RefreshDone,
        RefreshInput,
        RefreshLevel,
        RefreshOpening,
        RefreshRecorded,
        RefreshState,
        half_year,
        period_start,
    )
    from workflows import activity_names as names
    from workflows.retry import ACTIVITY_TIMEOUT, WRITE_RETRY

LEVELS = 3


@workflow.defn(name=WORKFLOW_TYPE)
class RegistryRefreshWorkflow:
    @workflow.init
    def __init__(self, inp: RefreshInput) -> None:
        period = inp.period or half_year(local_date(workflow.now()))[0]
        self.state = RefreshState(county=inp.county, period=period)

    @workflow.run
    async def run(self, inp: RefreshInput) -> RefreshState:
        st = self.state
        first_day = period_start(st.period)
        answer = await workflow.execute_local_activity(
            names.COMPUTE_DEADLINES,
            DeadlineRequest(
                base=start_of_local_day(first_day), at=workflow.now(), county=st.county, policy_key=REFRESH_POLICY
            ),
            result_type=DeadlineAnswer,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=WRITE_RETRY,
        )
        assert answer.deadlines is not None
        st.deadlines = answer.deadlines
        await self._write(
            names.REFRESH_OPENED,
            RefreshOpening(
                county=st.county,
                period=st.period,
                workflow_id=workflow.info().workflow_id,
                opened_at=workflow.now(),
                deadlines=st.deadlines,
            ),
        )
        while st.done is None and st.level < LEVELS:
            due = st.deadlines.escalation_time(st.level)
            assert due is not None
            try:
                await workflow.wait_condition(
                    lambda: st.done is not None, timeout=max(due - workflow.now(), timedelta(0))
                )
            except TimeoutError:
                st.level += 1
                await self._write(
                    names.REFRESH_ESCALATED,
                    RefreshLevel(county=st.county, period=st.period, level=st.level, at=workflow.now()),
                )
        await workflow.wait_condition(lambda: st.done is not None)
        assert st.done is not None
        await self._write(
            names.REFRESH_DONE, RefreshRecorded(county=st.county, period=st.period, at=workflow.now(), done=st.done)
        )
        return st

    async def _write(self, name: str, arg: object) -> None:
        await workflow.execute_activity(
            name, arg, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=WRITE_RETRY, result_type=bool
        )

    @workflow.update(name=RECORD_UPDATE)
    async def refresh_recorded(self, done: RefreshDone) -> RefreshState:
        """The county's import was applied (or a person records the refresh). A second record answers the
        first: the refresh is done once."""
        if self.state.done is None:
            self.state.done = done
        return self.state

    @workflow.query(name="view")
    def view(self) -> RefreshState:
        return self.state
