"""Orphan / de-facto-unsupported child certification (孤儿、事实无人抚养儿童认定), processes.md §3: plan item 12;
民发〔2019〕62号; 跨省通办. Residence accepts, origin reviews.

`residence_origin_steps` builds the steps of every kind of this shape from its materials list, policy prefix
and deciding agency: the disability subsidies (domain/processes/disability_subsidy.py) are a definition made
with it, run by the same workflow (workflows/certification.py).
"""

from __future__ import annotations

from datetime import date

from domain.enums import AgencyType as T
from domain.errors import DomainError
from domain.policy import PolicyDefault, policy
from domain.process import (
    CLOSE,
    EXTERNAL_ANSWER,
    NOTE,
    NOTE_REQUIRED,
    Action,
    CrossRegion,
    DocumentKind,
    Field,
    FieldKind,
    FieldRole,
    Outcome,
    Process,
    StartContext,
    StartOption,
    Step,
)
from domain.regions import get_region

OPINIONS = (("approve", "建议认定"), ("reject", "建议不予认定"))
DECISIONS = (("approve", "认定（批准）"), ("reject", "不予认定"))
# Why support ended at the side that pays it; the values are the case's outcomes.
ENDED_BECAUSE = (("ended", "情况变化"), ("adult", "年满18周岁或毕业"))
VERIFIED_BY = (("data", "信息比对核查"), ("home", "入户调查"), ("both", "信息比对并入户调查"))

RESULT_NOTICE = DocumentKind(
    "certification_result",
    "认定结果告知书",
    {
        "kind": "申请类别",
        "decision": "认定结果",
        "decided_by": "审批机关",
        "decided_on": "审批日期",
        "doc_no": "文号",
        "allowance_from": "保障起始月份",
        "reasons": "不予认定的理由",
    },
    layout=False,
    word="认字",
)
WITHDRAWN_NOTICE = DocumentKind(
    "certification_withdrawn",
    "逾期未补正视为撤回告知书",
    {"requested_on": "一次性告知日期", "items": "需补正的材料", "lapsed_on": "补正期限"},
    layout=False,
    word="撤字",
)
TRANSFER = DocumentKind(
    "certification_transfer",
    "跨地区认定移交函",
    {"origin": "户籍地", "origin_office": "户籍地承办单位", "from_agency": "居住地受理单位", "materials": "已收材料"},
    layout=False,
    word="转字",
    served_to_guardians=False,
)


def materials(items: tuple[tuple[str, str], ...]) -> tuple[Field, ...]:
    """The one-time materials list (一次性告知清单) as a checklist: ticked = received."""
    return tuple(Field(k, label, FieldKind.bool, required=False, role=FieldRole.material) for k, label in items)


def month_after(d: date) -> str:
    """The month after `d` as YYYY-MM: support starts the month after approval (民发〔2019〕62号)."""
    return f"{d.year + 1}-01" if d.month == 12 else f"{d.year}-{d.month + 1:02d}"


DATE_DONE_NOTICE = Field("done_on", "送达日期", FieldKind.date, not_future=True, happened=True)
START_MONTH = Field("allowance_from", "保障起始月份（YYYY-MM）", help="批准之日的次月，如 2026-07")
EXTERNAL_FROM = Field("answer_from", "答复单位（户籍地）")


