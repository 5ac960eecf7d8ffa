"""Deadlines kept: escalation timers (level 1 at the deadline, 2 and 3 after), the supervisors' urge,
extend and reassign, and recomputing provisional deadlines once a year's holidays are known."""

from __future__ import annotations

from datetime import datetime, timedelta

from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain import permissions
    from domain.deadlines import StepDeadlines, ladder_request
    from domain.enums import Role
    from domain.errors import DomainError
    from domain.messages import (
        ActionRequest,
        Actor,
        AgencyRef,
        DeadlineRequest,
        NotificationSpec,
        PartyGrant,
        StepState,
    )
    from domain.oversight import DEFAULT_AUDIENCE, Rung, Scope
    from domain.policy import DURATION_UNITS, check_extension, extension, extension_max_key
    from workflows.steps import Change, StepMachinery

# Runs recorded before a step's extension rule (Step.extension) was checked extended it as asked.
EXTENSION_RULE_PATCH = "extension-rule-per-step"
# An extension is checked against the county's `extension_max.<unit>` before its deadline is computed.
EXTENSION_BOUND_PATCH = "extension-bound"

LEVEL_LABELS = {1: "已逾期", 2: "逾期未办，已报县级督导", 3: "严重逾期，已报市级督导"}


class Oversight(StepMachinery):
    def _check_supervisor(self, req: ActionRequest) -> None:
        step = self._open_step(req.step) if req.step else None
        if step is None:
            raise DomainError("step_not_open", "该环节已办结，请刷新页面")
        if req.step_seq is not None and req.step_seq != step.seq:
            raise DomainError("stale", "该环节已有新的办理记录，请刷新页面后再操作")
        permissions.check_supervisor(req.actor, step)
        if req.supervisor in ("extend", "reassign") and not req.reason.strip():
            raise DomainError("reason_required", "请填写理由", field="reason")
        if req.supervisor == "extend":
            if step.deadlines is None:
                raise DomainError("no_deadline", "该环节没有期限，无需延期")
            if req.extend_by:
                extension(req.extend_by, DURATION_UNITS)  # no absurd amount; the unit: `_check_supervisor_policy`
            self._check_extension_rule(req, step)
        if req.supervisor == "reassign":
            new = req.new_holder
            if new is None:
                raise DomainError("field_required", "请选择改派的单位", field="new_holder")
            permissions.check_reassign(req.actor, step, new)

    def _check_extension_rule(self, req: ActionRequest, step: StepState) -> None:
        """A deadline the law bounds (Step.extension) is extended only as far as it allows. Runs recorded
        before the rule took each extension as asked."""
        rule = self.process.step(step.step).extension
        if rule is None:
            return
        why = rule.refusal(len(step.extensions), req.extend_by or step.allowance or "")
        if why and self.refuses_since(EXTENSION_RULE_PATCH):
            raise DomainError("extension_limit", why, field="extend_by")

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
            if not due or now < due:
                continue
            lapse = self.process.step(step.step).on_deadline
            if lapse and step.level == 0:
                await self._lapse(step, lapse)
            else:
                await self._escalate(step)

    async def _lapse(self, step: StepState, action: str) -> None:
        """The step's deadline passed and its definition says what follows (the application is withdrawn):
        the system takes that action, as the process handles it from a person."""
        req = ActionRequest(
            request_id=f"deadline-{self._st.case_no}-{step.seq}",
            actor=Actor(user_id=None, user_name="系统（期限届满）", agency=step.holder, role=Role.operator),
            action=action,
            step=step.step,
            step_seq=step.seq,
        )
        await self.on_action(step, req)

    async def on_child_adult(self) -> None:
        age = self.process.closes_at_age
        going_on = self.continues_past_age()
        if going_on is not None:
            until, why = going_on
            self._st.close_at = until
            await self.record(None, Change(), kind="age_reached", note=f"儿童已年满{age}周岁；{why}")
            return
        await self.close(None, self.process.aged_out_outcome, kind="closed", note=f"儿童已年满{age}周岁，案件自动结案")

    def continues_past_age(self) -> tuple[datetime, str] | None:
        """A process whose case goes on past its age limit under a condition (support continues while the
        child is in full-time education) returns until when and why; None closes the case."""
        return None

    async def _escalate(self, step: StepState) -> None:
        level = step.level + 1
        rung = self.process.step(step.step).audience[level - 1]
        text = self._level_label(step, level, rung)
        title = f"{self._st.case_no}「{self.label(step.step)}」{text}"
        notes = [self._audience(step.holder, rung, title)]
        if rung.holder_too and rung.scope != Scope.holder:
            notes.insert(0, self.tell(step.holder, "overdue", title))
        updated = step.model_copy(update={"level": level})
        await self.record_on_step(
            None,
            step,
            "escalated",
            Change(set_steps=[updated], notify=notes),
            payload={"level": level},
            note=text,
        )

    def _level_label(self, step: StepState, level: int, rung: Rung) -> str:
        if rung == DEFAULT_AUDIENCE[level - 1]:
            return LEVEL_LABELS[level]
        if rung.scope == Scope.holder:
            return f"逾期{level}级"
        return f"逾期{level}级，已报{rung.describe(step.holder.agency_type)}"

    def _audience(self, holder: AgencyRef, rung: Rung, title: str) -> NotificationSpec:
        """The agencies a rung of the ladder names, around the holder (domain/oversight.py)."""
        if rung.scope == Scope.holder:
            return self.tell(holder, "overdue", title)
        if rung.scope == Scope.township and not holder.township:
            rung = Rung(Scope.county)  # a county-level holder has no township: its county overseers instead
        return NotificationSpec(
            agency_type=rung.audience_type(holder.agency_type),
            region_code=self._st.served_city if rung.scope == Scope.city else holder.region_code,
            township=holder.township if rung.scope == Scope.township else None,
            role=Role.supervisor,
            kind="escalated",
            title=title,
        )

    # ------------------------------------------------------------------ supervisor actions

    async def _check_supervisor_policy(self, req: ActionRequest) -> None:
        """The checks that read a policy (so not in the validator): an extension in a unit steps are
        extended by and within the policy's bound for it, refused before any calendar is walked."""
        if req.supervisor != "extend" or not req.extend_by or not self.patched(EXTENSION_BOUND_PATCH):
            return
        by = extension(req.extend_by)
        check_extension(by, await self.policy(extension_max_key(by.unit)))

    async def _supervise(self, req: ActionRequest) -> None:
        step = self._open_step(req.step)
        assert step is not None
        if req.supervisor == "urge":
            await self._urge(req, step)
        elif req.supervisor == "extend":
            await self._extend(req, step)
        elif req.supervisor == "reassign":
            await self._reassign(req, step)

    async def _urge(self, req: ActionRequest, step: StepState) -> None:
        title = f"{self._st.case_no}「{self.label(step.step)}」被督办"
        await self.record_on_step(
            req, step, "urged", Change(notify=self._tell_holder(step, "urged", title)), note=req.reason
        )

    async def _extend(self, req: ActionRequest, step: StepState) -> None:
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
        title = f"{self._st.case_no}「{self.label(step.step)}」已延期"
        await self.record_on_step(
            req,
            step,
            "extended",
            Change(set_steps=[updated], notify=self._tell_holder(step, "extended", title)),
            note=req.reason,
            payload={
                "extend_by": by,
                "old_due_at": step.deadlines.due_at.isoformat(),
                "new_due_at": answer.deadlines.due_at.isoformat(),
            },
        )

    async def _reassign(self, req: ActionRequest, step: StepState) -> None:
        new = req.new_holder
        assert new is not None
        label = self.label(step.step)
        await self.record_on_step(
            req,
            step,
            "reassigned",
            Change(
                set_steps=[step.model_copy(update={"holder": new})],
                parties=[PartyGrant(agency=new, role="holder")],
                notify=[
                    self.tell(new, "reassigned", f"改派给本单位：{self._st.case_no}「{label}」"),
                    self.tell(step.holder, "reassigned", f"{self._st.case_no}「{label}」已改派"),
                ],
            ),
            note=req.reason,
            payload={"from_agency": step.holder.name, "to_agency": new.name},
        )

    def _tell_holder(self, step: StepState, kind: str, title: str) -> list[NotificationSpec]:
        """The holding agency, and in person whoever of it has been working on the step (their inbox shows
        the personal one only: api/notifications/service.py)."""
        told = [self.tell(step.holder, kind, title)]
        if step.worked_by is not None:
            told.append(self.tell(step.holder, kind, title, user_id=step.worked_by))
        return told

    def _step_ladder(self, step: StepState) -> tuple[str, str] | None:
        """An extended deadline escalates on the step's own ladder (processes.md: level 2 at deadline + half
        *the step's* allowance), not on one derived from the extension's amount."""
        return ladder_request(self.process.step(step.step).ladder, step.allowance)

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
            # The supervisors' extensions are applied again, each counted from the deadline before it (as
            # `_supervise` did).
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
            await self.record_on_step(
                None,
                step,
                "deadline_confirmed",
                Change(set_steps=[updated]),
                payload={
                    "old_due_at": d.due_at.isoformat(),
                    "new_due_at": nd.due_at.isoformat(),
                    "provisional": nd.provisional,
                },
                note="已按新公布的节假日安排重新计算期限",
            )
