"""The shared step machinery every case workflow is built on.

A case is a set of open steps, at most one per track (the main track, and side tracks such as the
child-safety branch). Each step has a holder agency, a deadline and an escalation level. People act
through the `act` Update: its validator refuses what the definition does not allow, before anything
reaches history; accepted requests are queued and handled one at a time by the run loop, which also
fires escalation timers (oversight.py). A process subclass supplies only its orchestration:
`on_start`, `on_action`, `on_case_action` (and optional checks), using `move`, `record`,
`start_track`, `end_track` and `close` (steps.py). Every change is one timeline event written by one
idempotent activity.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from datetime import timedelta
from types import MappingProxyType
from typing import Any, ClassVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import permissions
    from domain.deadlines import birthday, local_date, start_of_local_day
    from domain.errors import DomainError
    from domain.messages import (
        ActionRequest,
        ActionResult,
        CaseInput,
        CaseResult,
        CaseStart,
        CaseState,
        ChildRef,
        StepState,
    )
    from domain.process import Process, clean_payload
    from domain.timing import check_happened, check_not_before, happened_fields
    from workflows.handover import Handovers
    from workflows.linked import LinkedCases
    from workflows.oversight import Oversight
    from workflows.patches import given_patches
    from workflows.steps import Change, NoFacts


# A run continues as new once its history is longer than this (below the server's warning at 10,240
# events), or earlier when the server suggests it (history size). A case's input may set its own limit.
DEFAULT_HISTORY_LIMIT = 10_000
# A run starts with a few events of its own: a smaller limit would continue as new before doing anything.
MIN_HISTORY_LIMIT = 20
# Runs that grew past the limit before it existed keep their old path on replay.
HISTORY_LIMIT_PATCH = "continue-as-new-at-history-limit"
# Runs recorded before dates of what happened were checked against the step's opening replay without it.
HAPPENED_DATES_PATCH = "happened-dates-within-the-step"
# How many answers a run keeps (and hands to the next run) for requests retried with the same id.
KEPT_ANSWERS = 20


def rejected(e: DomainError) -> ApplicationError:
    return ApplicationError(e.message, e.field, type=e.code, non_retryable=True)


class CaseWorkflow(Oversight, Handovers, LinkedCases):
    """Base class; a process subclass is decorated with @workflow.defn and defines `run(self, inp)`, which
    must take the same parameters as `__init__` (@workflow.init), and names its typed facts model `Kept`."""

    process: ClassVar[Process]
    Kept: ClassVar[type[BaseModel]] = NoFacts
    # The module's own patches a baseline takes as given, by the baseline's marker (workflows/patches.py).
    baseline_patches: ClassVar[Mapping[str, frozenset[str]]] = MappingProxyType({})

    @workflow.init
    def __init__(self, inp: CaseInput) -> None:
        # First, before any patch is asked: whether this run takes the known patches as given.
        self._given = given_patches(self.baseline_patches)
        # A resumed case's state is set here rather than in `_run`: an Update that reaches the new run in
        # its first workflow task is validated before the run method starts, and would be refused as busy.
        self.state: CaseState | None = inp.resume
        self.kept = self.Kept.model_validate(inp.resume.vars) if inp.resume else self.Kept()
        self._queue: deque[ActionRequest] = deque()
        self._results: dict[str, ActionResult] = {}
        self._answered: dict[str, ActionResult] = dict(inp.answered)  # the last KEPT_ANSWERS, oldest first
        self._recompute_requested = False
        self._child_update: ChildRef | None = None
        # The last seq whose event the activity has written: all of a resumed case's (for `opened`).
        self._written = inp.resume.seq if inp.resume else 0
        self._history_limit = inp.history_limit  # None: the default, whatever it is in the next run
        self._outbound = []

    # ------------------------------------------------------------------ the run loop

    async def _run(self, inp: CaseInput) -> CaseResult:
        if inp.resume is None:
            assert inp.start is not None
            await self._open(inp.start)
        st = self._st
        while not st.closed:
            if self._should_continue_as_new():
                # Let the handlers finish first (an `act` that has its answer but has not returned it yet).
                # A request or a signal that comes meanwhile, or a deadline, is handled below before the run
                # ends: a request's handler waits for this loop, so waiting for all handlers alone could
                # never return, and deadlines would not fire while it waited.
                try:
                    await workflow.wait_condition(
                        lambda: workflow.all_handlers_finished() or bool(self._queue) or self._signalled(),
                        timeout=self._next_timer_in(),
                    )
                except TimeoutError:
                    pass
                else:
                    if not self._queue and not self._signalled():
                        workflow.continue_as_new(
                            CaseInput(
                                resume=self._state_out(), history_limit=self._history_limit, answered=self._answered
                            )
                        )
            timeout = self._next_timer_in()
            if timeout is not None and timeout <= timedelta(0) and not self._queue:
                await self._fire_timers()
                continue
            try:
                await workflow.wait_condition(lambda: bool(self._queue) or self._signalled(), timeout=timeout)
            except TimeoutError:
                await self._fire_timers()
                continue
            if self._recompute_requested:
                self._recompute_requested = False
                await self._recompute_provisional()
            if self._child_update is not None:
                child, self._child_update = self._child_update, None
                await self._child_changed(child)
            if self._queue:
                await self._handle(self._queue.popleft())
        # Answer anything still queued, then let handlers finish before completing.
        while self._queue:
            req = self._queue.popleft()
            self._results[req.request_id] = self._error(DomainError("case_closed", "案件已结案"))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CaseResult(case_no=st.case_no, outcome=st.outcome, seq=st.seq)

    def _should_continue_as_new(self) -> bool:
        info = workflow.info()
        if info.is_continue_as_new_suggested():
            return True
        limit = max(self._history_limit or self.process.history_limit or DEFAULT_HISTORY_LIMIT, MIN_HISTORY_LIMIT)
        # The patch is asked only past the limit, so histories that never reached it replay unchanged.
        return info.get_current_history_length() > limit and self.patched(HISTORY_LIMIT_PATCH)

    async def _open(self, start: CaseStart) -> None:
        process = self.process
        starter = start.starter.agency
        self.state = CaseState(
            case_no=start.case_no,
            process=process.name,
            county=start.county,
            child=start.child,
            starter=starter,
            starter_user_id=start.starter.user_id,
            vars={},
            served_city=start.served_city,
        )
        self.state.close_at = start_of_local_day(birthday(start.child.birth_date, self.process.closes_at_age))
        await self.on_start(start)

    # ------------------------------------------------------------------ the Update, Query, Signal

    @workflow.query(name="view")
    def view(self) -> CaseState | None:
        """The live state: open steps with holders, deadlines and levels."""
        return self._state_out() if self.state else None

    def _state_out(self) -> CaseState:
        """The state as it leaves the workflow (a Query, continue-as-new), its typed facts serialised."""
        return self._st.model_copy(update={"vars": self.kept.model_dump(mode="json")})

    @workflow.update(name="act")
    async def act(self, req: ActionRequest) -> ActionResult:
        """A person's action, or a supervisor's urge/extend/reassign. Queued for the run loop so that
        requests are handled one at a time, in order. A request id already answered (in this run or one
        before a continue-as-new) gets its first answer again."""
        result = self._answered.get(req.request_id)
        if result is None:
            self._queue.append(req)
            await workflow.wait_condition(lambda: req.request_id in self._results)
            result = self._results.pop(req.request_id)
        if result.error_code:
            raise ApplicationError(result.error_message or "", type=result.error_code, non_retryable=True)
        return result

    @act.validator
    def validate_act(self, req: ActionRequest) -> None:
        if self.state is None:
            raise ApplicationError("案件正在创建，请稍后再试", type="busy", non_retryable=True)
        if req.request_id in self._answered:
            return  # a retry: the handler answers it as the first time, whatever the case is now
        try:
            self._check(req)
        except DomainError as e:
            raise rejected(e) from None
        if req.step is not None and any(q.step == req.step for q in self._queue):
            raise ApplicationError("该环节有另一项操作正在处理，请稍后刷新", type="busy", non_retryable=True)

    @workflow.update(name="opened")
    async def opened(self) -> ActionResult:
        """Returns once the case's first event is written, so a caller that just started the case can
        show its first step."""
        await workflow.wait_condition(lambda: self._written > 0)
        return self._result()

    @workflow.signal(name="recompute_deadlines")
    def recompute_deadlines(self) -> None:
        """An admin loaded a year's holiday schedule: provisional deadlines can become exact."""
        self._recompute_requested = True

    @workflow.signal(name="child_changed")
    def child_changed(self, child: ChildRef) -> None:
        """The child's record changed under the case: a provisional record was merged into a registered
        child, or its ID number was added (the birth date it gives decides the age limit)."""
        self._child_update = child

    def _signalled(self) -> bool:
        return self._recompute_requested or self._child_update is not None

    async def _child_changed(self, child: ChildRef) -> None:
        st = self._st
        known = (st.child.id, st.child.birth_date, st.child.origin_region)
        if st.closed or (child.id, child.birth_date, child.origin_region) == known:
            return
        # The case stays in its county: the record's residence moves with a hand-over, not here.
        st.child = child.model_copy(update={"residence_region": st.child.residence_region})
        st.close_at = start_of_local_day(birthday(child.birth_date, self.process.closes_at_age))
        await self.record(
            None, Change(), kind="child_updated", note="儿童档案已核实或已合并，按核实后的出生日期计算年龄届满"
        )

    # ------------------------------------------------------------------ checks (validator and loop)

    def _today(self):
        return local_date(workflow.now())

    def _check(self, req: ActionRequest, *, dates: bool | None = True) -> dict[str, Any]:
        """Refuses what the case cannot take now; returns the cleaned form. `dates`: whether the dates of
        what happened are checked against the step; None: as the run was recorded (the patch)."""
        st = self._st
        if st.closed:
            raise DomainError("case_closed", "案件已结案，不能再办理")
        if req.supervisor:
            self._check_supervisor(req)
            return {}
        if req.step is None:
            action = permissions.check_case_action(self.process, st, req.action, req.actor)
            payload = clean_payload(action.fields, req.payload, today=self._today())
            self.check_case_action(req, payload)
            return payload
        step = self._open_step(req.step)
        if step is None:
            label = self.process.step_label(req.step)
            raise DomainError("step_not_open", f"案件当前不在“{label}”环节，可能已被他人处理，请刷新页面")
        if req.step_seq is not None and req.step_seq != step.seq:
            raise DomainError("stale", "该环节已有新的办理记录，请刷新页面后再操作")
        action = permissions.check_step_action(self.process, st, step, req.action, req.actor)
        check_not_before(self.process.step(step.step), action, step, workflow.now())
        payload = clean_payload(action.fields, req.payload, today=self._today())
        if happened_fields(action.fields) and (dates if dates is not None else self.patched(HAPPENED_DATES_PATCH)):
            check_happened(action.fields, payload, step, self._today())
        self.check_handover_close(step, req.action)
        self.check_action(step, req, payload)
        return payload

    def _open_step(self, name: str | None) -> StepState | None:
        return next((s for s in self._st.steps.values() if s.step == name), None)

    # ------------------------------------------------------------------ hooks for a process

    async def on_start(self, start: CaseStart) -> None:
        raise NotImplementedError

    async def on_action(self, step: StepState, req: ActionRequest) -> None:
        raise NotImplementedError

    async def on_case_action(self, req: ActionRequest) -> None:
        raise NotImplementedError

    def check_action(self, step: StepState, req: ActionRequest, payload: dict[str, Any]) -> None:
        """Process-specific refusals beyond the definition (raise DomainError)."""

    def check_case_action(self, req: ActionRequest, payload: dict[str, Any]) -> None:
        """Process-specific refusals for case-level actions (raise DomainError)."""

    # ------------------------------------------------------------------ handling a request

    async def _handle(self, req: ActionRequest) -> None:
        try:
            # The case may have moved since the validator ran. (A validator cannot ask for a patch: the
            # handler does, and is the only one that runs on replay.)
            req.payload = self._check(req, dates=None)
            if req.supervisor:
                await self._check_supervisor_policy(req)
        except DomainError as e:
            self._answer(req, self._error(e))
            return
        if req.supervisor:
            await self._supervise(req)
        elif req.step is None:
            await self.on_case_action(req)
        else:
            step = self._open_step(req.step)
            assert step is not None
            await self.on_action(step, req)
        self._answer(req, self._result())

    def _answer(self, req: ActionRequest, result: ActionResult) -> None:
        self._results[req.request_id] = result
        self._answered[req.request_id] = result
        while len(self._answered) > KEPT_ANSWERS:
            del self._answered[next(iter(self._answered))]

    def _result(self) -> ActionResult:
        st = self._st
        return ActionResult(seq=st.seq, steps=list(st.steps.values()), closed=st.closed, outcome=st.outcome)

    def _error(self, e: DomainError) -> ActionResult:
        return ActionResult(
            seq=self._st.seq, steps=[], closed=self._st.closed, error_code=e.code, error_message=e.message
        )