def residence_origin_steps(
    prefix: str,
    checklist: tuple[Field, ...],
    decider: T,
    decider_with: tuple[T, ...] = (),
    decision_label: str = "户籍地县级民政部门确认",
) -> tuple[Step, ...]:
    """The steps of a residence-accepted, origin-reviewed kind; its policies are `prefix.<step policy>`."""
    supplement_items = Field("other_items", "其他需补正的材料", FieldKind.textarea, required=False)
    return (
        Step(
            "residence_intake",
            "居住地受理",
            (T.township,),
            f"{prefix}.forward",
            description="对照一次性告知清单核对材料：不齐的一次性告知补正；齐全的3个工作日内转户籍地",
            actions=(
                Action(
                    "forward",
                    "材料齐全，转户籍地",
                    to=("origin_verification",),
                    fields=(*checklist, NOTE),
                ),
                Action(
                    "request_supplement",
                    "一次性告知补正",
                    to=("supplement",),
                    fields=(*checklist, supplement_items),
                    style="secondary",
                ),
            ),
        ),
        Step(
            "supplement",
            "申请人补正材料",
            (T.township,),
            f"{prefix}.supplement",
            on_deadline="lapse",
            due_label="补正期限",
            description="申请人在期限内补齐材料；逾期未补正的视为撤回申请，并告知申请人",
            actions=(
                Action(
                    "supplemented",
                    "申请人已补齐材料",
                    to=("residence_intake", "origin_verification"),
                    fields=(Field("done_on", "补齐日期", FieldKind.date, not_future=True, happened=True), NOTE),
                ),
                Action("lapse", "逾期未补正，视为撤回", to=(CLOSE,), by_system=True),
                Action(
                    "record_withdrawn",
                    "登记居住地已撤回申请（系统外）",
                    held_outside=True,
                    to=(CLOSE,),
                    fields=(
                        Field("withdrawn_on", "撤回日期", FieldKind.date, not_future=True, happened=True),
                        NOTE,
                    ),
                    style="danger",
                ),
            ),
        ),
        Step(
            "origin_verification",
            "户籍地查验核实",
            (T.township,),
            f"{prefix}.origin_verification",
            description="户籍地乡镇（街道）信息比对、必要时入户调查，提出意见；材料不足的经居住地请申请人补正",
            actions=(
                Action(
                    "give_opinion",
                    "提出查验意见",
                    held_outside=False,
                    to=("origin_decision",),
                    fields=(
                        Field("verified_by", "核实方式", FieldKind.choice, choices=VERIFIED_BY),
                        Field("opinion", "意见", FieldKind.choice, choices=OPINIONS),
                        Field("reasons", "理由", FieldKind.textarea, required=False, help="建议不予认定的须写明理由"),
                    ),
                ),
                Action(
                    "request_supplement",
                    "请申请人补正（经居住地）",
                    to=("supplement",),
                    fields=(Field("items", "需补正的材料", FieldKind.textarea),),
                    style="secondary",
                ),
                Action(
                    "record_origin_opinion",
                    "登记户籍地查验意见（系统外）",
                    held_outside=True,
                    to=("origin_decision",),
                    fields=(
                        *EXTERNAL_ANSWER[:2],
                        EXTERNAL_FROM,
                        Field("opinion", "意见", FieldKind.choice, choices=OPINIONS),
                        Field("reasons", "理由", FieldKind.textarea, required=False),
                    ),
                ),
            ),
        ),
        Step(
            "origin_decision",
            decision_label,
            (decider,),
            f"{prefix}.origin_decision",
            co_responsible=decider_with,
            description="审批：认定的自批准次月起纳入保障；不予认定的书面说明理由",
            actions=(
                Action(
                    "approve",
                    "认定",
                    held_outside=False,
                    # In support at once where the residence is another deployment's (told by the answer).
                    to=("notify_applicant", "in_support"),
                    by_co_holders=bool(decider_with),
                    fields=(Field("doc_no", "批准文号", required=False), START_MONTH, NOTE),
                ),
                Action(
                    "reject",
                    "不予认定",
                    held_outside=False,
                    to=("notify_applicant", CLOSE),
                    by_co_holders=bool(decider_with),
                    fields=(Field("reasons", "不予认定的理由", FieldKind.textarea),),
                    style="danger",
                ),
                Action(
                    "record_origin_decision",
                    "登记户籍地审批结果（系统外）",
                    held_outside=True,
                    to=("notify_applicant",),
                    fields=(
                        Field("doc_no", "来文文号"),
                        Field("decided_on", "审批日期", FieldKind.date, not_future=True),
                        Field("received_on", "收到日期", FieldKind.date, not_future=True, happened=True),
                        EXTERNAL_FROM,
                        Field("decision", "结果", FieldKind.choice, choices=DECISIONS),
                        Field("allowance_from", "保障起始月份（YYYY-MM）", required=False),
                        Field("reasons", "不予认定的理由", FieldKind.textarea, required=False),
                    ),
                ),
            ),
        ),
        Step(
            "notify_applicant",
            "居住地告知申请人",
            (T.township,),
            f"{prefix}.notify",
            description="居住地向申请人送达认定结果告知书",
            actions=(Action("notified", "已告知申请人", to=("in_support", CLOSE), fields=(DATE_DONE_NOTICE, NOTE)),),
        ),
        Step(
            "in_support",
            "纳入保障",
            (decider,),
            f"{prefix}.review_interval",
            due_label="复核期限",
            description="按月发放；定期复核；情况变化的自次月起终止；年满18周岁的自次月起终止（仍在全日制学校就读的至毕业）",
            actions=(
                Action(
                    "record_review",
                    "记录定期复核（继续保障）",
                    to=("",),
                    fields=(Field("done_on", "复核日期", FieldKind.date, not_future=True, happened=True), NOTE),
                ),
                Action(
                    "record_education",
                    "登记全日制在校就读",
                    to=("",),
                    fields=(Field("until", "预计毕业日期", FieldKind.date), NOTE),
                    style="secondary",
                ),
                Action(
                    "circumstances_changed",
                    "情况变化，终止保障",
                    to=(CLOSE,),
                    fields=(Field("changed_on", "变化日期", FieldKind.date, not_future=True), NOTE_REQUIRED),
                    style="danger",
                ),
                # Where the origin outside this deployment pays: its word (an `ended` packet, or a letter) that
                # support ended there closes this side's case with the month it ends from.
                Action(
                    "record_support_ended",
                    "登记户籍地终止保障（系统外）",
                    held_outside=True,
                    by_co_holders=True,
                    to=(CLOSE,),
                    fields=(
                        *EXTERNAL_ANSWER,
                        Field("ended_because", "终止原因", FieldKind.choice, choices=ENDED_BECAUSE),
                        Field("ends_from", "终止发放月份（YYYY-MM）", help="自该月起不再发放，如 2026-07"),
                        NOTE,
                    ),
                    style="danger",
                ),
                # Where the residence is another deployment's (a case opened from its transfer packet): its word
                # (an `ended` packet) that support ended there, on a change of circumstances or at 18 or the end
                # of studies, closes the origin's case with the month it ends from.
                Action(
                    "record_residence_ended",
                    "登记居住地终止保障（系统外）",
                    other_side_remote=True,
                    to=(CLOSE,),
                    fields=(
                        *EXTERNAL_ANSWER,
                        Field("ended_because", "终止原因", FieldKind.choice, choices=ENDED_BECAUSE),
                        Field("ends_from", "终止发放月份（YYYY-MM）", help="自该月起不再发放，如 2026-07"),
                        NOTE,
                    ),
                    style="danger",
                ),
            ),
        ),
    )


