"""The shared step machinery every case workflow is built on.

A case is a set of open steps, at most one per track (the main track, and side tracks such as the
child-safety branch). Each step has a holder agency, a deadline and an escalation level. People act
through the `act` Update: its validator refuses what the definition does not allow, before anything
reaches history; accepted requests are queued and handled one at a time by the run loop, which also
fires escalation timers. A process subclass supplies only its orchestration: `on_start`,
`on_action`, `on_case_action` (and optional checks), using `move`, `record`, `start_track`,
`end_track` and `close` below. Every change is one timeline event written by one idempotent activity.
"""

from __future__ import annotations

from collections import deque
from datetime import datetime, timedelta
from typing import Any, ClassVar

from temporalio import workflow
from temporalio.common import RetryPolicy
from temporalio.exceptions import ApplicationError

with workflow.unsafe.imports_passed_through():
    from domain import permissions
    from domain.deadlines import StepDeadlines, adulthood, default_ladder, local_date, start_of_local_day
    from domain.enums import AgencyType, Role
    from domain.errors import DomainError
    from domain.messages import (
        ActionRequest,
        ActionResult,
        Actor,
        AgencyQuery,
        AgencyRef,
        CaseInput,
        CaseOpening,
        CaseResult,
        CaseStart,
        CaseState,
        DeadlineAnswer,
        DeadlineRequest,
        DocumentSpec,
        EventRecord,
        NotificationSpec,
        PartyGrant,
        StepState,
    )
    from domain.oversight import overseer_type
    from domain.policy import Allowance, Unit
    from domain.process import CLOSE, Process, clean_payload
    from domain.regions import CITY_CODE
    from workflows import activity_names as names

ACTIVITY_TIMEOUT = timedelta(seconds=30)
# Writes must land eventually: retry without limit, backing off to one minute between tries.
WRITE_RETRY = RetryPolicy(initial_interval=timedelta(seconds=1), maximum_interval=timedelta(minutes=1))

LEVEL_LABELS = {1: "已逾期", 2: "逾期未办，已报县级督导", 3: "严重逾期，已报市级督导"}


def rejected(e: DomainError) -> ApplicationError:
    return ApplicationError(e.message, e.field, type=e.code, non_retryable=True)


