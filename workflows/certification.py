"""Certification (孤儿、事实无人抚养儿童认定): the orchestration of processes.md §3, residence accepts, origin
reviews. Every kind whose definition names this module (`Process.orchestration`), the disability subsidies
among them, runs on this code: it reads the step holders' types, policies and materials from the definition.

The origin is in this deployment (a Changzhi county: its township verifies, its county decides) or outside
it (external mode: the residence township holds the origin's steps with the same deadlines and records the
origin's answers, so the ladder reaches the residence's county and city civil affairs).
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta
from typing import Any

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.deadlines import birthday, end_of_local_day, local_date
    from domain.enums import AGENCY_TYPE_LABELS
    from domain.enums import AgencyType as T
    from domain.errors import DomainError
    from domain.messages import (
        ActionRequest,
        AgencyRef,
        CaseInput,
        CaseResult,
        CaseStart,
        DocumentSpec,
        ExternalParty,
        PartyGrant,
        StepState,
    )
    from domain.process import ORIGIN_SUMMARY, SIDE_SUMMARY, FieldRole
    from domain.processes.certification import (
        CERTIFICATION,
        ENDED_BECAUSE,
        RESULT_NOTICE,
        TRANSFER,
        WITHDRAWN_NOTICE,
        month_after,
    )
    from domain.regions import full_region_name
    from workflows.base import CaseWorkflow
    from workflows.kinds import kind_workflows
    from workflows.patches import BASELINE_1, own_patches
    from workflows.steps import Change

# An imported case's supplement waits for the residence's deployment (whose applicant's clock decides): past its
# own deadline it escalates instead of withdrawing. Histories from before lapsed here as well.
IMPORTED_SUPPLEMENT_WAITS_PATCH = "certification-imported-supplement-waits"
# Full-time education is said in the case's summary (until when), for this side's readers and for the other
# deployment's `education` packet. Histories from before kept it in the facts only.
EDUCATION_SUMMARY_PATCH = "certification-education-in-summary"
EDUCATION_SUMMARY = "in_education_until"
MONTH = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
SIDE = {"residence": "居住地", "origin": "户籍地"}


class CertificationFacts(BaseModel):
    """What the case remembers between steps: small, carried whole through continue-as-new."""

    residence: AgencyRef | None = None  # the township that accepted the application
    origin_region: str = ""
    origin_township_id: int | None = None
    external: ExternalParty | None = None  # the origin office, when it is outside this deployment
    origin_holder: AgencyRef | None = None  # who verifies at the origin (back to them after a supplement)
    # The residence, when it is another deployment's and this one runs the origin side (an imported packet).
    remote_residence: ExternalParty | None = None
    supplement_for: str | None = None  # the step a supplement returns to
    decision: str | None = None
    in_education_until: date | None = None


@workflow.defn(name="certification")
class CertificationWorkflow(CaseWorkflow):
    process = CERTIFICATION
    Kept = CertificationFacts
    baseline_patches = own_patches(BASELINE_1, {IMPORTED_SUPPLEMENT_WAITS_PATCH, EDUCATION_SUMMARY_PATCH})
    kept: CertificationFacts

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        return await self._run(inp)

    # ------------------------------------------------------------------ start

    async def on_start(self, start: CaseStart) -> None:
        if start.start_step == "origin_verification":
            await self._open_at_origin(start)
            return
        k = self.kept
        k.residence = start.starter.agency
        k.origin_region = start.facts["origin_region"]
        k.origin_township_id = start.facts.get("origin_township_id")
        if not self.serves(k.origin_region):
            k.external = ExternalParty(
                name=f"{full_region_name(k.origin_region) or k.origin_region}{AGENCY_TYPE_LABELS[T.civil_affairs]}",
                region_code=k.origin_region,
                agency_type=T.civil_affairs,
            )
        # The origin's deciding agency follows the application from its acceptance (within this deployment).
        decider = self.process.step("origin_decision").responsible[0]
        find = [self.query(decider, k.origin_region)] if k.external is None else []
        first, origin = await self.new_step_finding("main", "residence_intake", k.residence, find=find)
        kind = self.process.start_field("kind")
        summary = {
            "origin": full_region_name(k.origin_region) or k.origin_region,
            ORIGIN_SUMMARY: k.origin_region,
            "external": k.external is not None,
            SIDE_SUMMARY: SIDE["residence"],
            "kind_label": dict(kind.choices).get(start.facts["kind"], "") if kind else "",
        }
        parties = [PartyGrant(agency=k.residence, role="starter")]
        parties += [PartyGrant(agency=a, role="origin") for a in origin]
        await self.open_case(start, first, parties=parties, summary=summary, note="")

    async def _open_at_origin(self, start: CaseStart) -> None:
        """A transfer packet from the residence's deployment, imported here (api/packets): this deployment
        runs the origin side; its answer goes back as a packet."""
        k, facts = self.kept, start.facts
        k.origin_region = start.county
        k.remote_residence = ExternalParty(
            name=str(facts["residence_office"]), region_code=facts.get("residence_region"), agency_type=T.township
        )
        starter = start.starter.agency
        holder = starter if starter.agency_type == T.township else await self.resolve(T.township, start.county)
        k.origin_holder = holder
        first = await self.new_step("main", "origin_verification", holder)
        summary = {
            "origin": full_region_name(start.county) or start.county,
            ORIGIN_SUMMARY: start.county,
            SIDE_SUMMARY: SIDE["origin"],
            "remote_case_no": facts.get("remote_case_no", ""),
        }
        await self.open_case(start, first, parties=[PartyGrant(agency=starter, role="starter")], summary=summary)

    # ------------------------------------------------------------------ step actions

    async def on_action(self, step: StepState, req: ActionRequest) -> None:
        p = req.payload
        match step.step, req.action:
            case ("residence_intake", "forward"):
                await self._to_origin(req, document=True)
            case (("residence_intake" | "origin_verification") as at, "request_supplement"):
                self.kept.supplement_for = at
                if at == "origin_verification":
                    self.kept.origin_holder = step.holder
                items = p["items"] if at == "origin_verification" else "；".join(self._missing(p))
                # An imported case: the request goes to the residence's deployment (a packet), the applicant's
                # clock runs there; here the step waits for it and records the materials when they come back.
                await self.move(
                    req,
                    "supplement",
                    holder=self._residence,
                    external=self.kept.remote_residence,
                    payload={"items": items},
                    summary={SIDE_SUMMARY: SIDE["residence"], "supplement_items": items},
                )
            case ("supplement", "supplemented"):
                if self.kept.supplement_for == "origin_verification":
                    await self._to_origin(req, document=False)
                else:
                    await self.move(req, "residence_intake", holder=self._residence)
            case ("supplement", "lapse"):
                await self._withdrawn(step, req)
            case ("supplement", "record_withdrawn"):
                await self._withdrawn_at_residence(req)
            case ("origin_verification", "give_opinion" | "record_origin_opinion"):
                await self._to_decision(req, summary={"opinion": p["opinion"], "opinion_reasons": p.get("reasons", "")})
            case ("origin_decision", "approve" | "reject" | "record_origin_decision"):
                await self._decided(step, req)
            case ("notify_applicant", "notified") if self.kept.decision == "approve":
                await self._to_support(req)
            case ("notify_applicant", "notified"):
                await self.close(req, "rejected")
            case ("in_support", "record_review"):
                reviews = step.counters.get("reviews", 0) + 1
                await self.move(req, "in_support", co_holders=step.co_holders, counters={"reviews": reviews})
            case ("in_support", "record_education"):
                self.kept.in_education_until = date.fromisoformat(p["until"])
                said = {EDUCATION_SUMMARY: p["until"]} if self.patched(EDUCATION_SUMMARY_PATCH) else None
                await self.record_on_step(req, step, change=Change(summary=said))
            case ("in_support", "circumstances_changed"):
                ends = month_after(date.fromisoformat(p["changed_on"]))
                await self.close(req, "ended", payload={"support_ends_from": ends}, summary={"support_ends_from": ends})
            case ("in_support", "record_support_ended"):
                await self._ended_elsewhere(req, "户籍地")
            case ("in_support", "record_residence_ended"):
                await self._ended_elsewhere(req, "居住地")
            case _:
                raise DomainError("action_not_allowed", "该操作在本环节没有处理方式")  # pragma: no cover

    @property
    def _residence(self) -> AgencyRef:
        """The agency here that serves the residence side: the accepting township, or (the residence being
        another deployment's) the origin's township, which answers it."""
        agency = self.kept.residence or self.kept.origin_holder
        assert agency is not None
        return agency

    def _materials(self) -> list[tuple[str, str]]:
        """The one-time materials list of this kind (its intake's checklist)."""
        fields = self.process.step("residence_intake").action("forward").fields  # type: ignore[union-attr]
        return [(f.name, f.label) for f in fields if f.role == FieldRole.material]

    def _missing(self, p: dict[str, Any]) -> list[str]:
        missing = [label for name, label in self._materials() if not p.get(name)]
        other = str(p.get("other_items") or "").strip()
        return [*missing, *([other] if other else [])]

    async def _to_origin(self, req: ActionRequest, *, document: bool) -> None:
        """Complete materials go to the origin: its township verifies; outside this deployment, the residence
        holds the step for the origin office, with the same deadline."""
        k = self.kept
        if k.external is not None:
            holder = self._residence
        elif k.origin_holder is not None:
            holder = k.origin_holder
        else:
            holder = await self.resolve(T.township, k.origin_region, prefer_id=k.origin_township_id)
            k.origin_holder = holder
        packet = None
        if document:
            received = "、".join(label for name, label in self._materials() if req.payload.get(name))
            packet = TRANSFER.spec(
                origin=full_region_name(k.origin_region) or k.origin_region,
                origin_office=k.external.name if k.external else holder.name,
                from_agency=self._residence.name,
                materials=received,
            )
        await self.move(
            req,
            "origin_verification",
            holder=holder,
            external=k.external,
            document=packet,
            summary={SIDE_SUMMARY: SIDE["origin"]},
        )

    async def _to_decision(self, req: ActionRequest, summary: dict[str, Any]) -> None:
        k = self.kept
        definition = self.process.step("origin_decision")
        if k.external is not None:
            holder, co = self._residence, []
        else:
            holder = await self.resolve(definition.responsible[0], k.origin_region)
            co = [await self.resolve(t, k.origin_region) for t in definition.co_responsible]
        await self.move(req, "origin_decision", holder=holder, co_holders=co, external=k.external, summary=summary)

    async def _decided(self, step: StepState, req: ActionRequest) -> None:
        """The origin decided: the residence tells the applicant, with the result notice."""
        p = req.payload
        decision = p.get("decision") or req.action
        self.kept.decision = decision
        approved = decision == "approve"
        start_month = p.get("allowance_from") if approved else None
        notice = RESULT_NOTICE.spec(
            kind=self._st.summary.get("kind_label", ""),
            decision="予以认定" if approved else "不予认定",
            decided_by=self.kept.external.name if self.kept.external else req.actor.agency.name,
            decided_on=p.get("decided_on") or local_date(workflow.now()).isoformat(),
            doc_no=p.get("doc_no", ""),
            allowance_from=start_month or "",
            reasons=p.get("reasons", "") if not approved else "",
        )
        summary: dict[str, Any] = {
            SIDE_SUMMARY: SIDE["residence"],
            "decision": decision,
            "decided_on": notice.fields["decided_on"],
            "doc_no": notice.fields["doc_no"],
            "reasons": notice.fields["reasons"],
            "decided_by": notice.fields["decided_by"],
        }
        if start_month:
            summary["allowance_from"] = start_month
        if self.kept.remote_residence is not None:  # the residence is told by its own deployment, from the answer
            summary[SIDE_SUMMARY] = SIDE["origin"]
            if approved:
                await self._to_support(req, document=notice, summary=summary)
            else:
                await self.close(req, "rejected", document=notice, summary=summary)
            return
        await self.move(
            req, "notify_applicant", holder=self._residence, co_holders=[], document=notice, summary=summary
        )

    async def _to_support(
        self, req: ActionRequest, document: DocumentSpec | None = None, summary: dict[str, Any] | None = None
    ) -> None:
        """In support: the origin's county pays (in external mode, the residence's county follows the case for
        the origin office); the residence township serves the child. Reviews are due yearly."""
        k = self.kept
        paying = self.process.step("in_support").responsible[0]
        region = self._st.county if k.external else k.origin_region
        holder = await self.resolve(paying, region)
        co = [self._residence] if holder.id != self._residence.id and k.remote_residence is None else []
        side = SIDE["residence"] if k.external else SIDE["origin"]
        await self.move(
            req,
            "in_support",
            holder=holder,
            co_holders=co,
            external=k.external,
            counters={"reviews": 0},
            summary={**(summary or {}), SIDE_SUMMARY: side},
            document=document,
        )

    async def _withdrawn(self, step: StepState, req: ActionRequest) -> None:
        """The applicant's time to supplement lapsed: the application is withdrawn, and the residence township,
        told, serves the applicant a notice that says so."""
        notice = WITHDRAWN_NOTICE.spec(
            requested_on=local_date(step.opened_at).isoformat(),
            items=self._last_items(),
            lapsed_on=local_date(step.deadlines.due_at).isoformat() if step.deadlines else "",
        )
        told = [self.tell(self._residence, "withdrawn", f"{self._st.case_no}：逾期未补正，申请视为撤回，请告知申请人")]
        await self.close(req, "withdrawn", notify=told, document=notice)

    async def _lapse(self, step: StepState, action: str) -> None:
        """On an imported case the applicant's clock runs at the residence's deployment, which may have started
        it days later: here the step, held for the residence, escalates like any step held outside."""
        if self.kept.remote_residence is not None and step.step == "supplement":
            if self.patched(IMPORTED_SUPPLEMENT_WAITS_PATCH):
                await self._escalate(step)
                return
        await super()._lapse(step, action)

    async def _withdrawn_at_residence(self, req: ActionRequest) -> None:
        """The residence's deployment says the application lapsed (or was withdrawn) there: closed here too."""
        told = [self.tell(self._residence, "withdrawn", f"{self._st.case_no}：居住地告知申请已撤回，本案结案")]
        await self.close(req, "withdrawn", notify=told, summary={"withdrawn_on": req.payload.get("withdrawn_on", "")})

    async def _ended_elsewhere(self, req: ActionRequest, side: str) -> None:
        """The other side (another deployment: the origin, which pays, or the residence, which serves the child)
        ended support: this side's case closes with the month support ends from and that side's reason, said on
        the timeline."""
        p = req.payload
        ends, why = p["ends_from"], dict(ENDED_BECAUSE)[p["ended_because"]]
        note = f"{side}（{p['answer_from']}）告知：{why}，保障自{ends}起终止" + (
            f"；{p['note']}" if p.get("note") else ""
        )
        payload = {"support_ends_from": ends}
        await self.close(req, p["ended_because"], note=note, payload=payload, summary=payload)

    def _last_items(self) -> str:
        return str(self._st.summary.get("supplement_items", ""))

    # ------------------------------------------------------------------ checks beyond the definition

    def check_action(self, step: StepState, req: ActionRequest, payload: dict[str, Any]) -> None:
        key = (step.step, req.action)
        match key:
            case ("residence_intake", "forward") if missing := self._missing({**payload, "other_items": ""}):
                raise DomainError(
                    "materials_incomplete", f"材料不齐，缺少：{'、'.join(missing)}；请一次性告知申请人补正"
                )
            case ("residence_intake", "request_supplement") if not self._missing(payload):
                raise DomainError(
                    "supplement_items_required", "请列明需补正的材料：勾选已收到的材料，未勾选的或其他材料即为补正内容"
                )
            case ("origin_verification", _) if payload.get("opinion") == "reject" and not payload.get("reasons"):
                raise DomainError("field_required", "建议不予认定的，须写明理由", field="reasons")
            case ("origin_decision", "approve"):
                self._check_start_month(payload.get("allowance_from"), local_date(workflow.now()))
            case ("in_support", "record_support_ended" | "record_residence_ended") if not MONTH.match(
                str(payload.get("ends_from") or "")
            ):
                raise DomainError("field_invalid", "终止发放月份格式应为 YYYY-MM，如 2026-07", field="ends_from")
            case ("origin_decision", "record_origin_decision"):
                if payload["decision"] == "approve":
                    self._check_start_month(payload.get("allowance_from"), date.fromisoformat(payload["decided_on"]))
                elif not payload.get("reasons"):
                    raise DomainError("field_required", "不予认定的，须写明理由", field="reasons")

    @staticmethod
    def _check_start_month(value: str | None, approved_on: date) -> None:
        expected = month_after(approved_on)
        if not value:
            raise DomainError(
                "field_required", f"认定的须填写保障起始月份（批准次月：{expected}）", field="allowance_from"
            )
        if not MONTH.match(value):
            raise DomainError("field_invalid", "保障起始月份格式应为 YYYY-MM，如 2026-07", field="allowance_from")
        if value != expected:
            raise DomainError("field_invalid", f"保障自批准之日的次月起，应为{expected}", field="allowance_from")

    def check_case_action(self, req: ActionRequest, payload: dict[str, Any]) -> None:
        """The withdrawal (before a decision: Action.during): by the township that accepted the application
        or, on a case another deployment transferred here, by the origin's township that holds it."""
        main = self._st.steps["main"]
        k = self.kept
        agency = req.actor.agency.id
        if agency != self._residence.id and not (k.remote_residence is not None and agency == main.holder.id):
            raise DomainError("not_permitted", "申请由居住地受理的乡镇（街道）登记撤回")

    async def on_case_action(self, req: ActionRequest) -> None:
        """The applicant withdrew the application (at the residence): every open step ends."""
        on, why = req.payload["withdrawn_on"], req.payload["note"]
        told = [self.tell(self._residence, "withdrawn", f"{self._st.case_no}：申请人已撤回申请，本案结案")]
        summary = {"withdrawn_on": on}
        await self.close(req, "withdrawn", notify=told, note=f"申请撤回：{why}", summary=summary)

    # ------------------------------------------------------------------ the age limit

    def continues_past_age(self) -> tuple[datetime, str] | None:
        """At 18 support ends from the next month (paid to the end of the birthday's month); in full-time
        education it goes on to the end of studies."""
        today = local_date(workflow.now())
        until = self.kept.in_education_until
        if self._st.steps.get("main") is None or self._st.steps["main"].step != "in_support":
            return None
        if until is not None and until > today:
            return end_of_local_day(until), f"仍在全日制学校就读，保障至{until.isoformat()}"
        # Only in the birthday's month: studies that end later end support with them.
        eighteen = birthday(self._st.child.birth_date, self.process.closes_at_age)
        last = date.fromisoformat(f"{month_after(today)}-01") - timedelta(days=1)
        if (today.year, today.month) == (eighteen.year, eighteen.month) and today < last:
            return end_of_local_day(last), f"保障发放至{last.isoformat()}，次月起终止"
        return None


# The other kinds of this shape (the disability subsidies): the same code under their own workflow types.
globals().update(kind_workflows(CertificationWorkflow))
