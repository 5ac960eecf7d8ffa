"""Mental-health referral (心理健康转介): the orchestration of processes.md §4.

The definition (domain/processes/mental_health.py) says which actions each step allows and who may take
them; this module says where each action leads, who holds the next step, and who is told. A crisis runs on
hours around the clock (1 h acknowledgement, 2 h and 4 h escalation, 24 h referral); the rest on working
days, 28-day reassessments and follow-up intervals halved in the city's care periods.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.care_periods import CarePeriod
    from domain.deadlines import local_date
    from domain.enums import AgencyType as T
    from domain.errors import DomainError
    from domain.messages import ActionRequest, AgencyRef, CaseInput, CaseResult, CaseStart, PartyGrant, StepState
    from domain.processes.guardianship import GUARDIANSHIP
    from domain.processes.mental_health import (
        CONSENT_BASIS,
        CRISIS,
        DANGER_BASIS,
        GUARDIAN_RELATIONS,
        MENTAL_HEALTH,
        REFERRAL_LETTER,
        TRIAGE_POLICY,
        halved,
        halving_period,
    )
    from workflows import activity_names as names
    from workflows.base import CaseWorkflow
    from workflows.retry import ACTIVITY_TIMEOUT, WRITE_RETRY

REFERRAL_STEPS = ("crisis_referral", "medical_referral")
STABLE_POLICY = "mental_health.followup_stable"
UNSTABLE_POLICY = "mental_health.followup_unstable"


class MentalHealthFacts(BaseModel):
    """What the case remembers between steps."""

    centre: AgencyRef | None = None  # the county counselling centre
    counsellor: AgencyRef | None = None  # the assigned counsellor (the centre unless triage names another)
    followup_by: AgencyRef | None = None  # the reporting school or unit, unless another is named
    declined: list[int] = []  # hospitals that declined this referral


@workflow.defn(name="mental_health")
class MentalHealthWorkflow(CaseWorkflow):
    process = MENTAL_HEALTH
    Kept = MentalHealthFacts
    kept: MentalHealthFacts

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        return await self._run(inp)

    # ------------------------------------------------------------------ start

    async def on_start(self, start: CaseStart) -> None:
        starter = start.starter.agency
        centre = await self.resolve(T.counselling_center)
        self.kept.centre = centre
        self.kept.followup_by = starter if starter.agency_type in (T.school, T.village_committee) else None
        risk = str(start.facts["risk_level"])
        if risk == CRISIS:
            first = await self.new_step("main", "crisis_ack", centre)
        else:
            first = await self.new_step("main", "triage", centre, policy_key=TRIAGE_POLICY[risk])
        parties = [PartyGrant(agency=starter, role="starter")]
        # The case's note is free text anyone who may read the case would see: the signs stay in the
        # clinical facts.
        await self.open_case(start, first, parties=parties, summary={"risk_level": risk})

    # ------------------------------------------------------------------ step actions

    async def on_action(self, step: StepState, req: ActionRequest) -> None:
        p = req.payload
        match step.step, req.action:
            case (_, "guardian_harm"):
                await self._guardian_harm(step, req)
            case ("triage", "assess"):
                await self._assessed(req)
            case ("crisis_ack", "acknowledge"):
                await self._acknowledged(step, req)
            case (s, "refer_with_consent" | "refer_danger_override") if s in REFERRAL_STEPS:
                await self._referred(req)
            case ("counselling", "record_session"):
                await self._session(step, req)
            case ("counselling", "reassess"):
                await self._reassessed(step, req)
            case ("hospital_accept", "accept_referral"):
                await self.move(req, "treatment", policy_key=None)
            case ("hospital_accept", "decline_referral"):
                self.kept.declined = [*self.kept.declined, step.holder.id]
                other = await self.resolve(T.hospital, prefer_id=p["next_hospital_id"])
                await self.move(req, "hospital_accept", holder=other, payload={"declined_by": step.holder.name})
            case ("treatment", "record_plan"):
                await self.record_on_step(req, step)
            case ("treatment", "discharge"):
                await self._discharged(req)
            case ("followup", "record_visit"):
                await self._visited(step, req)
            case ("followup", "worse"):
                await self._worse(req)
            case _:
                raise DomainError("action_not_allowed", "该操作在本环节没有处理方式")  # pragma: no cover

    async def _assessed(self, req: ActionRequest) -> None:
        risk = req.payload["risk_level"]
        if risk == CRISIS:
            await self.move(req, "crisis_ack", summary={"risk_level": risk})
            return
        chosen = req.payload.get("counsellor_id")
        counsellor = await self.resolve(T.counselling_center, prefer_id=chosen) if chosen else self._centre()
        self.kept.counsellor = counsellor
        await self.move(req, "counselling", holder=counsellor, counters={"sessions": 0}, summary={"risk_level": risk})

    async def _acknowledged(self, step: StepState, req: ActionRequest) -> None:
        """The hospital referral is due 24 h after the crisis opened, not after the acknowledgement."""
        notify, parties = [], []
        if req.payload.get("police_needed"):
            police = await self.resolve(T.police)
            parties.append(PartyGrant(agency=police, role="participant"))
            notify.append(self.tell(police, "crisis", f"{self._st.case_no}：心理危机，请协助确保儿童安全"))
        await self.move(req, "crisis_referral", base=step.base, notify=notify, parties=parties)

    async def _referred(self, req: ActionRequest) -> None:
        hospital = await self.resolve(T.hospital, prefer_id=req.payload["hospital_id"])
        self.kept.declined = []
        letter = REFERRAL_LETTER.spec(
            hospital=hospital.name,
            referred_by=req.actor.agency.name,
            basis=CONSENT_BASIS if req.action == "refer_with_consent" else DANGER_BASIS,
            referred_on=local_date(workflow.now()).isoformat(),
        )
        await self.move(req, "hospital_accept", holder=hospital, document=letter)

    async def _session(self, step: StepState, req: ActionRequest) -> None:
        sessions = step.counters.get("sessions", 0) + 1
        if sessions == 1:
            # The first session done: the reassessment is due 28 days after it.
            await self.move(req, "counselling", policy_key=self.policy_for(step, 1), counters={"sessions": 1})
        else:
            await self.note_on_step(req, counters={"sessions": sessions})

    async def _reassessed(self, step: StepState, req: ActionRequest) -> None:
        match req.payload["result"]:
            case "improved":
                holder = await self._followup_holder(req.payload.get("followup_by"))
                await self._to_followup(req, holder, stable=True, stable_visits=0)
            case "continue":
                await self.move(req, "counselling", policy_key=self.policy_for(step, 1), counters=step.counters)
            case "needs_diagnosis":
                await self.move(req, "medical_referral")
            case _:
                await self.move(req, "crisis_ack", holder=self._centre(), summary={"risk_level": CRISIS})

    async def _discharged(self, req: ActionRequest) -> None:
        if req.payload["back_to"] == "community_rehab":
            await self.close(req, "community_rehab")
            return
        holder = await self._followup_holder(req.payload.get("followup_by"))
        await self._to_followup(req, holder, stable=req.payload["stability"] == "stable", stable_visits=0)

    async def _visited(self, step: StepState, req: ActionRequest) -> None:
        stable = req.payload["stability"] == "stable"
        visits = step.counters.get("stable_visits", 0) + 1 if stable else 0
        if stable and visits >= await self.required(step):
            await self.close(req, "stable")
            return
        await self._to_followup(req, step.holder, stable=stable, stable_visits=visits)

    async def _worse(self, req: ActionRequest) -> None:
        if req.payload["worse_to"] == "counselling":
            await self.move(req, "counselling", holder=self.kept.counsellor or self._centre(), counters={"sessions": 0})
        else:
            await self.move(req, "medical_referral", holder=self.kept.counsellor or self._centre())

    async def _to_followup(self, req: ActionRequest, holder: AgencyRef, *, stable: bool, stable_visits: int) -> None:
        """The next visit: every 3 months when stable, every 2 weeks when not, both halved in a care period
        (中高考, 寒暑假) that the visit is recorded in or that the next one would fall in."""
        base = self._done_at(req) or workflow.now()
        full = await self.policy(STABLE_POLICY if stable else UNSTABLE_POLICY)
        periods = await workflow.execute_local_activity(
            names.CARE_PERIODS,
            result_type=list[CarePeriod],
            start_to_close_timeout=ACTIVITY_TIMEOUT,
            retry_policy=WRITE_RETRY,
        )
        period = halving_period(local_date(base), full, periods)
        interval = halved(full) if period else full
        payload: dict[str, Any] = {"halved_for": period.label} if period else {}
        await self.move(
            req,
            "followup",
            holder=holder,
            allowance=str(interval),
            base=base,
            counters={"stable_visits": stable_visits},
            payload=payload,
        )

    async def _followup_holder(self, chosen: int | None) -> AgencyRef:
        if chosen:
            return await self.resolve(T.village_committee, prefer_id=chosen)
        if self.kept.followup_by is not None:
            return self.kept.followup_by
        return await self.resolve(T.village_committee)

    def _centre(self) -> AgencyRef:
        assert self.kept.centre is not None
        return self.kept.centre

    async def _guardian_harm(self, step: StepState, req: ActionRequest) -> None:
        """The guardian is the source of harm: a guardianship case, reported to the police, linked."""
        vc = await self.resolve(T.village_committee, prefer_id=req.payload["village_committee_id"])
        linked = await self.open_linked(
            req,
            GUARDIANSHIP,
            start_step="police_report",
            facts={"facts": "心理健康转介中发现监护人侵害儿童权益", "village_committee_id": vc.id},
            village_committee=vc,
        )
        await self.record_on_step(req, step, payload={"linked_case": linked})

    async def on_case_action(self, req: ActionRequest) -> None:  # pragma: no cover - the process has none
        raise DomainError("action_not_allowed", "本流程没有案件层面的操作")

    # ------------------------------------------------------------------ checks beyond the definition

    def check_action(self, step: StepState, req: ActionRequest, payload: dict[str, Any]) -> None:
        match step.step, req.action:
            case (_, "refer_with_consent") if payload["consenter_relation"] not in dict(GUARDIAN_RELATIONS):
                raise DomainError(
                    "not_guardian", "知情同意须由儿童的监护人作出，所选同意人不是监护人", field="consenter_relation"
                )
            case ("hospital_accept", "decline_referral"):
                if payload["next_hospital_id"] == step.holder.id or payload["next_hospital_id"] in self.kept.declined:
                    raise DomainError("same_hospital", "请改转另一家未拒收的医院", field="next_hospital_id")
            case ("counselling", "reassess") if step.counters.get("sessions", 0) < 1:
                raise DomainError("session_required", "复评前须至少记录一次辅导", field="result")