# The steps an application can be withdrawn from: it is not decided yet.
BEFORE_DECISION = ("residence_intake", "supplement", "origin_verification", "origin_decision")
# Before a decision the applicant may withdraw the application at the residence; on a case another deployment
# transferred here, the origin's township records the residence's word (its `withdrawn` packet, or a letter).
WITHDRAWAL = Action(
    "record_withdrawal",
    "登记申请人撤回申请",
    to=(CLOSE,),
    fields=(Field("withdrawn_on", "撤回日期", FieldKind.date, not_future=True), NOTE_REQUIRED),
    actor_types=(T.township,),
    by_starter=True,
    style="danger",
    during=BEFORE_DECISION,
)


def residence_origin_policies(prefix: str, basis: str) -> tuple[PolicyDefault, ...]:
    return (
        policy(f"{prefix}.forward", "3WD", "材料齐全后转户籍地", "跨省通办工作要求（默认）"),
        policy(f"{prefix}.supplement", "30d", "申请人补正材料（逾期视为撤回）"),
        policy(f"{prefix}.origin_verification", "15WD", "户籍地乡镇（街道）查验核实", basis),
        policy(f"{prefix}.origin_decision", "15WD", "户籍地县级审批", basis),
        policy(f"{prefix}.notify", "3WD", "居住地告知申请人认定结果"),
        policy(f"{prefix}.review_interval", "1y", "纳入保障后定期复核（默认每年）"),
    )


