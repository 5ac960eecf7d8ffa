"""Dropout return (劝返复学): the orchestration of processes.md §2.

The definition (domain/processes/dropout.py) says which actions each step allows and who may take them;
this module says where each action leads, who holds the next step, and who is told.
"""

from __future__ import annotations

from datetime import date
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.deadlines import local_date
    from domain.enums import AgencyType as T
    from domain.errors import DomainError
    from domain.messages import (
        ActionRequest,
        AgencyRef,
        CaseInput,
        CaseResult,
        CaseStart,
        DocumentSpec,
        PartyGrant,
        StepState,
    )
    from domain.processes.dropout import DROPOUT, WRITTEN_ORDER
    from workflows.base import CaseWorkflow
    from workflows.steps import COUNTS_PATCH

ORDER_STEPS = ("written_order", "order_compliance", "legal_action", "unresolved_signoff")
WHEREABOUTS_STEPS = ("locate", "handover")
# Where a pupil who is back in school (or placed) is followed.
TO_CONSOLIDATION = {
    ("school_contact", "returned"),
    ("joint_persuasion", "returned"),
    ("joint_persuasion", "special_placement"),
    ("order_compliance", "returned"),
    ("legal_action", "returned"),
    ("locate", "returned"),
}


class DropoutFacts(BaseModel):
    """What the case remembers between steps."""

    village_committee: AgencyRef | None = None  # where the pupil lives: the 双线 persuasion team
    school: AgencyRef | None = None  # the pupil's school: contact, consolidation, a relapse


