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
    from domain.processes.guardianship import GUARDIANSHIP, REPRIMAND, WITH_PENALTY
    from workflows.base import CaseWorkflow
    from workflows.patches import BASELINE_1, own_patches
    from workflows.steps import COUNTS_PATCH

# Police steps go to the station of the child's township (before: the county's default police agency).
POLICE_OF_RESIDENCE_PATCH = "police-of-residence"

# The steps the village committee holds; a move can be handed over from these.
MOVABLE_STEPS = ("admonition", "admonition_followup", "monitoring")
COMMITTEE_STEPS = (*MOVABLE_STEPS, "handover")

# Runs recorded before these rules keep their old path on replay:
# the order of family-education guidance (and who gives it) is asked once, where the reprimand is decided;
ORDER_ONCE_PATCH = "guidance-order-asked-once"
# a timeline event says which session or visit it was, of how many;
PROGRESS_PATCH = "guidance-progress-in-timeline"
# a penalty decision names its penalty;
PENALTY_PATCH = "penalty-decision-names-penalty"
# long-term guardianship ends the safety track, and closes the case only when no other track is open.
LONG_TERM_PATCH = "long-term-guardianship-ends-safety-track"

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
    order_requested: bool = False  # the police decided a guidance order with the reprimand (older runs)
    # Whether the reprimand comes with a guidance order, where that was decided before the reprimand's
    # form (the police's decision; a reprimand again after non-compliance); None: the reprimand asks.
    order_decided: bool | None = None
    guidance_station_id: int | None = None  # the education bureau's guidance station chosen with the order
    guidance_by: AgencyRef | None = None  # who gives the guidance: the station, else the women's federation
    sessions_done: int = 0  # guidance sessions, kept across a return to the ordering authority