def cross_region(viewers: tuple[T, ...]) -> CrossRegion:
    """What the shared views and packets know of this shape's steps."""
    return CrossRegion(
        viewers=viewers,
        origin_steps=("origin_verification", "origin_decision"),
        answer_actions=("record_origin_opinion", "record_origin_decision"),
        supplement_step="supplement",
        supplement_actions=("request_supplement", "supplemented"),
        withdrawal_action=WITHDRAWAL.name,
        support_step="in_support",
        support_ended_action="record_support_ended",
        residence_ended_action="record_residence_ended",
        ended_outcomes=tuple(name for name, _ in ENDED_BECAUSE),
        education_action="record_education",
    )


def check_cross_region(ctx: StartContext) -> None:
    """A cross-region application: the origin is a known county-level code, and not the very place the
    residence township serves (there it is an ordinary local application)."""
    origin = ctx.facts["origin_region"]
    region = get_region(origin, allow_historical=False)
    if region is None or origin == ctx.served.city or len(origin) != 6 or origin.endswith("00"):
        raise DomainError("region_unknown", f"户籍地“{origin}”不是有效的县级行政区划代码", field="origin_region")
    same_place = origin == ctx.county and (
        not ctx.facts.get("origin_township_id") or ctx.facts.get("origin_township_id") == ctx.starter_agency_id
    )
    if same_place:
        raise DomainError(
            "not_cross_region",
            "户籍地与居住地为同一乡镇（街道），不属于跨地区认定，请按户籍地申请程序办理",
            field="origin_region",
        )
    if not ctx.served.serves(origin) and ctx.facts.get("origin_township_id"):
        raise DomainError("field_invalid", "户籍地不在本市，无需选择户籍地乡镇（街道）", field="origin_township_id")


def start_fields(kinds: tuple[tuple[str, str], ...]) -> tuple[Field, ...]:
    return (
        Field("kind", "申请类别", FieldKind.choice, choices=kinds),
        Field(
            "origin_region",
            "户籍地（县、市、区）",
            FieldKind.region,
            role=FieldRole.destination_region,
            help="儿童户籍所在县级行政区划；本市以外的（如太原市、河南省）按系统外办理",
        ),
        Field(
            "origin_township_id",
            "户籍地乡镇（街道）",
            FieldKind.agency,
            required=False,
            agency_type=T.township,
            role=FieldRole.destination_agency,
            help="本市的须选择；不选则为户籍地县（区）的默认乡镇（街道）",
        ),
        Field("applicant", "申请人（监护人或抚养人）"),
        Field("situation", "申请情况", FieldKind.textarea),
    )


CERTIFICATION_MATERIALS = materials(
    (
        ("application_form", "《孤儿、事实无人抚养儿童基本生活保障申请表》"),
        ("household_register", "儿童户口簿（无户籍的提供出生医学证明等）"),
        ("identity_proof", "儿童及申请人身份证明"),
        ("parents_status", "父母死亡、失踪、重残、重病、服刑等情况证明"),
        ("guardian_statement", "监护人或抚养人情况说明"),
    )
)

CERTIFICATION = Process(
    name="certification",
    label="孤儿、事实无人抚养儿童认定",
    code="RD",
    orchestration="certification",
    description="居住地乡镇（街道）受理，户籍地查验核实、审批；认定后纳入保障，定期复核。",
    purpose="孤儿、事实无人抚养儿童认定",
    policies=residence_origin_policies("certification", "民发〔2019〕62号"),
    start_fields=start_fields((("orphan", "孤儿"), ("de_facto_unsupported", "事实无人抚养儿童"))),
    check_start=check_cross_region,
    cross_region=cross_region((T.civil_affairs,)),
    starts=(StartOption("residence_intake", (T.township,), "受理跨地区认定申请"),),
    outcomes=(
        Outcome("withdrawn", "申请撤回（含逾期未补正视为撤回）"),
        Outcome("rejected", "不予认定"),
        Outcome("ended", "情况变化，保障终止"),
        Outcome("adult", "年满18周岁（或毕业），保障终止"),
    ),
    summary_fields=(
        ("origin", "户籍地"),
        ("holder_side", "办理方"),
        ("allowance_from", "保障起始月份"),
        ("support_ends_from", "保障终止月份"),
        ("in_education_until", "全日制在校就读至"),
    ),
    documents=(RESULT_NOTICE, WITHDRAWN_NOTICE, TRANSFER),
    case_actions=(WITHDRAWAL,),
    steps=residence_origin_steps("certification", CERTIFICATION_MATERIALS, T.civil_affairs),
)
