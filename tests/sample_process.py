"""A small third process used only by the tests: what a new process costs (this file: its definition and
its orchestration; in the product they are two files, domain/processes/<name>.py and workflows/<name>.py,
plus one line in domain/processes/__init__.py), and a user of every step kind the shared machinery offers:

- a step held by a party outside this deployment (the origin office of another province), whose answer a
  local clerk records, with its ladder going to the county's and the city's civil affairs;
- a transition fired by a deadline (the applicant's time to supplement lapses: withdrawn);
- calendar months and years, and "from the first day of the next month" (support from the month after
  approval, a yearly review);
- an escalation audience of its own (a review's first level to the township, its third to the
  political-legal committee);
- a linked case of another process (a review finds harm: a guardianship case);
- an end that depends on a condition (at 18, unless in full-time education).
"""

from __future__ import annotations

from datetime import date, datetime

from pydantic import BaseModel
from temporalio import workflow

with workflow.unsafe.imports_passed_through():
    from domain.deadlines import date_after, end_of_local_day, local_date
    from domain.enums import AgencyType as T
    from domain.messages import ActionRequest, CaseInput, CaseResult, CaseStart, ExternalParty, StepState
    from domain.oversight import Rung, Scope
    from domain.policy import Allowance, policy
    from domain.process import (
        CLOSE,
        EXTERNAL_ANSWER,
        NOTE,
        Action,
        Field,
        FieldKind,
        Outcome,
        Process,
        StartOption,
        Step,
    )
    from domain.processes.guardianship import GUARDIANSHIP
    from workflows.base import CaseWorkflow

DECISIONS = (("approve", "同意"), ("reject", "不同意"))

SAMPLE = Process(
    name="sample_review",
    label="测试审核",
    code="TS",
    orchestration="sample",
    policies=(
        policy("sample.intake", "3WD", "受理"),
        policy("sample.supplement", "30d", "申请人补正材料"),
        policy("sample.origin_review", "15WD", "户籍地审核"),
        policy("sample.review", "1y", "年度复核"),
        policy("sample.allowance_from", "1M@start", "保障自批准次月起"),
    ),
    start_fields=(Field("facts", "申请情况", FieldKind.textarea),),
    starts=(StartOption("intake", (T.township,), "受理申请"),),
    outcomes=(
        Outcome("withdrawn", "逾期未补正，视为撤回"),
        Outcome("rejected", "不予认定"),
        Outcome("ended", "保障终止"),
        Outcome("adult", "已满十八周岁"),
    ),
    steps=(
        Step(
            "intake",
            "受理",
            (T.township,),
            "sample.intake",
            actions=(
                Action(
                    "request_supplement", "一次性告知补正", to=("supplement",), fields=(Field("items", "补正材料"),)
                ),
                Action("forward", "转户籍地审核", to=("origin_review",), fields=(Field("origin", "户籍地民政部门"),)),
                Action("bad_move", "（测试：未声明的去向）", to=("intake",)),
            ),
        ),
        Step(
            "supplement",
            "补正材料",
            (T.township,),
            "sample.supplement",
            on_deadline="lapse",
            actions=(
                Action("supplemented", "材料已补齐", to=("intake",), fields=(NOTE,)),
                Action("lapse", "逾期未补正", to=(CLOSE,), by_system=True),
            ),
        ),
        Step(
            "origin_review",
            "户籍地审核",
            (T.township,),
            "sample.origin_review",
            audience=(Rung(Scope.holder), Rung(Scope.county, T.civil_affairs), Rung(Scope.city, T.civil_affairs)),
            actions=(
                Action(
                    "record_origin_decision",
                    "登记户籍地审核结果",
                    to=("in_support", CLOSE),
                    fields=(*EXTERNAL_ANSWER, Field("decision", "结果", FieldKind.choice, choices=DECISIONS)),
                ),
            ),
        ),
        Step(
            "in_support",
            "纳入保障",
            (T.village_committee,),
            "sample.review",
            audience=(
                Rung(Scope.township, T.township),
                Rung(Scope.county),
                Rung(Scope.county, T.political_legal_committee),
            ),
            actions=(
                Action("record_review", "记录年度复核", to=("",), fields=(NOTE,)),
                Action(
                    "record_education",
                    "在全日制学校就读",
                    to=("",),
                    fields=(Field("until", "预计毕业", FieldKind.date),),
                ),
                Action("refer_guardianship", "发现监护问题，转监护干预", to=("",), fields=(NOTE,)),
                Action("circumstances_changed", "情况变化，终止保障", to=(CLOSE,), fields=(NOTE,)),
            ),
        ),
    ),
)


class SampleFacts(BaseModel):
    in_education_until: date | None = None


@workflow.defn(name="sample_review")
class SampleWorkflow(CaseWorkflow):
    process = SAMPLE
    Kept = SampleFacts
    kept: SampleFacts

    @workflow.run
    async def run(self, inp: CaseInput) -> CaseResult:
        return await self._run(inp)

    async def on_start(self, start: CaseStart) -> None:
        first = await self.new_step("main", "intake", start.starter.agency)
        await self.open_case(start, first, parties=[])

    async def on_action(self, step: StepState, req: ActionRequest) -> None:
        p = req.payload
        match step.step, req.action:
            case ("intake", "request_supplement"):
                await self.move(req, "supplement")
            case ("intake", "forward"):
                origin = ExternalParty(name=p["origin"], region_code="410105", agency_type=T.civil_affairs)
                await self.move(req, "origin_review", external=origin)
            case ("intake", "bad_move"):
                await self.move(req, "in_support")
            case ("supplement", "supplemented"):
                await self.move(req, "intake")
            case ("supplement", "lapse"):
                await self.close(req, "withdrawn")
            case ("origin_review", "record_origin_decision") if p["decision"] == "approve":
                start = date_after(local_date(workflow.now()), Allowance.parse("1M@start"))
                committee = await self.resolve(T.village_committee)
                await self.move(req, "in_support", holder=committee, summary={"allowance_from": start.isoformat()})
            case ("origin_review", "record_origin_decision"):
                await self.close(req, "rejected")
            case ("in_support", "record_review"):
                await self.move(req, "in_support")
            case ("in_support", "record_education"):
                self.kept.in_education_until = date.fromisoformat(p["until"])
                await self.record_on_step(req, step)
            case ("in_support", "refer_guardianship"):
                vc = await self.resolve(T.village_committee)
                linked = await self.open_linked(
                    req,
                    GUARDIANSHIP,
                    start_step="police_report",
                    facts={"facts": "年度复核发现监护问题", "village_committee_id": vc.id},
                    village_committee=vc,
                )
                await self.record_on_step(req, step, payload={"linked_case": linked})
            case ("in_support", "circumstances_changed"):
                await self.close(req, "ended")

    async def on_case_action(self, req: ActionRequest) -> None:  # pragma: no cover - none
        raise NotImplementedError

    def continues_past_age(self) -> tuple[datetime, str] | None:
        until = self.kept.in_education_until
        if until is None or until <= local_date(workflow.now()):
            return None
        return end_of_local_day(until), f"仍在全日制学校就读，保障至{until.isoformat()}"
