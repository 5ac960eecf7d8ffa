"""Guardianship intervention (监护干预), processes.md §1: plan item 17; 未成年人保护法 Arts. 92-94, 118;
家庭教育促进法 Arts. 48-49."""

from __future__ import annotations

from domain.enums import AgencyType as T
from domain.errors import DomainError
from domain.oversight import COMMITTEE_AUDIENCE
from domain.policy import policy
from domain.process import (
    CLOSE,
    DATE_DONE,
    END_TRACK,
    NOTE,
    NOTE_REQUIRED,
    Action,
    DemoCase,
    DocumentKind,
    ExtensionRule,
    Field,
    FieldKind,
    FieldRole,
    NotBefore,
    Outcome,
    PayloadLabel,
    Process,
    StartContext,
    StartOption,
    Step,
    handover_step,
)
from domain.processes.guardianship_report import GUARDIANSHIP_REPORT

DECIDING_AUTHORITIES = (T.police, T.procuratorate, T.court)

REPRIMAND = DocumentKind(
    "reprimand",
    "训诫书",
    {"issued_on": "日期", "content": "内容", "authority": "制发机关", "family_education_order": "责令接受家庭教育指导"},
    word="训字",
)

DECISIONS = (
    ("reprimand", "训诫"),
    ("reprimand_penalty", "训诫并给予治安管理处罚"),
)
WITH_PENALTY = "reprimand_penalty"

# A village committee's step: overdue, the committee and the township's child supervisor (儿童督导员) are
# told; then county civil affairs; then the city's (processes.md §1, clarifications).
COMMITTEE_LADDER = COMMITTEE_AUDIENCE

# The order to receive family-education guidance, and who gives it: asked where the reprimand is decided
# (the police's decision, or the reprimand itself where a procuratorate or court starts the case), once.
ORDER_FIELDS = (
    Field("family_education_order", "责令接受家庭教育指导", FieldKind.bool, required=False, once=True),
    Field(
        "guidance_agency_id",
        "家庭教育指导站",
        FieldKind.agency,
        required=False,
        agency_type=T.education_bureau,
        help="责令接受家庭教育指导的，默认由本县（区）妇联指导；由教育局家庭教育指导站指导的，在此选择",
        once=True,
    ),
)


def check_start(ctx: StartContext) -> None:
    """Monitoring falls to the committee where the child lives, so every case needs one."""
    if not ctx.facts.get("village_committee_id"):
        raise DomainError("field_required", "请选择儿童居住地的村（居）委会", field="village_committee_id")