@workflow.defn(name="guardianship")
class GuardianshipWorkflow(CaseWorkflow):
    process = GUARDIANSHIP
    Kept = GuardianshipFacts
    baseline_patches = own_patches(
        BASELINE_1, {POLICE_OF_RESIDENCE_PATCH, ORDER_ONCE_PATCH, PROGRESS_PATCH, PENALTY_PATCH, LONG_TERM_PATCH}
    )
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
        township = vc.township if vc and self.patched(POLICE_OF_RESIDENCE_PATCH) else None
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
        # Civil affairs leads child protection in the county and takes a child into temporary guardianship
        # (未保法 Art. 92), so it follows every guardianship case from the start.
        first, (civil,) = await self.new_step_finding(
            "main", start.start_step, holder, find=[self.query(T.civil_affairs)], base=start.reported_at
        )
        vc = self.kept.village_committee
        if vc and vc.id not in (starter.id, holder.id):
            parties.append(PartyGrant(agency=vc, role="participant"))
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
            case (
                ("admonition", "report_serious")
                | ("admonition_followup", "not_improved")
                | ("monitoring", "report_new_harm")
            ):
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
                if self.patched(ORDER_ONCE_PATCH):
                    self.kept.order_decided = self.kept.order_requested
                    self.kept.guidance_station_id = req.payload.get("guidance_agency_id")
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
                await self._reprimand_again(req)
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
                await self._long_term_placement(req)
            case _:
                raise DomainError("action_not_allowed", "该操作在本环节没有处理方式")  # pragma: no cover

    async def _issue_reprimand(self, step: StepState, req: ActionRequest) -> None:
        p = req.payload
        decided, station = self.kept.order_decided, self.kept.guidance_station_id
        if decided is None:  # asked here: the case started at the reprimand
            # An order decided with the police's reprimand (before it was asked once) stands even if the
            # form leaves it unticked.
            decided = bool(p.get("family_education_order") or self.kept.order_requested)
            station = p.get("guidance_agency_id")
        self.kept.order_requested = False
        self.kept.order_decided = None
        doc = REPRIMAND.spec(
            issued_on=p["done_on"], content=p["content"], authority=step.holder.name, family_education_order=decided
        )
        if decided:
            self.kept.ordering_authority = step.holder
            if station and self.patched(ORDER_ONCE_PATCH):
                self.kept.guidance_by = await self.resolve(T.education_bureau, prefer_id=int(station))
            await self._to_guidance(req, document=doc)
        else:
            await self._to_monitoring(req, document=doc)

    async def _reprimand_again(self, req: ActionRequest) -> None:
        """After non-compliance the authority reprimands again; the order of guidance stands, so the
        reprimand's form does not ask it again (the event says so: Field.once)."""
        if not self.patched(ORDER_ONCE_PATCH):
            await self.move(req, "reprimand")
            return
        self.kept.order_decided = True
        station = self.kept.guidance_by.id if self.kept.guidance_by else None
        self.kept.guidance_station_id = station
        await self.move(req, "reprimand", payload={"family_education_order": True, "guidance_agency_id": station})

    async def _long_term_placement(self, req: ActionRequest) -> None:
        """Long-term guardianship ends the safety track; the case goes on while another track is open (a
        criminal case's monitoring, the police's decision), whose holder is told."""
        main = self._st.steps.get("main")
        if main is None or not self.patched(LONG_TERM_PATCH):
            await self.close(req, "long_term_guardianship")
            return
        title = f"{self._st.case_no}：儿童已转入儿童福利机构长期监护，“{self.label(main.step)}”继续办理"
        told = self.tell(main.holder, "long_term_guardianship", title)
        await self.end_track(req, "safety", notify=[told])

    async def _record_session(self, step: StepState, req: ActionRequest) -> None:
        done = step.counters.get("sessions", 0) + 1
        self.kept.sessions_done = done
        required = await self.required(step)
        payload = self._progress("session_number", done, "sessions_required", required)
        if done >= required:
            await self._to_monitoring(req, payload=payload)
            return
        await self.move(
            req,
            "family_education_guidance",
            policy_key=self.policy_for(step, done),
            counters={"sessions": done},
            payload=payload,
        )

    def _progress(self, key: str, done: int, of: str, required: int) -> dict[str, int]:
        """Which occurrence an event records, and (runs recorded since PROGRESS_PATCH) of how many."""
        return {key: done, of: required} if self.patched(PROGRESS_PATCH) else {key: done}

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
        by = self.kept.guidance_by or await self.resolve(T.womens_federation)
        done = self.kept.sessions_done
        await self.move(
            req,
            "family_education_guidance",
            holder=by,
            counters={"sessions": done},
            **kw,
        )

    async def _monitoring_visit(self, step: StepState, req: ActionRequest) -> None:
        clean = req.payload["finding"] == "clean"
        visits = step.counters.get("visits", 0) + (1 if clean else 0)
        required = await self.required(step, since=COUNTS_PATCH)
        if visits >= required:
            last = self._progress("visit_number", visits, "visits_required", required)
            await self.close(req, "resolved", payload=last if "visits_required" in last else None)
            return
        if clean:
            # The next visit counts from when monitoring began (the first visit's base).
            await self.move(
                req,
                "monitoring",
                policy_key=self.policy_for(step, visits),
                base=step.base,
                counters={"visits": visits},
                payload=self._progress("visit_number", visits, "visits_required", required),
            )
        else:
            await self.move(req, "monitoring", counters={"visits": visits})

    # ------------------------------------------------------------------ case-level actions

    def check_action(self, step: StepState, req: ActionRequest, payload: dict[str, Any]) -> None:
        if (
            req.action == "decide_reprimand"
            and payload.get("decision") == WITH_PENALTY
            and not payload.get("penalty")
            and self.refuses_since(PENALTY_PATCH)
        ):
            raise DomainError("field_required", "决定给予治安管理处罚的，请填写“治安管理处罚内容”", field="penalty")

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
            if self.serves(dest) and not payload.get("destination_agency_id"):
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