class CaseWorkflow:
    """Base class; a process subclass is decorated with @workflow.defn and defines `run`."""

    process: ClassVar[Process]

    def __init__(self) -> None:
        self.state: CaseState | None = None
        self._queue: deque[ActionRequest] = deque()
        self._results: dict[str, ActionResult] = {}
        self._recompute_requested = False
        self._written = 0  # the last seq whose event the activity has written

    # ------------------------------------------------------------------ the run loop

    async def _run(self, inp: CaseInput) -> CaseResult:
        if inp.resume is not None:
            self.state = inp.resume
        else:
            assert inp.start is not None
            await self._open(inp.start)
        st = self._st
        while not st.closed:
            if workflow.info().is_continue_as_new_suggested() and not self._queue:
                await workflow.wait_condition(workflow.all_handlers_finished)
                workflow.continue_as_new(CaseInput(resume=st))
            timeout = self._next_timer_in()
            if timeout is not None and timeout <= timedelta(0) and not self._queue:
                await self._fire_timers()
                continue
            try:
                await workflow.wait_condition(lambda: bool(self._queue) or self._recompute_requested, timeout=timeout)
            except TimeoutError:
                await self._fire_timers()
                continue
            if self._recompute_requested:
                self._recompute_requested = False
                await self._recompute_provisional()
            if self._queue:
                await self._handle(self._queue.popleft())
        # Answer anything still queued, then let handlers finish before completing.
        while self._queue:
            req = self._queue.popleft()
            self._results[req.request_id] = self._error(DomainError("case_closed", "案件已结案"))
        await workflow.wait_condition(workflow.all_handlers_finished)
        return CaseResult(case_no=st.case_no, outcome=st.outcome, seq=st.seq)

    @property
    def _st(self) -> CaseState:
        assert self.state is not None
        return self.state

    async def _open(self, start: CaseStart) -> None:
        process = self.process
        starter = start.starter.agency
        self.state = CaseState(
            case_no=start.case_no,
            process=process.name,
            county=start.county,
            child=start.child,
            starter=starter,
            vars={},
        )
        self.state.close_at = start_of_local_day(adulthood(start.child.birth_date))
        await self.on_start(start)

    # ------------------------------------------------------------------ the Update, Query, Signal

    @workflow.query(name="view")
    def view(self) -> CaseState | None:
        """The live state: open steps with holders, deadlines and levels."""
        return self.state

    @workflow.update(name="act")
    async def act(self, req: ActionRequest) -> ActionResult:
        """A person's action, or a supervisor's urge/extend/reassign. Queued for the run loop so that
        requests are handled one at a time, in order."""
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

    # ------------------------------------------------------------------ checks (validator and loop)

    def _today(self):
        return local_date(workflow.now())

    def _check(self, req: ActionRequest) -> dict[str, Any]:
        """Refuses what the case cannot take now; returns the cleaned form."""
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
        payload = clean_payload(action.fields, req.payload, today=self._today())
        self.check_action(step, req, payload)
        return payload

    def _check_supervisor(self, req: ActionRequest) -> None:
        step = self._open_step(req.step) if req.step else None
        if step is None:
            raise DomainError("step_not_open", "该环节已办结，请刷新页面")
        if req.step_seq is not None and req.step_seq != step.seq:
            raise DomainError("stale", "该环节已有新的办理记录，请刷新页面后再操作")
        permissions.check_supervisor(req.actor, step)
        scope = req.actor.agency.region_code
        if req.supervisor in ("extend", "reassign") and not req.reason.strip():
            raise DomainError("reason_required", "请填写理由", field="reason")
        if req.supervisor == "extend":
            if step.deadlines is None:
                raise DomainError("no_deadline", "该环节没有期限，无需延期")
            if req.extend_by and Allowance.parse(req.extend_by).unit == Unit.count:
                raise DomainError("policy_value_invalid", "延长期限应为工作日、天或小时", field="extend_by")
        if req.supervisor == "reassign":
            new = req.new_holder
            if new is None:
                raise DomainError("field_required", "请选择改派的单位", field="new_holder")
            if new.agency_type != step.holder.agency_type:
                raise DomainError("not_permitted", "只能改派给同类型的单位", field="new_holder")
            if new.id == step.holder.id:
                raise DomainError("not_permitted", "改派单位与当前承办单位相同", field="new_holder")
            if scope != CITY_CODE and new.region_code != scope:
                raise DomainError("not_permitted", "县级督导只能改派给本县（区）的单位", field="new_holder")

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
            req.payload = self._check(req)  # the case may have moved since the validator ran
        except DomainError as e:
            self._results[req.request_id] = self._error(e)
            return
        if req.supervisor:
            await self._supervise(req)
        elif req.step is None:
            await self.on_case_action(req)
        else:
            step = self._open_step(req.step)
            assert step is not None
            await self.on_action(step, req)
        self._results[req.request_id] = self._result()

    def _result(self) -> ActionResult:
        st = self._st
        return ActionResult(seq=st.seq, steps=list(st.steps.values()), closed=st.closed, outcome=st.outcome)

    def _error(self, e: DomainError) -> ActionResult:
        return ActionResult(
            seq=self._st.seq, steps=[], closed=self._st.closed, error_code=e.code, error_message=e.message
        )

    # ------------------------------------------------------------------ building blocks for processes

    async def resolve(
        self, agency_type: AgencyType, region_code: str | None = None, prefer_id: int | None = None
    ) -> AgencyRef:
        """The agency of a type serving a region (the case's county by default)."""
        found = await workflow.execute_activity(
            names.RESOLVE_AGENCY,
            AgencyQuery(agency_type=agency_type, region_code=region_code or self._st.county, prefer_id=prefer_id),
            result_type=AgencyRef,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=WRITE_RETRY,
        )
        return found

    async def new_step(
        self,
        track: str,
        step: str,
        holder: AgencyRef,
        *,
        policy_key: str | None = ...,  # type: ignore[assignment]
        base: datetime | None = None,
        co_holders: list[AgencyRef] | None = None,
        counters: dict[str, int] | None = None,
    ) -> StepState:
        """A step state with its deadline computed (in a local activity, so replay never recomputes)."""
        definition = self.process.step(step)
        key = definition.policy_key if policy_key is ... else policy_key
        now = workflow.now()
        base = base or now
        deadlines: StepDeadlines | None = None
        allowance: str | None = None
        if key:
            answer = await self._deadlines(
                DeadlineRequest(
                    base=base,
                    at=now,
                    county=self._st.county,
                    policy_key=key,
                    ladder=(str(definition.ladder[0]), str(definition.ladder[1])) if definition.ladder else None,
                )
            )
            deadlines, allowance = answer.deadlines, answer.allowance
        # seq: the event that records this step (the next one) opens it. A step opened already late (a
        # backdated report) starts at level 0 and the loop escalates it at once, level by level, so that
        # every level's audience is told.
        return StepState(
            track=track,
            step=step,
            seq=self._st.seq + 1,
            opened_at=now,
            base=base,
            holder=holder,
            co_holders=co_holders or [],
            policy_key=key,
            allowance=allowance,
            deadlines=deadlines,
            counters=counters or {},
        )

    async def policy(self, key: str) -> Allowance:
        """A policy value in force now for the case's county (a count, or a duration)."""
        answer = await self._deadlines(
            DeadlineRequest(base=workflow.now(), at=workflow.now(), county=self._st.county, policy_key=key)
        )
        return Allowance.parse(answer.allowance)

    async def _deadlines(self, req: DeadlineRequest) -> DeadlineAnswer:
        return await workflow.execute_local_activity(
            names.COMPUTE_DEADLINES,
            req,
            result_type=DeadlineAnswer,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=WRITE_RETRY,
        )

    async def record(
        self,
        req: ActionRequest | None,
        kind: str = "action",
        *,
        track: str | None = None,
        from_step: str | None = None,
        to_step: str | None = None,
        set_steps: list[StepState] | None = None,
        end_tracks: list[str] | None = None,
        close: str | None = None,
        notify: list[NotificationSpec] | None = None,
        parties: list[PartyGrant] | None = None,
        document: DocumentSpec | None = None,
        payload: dict[str, Any] | None = None,
        note: str | None = None,
        opening: CaseOpening | None = None,
        action: str | None = None,
        actor: Actor | None = None,
    ) -> int:
        """Append one timeline event and apply its projection changes; returns its seq."""
        st = self._st
        st.seq += 1
        now = workflow.now()
        for s in set_steps or []:
            st.steps[s.track] = s
        for t in end_tracks or []:
            st.steps.pop(t, None)
        if close:
            st.closed = True
            st.outcome = close
            st.steps.clear()
        body = dict(req.payload) if req else {}
        body.update(payload or {})
        event = EventRecord(
            case_no=st.case_no,
            seq=st.seq,
            at=now,
            kind=kind,
            actor=req.actor if req else actor,
            track=track,
            action=action or (req.action if req else None),
            from_step=from_step,
            to_step=to_step,
            note=note if note is not None else str(body.pop("note", "") or ""),
            payload=body,
            opening=opening,
            set_steps=list(set_steps or []),
            end_tracks=list(end_tracks or []) + (["*"] if close else []),
            closed_outcome=close,
            parties=parties or [],
            notifications=notify or [],
            document=document,
            main_step=st.steps["main"].step if "main" in st.steps else None,
        )
        if kind in ("opened", "action", "urged", "extended", "reassigned"):
            st.last_activity_at = now
        await workflow.execute_activity(
            names.RECORD_EVENT,
            event,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=WRITE_RETRY,
        )
        self._written = event.seq
        return event.seq

    async def move(
        self,
        req: ActionRequest,
        to: str,
        *,
        holder: AgencyRef | None = None,
        policy_key: str | None = ...,  # type: ignore[assignment]
        base: datetime | None = None,
        co_holders: list[AgencyRef] | None = None,
        counters: dict[str, int] | None = None,
        notify: list[NotificationSpec] | None = None,
        parties: list[PartyGrant] | None = None,
        document: DocumentSpec | None = None,
        payload: dict[str, Any] | None = None,
    ) -> StepState:
        """Record the request's action and open `to` on the same track (it may be the same step, with a
        new deadline). The new holder is told; it becomes a party to the case."""
        current = self._open_step(req.step) if req.step else self._st.steps.get("main")
        assert current is not None
        holder = holder or current.holder
        nxt = await self.new_step(
            current.track, to, holder, policy_key=policy_key, base=base, co_holders=co_holders, counters=counters
        )
        notes = list(notify or [])
        grants = list(parties or [])
        if holder.id != current.holder.id or to != current.step:
            notes.append(self.tell(holder, "new_step", f"新的待办：{self.process.step_label(to)}"))
        if all(g.agency.id != holder.id for g in grants):
            grants.append(PartyGrant(agency=holder, role="holder"))
        await self.record(
            req,
            track=current.track,
            from_step=current.step,
            to_step=to,
            set_steps=[nxt],
            notify=notes,
            parties=grants,
            document=document,
            payload=payload,
        )
        return nxt

    async def start_track(
        self,
        req: ActionRequest,
        track: str,
        step: str,
        holder: AgencyRef,
        *,
        notify: list[NotificationSpec] | None = None,
    ) -> StepState:
        nxt = await self.new_step(track, step, holder)
        notes = [*(notify or []), self.tell(holder, "new_step", f"新的待办：{self.process.step_label(step)}")]
        grants = [PartyGrant(agency=holder, role="holder")]
        # Fix (tests/workflow/test_guardianship_paths.py, safety branch): the agency that opens a side track
        # (the police placing a child in temporary guardianship) may not have been a party before; without
        # this it could not read the case it has just acted on.
        if req.actor.agency.id != holder.id:
            grants.append(PartyGrant(agency=req.actor.agency, role="participant"))
        await self.record(
            req,
            track=track,
            from_step=req.step,
            to_step=step,
            set_steps=[nxt],
            notify=notes,
            parties=grants,
        )
        return nxt

    async def end_track(self, req: ActionRequest, track: str, *, notify: list[NotificationSpec] | None = None) -> None:
        step = self._st.steps.get(track)
        await self.record(
            req, track=track, from_step=step.step if step else None, to_step="@end", end_tracks=[track], notify=notify
        )

    async def close(
        self,
        req: ActionRequest | None,
        outcome: str,
        *,
        kind: str = "action",
        notify: list[NotificationSpec] | None = None,
        note: str | None = None,
    ) -> None:
        current = self._open_step(req.step) if req and req.step else self._st.steps.get("main")
        await self.record(
            req,
            kind,
            track=current.track if current else None,
            from_step=current.step if current else None,
            to_step=CLOSE,
            close=outcome,
            notify=notify,
            note=note,
        )

    @staticmethod
    def tell(agency: AgencyRef, kind: str, title: str, role: Role | None = None) -> NotificationSpec:
        return NotificationSpec(agency_id=agency.id, role=role, kind=kind, title=title)

    def label(self, step: str) -> str:
        return self.process.step_label(step)

    # ------------------------------------------------------------------ timers and escalation

    def _next_timer_in(self) -> timedelta | None:
        times = [t for t in (self._escalation_due(s) for s in self._st.steps.values()) if t]
        if self._st.close_at:
            times.append(self._st.close_at)
        if not times:
            return None
        return max(min(times) - workflow.now(), timedelta(0))

    @staticmethod
    def _escalation_due(step: StepState) -> datetime | None:
        return step.deadlines.escalation_time(step.level) if step.deadlines else None

    async def _fire_timers(self) -> None:
        now = workflow.now()
        st = self._st
        if st.close_at and now >= st.close_at:
            await self.on_child_adult()
            return
        for step in list(st.steps.values()):
            due = self._escalation_due(step)
            if due and now >= due:
                await self._escalate(step)

    async def on_child_adult(self) -> None:
        await self.close(None, "adult", kind="closed", note="儿童已年满十八周岁，案件自动结案")

    async def _escalate(self, step: StepState) -> None:
        level = step.level + 1
        holder = step.holder
        county = holder.region_code
        label = self.label(step.step)
        title = f"{self._st.case_no}「{label}」{LEVEL_LABELS[level]}"
        # Each level tells its own audience: the holder, then the supervisors of the agency type that
        # oversees the holder (domain/oversight.py) in the county, then at the city.
        if level == 1:
            note = self.tell(holder, "overdue", title)
        else:
            region = county if level == 2 else CITY_CODE
            note = NotificationSpec(
                agency_type=overseer_type(holder.agency_type),
                region_code=region,
                role=Role.supervisor,
                kind="escalated",
                title=title,
            )
        notes = [note]
        updated = step.model_copy(update={"level": level})
        await self.record(
            None,
            "escalated",
            track=step.track,
            from_step=step.step,
            to_step=step.step,
            set_steps=[updated],
            notify=notes,
            payload={"level": level},
            note=LEVEL_LABELS[level],
        )

    # ------------------------------------------------------------------ supervisor actions

    async def _supervise(self, req: ActionRequest) -> None:
        step = self._open_step(req.step)
        assert step is not None
        label = self.label(step.step)
        if req.supervisor == "urge":
            await self.record(
                req,
                "urged",
                track=step.track,
                from_step=step.step,
                to_step=step.step,
                note=req.reason,
                notify=[self.tell(step.holder, "urged", f"{self._st.case_no}「{label}」被督办")],
            )
        elif req.supervisor == "extend":
            assert step.deadlines is not None
            by = req.extend_by or step.allowance
            answer = await self._deadlines(
                DeadlineRequest(
                    base=step.deadlines.due_at,
                    at=workflow.now(),
                    county=self._st.county,
                    allowance=by,
                    ladder=self._step_ladder(step),
                )
            )
            updated = step.model_copy(
                update={
                    "deadlines": answer.deadlines,
                    "level": self._capped_level(step.level, answer.deadlines),
                    "extensions": [*step.extensions, by],
                }
            )
            await self.record(
                req,
                "extended",
                track=step.track,
                from_step=step.step,
                to_step=step.step,
                set_steps=[updated],
                note=req.reason,
                payload={
                    "extend_by": by,
                    "old_due_at": step.deadlines.due_at.isoformat(),
                    "new_due_at": answer.deadlines.due_at.isoformat(),
                },
                notify=[self.tell(step.holder, "extended", f"{self._st.case_no}「{label}」已延期")],
            )
        elif req.supervisor == "reassign":
            assert req.new_holder is not None
            updated = step.model_copy(update={"holder": req.new_holder})
            await self.record(
                req,
                "reassigned",
                track=step.track,
                from_step=step.step,
                to_step=step.step,
                set_steps=[updated],
                note=req.reason,
                payload={"from_agency": step.holder.name, "to_agency": req.new_holder.name},
                parties=[PartyGrant(agency=req.new_holder, role="holder")],
                notify=[
                    self.tell(req.new_holder, "reassigned", f"改派给本单位：{self._st.case_no}「{label}」"),
                    self.tell(step.holder, "reassigned", f"{self._st.case_no}「{label}」已改派"),
                ],
            )

    def _step_ladder(self, step: StepState) -> tuple[str, str] | None:
        """Fix (tests/workflow/test_escalation.py): an extended deadline escalates on the step's own ladder
        (processes.md: level 2 at deadline + half *the step's* allowance), not on one derived from the
        extension's amount, which made a short extension escalate to the city within hours."""
        definition = self.process.step(step.step)
        if definition.ladder:
            return str(definition.ladder[0]), str(definition.ladder[1])
        if not step.allowance:
            return None
        level2, level3 = default_ladder(Allowance.parse(step.allowance))
        return str(level2), str(level3)

    def _capped_level(self, level: int, d: StepDeadlines) -> int:
        """After a deadline moves, the level is at most the number of thresholds already passed; the
        loop escalates again from there if the new times are also past."""
        now = workflow.now()
        passed = sum(1 for t in (d.due_at, d.level2_at, d.level3_at) if now >= t)
        return min(level, passed)

    async def _recompute_provisional(self) -> None:
        """A year's official holiday schedule was loaded: make provisional deadlines exact."""
        for step in list(self._st.steps.values()):
            d = step.deadlines
            if d is None or not d.provisional or not step.allowance:
                continue
            definition = self.process.step(step.step)
            answer = await self._deadlines(
                DeadlineRequest(
                    base=step.base,
                    at=step.opened_at,
                    county=self._st.county,
                    allowance=step.allowance,
                    ladder=(str(definition.ladder[0]), str(definition.ladder[1])) if definition.ladder else None,
                )
            )
            nd = answer.deadlines
            # Fix (tests/workflow/test_deadlines.py): re-apply the supervisors' extensions, each counted from
            # the deadline before it (as `_supervise` did); recomputing from the base alone dropped them.
            for by in step.extensions:
                assert nd is not None
                extended = await self._deadlines(
                    DeadlineRequest(
                        base=nd.due_at,
                        at=workflow.now(),
                        county=self._st.county,
                        allowance=by,
                        ladder=self._step_ladder(step),
                    )
                )
                nd = extended.deadlines
            if nd == d:
                continue
            updated = step.model_copy(update={"deadlines": nd, "level": self._capped_level(step.level, nd)})
            await self.record(
                None,
                "deadline_confirmed",
                track=step.track,
                from_step=step.step,
                to_step=step.step,
                set_steps=[updated],
                payload={
                    "old_due_at": d.due_at.isoformat(),
                    "new_due_at": nd.due_at.isoformat(),
                    "provisional": nd.provisional,
                },
                note="已按新公布的节假日安排重新计算期限",
            )