GUARDIANSHIP = Process(
    name="guardianship",
    label="监护干预",
    code="JH",
    orchestration="guardianship",
    description="监护人不依法履行监护职责或侵害儿童权益：村（居）委会劝诫、制止，或强制报告公安机关。",
    purpose="关爱保护",
    policies=(
        policy("guardianship.admonition", "3WD", "村（居）委会记录劝诫、制止"),
        policy("guardianship.admonition_review", "30d", "劝诫后回访复查"),
        policy("guardianship.police_accept", "24h", "公安机关受理报告", "公安机关受案立案规定：行政案件24小时内受案"),
        policy("guardianship.police_decision", "30d", "公安机关作出处理决定", "治安管理处罚法第99条（可延长一次30日）"),
        policy("guardianship.reprimand_issue", "3WD", "制发训诫书"),
        policy("guardianship.guidance_first", "15WD", "责令后首次家庭教育指导"),
        policy("guardianship.guidance_next", "30d", "下一次家庭教育指导"),
        policy("guardianship.guidance_sessions", "3count", "家庭教育指导应完成次数"),
        policy("guardianship.noncompliance_decision", "15WD", "监护人拒不接受指导后，责令机关作出处理"),
        policy("guardianship.monitoring_visit", "30d", "跟踪回访：第一次回访（开始跟踪后）"),
        policy("guardianship.monitoring_final", "90d", "跟踪回访：第二次回访（开始跟踪后）"),
        policy("guardianship.handover_ack", "5WD", "迁入地村（居）委会确认接收"),
        policy("guardianship.temp_custody_accept", "24h", "未成年人救助保护机构接收儿童", "未成年人保护法第92条"),
        policy("guardianship.temp_custody_reassess", "30d", "临时监护期间监护能力再评估"),
        policy("guardianship.revocation_decision", "30d", "法院审理撤销监护人资格", "审理期限一个月"),
        policy("guardianship.long_term_placement", "15WD", "儿童福利机构办理长期监护安置"),
        policy("guardianship.monitoring_clean_visits", "2count", "跟踪回访：情况良好的回访达到该次数即结案"),
        policy("guardianship.monitoring_window", "7d", "跟踪回访：应回访日期前该天数起可记录（默认）"),
    ),
    counter_labels={"sessions": ("已完成指导", "次"), "visits": ("已完成回访", "次")},
    documents=(REPRIMAND,),
    periodic_report=GUARDIANSHIP_REPORT,
    demo_cases=tuple(
        DemoCase(level, child, committee, "admonition", {"facts": text, "guardian_aware": True})
        for level, child, committee, text in (
            (1, "王小明", "luzhou-vc1", "（演示）父母外出务工，儿童独自在家，邻居反映夜间无人照看"),
            (2, "李娜", "luzhou-vc1", "（演示）监护人长期酗酒，儿童多日未按时吃饭"),
            (3, "张浩", "luzhou-vc2", "（演示）祖父年老多病，无力照看，儿童经常夜不归宿"),
        )
    ),
    payload_labels=(
        PayloadLabel("session_number", "家庭教育指导", "第{}次", of="sessions_required"),
        PayloadLabel("visit_number", "情况良好的回访", "第{}次", of="visits_required"),
    ),
    check_start=check_start,
    tracks={"main": "主流程", "safety": "儿童安全（临时监护）"},
    start_fields=(
        Field("facts", "监护人失职的情况", FieldKind.textarea, help="发现了什么、何时、何地，儿童现状"),
        Field("occurred_on", "发现日期", FieldKind.date, not_future=True, role=FieldRole.occurred_on),
        Field(
            "village_committee_id",
            "居住地村（居）委会",
            FieldKind.agency,
            required=False,
            agency_type=T.village_committee,
            help="负责劝诫和跟踪回访的村（居）委会；由村（居）委会立案时为本单位",
            role=FieldRole.residence_committee,
        ),
        Field("guardian_aware", "监护人是否知情", FieldKind.bool, required=False),
    ),
    starts=(
        StartOption("admonition", (T.village_committee,), "村（居）委会劝诫、制止"),
        StartOption(
            "police_report",
            (
                T.village_committee,
                T.school,
                T.hospital,
                T.township,
                T.civil_affairs,
                T.womens_federation,
                T.education_bureau,
                T.social_work_org,
                T.youth_league,
                T.police,
                T.procuratorate,
                T.court,
            ),
            "强制报告：报告公安机关",
        ),
        StartOption("reprimand", DECIDING_AUTHORITIES, "办案中直接训诫"),
    ),
    outcomes=(
        Outcome("resolved", "已解决"),
        Outcome("moved", "儿童已迁出并移交"),
        Outcome("adult", "儿童已满十八周岁"),
        Outcome("long_term_guardianship", "转入长期监护"),
    ),
    steps=(
        Step(
            "admonition",
            "劝诫、制止",
            (T.village_committee,),
            "guardianship.admonition",
            audience=COMMITTEE_LADDER,
            description="村（居）委会对监护人进行劝诫、制止，并记录",
            actions=(
                Action(
                    "record_admonition",
                    "记录劝诫",
                    to=("admonition_followup",),
                    fields=(DATE_DONE, Field("content", "劝诫内容及监护人态度", FieldKind.textarea)),
                ),
                Action(
                    "report_serious",
                    "情节严重，报告公安机关",
                    to=("police_report",),
                    fields=(NOTE_REQUIRED,),
                    style="danger",
                ),
            ),
        ),
        Step(
            "admonition_followup",
            "劝诫后回访",
            (T.village_committee,),
            "guardianship.admonition_review",
            audience=COMMITTEE_LADDER,
            description="劝诫后复查监护人是否改正",
            actions=(
                Action("improved", "已改正，转入跟踪回访", to=("monitoring",), fields=(DATE_DONE, NOTE)),
                Action(
                    "not_improved",
                    "未改正，报告公安机关",
                    to=("police_report",),
                    fields=(DATE_DONE, NOTE_REQUIRED),
                    style="danger",
                ),
            ),
        ),
        Step(
            "police_report",
            "报告公安机关",
            (T.police,),
            "guardianship.police_accept",
            description="公安机关接到报告后受理",
            actions=(
                Action(
                    "accept",
                    "受理",
                    to=("police_decision",),
                    fields=(Field("police_case_ref", "受案登记号", required=False), NOTE),
                ),
            ),
        ),
        Step(
            "police_decision",
            "公安机关处理",
            (T.police,),
            "guardianship.police_decision",
            extension=ExtensionRule(times=1, at_most="30d"),  # 治安管理处罚法 Art. 99
            description="调查后作出处理决定；结果反馈报告单位",
            actions=(
                Action(
                    "decide_reprimand",
                    "决定训诫",
                    to=("reprimand",),
                    fields=(
                        Field("decision", "处理决定", FieldKind.choice, choices=DECISIONS),
                        *ORDER_FIELDS,
                        Field(
                            "penalty", "治安管理处罚内容", required=False, help="决定给予治安管理处罚的，填写处罚种类"
                        ),
                        NOTE,
                    ),
                ),
                Action(
                    "open_criminal_case",
                    "立案侦查（追究刑事责任）",
                    to=("monitoring",),
                    fields=(Field("criminal_case_ref", "刑事案件编号", required=False), NOTE_REQUIRED),
                    style="danger",
                ),
                Action(
                    "no_violation",
                    "不构成违法，转入跟踪回访",
                    to=("monitoring",),
                    fields=(NOTE_REQUIRED,),
                    style="secondary",
                ),
            ),
        ),
        Step(
            "reprimand",
            "训诫",
            DECIDING_AUTHORITIES,
            "guardianship.reprimand_issue",
            description="作出决定的机关（公安、检察院或法院）制发训诫书",
            actions=(
                Action(
                    "issue_reprimand",
                    "制发训诫书",
                    to=("family_education_guidance", "monitoring"),
                    fields=(
                        DATE_DONE,
                        Field(
                            "content",
                            "查明的事实",
                            FieldKind.textarea,
                            help="只写本案查明的事实；法律依据和训诫用语由训诫书自动写明，不必重复",
                        ),
                        *ORDER_FIELDS,
                    ),
                ),
            ),
        ),
        Step(
            "family_education_guidance",
            "家庭教育指导",
            (T.womens_federation, T.education_bureau),
            "guardianship.guidance_first",
            then=("guardianship.guidance_next",),
            count_key="guardianship.guidance_sessions",
            counter="sessions",
            description="妇联（或教育局家庭教育指导站）安排并记录指导",
            actions=(
                Action(
                    "record_session",
                    "记录一次指导",
                    to=("", "monitoring"),
                    fields=(
                        DATE_DONE,
                        Field("content", "指导内容", FieldKind.textarea),
                        Field("guardian_attended", "监护人到场", FieldKind.bool, required=False),
                    ),
                ),
                Action(
                    "report_noncompliance",
                    "监护人拒不接受指导",
                    to=("guidance_noncompliance",),
                    fields=(NOTE_REQUIRED,),
                    style="danger",
                ),
            ),
        ),
        Step(
            "guidance_noncompliance",
            "拒不接受指导的处理",
            DECIDING_AUTHORITIES,
            "guardianship.noncompliance_decision",
            description="退回责令机关：再次训诫、处罚，或由法院发出家庭教育指导令",
            actions=(
                Action("reprimand_again", "再次训诫", to=("reprimand",), fields=(NOTE,)),
                Action(
                    "penalise",
                    "给予治安管理处罚，继续指导",
                    to=("family_education_guidance",),
                    fields=(Field("penalty", "处罚内容"), NOTE),
                    holder_types=(T.police,),
                ),
                Action(
                    "issue_guidance_order",
                    "发出家庭教育指导令",
                    to=("family_education_guidance",),
                    fields=(Field("order_ref", "指导令文号", required=False), NOTE),
                    holder_types=(T.court,),
                ),
            ),
        ),
        Step(
            "monitoring",
            "跟踪回访",
            (T.village_committee,),
            "guardianship.monitoring_visit",
            then=("guardianship.monitoring_final",),
            count_key="guardianship.monitoring_clean_visits",
            window_key="guardianship.monitoring_window",
            due_label="应回访日期",
            counter="visits",
            audience=COMMITTEE_LADDER,
            description="村（居）委会、儿童主任在30日和90日回访",
            actions=(
                Action(
                    "record_visit",
                    "记录回访",
                    to=("", CLOSE),
                    fields=(
                        DATE_DONE,
                        Field(
                            "finding",
                            "回访结果",
                            FieldKind.choice,
                            choices=(("clean", "情况良好"), ("concern", "仍有隐患，继续跟踪")),
                        ),
                        NOTE,
                    ),
                    not_before=NotBefore.window,
                ),
                Action(
                    "report_new_harm",
                    "发现新的侵害，报告公安机关",
                    to=("police_report",),
                    fields=(NOTE_REQUIRED,),
                    style="danger",
                ),
            ),
        ),
        handover_step(
            "迁出移交",
            T.village_committee,
            "guardianship.handover_ack",
            "儿童迁往他处：迁入地村（居）委会确认接收；辖区外的，由原村（居）委会记录对方回执",
            audience=COMMITTEE_LADDER,
        ),
        # The child-safety branch, running beside the main track (未保法 Arts. 92-94).
        Step(
            "temporary_guardianship_intake",
            "临时监护接收",
            (T.civil_affairs,),
            "guardianship.temp_custody_accept",
            track="safety",
            description="未成年人救助保护机构接收儿童",
            actions=(
                Action(
                    "accept_child",
                    "已接收儿童",
                    to=("temporary_guardianship",),
                    fields=(DATE_DONE, Field("placement", "安置地点/方式"), NOTE),
                ),
            ),
        ),
        Step(
            "temporary_guardianship",
            "临时监护",
            (T.civil_affairs,),
            "guardianship.temp_custody_reassess",
            track="safety",
            description="每30日评估监护人监护能力",
            actions=(
                Action(
                    "record_reassessment",
                    "记录监护能力评估",
                    to=("",),
                    fields=(DATE_DONE, Field("assessment", "评估意见", FieldKind.textarea)),
                ),
                Action(
                    "return_home",
                    "送回监护人（未保法第93条）",
                    to=(END_TRACK,),
                    fields=(DATE_DONE, NOTE_REQUIRED),
                ),
                Action(
                    "apply_revocation",
                    "向法院申请撤销监护人资格",
                    to=("guardianship_revocation",),
                    fields=(NOTE_REQUIRED,),
                    style="danger",
                ),
            ),
        ),
        Step(
            "guardianship_revocation",
            "撤销监护人资格诉讼",
            (T.court,),
            "guardianship.revocation_decision",
            track="safety",
            description="法院一个月内审理；检察院可支持起诉",
            actions=(
                Action(
                    "revoke",
                    "判决撤销监护人资格",
                    to=("long_term_guardianship",),
                    fields=(Field("judgment_ref", "判决书文号"), NOTE),
                ),
                Action(
                    "reject_revocation",
                    "驳回申请",
                    to=("temporary_guardianship",),
                    fields=(Field("judgment_ref", "判决书文号", required=False), NOTE_REQUIRED),
                    style="secondary",
                ),
                Action(
                    "support_suit",
                    "检察院支持起诉",
                    to=("",),
                    fields=(NOTE,),
                    actor_types=(T.procuratorate,),
                    style="secondary",
                ),
            ),
        ),
        Step(
            "long_term_guardianship",
            "长期监护安置",
            (T.civil_affairs,),
            "guardianship.long_term_placement",
            track="safety",
            description="儿童福利机构长期监护（未保法第94条）",
            actions=(
                Action(
                    "confirm_placement",
                    "确认长期监护安置",
                    to=(CLOSE, END_TRACK),
                    fields=(DATE_DONE, Field("institution", "儿童福利机构"), NOTE),
                ),
            ),
        ),
    ),
    case_actions=(
        Action(
            "place_temporary_guardianship",
            "采取临时监护措施",
            to=("temporary_guardianship_intake",),
            fields=(NOTE_REQUIRED,),
            actor_types=(T.police, T.civil_affairs),
            style="danger",
        ),
        Action(
            "child_moved",
            "儿童迁出，移交迁入地",
            to=("handover",),
            fields=(
                Field(
                    "destination_region",
                    "迁入地（县、市、区）",
                    FieldKind.region,
                    role=FieldRole.destination_region,
                ),
                Field(
                    "destination_agency_id",
                    "迁入地村（居）委会",
                    FieldKind.agency,
                    required=False,
                    agency_type=T.village_committee,
                    help="迁入地在本市的，选择接收的村（居）委会",
                    role=FieldRole.destination_agency,
                ),
                Field("destination_address", "迁入地地址", required=False),
                NOTE,
            ),
            actor_types=(T.village_committee,),
            style="secondary",
        ),
    ),
)
