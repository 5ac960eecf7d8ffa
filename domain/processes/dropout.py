"""Dropout return (劝返复学, 控辍保学), processes.md §2: plan item 4 (应返尽返、不漏一人); 义务教育法 Art. 58;
未成年人保护法 Art. 83."""

from __future__ import annotations

from datetime import date

from domain.enums import AgencyType as T
from domain.enums import Role
from domain.errors import DomainError
from domain.idnumber import age_on
from domain.policy import policy
from domain.process import (
    CLOSE,
    DATE_DONE,
    NOTE,
    NOTE_REQUIRED,
    Action,
    DocumentKind,
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
from domain.school_calendar import SchoolCalendar

RETURNED_ON = Field("returned_on", "复学日期", FieldKind.date, not_future=True, happened=True)
RETURN_SCHOOL = Field(
    "school_id",
    "复学学校",
    FieldKind.agency,
    required=False,
    agency_type=T.school,
    help="不填则为原就读学校（接收迁入学生的关联案件须选择）",
)

# Compulsory education (义务教育法 Art. 11): from 6 for nine years; a pupil who started late may still be
# in it at 16, so the process serves ages 6 to 16.
COMPULSORY_AGES = (6, 16)
# An absence reported is of weeks, not years: counting school days over a longer span tells nothing and
# takes the server seconds (a year is ample for a report entered late).
ABSENCE_SPAN_DAYS = 366

ATTEMPT_KINDS = (("home_visit", "入户劝返"), ("phone", "电话沟通"), ("meeting", "约谈"), ("other", "其他"))
PLACEMENTS = (
    ("home_teaching", "送教上门（重度残疾）"),
    ("special_school", "特殊教育学校"),
    ("vocational", "职业学校"),
)
MEASURES = (
    ("administrative_penalty", "行政处罚"),
    ("supported_lawsuit", "支持起诉"),
    ("enforcement", "申请强制执行"),
    ("other", "其他"),
)

WRITTEN_ORDER = DocumentKind(
    "written_order",
    "责令限期改正通知书",
    {"issued_on": "日期", "comply_by": "改正期限", "content": "内容", "authority": "制发机关", "school": "学校"},
    word="责改字",
)

HANDOVER_FIELDS = (
    Field("destination_region", "迁入地（县、市、区）", FieldKind.region, role=FieldRole.destination_region),
    Field("destination_address", "迁入地地址", required=False),
    Field("destination_school", "迁入地学校（如已知）", required=False),
    NOTE,
)


def check_start(ctx: StartContext) -> None:
    """A suspected dropout: a pupil of compulsory-education age, absent without reason for at least
    `dropout.absence_threshold` school days, the dates not in the future and in order."""
    if ctx.starter_type != T.school and not ctx.facts.get("school_id"):
        raise DomainError("field_required", "请选择学生就读的学校", field="school_id")
    age = age_on(ctx.birth_date, ctx.today)
    low, high = COMPULSORY_AGES
    if not low <= age <= high:
        raise DomainError(
            "not_compulsory_age", f"该学生{age}周岁，不在义务教育年龄段（{low}至{high}周岁）", field="child_id"
        )
    start = date.fromisoformat(ctx.facts["absent_from"])
    end = date.fromisoformat(ctx.facts["absent_to"])
    if end < start:
        raise DomainError("dates_out_of_order", "缺课结束日期早于开始日期", field="absent_to")
    if (end - start).days > ABSENCE_SPAN_DAYS:
        raise DomainError("absence_too_long", "缺课开始日期距结束日期超过一年，请核对缺课开始日期", field="absent_from")
    threshold = ctx.policy("dropout.absence_threshold").amount
    counted = ctx.school_calendar.school_days_between(start, end)
    if counted.count < threshold:
        basis = "（本县尚未设置这段日期的校历，按法定工作日计算）" if counted.fallback else "（按本县校历计算）"
        raise DomainError(
            "below_threshold",
            f"连续无故缺课{counted.count}个上学日，未达到{threshold}个上学日，暂不按疑似辍学报告{basis}",
            field="absent_to",
        )


def school_days_between(start: date, end: date, calendar: SchoolCalendar | None = None) -> int:
    """School days from `start` to `end`, both included, on the county's school calendar (without one:
    the statutory working days)."""
    return (calendar or SchoolCalendar()).school_days_between(start, end).count


DROPOUT = Process(
    name="dropout_return",
    label="劝返复学",
    code="KC",
    orchestration="dropout",
    description="义务教育阶段学生无正当理由连续缺课、疑似辍学：学校联系家访，县教育局会同乡镇、村（居）委会劝返复学。",
    purpose="劝返复学",
    policies=(
        policy("dropout.absence_threshold", "7count", "连续无故缺课达到该上学日数即按疑似辍学报告"),
        policy("dropout.school_contact", "3WD", "学校联系监护人并家访"),
        policy("dropout.joint_persuasion", "15WD", "县教育局会同乡镇、村（居）委会联合劝返"),
        policy("dropout.written_order_issue", "5WD", "制发书面责令限期改正通知", "义务教育法第58条"),
        policy(
            "dropout.written_order_comply", "15d", "责令改正期限（默认）", "义务教育法第58条规定“限期”，未定具体天数"
        ),
        policy("dropout.legal_review", "30d", "依法控辍：每30日记录一次进展"),
        policy("dropout.unresolved_signoff", "5WD", "督导审核“依法控辍用尽仍未复学”"),
        policy("dropout.locate", "15WD", "查找去向"),
        policy("dropout.handoff_ack", "5WD", "迁入地县教育局确认接收"),
        policy("dropout.consolidation_check", "30d", "复学后第一次到校核查（复学后30日）"),
        policy("dropout.consolidation_final", "90d", "复学后第二次到校核查（复学后90日）"),
        policy("dropout.consolidation_checks", "2count", "巩固：到校核查通过该次数即结案"),
        policy("dropout.consolidation_window", "7d", "到校核查：应核查日期前该天数起可记录（默认）"),
    ),
    counter_labels={
        "attempts": ("已记录劝返", "次"),
        "home_visits": ("其中入户劝返", "次"),
        "measures": ("已记录控辍措施", "次"),
        "checks": ("已完成到校核查", "次"),
    },
    documents=(WRITTEN_ORDER,),
    registry_proposals=("left_school_roll",),
    payload_labels=(PayloadLabel("relapse", "复辍", "第{}次再次辍学"),),
    check_start=check_start,
    closes_at_age=17,
    aged_out_outcome="aged_out",
    summary_fields=(("school", "学校"), ("relapses", "复辍次数")),
    report_by="school",
    counts_school_days=True,
    start_fields=(
        Field(
            "school_id",
            "就读学校",
            FieldKind.agency,
            required=False,
            agency_type=T.school,
            help="由学校报告时为本校；由教育局报告时请选择学生就读的学校",
        ),
        Field("class_name", "年级班级", help="如：四年级二班"),
        Field(
            "absent_from",
            "缺课开始日期",
            FieldKind.date,
            not_future=True,
            help="上学日按本县教育局设置的校历计算（寒暑假、学期内假期不计）；未设置校历的日期按法定工作日计算",
        ),
        Field("absent_to", "缺课截至日期", FieldKind.date, not_future=True),
        Field("known", "学校已掌握的情况", FieldKind.textarea, help="缺课原因、家庭情况、已采取的联系等"),
        Field(
            "village_committee_id",
            "居住地村（居）委会",
            FieldKind.agency,
            required=False,
            agency_type=T.village_committee,
            help="参与联合劝返；不填则按儿童登记的居住地",
            role=FieldRole.residence_committee,
        ),
    ),
    starts=(StartOption("school_contact", (T.school, T.education_bureau), "报告疑似辍学"),),
    outcomes=(
        Outcome("returned", "已复学"),
        Outcome("moved", "已迁出并移交"),
        Outcome("unresolved", "依法控辍用尽，未能复学"),
        Outcome("aged_out", "已超出义务教育年龄"),
    ),
    steps=(
        Step(
            "school_contact",
            "学校联系家访",
            (T.school,),
            "dropout.school_contact",
            description="学校联系监护人并家访，了解原因、督促返校",
            actions=(
                Action("returned", "学生已返校", to=("consolidation",), fields=(RETURNED_ON, NOTE)),
                Action(
                    "not_returned",
                    "联系家访后仍未返校，提请联合劝返",
                    to=("joint_persuasion",),
                    fields=(
                        Field("contacted_on", "联系监护人日期", FieldKind.date, not_future=True, happened=True),
                        Field("visited_on", "家访日期", FieldKind.date, not_future=True, happened=True),
                        Field("family_says", "家长/学生的说法", FieldKind.textarea),
                    ),
                    style="danger",
                ),
                Action(
                    "moved_or_unknown",
                    "已随家庭迁走或去向不明",
                    to=("locate",),
                    fields=(Field("known_destination", "已知去向", required=False), NOTE_REQUIRED),
                    style="secondary",
                ),
            ),
        ),
        Step(
            "joint_persuasion",
            "联合劝返",
            (T.education_bureau,),
            "dropout.joint_persuasion",
            description="县教育局会同乡镇、村（居）委会“双线”劝返，一生一案，至少一次入户",
            actions=(
                Action(
                    "record_attempt",
                    "记录一次劝返",
                    to=("",),
                    by_co_holders=True,
                    fields=(
                        DATE_DONE,
                        Field("kind", "方式", FieldKind.choice, choices=ATTEMPT_KINDS),
                        Field("who", "参加人员"),
                        Field("result", "结果", FieldKind.textarea),
                    ),
                ),
                # The committee or the township may be the first to see the pupil back at school.
                Action(
                    "returned",
                    "学生已复学",
                    to=("consolidation",),
                    fields=(RETURNED_ON, RETURN_SCHOOL, NOTE),
                    by_co_holders=True,
                ),
                Action(
                    "special_placement",
                    "特殊安置",
                    to=("consolidation",),
                    fields=(
                        Field("placement", "安置方式", FieldKind.choice, choices=PLACEMENTS),
                        DATE_DONE,
                        RETURN_SCHOOL,
                        NOTE,
                    ),
                    style="secondary",
                ),
                Action(
                    "refuses", "家长拒不送学，书面责令", to=("written_order",), fields=(NOTE_REQUIRED,), style="danger"
                ),
                Action(
                    "moved_or_unknown",
                    "已迁走或去向不明",
                    to=("locate",),
                    fields=(Field("known_destination", "已知去向", required=False), NOTE_REQUIRED),
                    style="secondary",
                ),
            ),
        ),
        Step(
            "written_order",
            "书面责令限期改正",
            (T.education_bureau, T.township),
            "dropout.written_order_issue",
            description="乡镇人民政府或县教育局书面责令监护人限期送学（义务教育法第58条）",
            actions=(
                Action(
                    "issue_order",
                    "制发责令改正通知书",
                    to=("order_compliance",),
                    by_co_holders=True,  # the township may issue it (义务教育法 Art. 58)
                    fields=(
                        DATE_DONE,
                        Field(
                            "comply_by",
                            "改正期限（送学截止日期）",
                            FieldKind.date,
                            default_policy="dropout.written_order_comply",
                        ),
                        Field(
                            "content",
                            "改正要求",
                            FieldKind.textarea,
                            help="只写本案的改正要求（如送学、配合学校做好复学工作）；法律依据和责令用语由通知书自动写明",
                        ),
                    ),
                ),
            ),
        ),
        Step(
            "order_compliance",
            "限期改正",
            (T.education_bureau, T.township),
            None,  # due on the date the order sets
            description="改正期限内复学则转入巩固；期满仍未复学则依法控辍",
            due_label="改正期限",
            actions=(
                # The township that issued the order may follow its compliance too.
                Action(
                    "returned",
                    "已按期复学",
                    to=("consolidation",),
                    fields=(RETURNED_ON, RETURN_SCHOOL, NOTE),
                    by_co_holders=True,
                ),
                Action(
                    "not_complied",
                    "期满仍未复学，依法控辍",
                    to=("legal_action",),
                    fields=(NOTE_REQUIRED,),
                    style="danger",
                    by_co_holders=True,
                    not_before=NotBefore.deadline,
                ),
            ),
        ),
        Step(
            "legal_action",
            "依法控辍",
            (T.education_bureau,),
            "dropout.legal_review",
            description="会同司法行政部门、法院：行政处罚、支持起诉、强制执行；每30日记录进展",
            actions=(
                Action(
                    "record_measure",
                    "记录控辍措施及进展",
                    to=("",),
                    fields=(
                        DATE_DONE,
                        Field("measure", "措施", FieldKind.choice, choices=MEASURES),
                        Field("result", "进展", FieldKind.textarea),
                    ),
                ),
                Action("returned", "学生已复学", to=("consolidation",), fields=(RETURNED_ON, RETURN_SCHOOL, NOTE)),
                Action(
                    "exhausted",
                    "措施用尽仍未复学，报督导审核",
                    to=("unresolved_signoff",),
                    fields=(NOTE_REQUIRED,),
                    style="danger",
                ),
            ),
        ),
        Step(
            "unresolved_signoff",
            "未复学结案审核",
            (T.education_bureau,),
            "dropout.unresolved_signoff",
            description="依法控辍用尽仍未复学，须县教育局督导审核后方可结案",
            actions=(
                Action("sign_off", "同意以未复学结案", to=(CLOSE,), fields=(NOTE_REQUIRED,), roles=(Role.supervisor,)),
                Action(
                    "reject_signoff",
                    "不同意，继续依法控辍",
                    to=("legal_action",),
                    fields=(NOTE_REQUIRED,),
                    roles=(Role.supervisor,),
                    style="secondary",
                ),
            ),
        ),
        Step(
            "locate",
            "查找去向",
            (T.education_bureau,),
            "dropout.locate",
            description="去向已知的移交迁入地县教育局；去向不明的请公安机关协助",
            actions=(
                Action("hand_over", "移交迁入地教育局", to=("handover",), fields=HANDOVER_FIELDS),
                Action(
                    "request_police_assist", "请公安机关协助查找", to=("",), fields=(NOTE_REQUIRED,), style="secondary"
                ),
                Action(
                    "located_here",
                    "已找到，仍在本县",
                    to=("joint_persuasion",),
                    by_co_holders=True,  # the police, asked to help, may report where the pupil is
                    fields=(Field("whereabouts", "现住址/去向"), NOTE),
                ),
                Action("returned", "学生已复学", to=("consolidation",), fields=(RETURNED_ON, RETURN_SCHOOL, NOTE)),
            ),
        ),
        handover_step(
            "跨县移交",
            T.education_bureau,
            "dropout.handoff_ack",
            "迁入地县教育局确认接收（本市以外的，由移出地记录对方回执）；确认前不能以迁出结案",
            ack_fields=(
                Field("continue_here", "在本县继续劝返（新建关联案件）", FieldKind.bool, required=False),
                Field(
                    "destination_committee_id",
                    "学生现居住地村（居）委会（参与联合劝返）",
                    FieldKind.agency,
                    required=False,
                    agency_type=T.village_committee,
                    role=FieldRole.destination_agency,
                ),
            ),
        ),
        Step(
            "consolidation",
            "巩固跟踪",
            (T.school,),
            "dropout.consolidation_check",
            then=("dropout.consolidation_final",),
            count_key="dropout.consolidation_checks",
            window_key="dropout.consolidation_window",
            due_label="应核查日期",
            counter="checks",
            description="复学后30日、90日各核查一次到校情况",
            actions=(
                Action(
                    "record_attendance",
                    "记录到校核查（正常在校）",
                    to=("", CLOSE),
                    fields=(DATE_DONE, Field("attendance", "到校情况", FieldKind.textarea)),
                    not_before=NotBefore.window,
                ),
                Action("dropped_again", "再次辍学", to=("school_contact",), fields=(NOTE_REQUIRED,), style="danger"),
            ),
        ),
    ),
)
