"""The building blocks a process's orchestration uses: find an agency, open a step with its deadline,
record an event (one timeline event and its projection changes, written once by an activity), move to
the next step, start or end a side track, close the case."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from temporalio import workflow
from temporalio.exceptions import FailureError

with workflow.unsafe.imports_passed_through():
    from domain import process as definitions
    from domain.deadlines import StepDeadlines
    from domain.enums import AgencyType, Role
    from domain.messages import (
        ActionRequest,
        Actor,
        AgencyQuery,
        AgencyRef,
        CaseOpening,
        CaseStart,
        CaseState,
        DeadlineAnswer,
        DeadlineRequest,
        DocumentSpec,
        EventRecord,
        EventWithStep,
        ExternalParty,
        NotificationSpec,
        OutboundRequest,
        PartyGrant,
        RecordedWithStep,
        StepInputs,
        StepInputsRequest,
        StepState,
    )
    from domain.policy import Allowance, Unit
    from domain.process import CLOSE, END_TRACK, Process, UndeclaredTransition
    from domain.processes import policy_default
    from domain.regions import served_by
    from domain.timing import counts_from, fill_step, happened_on, window_opens
    from workflows import activity_names as names
    from workflows.retry import ACTIVITY_TIMEOUT, LOCAL_RETRY, OUTBOUND_RETRY, OUTBOUND_WITHIN, WRITE_RETRY

# Runs recorded before new steps checked that their agencies are still active replay without the check.
ACTIVE_HOLDERS_PATCH = "new-steps-go-to-active-agencies"
# Runs recorded before completion counts were read from policy used the definition's default.
COUNTS_PATCH = "completion-counts-from-policy"
# Runs recorded before scheduled steps had a window (Step.window_key) replay without one.
WINDOW_PATCH = "scheduled-steps-open-a-window-before-their-date"
# Runs recorded before a next step counted from the date its action was done counted from the recording.
DONE_DATE_PATCH = "next-step-counts-from-the-date-done"
# The timeline write and the agency lookup as local activities: a start or an action in fewer round trips.
LOCAL_ACTIVITIES_PATCH = "timeline-and-lookups-in-the-worker"
# Runs recorded before the outbound channel sent no notification out (asked only where one would go).
OUTBOUND_PATCH = "hour-level-notifications-sent-out"
# Runs recorded before a delivery was handed to a workflow of its own (lost with its run) send as they did.
OUTBOUND_HANDOVER_PATCH = "outbound-delivery-outlives-the-run"
# A new step's agencies, deadline and window asked in one local activity (before: one each, and as many
# workflow activations).
STEP_INPUTS_PATCH = "new-step-inputs-in-one-local-activity"
# Agencies a new step is opened with (a case's first participants) looked up in that same local activity
# (before: one activity and one workflow activation each, after the step's).
FIND_WITH_STEP_PATCH = "lookups-with-the-new-step-inputs"
# A move's event written with its new step's inputs read in the same local activity (before: one local
# activity and one workflow activation for the inputs, then one each for the event).
MOVE_IN_ONE_PATCH = "a-move-written-with-its-step-inputs"

T = TypeVar("T")


# Events that count as someone working on the case (the stalled list's inactivity clock).
ACTIVITY_KINDS = frozenset({"opened", "action", "urged", "extended", "reassigned"})


@dataclass
class Change:
    """What one timeline event does to the case besides being recorded: where it happens (track, from and
    to step), the steps it opens or replaces, the tracks it ends, whether it closes the case (with the
    outcome), who may read the case from now on, who is told, the document it issues, the summary facts."""

    track: str | None = None
    from_step: str | None = None
    to_step: str | None = None
    set_steps: list[StepState] = field(default_factory=list)
    end_tracks: list[str] = field(default_factory=list)
    close: str | None = None
    notify: list[NotificationSpec] = field(default_factory=list)
    parties: list[PartyGrant] = field(default_factory=list)
    document: DocumentSpec | None = None
    summary: dict[str, Any] | None = None


def hour_level(event: EventRecord) -> bool:
    """Whether the event is about a step counted in hours (a crisis's acknowledgement, a 24-hour referral):
    one whose notices cannot wait for someone to open the inbox."""
    return any(s.allowance and Allowance.parse(s.allowance).unit == Unit.hours for s in event.set_steps)


def _distinct(holder: AgencyRef, co_holders: list[AgencyRef]) -> list[AgencyRef]:
    """Co-holders once each, the holder not among them."""
    return [a for a in dict((c.id, c) for c in co_holders).values() if a.id != holder.id]


@dataclass
class NewStep:
    """What a new step opens with: its track, step and holders, its policy key (None: none, or `allowance`
    given), what its deadline counts from (None: now), its counters."""

    track: str
    step: str
    holder: AgencyRef
    key: str | None
    base: datetime | None
    co_holders: list[AgencyRef] = field(default_factory=list)
    counters: dict[str, int] = field(default_factory=dict)
    allowance: str | None = None


@dataclass
class _Moving:
    """What a move records besides its new step (`move`'s arguments)."""

    req: ActionRequest
    current: StepState
    to: str
    notify: list[NotificationSpec]
    parties: list[PartyGrant]
    document: DocumentSpec | None
    payload: dict[str, Any] | None
    summary: dict[str, Any] | None
    external: ExternalParty | None


class NoFacts(BaseModel):
    """The facts of a process that keeps none between steps."""


class StepMachinery:
    """State and helpers shared by every case workflow; CaseWorkflow (base.py) owns the run loop."""

    process: Process
    state: CaseState | None
    kept: Any  # the process's typed facts (CaseWorkflow.Kept)
    _written: int
    _history_limit: int | None
    _outbound: list  # the outbound deliveries started (kept so that they are not collected)
    _given: frozenset[str]  # the patches the run takes as given (workflows/patches.py)

    @property
    def _st(self) -> CaseState:
        assert self.state is not None
        return self.state

    def serves(self, region_code: str) -> bool:
        """Whether the place is one this deployment serves (its city, from the case's start): inside, an
        agency of it holds steps; outside, the case deals with an external party."""
        return served_by(self._st.served_city).serves(region_code)

    def _open_step(self, name: str | None) -> StepState | None:
        return next((s for s in self._st.steps.values() if s.step == name), None)

    def patched(self, patch_id: str) -> bool:
        """`workflow.patched`, true without a marker of its own for a patch the run's baseline takes as
        given (workflows/patches.py)."""
        return patch_id in self._given or workflow.patched(patch_id)

    def refuses_since(self, patch: str) -> bool:
        """Whether a refusal added by `patch` applies: always to a new request (the Update's validator);
        in the run loop's re-check, only to runs recorded with the patch, so that a request an older run
        accepted is handled as it was then."""
        return workflow.unsafe.is_read_only() or self.patched(patch)

    async def resolve(
        self,
        agency_type: AgencyType,
        region_code: str | None = None,
        prefer_id: int | None = None,
        township: str | None = None,
    ) -> AgencyRef:
        """The agency of a type serving a region (the case's county by default); `prefer_id` or, failing
        that, one in `township` when there are several."""
        return await self._in_worker(
            names.RESOLVE_AGENCY, self.query(agency_type, region_code, prefer_id, township), AgencyRef
        )

    def query(
        self,
        agency_type: AgencyType,
        region_code: str | None = None,
        prefer_id: int | None = None,
        township: str | None = None,
    ) -> AgencyQuery:
        """What `resolve` asks, to be asked along with a new step (`new_step_finding`)."""
        return AgencyQuery(
            agency_type=agency_type, region_code=region_code or self._st.county, prefer_id=prefer_id, township=township
        )

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
        allowance: str | None = None,
    ) -> StepState:
        """A step state with its deadline computed (in a local activity, so replay never recomputes): from
        the step's policy (or `policy_key`), or from an explicit `allowance` such as "12d" (a date a form
        set, e.g. the compliance date of a written order)."""
        definition = self.process.step(step)
        key = None if allowance else (definition.policy_key if policy_key is ... else policy_key)
        if self.patched(STEP_INPUTS_PATCH):
            opened, _ = await self._new_step_at_once(
                NewStep(track, step, holder, key, base, co_holders or [], counters or {}, allowance)
            )
            return opened
        if self.patched(ACTIVE_HOLDERS_PATCH):
            # A kept agency (the school, the custodian...) may have been switched off since it was kept.
            holder, *co = await workflow.execute_local_activity(
                names.ACTIVE_AGENCIES,
                [holder, *(co_holders or [])],
                result_type=list[AgencyRef],
                start_to_close_timeout=ACTIVITY_TIMEOUT,
                retry_policy=WRITE_RETRY,
            )
            co_holders = [a for a in dict((c.id, c) for c in co).values() if a.id != holder.id]
        now = workflow.now()
        base = base or now
        deadlines: StepDeadlines | None = None
        if key or allowance:
            answer = await self._deadlines(
                DeadlineRequest(
                    base=base,
                    at=now,
                    county=self._st.county,
                    policy_key=key,
                    allowance=allowance,
                    ladder=(str(definition.ladder[0]), str(definition.ladder[1])) if definition.ladder else None,
                )
            )
            deadlines, allowance = answer.deadlines, answer.allowance
        window = None
        if definition.window_key and deadlines is not None and self.patched(WINDOW_PATCH):
            window = window_opens(deadlines.due_at, await self.policy(definition.window_key))
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
            window_opens_at=window,
        )

    async def new_step_finding(
        self, track: str, step: str, holder: AgencyRef, *, find: list[AgencyQuery], base: datetime | None = None
    ) -> tuple[StepState, list[AgencyRef]]:
        """`new_step` (its definition's policy), and the agencies `find` asks for as `resolve` finds them, in
        order: in the same local activity as the step's inputs. Runs recorded before the patch looked them up
        one by one after the step."""
        if not find:
            return await self.new_step(track, step, holder, base=base), []
        if self.patched(FIND_WITH_STEP_PATCH) and self.patched(STEP_INPUTS_PATCH):
            key = self.process.step(step).policy_key
            return await self._new_step_at_once(NewStep(track, step, holder, key, base), find=find)
        opened = await self.new_step(track, step, holder, base=base)
        return opened, [await self._in_worker(names.RESOLVE_AGENCY, q, AgencyRef) for q in find]

    async def _new_step_at_once(
        self, new: NewStep, find: list[AgencyQuery] | None = None
    ) -> tuple[StepState, list[AgencyRef]]:
        """`new_step` with what it asks the worker (the agencies still active, the deadline, the window's lead,
        and the lookups `find` asks) in one local activity."""
        opened, ask, check = self._step_asked(new)
        ask.find = find or []
        got = await workflow.execute_local_activity(
            names.STEP_INPUTS,
            ask,
            result_type=StepInputs,
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=WRITE_RETRY,
        )
        self._filled(opened, got, check)
        return opened, got.found

    def _step_asked(self, new: NewStep) -> tuple[StepState, StepInputsRequest, bool]:
        """A new step before the worker's answer (no deadline, no window yet), what to ask the worker for it,
        and whether its agencies are checked. The earlier patches are still asked: a run that replayed without
        one keeps going without it."""
        definition = self.process.step(new.step)
        check = self.patched(ACTIVE_HOLDERS_PATCH)
        now = workflow.now()
        base = new.base or now
        ladder = (str(definition.ladder[0]), str(definition.ladder[1])) if definition.ladder else None
        deadline = (
            DeadlineRequest(
                base=base, at=now, county=self._st.county, policy_key=new.key, allowance=new.allowance, ladder=ladder
            )
            if new.key or new.allowance
            else None
        )
        window_key = definition.window_key if deadline and definition.window_key else None
        if window_key and not self.patched(WINDOW_PATCH):
            window_key = None
        ask = StepInputsRequest(
            agencies=[new.holder, *new.co_holders] if check else [], deadline=deadline, window_key=window_key
        )
        opened = StepState(
            track=new.track,
            step=new.step,
            seq=self._st.seq + 1,
            opened_at=now,
            base=base,
            holder=new.holder,
            co_holders=_distinct(new.holder, new.co_holders) if check else new.co_holders,
            policy_key=new.key,
            allowance=new.allowance,
            counters=new.counters,
        )
        return opened, ask, check

    @staticmethod
    def _filled(opened: StepState, got: StepInputs, check: bool) -> None:
        """The step as the worker answered for it: its agencies (when checked), deadline and window."""
        if check:
            # A kept agency (the school, the custodian...) may have been switched off since it was kept.
            opened.holder, *co = got.agencies
            opened.co_holders = _distinct(opened.holder, co)
        fill_step(opened, got)

    async def required(self, step: StepState, *, since: str | None = None) -> int:
        """How many occurrences complete `step` (its definition's count policy, in force in the case's
        county). A run recorded before the patch `since` used the default without asking."""
        key = self.process.step(step.step).count_key
        assert key is not None, f"step {step.step} has no count policy"
        if since is not None and not self.patched(since):
            return policy_default(key).value.amount
        return (await self.policy(key)).amount

    def policy_for(self, step: StepState, occurrence: int) -> str | None:
        """The policy key of the step's occurrence number `occurrence` (0: the first), from its definition."""
        return self.process.step(step.step).policy_for(occurrence)

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

    async def _in_worker(self, name: str, arg: Any, result_type: type[T]) -> T:
        """An activity run in the worker's own workflow task (a local activity): no round trip through the
        server. Safe for the two that take this path: the timeline write is idempotent per case and seq,
        and the agency lookup only reads. If it fails a few times (the database down, no agency to hold a
        step), it is handed to the server as an ordinary activity, retried there without limit: a worker
        can then stop at once, and the case shows as failing on the supervisors' lists. Runs recorded
        before the patch scheduled them on the server."""
        if self.patched(LOCAL_ACTIVITIES_PATCH):
            try:
                return await workflow.execute_local_activity(
                    name,
                    arg,
                    result_type=result_type,
                    start_to_close_timeout=ACTIVITY_TIMEOUT,
                    retry_policy=LOCAL_RETRY,
                )
            except FailureError:  # the last try's error (an ActivityError, or the error itself)
                pass
        return await workflow.execute_activity(
            name, arg, result_type=result_type, start_to_close_timeout=ACTIVITY_TIMEOUT, retry_policy=WRITE_RETRY
        )

    async def record(
        self,
        req: ActionRequest | None,
        change: Change,
        *,
        kind: str = "action",
        payload: dict[str, Any] | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        opening: CaseOpening | None = None,
    ) -> int:
        """Append one timeline event and apply its change to the case; returns its seq."""
        event = self._applied(req, change, kind=kind, payload=payload, note=note, actor=actor, opening=opening)
        await self._in_worker(names.RECORD_EVENT, event, bool)
        await self._written_out(event)
        return event.seq

    async def _record_with_step(
        self, req: ActionRequest, change: Change, step: StepState, ask: StepInputsRequest, check: bool, **kw: Any
    ) -> bool:
        """`record` of an event opening `step`, which comes without its deadline and window: the local activity
        that writes the event reads them (and checks the step's agencies) in its transaction, and the step here
        takes them from its answer. False: one of its agencies has been switched off; nothing was written and
        the case is as it was."""
        st = self._st
        kept = st.seq, dict(st.steps), dict(st.summary), st.last_activity_at
        event = self._applied(req, change, **kw)
        got = await self._in_worker(
            names.RECORD_WITH_STEP, EventWithStep(event=event, track=step.track, inputs=ask), RecordedWithStep
        )
        if not got.written:
            st.seq, st.last_activity_at = kept[0], kept[3]
            st.steps.clear()
            st.steps.update(kept[1])
            st.summary.clear()
            st.summary.update(kept[2])
            return False
        assert got.inputs is not None
        self._filled(step, got.inputs, check)
        event.set_steps = [step if s.track == step.track else s for s in event.set_steps]
        await self._written_out(event)
        return True

    def _applied(
        self,
        req: ActionRequest | None,
        change: Change,
        *,
        kind: str = "action",
        payload: dict[str, Any] | None = None,
        note: str | None = None,
        actor: Actor | None = None,
        opening: CaseOpening | None = None,
    ) -> EventRecord:
        """The change applied to the case, and the event that records it (to be written)."""
        st = self._st
        st.seq += 1
        self._apply(change)
        if kind in ACTIVITY_KINDS:
            st.last_activity_at = workflow.now()
        body = {**(req.payload if req else {}), **(payload or {})}
        note = note if note is not None else str(body.pop("note", "") or "")
        return self._event(req, change, kind, body, note, actor=actor, opening=opening)

    async def _written_out(self, event: EventRecord) -> None:
        """After the event is written: `opened` may answer; an hour-level notice goes out."""
        self._written = event.seq
        if event.notifications and hour_level(event):
            if self.patched(OUTBOUND_HANDOVER_PATCH):
                await self._hand_over(event.seq)
            elif self.patched(OUTBOUND_PATCH):
                self._send_out(event.seq)

    async def _hand_over(self, seq: int) -> None:
        """The event's notifications also go out through the receiving agencies' webhooks, delivered by a
        workflow of its own (workflows/outbound.py) that outlives this run: only its start is awaited (a
        local activity; the start is idempotent), never the delivery, so a gateway that is down holds up
        neither the case nor its continuing as new or closing."""
        await self._in_worker(names.HAND_OVER_OUTBOUND, OutboundRequest(case_no=self._st.case_no, seq=seq), bool)

    def _send_out(self, seq: int) -> None:
        """Before OUTBOUND_HANDOVER_PATCH: an activity of this run, not awaited, lost if the run ended first."""
        handle = workflow.start_activity(
            names.DELIVER_OUTBOUND,
            OutboundRequest(case_no=self._st.case_no, seq=seq),
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            schedule_to_close_timeout=OUTBOUND_WITHIN,
            retry_policy=OUTBOUND_RETRY,
        )
        self._outbound.append(handle)

    def _apply(self, change: Change) -> None:
        st = self._st
        for s in change.set_steps:
            st.steps[s.track] = s
        for t in change.end_tracks:
            st.steps.pop(t, None)
        if change.close:
            st.closed = True
            st.outcome = change.close
            st.steps.clear()
        if change.summary:
            st.summary.update(change.summary)

    def _event(
        self,
        req: ActionRequest | None,
        change: Change,
        kind: str,
        payload: dict[str, Any],
        note: str,
        *,
        actor: Actor | None,
        opening: CaseOpening | None,
    ) -> EventRecord:
        st = self._st
        return EventRecord(
            case_no=st.case_no,
            seq=st.seq,
            at=workflow.now(),
            kind=kind,
            actor=req.actor if req else actor,
            track=change.track,
            action=req.action if req else None,
            from_step=change.from_step,
            to_step=change.to_step,
            note=note,
            payload=payload,
            opening=opening,
            set_steps=list(change.set_steps),
            end_tracks=[*change.end_tracks, *(["*"] if change.close else [])],
            closed_outcome=change.close,
            parties=list(change.parties),
            notifications=list(change.notify),
            document=change.document,
            main_step=st.steps["main"].step if "main" in st.steps else None,
            summary=dict(st.summary) if change.summary or opening else None,
        )

    async def open_case(
        self,
        start: CaseStart,
        first: StepState,
        *,
        parties: list[PartyGrant],
        notify: list[NotificationSpec] | None = None,
        summary: dict[str, Any] | None = None,
        note: str = "",
        also: list[StepState] | None = None,
    ) -> None:
        """The case's first event: it creates the case's projection row and opens the first step (and the
        steps of other tracks in `also`, which open with it). The holder (if not the starter) is told and
        every agency in `parties` may read the case."""
        starter = start.starter.agency
        notes = list(notify or [])
        if first.holder.id != starter.id:
            notes.append(self.tell(first.holder, "new_step", f"新的待办：{self.label(first.step)}"))
        grants = list(parties)
        if all(g.agency.id != first.holder.id for g in grants):
            grants.append(PartyGrant(agency=first.holder, role="holder"))
        await self.record(
            None,
            Change(
                track=first.track,
                to_step=first.step,
                set_steps=[first, *(also or [])],
                parties=grants,
                notify=notes,
                summary=summary,
            ),
            kind="opened",
            actor=start.starter,
            opening=CaseOpening(
                process=self.process.name,
                child_id=start.child.id,
                county=start.county,
                starter=starter,
                facts=start.facts,
            ),
            payload={"reported_at": start.reported_at.isoformat()} if start.reported_at else {},
            note=note,
        )

    async def record_on_step(
        self,
        req: ActionRequest | None,
        step: StepState,
        kind: str = "action",
        change: Change | None = None,
        *,
        payload: dict[str, Any] | None = None,
        note: str | None = None,
    ) -> int:
        """An event on `step` that leaves it where it is: a note, an escalation, a supervisor's action. A
        person of the holding agency who acts on it is the one working on it (an urge reaches them)."""
        if req is not None and req.supervisor is None:
            self._check_declared(req, "")
        change = replace(change or Change(), track=step.track, from_step=step.step, to_step=step.step)
        if req is not None and self._works_on(req, step):
            step.worked_by = req.actor.user_id
            for s in change.set_steps:
                if s.track == step.track:
                    s.worked_by = step.worked_by
        return await self.record(req, change, kind=kind, payload=payload, note=note)

    def _check_declared(self, req: ActionRequest, to: str) -> None:
        """Action.to is a contract (domain/process.py STRICT_TRANSITIONS): "" is the step itself."""
        action = self.process.step(req.step).action(req.action) if req.step else self.process.case_action(req.action)
        target = "" if to == req.step else to
        if action is not None and target in action.to:
            return
        message = f"{self.process.name}: {req.step or 'case'}/{req.action} went to {to!r}, undeclared in its Action.to"
        if definitions.STRICT_TRANSITIONS:
            raise UndeclaredTransition(message)
        workflow.logger.warning(message)

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
        allowance: str | None = None,
        summary: dict[str, Any] | None = None,
        external: ExternalParty | None = None,
    ) -> StepState:
        """Record the request's action and open `to` on the same track (it may be the same step, with a
        new deadline). The new holder and co-holders are told; they become parties to the case. A step
        held by a party outside this deployment (`external`) is held here by the agency that records its
        answer."""
        current = self._open_step(req.step) if req.step else self._st.steps.get("main")
        assert current is not None
        self._check_declared(req, to)
        holder = holder or current.holder
        if base is None and allowance is None:
            base = self._done_at(req)
        moving = _Moving(req, current, to, notify or [], parties or [], document, payload, summary, external)
        if self.patched(STEP_INPUTS_PATCH) and self.patched(MOVE_IN_ONE_PATCH):
            definition = self.process.step(to)
            key = None if allowance else (definition.policy_key if policy_key is ... else policy_key)
            nxt, ask, check = self._step_asked(
                NewStep(current.track, to, holder, key, base, co_holders or [], counters or {}, allowance)
            )
            if await self._record_move(moving, nxt, holder, (ask, check)):
                return nxt
            # One of its agencies has been switched off: the step goes to the one serving now, as below.
        nxt = await self.new_step(
            current.track,
            to,
            holder,
            policy_key=policy_key,
            base=base,
            co_holders=co_holders,
            counters=counters,
            allowance=allowance,
        )
        await self._record_move(moving, nxt, holder, None)
        return nxt

    async def _record_move(
        self, m: _Moving, nxt: StepState, asked: AgencyRef, ask: tuple[StepInputsRequest, bool] | None
    ) -> bool:
        """The move's event: the new step's holders told and made parties. `ask`: the step comes without its
        inputs, read with the event's write (False: not written, an agency has been switched off)."""
        summary = m.summary
        if nxt.holder.id != asked.id and summary:
            # The kept agency was switched off and another serves now (new_step): facts naming it follow.
            summary = {k: nxt.holder.name if v == asked.name else v for k, v in summary.items()}
        nxt.external = m.external
        holder, co_holders, current, to = nxt.holder, nxt.co_holders, m.current, m.to
        if self._works_on(m.req, nxt):  # the same agency goes on (accepted → decision): the same person
            nxt.worked_by = m.req.actor.user_id
        notes = list(m.notify)
        grants = list(m.parties)
        if holder.id != current.holder.id or to != current.step:
            waiting = f"（等待{m.external.name}答复）" if m.external else ""
            for agency in (holder, *co_holders):
                notes.append(self.tell(agency, "new_step", f"新的待办：{self.process.step_label(to)}{waiting}"))
        for agency, role in ((holder, "holder"), *((a, "co_holder") for a in co_holders)):
            if all(g.agency.id != agency.id for g in grants):
                grants.append(PartyGrant(agency=agency, role=role))
        change = Change(
            track=current.track,
            from_step=current.step,
            to_step=to,
            set_steps=[nxt],
            notify=notes,
            parties=grants,
            document=m.document,
            summary=summary,
        )
        if ask is None:
            await self.record(m.req, change, payload=m.payload)
            return True
        return await self._record_with_step(m.req, change, nxt, *ask, payload=m.payload)

    def _done_at(self, req: ActionRequest) -> datetime | None:
        """What the next step counts from: the day the form says the action was done, if before today (a
        follow-up counts from the admonition, not from when it was typed); None: now."""
        definition = self.process.step(req.step).action(req.action) if req.step else None
        day = happened_on(definition.fields, req.payload) if definition else None
        at = counts_from(day, workflow.now()) if day else None
        return at if at is not None and self.patched(DONE_DATE_PATCH) else None

    async def note_on_step(
        self,
        req: ActionRequest,
        *,
        counters: dict[str, int] | None = None,
        add_co_holders: list[AgencyRef] | None = None,
        notify: list[NotificationSpec] | None = None,
        payload: dict[str, Any] | None = None,
    ) -> StepState:
        """Record the request's action on its step without moving it: the deadline and the forms others
        have open stay valid (a persuasion attempt, a request for help). Counters are replaced by those
        given; added co-holders may act on the step from now on and become parties."""
        step = self._open_step(req.step)
        assert step is not None
        known = {a.id for a in step.co_holders} | {step.holder.id}
        added = [a for a in add_co_holders or [] if a.id not in known]
        updated = step.model_copy(
            update={"counters": {**step.counters, **(counters or {})}, "co_holders": [*step.co_holders, *added]}
        )
        notes = list(notify or [])
        notes += [self.tell(a, "new_step", f"协办：{self.process.step_label(step.step)}") for a in added]
        await self.record_on_step(
            req,
            step,
            change=Change(
                set_steps=[updated], notify=notes, parties=[PartyGrant(agency=a, role="co_holder") for a in added]
            ),
            payload=payload,
        )
        return updated

    async def start_track(
        self,
        req: ActionRequest,
        track: str,
        step: str,
        holder: AgencyRef,
        *,
        notify: list[NotificationSpec] | None = None,
    ) -> StepState:
        self._check_declared(req, step)
        nxt = await self.new_step(track, step, holder)
        holder = nxt.holder  # another agency, if the one asked for has been switched off (new_step)
        notes = [*(notify or []), self.tell(holder, "new_step", f"新的待办：{self.process.step_label(step)}")]
        grants = [PartyGrant(agency=holder, role="holder")]
        # The agency that opens a side track (the police placing a child in safety) may not
        # have been a party before: it reads the case it has just acted on.
        if req.actor.agency.id != holder.id:
            grants.append(PartyGrant(agency=req.actor.agency, role="participant"))
        await self.record(
            req, Change(track=track, from_step=req.step, to_step=step, set_steps=[nxt], notify=notes, parties=grants)
        )
        return nxt

    async def end_track(self, req: ActionRequest, track: str, *, notify: list[NotificationSpec] | None = None) -> None:
        step = self._st.steps.get(track)
        self._check_declared(req, END_TRACK)
        await self.record(
            req,
            Change(
                track=track,
                from_step=step.step if step else None,
                to_step=END_TRACK,
                end_tracks=[track],
                notify=list(notify or []),
            ),
        )

    async def close(
        self,
        req: ActionRequest | None,
        outcome: str,
        *,
        kind: str = "action",
        notify: list[NotificationSpec] | None = None,
        note: str | None = None,
        payload: dict[str, Any] | None = None,
        document: DocumentSpec | None = None,
        summary: dict[str, Any] | None = None,
    ) -> None:
        current = self._open_step(req.step) if req and req.step else self._st.steps.get("main")
        if req is not None:
            self._check_declared(req, CLOSE)
        notes = list(notify or [])
        if self._st.starter_user_id is not None:  # the person who opened the case learns how it ended
            outcome_label = self.process.outcome_label(outcome)
            notes.append(
                self.tell(
                    self._st.starter,
                    "closed",
                    f"{self._st.case_no}：您登记的案件已结案（{outcome_label}）",
                    user_id=self._st.starter_user_id,
                )
            )
        await self.record(
            req,
            Change(
                track=current.track if current else None,
                from_step=current.step if current else None,
                to_step=CLOSE,
                close=outcome,
                notify=notes,
                document=document,
                summary=summary,
            ),
            kind=kind,
            note=note,
            payload=payload,
        )

    @staticmethod
    def _works_on(req: ActionRequest, step: StepState) -> bool:
        """A person of the holding agency acting on the step (not a supervisor's urge, not a co-holder)."""
        return req.supervisor is None and req.actor.user_id is not None and req.actor.agency.id == step.holder.id

    @staticmethod
    def tell(
        agency: AgencyRef, kind: str, title: str, role: Role | None = None, *, user_id: int | None = None
    ) -> NotificationSpec:
        return NotificationSpec(agency_id=agency.id, user_id=user_id, role=role, kind=kind, title=title)

    def label(self, step: str) -> str:
        return self.process.step_label(step)
