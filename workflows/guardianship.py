"""Guardianship intervention (监护干预): the orchestration of processes.md §1.

The definition (domain/processes/guardianship.py) says which actions each step allows and who may take
them; this module says where each action leads, who holds the next step, and who is told.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.enums import AgencyType as T
    from domain.errors import DomainError
    from domain.messages import (
        ActionRequest,
        AgencyRef,
        CaseInput,
        CaseResult,
        CaseStart,
        NotificationSpec,
        PartyGrant,
        StepState,
    )
    from domain.processes.guardianship import GUARDIANSHIP, REPRIMAND
    from domain.regions import is_changzhi
    from workflows.base import CaseWorkflow
    from workflows.steps import COUNTS_PATCH

# Police steps go to the station of the child's township (before: the county's default police agency).
POLICE_OF_RESIDENCE_PATCH = "police-of-residence"

# The steps the village committee holds; a move can be handed over from these.
MOVABLE_STEPS = ("admonition", "admonition_followup", "monitoring")
COMMITTEE_STEPS = (*MOVABLE_STEPS, "handover")

DECISION_LABELS = {
    "decide_reprimand": "决定训诫",
    "open_criminal_case": "立案侦查，追究刑事责任",
    "no_violation": "不构成违法",
}


class GuardianshipFacts(BaseModel):
    """What the case remembers between steps."""

    village_committee: AgencyRef | None = None  # where the child lives: admonition, monitoring, hand-over
    reporter: AgencyRef | None = None  # a mandatory reporter, told the police's decision
    deciding_authority: AgencyRef | None = None  # who decided the reprimand
    ordering_authority: AgencyRef | None = None  # who ordered family-education guidance
    custodian: AgencyRef | None = None  # civil affairs holding the child in temporary guardianship
    order_requested: bool = False  # the police decided a guidance order with the reprimand
    sessions_done: int = 0  # guidance sessions, kept across a return to the ordering authority


@workflow.defn(name="guardianship")
class GuardianshipWorkflow(CaseWorkflow):
    process = GUARDIANSHIP
    Kept = GuardianshipFacts
    kept: GuardianshipFacts

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        return await self._run(inp)

    # ------------------------------------------------------------------ facts kept between steps

    async def _village_committee(self) -> AgencyRef:
        if self.kept.village_committee is None:
            self.kept.village_committee = await self.resolve(T.village_committee)
        return self.kept.village_committee

    async def _police_of_residence(self) -> AgencyRef:
        """The police station (派出所) of the child's township where one serves it, else the county bureau
        (processes.md §1: the station of residence holds the police step, the bureau supervises)."""
        vc = self.kept.village_committee
        township = vc.township if vc and workflow.patched(POLICE_OF_RESIDENCE_PATCH) else None
        return await self.resolve(T.police, township=township)

    # ------------------------------------------------------------------ start

    async def on_start(self, start: CaseStart) -> None:
        starter = start.starter.agency
        if start.village_committee:
            self.kept.village_committee = start.village_committee
        elif starter.agency_type == T.village_committee:
            self.kept.village_committee = starter
        parties = [PartyGrant(agency=starter, role="starter")]
        if start.start_step == "police_report":
            holder = starter if starter.agency_type == T.police else await self._police_of_residence()
            if starter.agency_type != T.police:
                self.kept.reporter = starter  # a mandatory reporter is told the police's decision
                parties[0] = PartyGrant(agency=starter, role="reporter")
        else:
            holder = starter  # admonition by the committee, or a reprimand by the deciding authority
            if start.start_step == "reprimand":
                self.kept.deciding_authority = starter
        first = await self.new_step("main", start.start_step, holder, base=start.reported_at)
        vc = self.kept.village_committee
        if vc and vc.id not in (starter.id, holder.id):
            parties.append(PartyGrant(agency=vc, role="participant"))
        # Civil affairs leads child protection in the county and takes a child into temporary guardianship
        # (未保法 Art. 92), so it follows every guardianship case from the start.
        civil = await self.resolve(T.civil_affairs)
        if civil.id not in {g.agency.id for g in parties} | {holder.id}:
            parties.append(PartyGrant(agency=civil, role="participant"))
        await self.open_case(start, first, parties=parties, note=str(start.facts.get("facts", "")))

    # ------------------------------------------------------------------ step actions

    async def on_action(self, step: StepState, req: ActionRequest) -> None:
        if step.track == "safety":
            await self._on_safety(step, req)
        elif step.step in COMMITTEE_STEPS:
            await self._on_committee_step(step, req)
        else:
            await self._on_authority_step(step, req)

    async def _on_committee_step(self, step: StepState, req: ActionRequest) -> None:
        """Admonition, its follow-up, monitoring and the hand-over: the village committee's steps."""
        match step.step, req.action:
            case ("admonition", "record_admonition"):
                await self.move(req, "admonition_followup")
            case ("admonition", "report_serious") | ("admonition_followup", "not_improved"):
                await self.move(req, "police_report", holder=await self._police_of_residence())
            case ("monitoring", "report_new_harm"):
                await self.move(req, "police_report", holder=await self._police_of_residence())
            case ("admonition_followup", "improved"):
                await self._to_monitoring(req)
            case ("monitoring", "record_visit"):
                await self._monitoring_visit(step, req)
            case ("handover", "acknowledge_handover"):
                await self.close(req, "moved", notify=self.handover_acknowledged(step.holder))
            case ("handover", "record_external_ack"):
                await self.close(req, "moved")
            case _:
                raise DomainError("action_not_allowed", "该操作在本环节没有处理方式")  # pragma: no cover

    async def _on_authority_step(self, step: StepState, req: ActionRequest) -> None:
        """The police report and decision, the reprimand, family-education guidance and non-compliance."""
        match step.step, req.action:
            case ("police_report", "accept"):
                await self.move(req, "police_decision")
            case ("police_decision", "decide_reprimand"):
                self.kept.deciding_authority = step.holder
                self.kept.order_requested = bool(req.payload.get("family_education_order"))
                await self.move(req, "reprimand", notify=self._feedback(req.action))
            case ("police_decision", "open_criminal_case" | "no_violation"):
                await self._to_monitoring(req, notify=self._feedback(req.action))
            case ("reprimand", "issue_reprimand"):
                await self._issue_reprimand(step, req)
            case ("family_education_guidance", "record_session"):
                await self._record_session(step, req)
            case ("family_education_guidance", "report_noncompliance"):
                authority = self.kept.ordering_authority or self.kept.deciding_authority
                await self.move(req, "guidance_noncompliance", holder=authority or await self.resolve(T.police))
            case ("guidance_noncompliance", "reprimand_again"):
                await self.move(req, "reprimand")
            case ("guidance_noncompliance", "penalise" | "issue_guidance_order"):
                await self._to_guidance(req)
            case _:
                raise DomainError("action_not_allowed", "该操作在本环节没有处理方式")  # pragma: no cover

    async def _on_safety(self, step: StepState, req: ActionRequest) -> None:
        """The child-safety branch beside the main track (未保法 Arts. 92-94)."""
        match step.step, req.action:
            case ("temporary_guardianship_intake", "accept_child"):
                self.kept.custodian = step.holder
                await self.move(req, "temporary_guardianship")
            case ("temporary_guardianship", "record_reassessment"):
                await self.move(req, "temporary_guardianship")
            case ("temporary_guardianship", "return_home"):
                vc = await self._village_committee()
                told = self.tell(vc, "child_returned", f"{self._st.case_no}：儿童已送回监护人，请加强跟踪回访")
                await self.end_track(req, "safety", notify=[told])
            case ("temporary_guardianship", "apply_revocation"):
                await self._apply_revocation(req)
            case ("guardianship_revocation", "support_suit"):
                await self.record_on_step(req, step)
            case ("guardianship_revocation", "revoke"):
                custodian = self.kept.custodian or await self.resolve(T.civil_affairs)
                await self.move(req, "long_term_guardianship", holder=custodian)
            case ("guardianship_revocation", "reject_revocation"):
                custodian = self.kept.custodian or await self.resolve(T.civil_affairs)
                await self.move(req, "temporary_guardianship", holder=custodian)
            case ("long_term_guardianship", "confirm_placement"):
                await self.close(req, "long_term_guardianship")
            case _:
                raise DomainError("action_not_allowed", "该操作在本环节没有处理方式")  # pragma: no cover

    async def _issue_reprimand(self, step: StepState, req: ActionRequest) -> None:
        p = req.payload
        # An order decided with the police's reprimand stands even if the form leaves it unticked.
        ordered = bool(p.get("family_education_order") or self.kept.order_requested)
        self.kept.order_requested = False
        doc = REPRIMAND.spec(
            issued_on=p["done_on"], content=p["content"], authority=step.holder.name, family_education_order=ordered
        )
        if ordered:
            self.kept.ordering_authority = step.holder
            await self._to_guidance(req, document=doc)
        else:
            await self._to_monitoring(req, document=doc)

    async def _record_session(self, step: StepState, req: ActionRequest) -> None:
        done = step.counters.get("sessions", 0) + 1
        self.kept.sessions_done = done
        if done >= await self.required(step):
            await self._to_monitoring(req, payload={"session_number": done})
            return
        await self.move(
            req,
            "family_education_guidance",
            policy_key=self.policy_for(step, done),
            counters={"sessions": done},
            payload={"session_number": done},
        )

    async def _apply_revocation(self, req: ActionRequest) -> None:
        court = await self.resolve(T.court)
        procuratorate = await self.resolve(T.procuratorate)
        await self.move(
            req,
            "guardianship_revocation",
            holder=court,
            parties=[PartyGrant(agency=procuratorate, role="participant")],
            notify=[
                self.tell(
                    procuratorate, "revocation_filed", f"{self._st.case_no}：民政部门申请撤销监护人资格，可支持起诉"
                )
            ],
        )

    def _feedback(self, action: str) -> list[NotificationSpec]:
        """强制报告 feedback: the reporting agency learns what the police decided."""
        reporter = self.kept.reporter
        if reporter is None:
            return []
        title = f"{self._st.case_no}：公安机关处理结果——{DECISION_LABELS.get(action, action)}"
        # The person who reported is answered in person; if they no longer work there (or an integration
        # reported), the whole reporting unit is (activities/cases.py recipients).
        person = self._st.starter_user_id if reporter.id == self._st.starter.id else None
        return [self.tell(reporter, "feedback", title, user_id=person)]

    async def _to_monitoring(self, req: ActionRequest, **kw: Any) -> None:
        vc = await self._village_committee()
        await self.move(req, "monitoring", holder=vc, counters={"visits": 0}, **kw)

    async def _to_guidance(self, req: ActionRequest, **kw: Any) -> None:
        wf = await self.resolve(T.womens_federation)
        done = self.kept.sessions_done
        await self.move(
            req,
            "family_education_guidance",
            holder=wf,
            counters={"sessions": done},
            **kw,
        )

    async def _monitoring_visit(self, step: StepState, req: ActionRequest) -> None:
        clean = req.payload["finding"] == "clean"
        visits = step.counters.get("visits", 0) + (1 if clean else 0)
        if visits >= await self.required(step, since=COUNTS_PATCH):
            await self.close(req, "resolved")
            return
        if clean:
            # The next visit counts from when monitoring began (the first visit's base).
            await self.move(
                req,
                "monitoring",
                policy_key=self.policy_for(step, visits),
                base=step.base,
                counters={"visits": visits},
                payload={"visit_number": visits},
            )
        else:
            await self.move(req, "monitoring", counters={"visits": visits})

    # ------------------------------------------------------------------ case-level actions

    def check_case_action(self, req: ActionRequest, payload: dict[str, Any]) -> None:
        st = self._st
        if req.action == "place_temporary_guardianship" and "safety" in st.steps:
            raise DomainError("already_open", "儿童已处于临时监护程序中")
        if req.action == "child_moved":
            main = st.steps.get("main")
            if "safety" in st.steps:
                raise DomainError("not_now", "儿童处于临时监护中，不能办理迁出移交")
            if main and main.step == "handover":
                raise DomainError("already_open", "已在办理迁出移交")
            if main and main.step not in MOVABLE_STEPS:
                # A step held by the police, a court or the women's federation is finished there first.
                raise DomainError(
                    "not_now",
                    f"案件正在“{self.label(main.step)}”环节，由{main.holder.name}办理；办结后再办理迁出移交",
                )
            vc = self.kept.village_committee
            if vc is None or req.actor.agency.id != vc.id:
                raise DomainError("not_holder", "只有儿童居住地的村（居）委会可以办理迁出移交")
            dest = payload["destination_region"]
            self.check_handover(dest)
            if is_changzhi(dest) and not payload.get("destination_agency_id"):
                raise DomainError(
                    "field_required", "迁入地在本市的，请选择接收的村（居）委会", field="destination_agency_id"
                )

    async def on_case_action(self, req: ActionRequest) -> None:
        p = req.payload
        if req.action == "place_temporary_guardianship":
            actor = req.actor.agency
            custodian = actor if actor.agency_type == T.civil_affairs else await self.resolve(T.civil_affairs)
            await self.start_track(req, "safety", "temporary_guardianship_intake", custodian)
        elif req.action == "child_moved":
            await self.hand_over(
                req,
                destination=p["destination_region"],
                receiver_type=T.village_committee,
                prefer_id=p.get("destination_agency_id"),
                packet={"destination_address": p.get("destination_address", "")},
            )