@workflow.defn(name="dropout_return")
class DropoutWorkflow(CaseWorkflow):
    process = DROPOUT
    Kept = DropoutFacts
    kept: DropoutFacts

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        return await self._run(inp)

    # ------------------------------------------------------------------ start

    async def on_start(self, start: CaseStart) -> None:
        starter = start.starter.agency
        facts = start.facts
        self.kept.village_committee = start.village_committee
        parties = [PartyGrant(agency=starter, role="starter")]
        if start.start_step == "school_contact":
            school = (
                starter
                if starter.agency_type == T.school
                else await self.resolve(T.school, prefer_id=facts.get("school_id"))
            )
            self.kept.school = school
            first = await self.new_step("main", "school_contact", school)
            summary = {"school": school.name, "relapses": 0}
        else:
            # A case taken on from another county (start_follow_on): persuasion goes on here.
            bureau, team = await self._persuasion_team(starter)
            first = await self.new_step("main", "joint_persuasion", bureau, co_holders=team, counters={"attempts": 0})
            summary = {"school": facts.get("school", ""), "relapses": int(facts.get("relapses") or 0)}
        await self.open_case(start, first, parties=parties, summary=summary, note=str(facts.get("known", "")))

    async def _persuasion_team(self, bureau: AgencyRef | None = None) -> tuple[AgencyRef, list[AgencyRef]]:
        """Joint persuasion: the county's education bureau, with the village committee where the child
        lives and its township (the 双线 team), each of whom can see the case and record an attempt."""
        bureau = bureau or await self.resolve(T.education_bureau)
        vc = self.kept.village_committee
        if vc is None:
            return bureau, []
        return bureau, [vc, await self.resolve(T.township, township=vc.township)]

    async def _to_persuasion(self, req: ActionRequest, bureau: AgencyRef | None = None) -> None:
        bureau, team = await self._persuasion_team(bureau)
        await self.move(req, "joint_persuasion", holder=bureau, co_holders=team, counters={"attempts": 0})

    # ------------------------------------------------------------------ step actions

    async def on_action(self, step: StepState, req: ActionRequest) -> None:
        key = (step.step, req.action)
        if key in TO_CONSOLIDATION:
            await self._to_consolidation(step, req)
        elif step.step in ORDER_STEPS:
            await self._on_order_step(step, req)
        elif step.step in WHEREABOUTS_STEPS:
            await self._on_whereabouts_step(step, req)
        else:
            await self._on_school_step(step, req)

    async def _on_school_step(self, step: StepState, req: ActionRequest) -> None:
        """School contact, joint persuasion and consolidation: the pupil is in the county."""
        match step.step, req.action:
            case ("school_contact", "not_returned"):
                await self._to_persuasion(req)
            case ("school_contact" | "joint_persuasion", "moved_or_unknown"):
                await self.move(req, "locate", holder=await self.resolve(T.education_bureau))
            case ("joint_persuasion", "record_attempt"):
                home = 1 if req.payload["kind"] == "home_visit" else 0
                counters = {
                    "attempts": step.counters.get("attempts", 0) + 1,
                    "home_visits": step.counters.get("home_visits", 0) + home,
                }
                await self.note_on_step(req, counters=counters)
            case ("joint_persuasion", "refuses"):
                # The township may issue the order too (义务教育法 Art. 58); the committee follows the case.
                towns = [a for a in step.co_holders if a.agency_type == T.township]
                await self.move(req, "written_order", co_holders=towns)
            case ("consolidation", "record_attendance"):
                await self._attendance_checked(step, req)
            case ("consolidation", "dropped_again"):
                relapses = int(self._st.summary.get("relapses") or 0) + 1
                await self.move(
                    req,
                    "school_contact",
                    holder=self._school(step),
                    summary={"relapses": relapses},
                    payload={"relapse": relapses},
                )
            case _:
                raise DomainError("action_not_allowed", "该操作在本环节没有处理方式")  # pragma: no cover

    async def _on_order_step(self, step: StepState, req: ActionRequest) -> None:
        """The written order, its compliance, legal action and the supervisor's sign-off."""
        match step.step, req.action:
            case ("written_order", "issue_order"):
                comply_by = date.fromisoformat(req.payload["comply_by"])
                days = (comply_by - local_date(workflow.now())).days
                await self.move(
                    req,
                    "order_compliance",
                    allowance=f"{days}d",
                    co_holders=step.co_holders,
                    document=self._written_order(req, req.payload),
                )
            case ("order_compliance", "not_complied"):
                await self.move(req, "legal_action", co_holders=[], counters={"measures": 0})
            case ("legal_action", "record_measure"):
                # Re-armed: the next progress report is due 30 days on.
                await self.move(req, "legal_action", counters={"measures": step.counters.get("measures", 0) + 1})
            case ("legal_action", "exhausted"):
                await self.move(req, "unresolved_signoff")
            case ("unresolved_signoff", "sign_off"):
                await self.close(req, "unresolved")
            case ("unresolved_signoff", "reject_signoff"):
                await self.move(req, "legal_action", counters={"measures": 0})
            case _:
                raise DomainError("action_not_allowed", "该操作在本环节没有处理方式")  # pragma: no cover

    async def _on_whereabouts_step(self, step: StepState, req: ActionRequest) -> None:
        """Locating a pupil who left, and the hand-over to another county."""
        p = req.payload
        match step.step, req.action:
            case ("locate", "hand_over"):
                packet = {
                    "destination_address": p.get("destination_address", ""),
                    "destination_school": p.get("destination_school", ""),
                    "school": self._st.summary.get("school", ""),
                }
                await self.hand_over(
                    req, destination=p["destination_region"], receiver_type=T.education_bureau, packet=packet
                )
            case ("locate", "request_police_assist"):
                police = await self.resolve(T.police)
                await self.note_on_step(req, add_co_holders=[police])
            case ("locate", "located_here"):
                await self._to_persuasion(req, step.holder)
            case ("handover", "acknowledge_handover"):
                await self._acknowledged(step, req)
            case ("handover", "record_external_ack"):
                await self.close(req, "moved")
            case _:
                raise DomainError("action_not_allowed", "该操作在本环节没有处理方式")  # pragma: no cover

    async def _attendance_checked(self, step: StepState, req: ActionRequest) -> None:
        passed = step.counters.get("checks", 0) + 1
        if passed >= await self.required(step, since=COUNTS_PATCH):
            await self.close(req, "returned")
            return
        # The next check counts from the return (the first check's base).
        await self.move(
            req, "consolidation", policy_key=self.policy_for(step, passed), base=step.base, counters={"checks": passed}
        )

    def _school(self, step: StepState) -> AgencyRef:
        # A school-held step (school contact, consolidation) that a supervisor reassigned to another school
        # is that school's pupil now: the relapse or the consolidation goes there, not to the school kept.
        if step.holder.agency_type == T.school:
            return step.holder
        return self.kept.school or step.holder

    async def _to_consolidation(self, step: StepState, req: ActionRequest) -> None:
        """Back at school (or placed): the school checks attendance 30 and 90 days after. The pupil may
        return to another school (a special school, or one in the county a case was taken on in)."""
        chosen = req.payload.get("school_id")
        school = self.kept.school
        if chosen and (school is None or school.id != chosen):
            school = await self.resolve(T.school, prefer_id=chosen)
            self.kept.school = school
        elif not chosen and step.holder.agency_type == T.school and (school is None or school.id != step.holder.id):
            school = self._school(step)  # a reassigned school contact (see _school)
            self.kept.school = school
        assert school is not None  # check_action asks for the school where none is known
        await self.move(req, "consolidation", holder=school, counters={"checks": 0}, summary={"school": school.name})

    def _written_order(self, req: ActionRequest, p: dict[str, Any]) -> DocumentSpec:
        return WRITTEN_ORDER.spec(
            issued_on=p["done_on"],
            comply_by=p["comply_by"],
            content=p["content"],
            # The agency that issued the order, the bureau or the township (义务教育法 Art. 58), not always
            # the step's holder.
            authority=req.actor.agency.name,
            school=self._st.summary.get("school", ""),
        )

    async def _acknowledged(self, step: StepState, req: ActionRequest) -> None:
        """The receiving bureau has the case: it closes here as moved; asked to, the receiving county
        opens its own case for the pupil, linked to this one, so that no child is lost on the way."""
        follow_on = None
        if req.payload.get("continue_here"):
            county = step.holder.region_code
            chosen = req.payload.get("destination_committee_id")
            committee = await self.resolve(T.village_committee, county, prefer_id=chosen) if chosen else None
            follow_on = await self.start_follow_on(
                req,
                county=county,
                village_committee=committee,
                start_step="joint_persuasion",
                facts={
                    "school": self._st.summary.get("school", ""),
                    "relapses": self._st.summary.get("relapses", 0),
                    "known": f"由{self._st.case_no}移交（原就读：{self._st.summary.get('school', '')}）",
                },
            )
        told = self.handover_acknowledged(step.holder)
        school = self.kept.school
        if school:
            told.append(self.tell(school, "handover_acknowledged", f"{self._st.case_no}：学生已移交{step.holder.name}"))
        await self.close(req, "moved", notify=told, payload={"follow_on": follow_on} if follow_on else None)

    # ------------------------------------------------------------------ checks beyond the definition

    def check_action(self, step: StepState, req: ActionRequest, payload: dict[str, Any]) -> None:
        today = local_date(workflow.now())
        if (step.step, req.action) in TO_CONSOLIDATION and not payload.get("school_id") and not self.kept.school:
            raise DomainError("field_required", "请选择复学学校", field="school_id")
        match step.step, req.action:
            case ("joint_persuasion", "refuses") if step.counters.get("home_visits", 0) < 1:
                raise DomainError("home_visit_required", "书面责令前须至少记录一次入户劝返")
            case ("written_order", "issue_order"):
                comply_by = date.fromisoformat(payload["comply_by"])
                if comply_by <= today:
                    raise DomainError("field_invalid", "改正期限应晚于今天", field="comply_by")
            case ("locate", "hand_over"):
                self.check_handover(payload["destination_region"])

    async def on_case_action(self, req: ActionRequest) -> None:  # pragma: no cover - the process has none
        raise DomainError("action_not_allowed", "本流程没有案件层面的操作")
