"""The building blocks a process's orchestration uses: find an agency, open a step with its deadline,
record an event (one timeline event and its projection changes, written once by an activity), move to
the next step, start or end a side track, close the case."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.deadlines import StepDeadlines
    from domain.enums import AgencyType, Role
    from domain.messages import (
        ActionRequest,
        Actor,
        AgencyQuery,
        AgencyRef,
        CaseOpening,
        CaseState,
        DeadlineAnswer,
        DeadlineRequest,
        DocumentSpec,
        EventRecord,
        NotificationSpec,
        PartyGrant,
        StepState,
    )
    from domain.policy import Allowance
    from domain.process import CLOSE, Process
    from workflows import activity_names as names
    from workflows.retry import ACTIVITY_TIMEOUT, WRITE_RETRY


class StepMachinery:
    """State and helpers shared by every case workflow; CaseWorkflow (base.py) owns the run loop."""

    process: Process
    state: CaseState | None
    _written: int

    @property
    def _st(self) -> CaseState:
        assert self.state is not None
        return self.state

    def _open_step(self, name: str | None) -> StepState | None:
        return next((s for s in self._st.steps.values() if s.step == name), None)

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
