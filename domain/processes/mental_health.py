"""Mental-health referral (心理健康转介), processes.md §4: plan items 18-19; 未成年人保护法 Art. 90;
精神卫生法 Arts. 16, 23, 28-32."""

from __future__ import annotations

from datetime import date, timedelta

from domain.care_periods import CarePeriod, care_period_on
from domain.enums import AgencyType as T
from domain.enums import Role
from domain.errors import DomainError
from domain.oversight import Rung, Scope
from domain.policy import Allowance, Unit, policy
from domain.process import (
    CLOSE,
    NOTE,
    NOTE_REQUIRED,
    Action,
    DocumentKind,
    Field,
    FieldKind,
    Outcome,
    PayloadLabel,
    Process,
    StartContext,
    StartOption,
    Step,
)

RISK_LEVELS = (("low", "低风险"), ("medium", "中风险"), ("high", "高风险"), ("crisis", "危机"))
CRISIS = "crisis"
# The triage deadline by the risk the referrer saw (processes.md §4).
TRIAGE_POLICY = {
    "low": "mental_health.triage_low",
    "medium": "mental_health.triage_medium",
    "high": "mental_health.triage_high",
}
CHANNELS = (
    ("school", "学校心理老师发现"),
    ("hospital", "医疗机构发现"),
    ("community", "儿童主任、网格员入户发现"),
    ("social_work", "社会工作者发现"),
    ("hotline", "12355青少年服务台来电"),
    ("self", "本人或家长求助"),
    ("other", "其他"),
)
# Who gave consent. Only a guardian may (精神卫生法 Art. 28, 30): the other relations are listed so that
# a clerk who picks one is told so, rather than a consent nobody may give being recorded.
GUARDIAN_RELATIONS = (("father", "父亲"), ("mother", "母亲"), ("other_guardian", "其他法定监护人"))
NON_GUARDIAN_RELATIONS = (
    ("grandparent", "祖父母/外祖父母（非监护人）"),
    ("relative", "其他亲属（非监护人）"),
    ("teacher", "老师"),
    ("child", "儿童本人"),
)
CONSENT_METHODS = (("written", "书面签字"), ("oral", "当面口头"), ("phone", "电话（已录音）"))
REASSESSMENT = (
    ("improved", "好转，转入随访"),
    ("continue", "继续辅导"),
    ("needs_diagnosis", "需要诊断，转介就医"),
    ("crisis", "出现危机，转危机干预"),
)
STABILITY = (("stable", "稳定"), ("unstable", "不稳定"))
DISCHARGE_TO = (("followup", "回转学校/社区随访"), ("community_rehab", "转精神障碍社区康复"))
WORSE_TO = (("counselling", "重新心理辅导"), ("medical_referral", "转介就医"))

# The counselling centre's county supervisors at level 2, the county's political-legal committee (which
# coordinates police and emergency services) at level 3.
CRISIS_LADDER = (Rung(Scope.holder), Rung(Scope.county), Rung(Scope.county, T.political_legal_committee))
# Level 2 at 2 h and level 3 at 4 h after the crisis opened: 1 h and 3 h after the 1-hour deadline.
CRISIS_OFFSETS = (Allowance(1, Unit.hours), Allowance(3, Unit.hours))


def halved(allowance: Allowance) -> Allowance:
    """Half a follow-up interval, in days (three months are 45 days, two weeks one week)."""
    days = {Unit.months: 30, Unit.days: 1, Unit.years: 365}.get(allowance.unit)
    if days is None:
        return allowance
    return Allowance(max(1, allowance.amount * days // 2), Unit.days)


def _span(allowance: Allowance) -> timedelta:
    return timedelta(days=allowance.amount * {Unit.months: 30, Unit.years: 365}.get(allowance.unit, 1))


def halving_period(base: date, allowance: Allowance, periods: list[CarePeriod]) -> CarePeriod | None:
    """The care period (domain/care_periods.py, set by the city) that halves a follow-up interval counted
    from `base`: the one the visit is recorded in, or the one the next visit would fall in."""
    return care_period_on(base, periods) or care_period_on(base + _span(allowance), periods)


def check_start(ctx: StartContext) -> None:
    """A crisis needs someone to call now: the referral names a contact."""
    if ctx.facts.get("risk_level") == CRISIS and not ctx.facts.get("contact"):
        raise DomainError("contact_required", "危机转介须填写可即时联系的联系人及电话", field="contact")


SIGNS = Field("signs", "观察到的表现", FieldKind.textarea, clinical=True, help="情绪、行为、言语等具体表现")
HOSPITAL = Field("hospital_id", "转介医院（精神科）", FieldKind.agency, agency_type=T.hospital)
CONSENT_FIELDS = (
    HOSPITAL,
    Field("consenter_name", "同意人姓名", clinical=True),
    Field(
        "consenter_relation",
        "同意人与儿童关系",
        FieldKind.choice,
        choices=(*GUARDIAN_RELATIONS, *NON_GUARDIAN_RELATIONS),
    ),
    Field("consented_on", "同意日期", FieldKind.date, not_future=True),
    Field("consent_method", "同意方式", FieldKind.choice, choices=CONSENT_METHODS),
    Field(
        "consent_form_ref",
        "知情同意书（扫描件编号或存档号）",
        clinical=True,
        help="纸质同意书在本单位档案中的编号",
    ),
    Field(
        "consent_form",
        "知情同意书扫描件",
        FieldKind.attachment,
        required=False,
        clinical=True,
        attachment="consent_form",
        required_when=("consent_method", "written"),
        help="PDF、JPG或PNG，仅心理辅导机构和医院可查看；书面签字的须上传，口头或电话同意的可不上传",
    ),
    NOTE,
)
DANGER_FIELDS = (
    HOSPITAL,
    Field(
        "danger_reason",
        "危险情形（精神卫生法第28条）",
        FieldKind.textarea,
        clinical=True,
        help="已经发生或有危险发生伤害自身、危害他人安全的行为",
    ),
    NOTE,
)
# The letter that goes with the child to the hospital: no clinical content, which the hospital reads in the
# case itself (domain/clinical.py).
REFERRAL_LETTER = DocumentKind(
    "medical_referral_letter",
    "心理健康转介就医通知单",
    {"hospital": "接收医院", "referred_by": "转介单位", "basis": "转介依据", "referred_on": "转介日期"},
    layout=False,
    word="心转字",
    served_to_guardians=False,
)
CONSENT_BASIS = "监护人知情同意"
DANGER_BASIS = "有危险情形（精神卫生法第28条），经督导确认"

# Whoever works with the child at a step may find that the guardian is the source of harm: a guardianship
# case is opened and linked, and the referral goes on.
GUARDIAN_HARM = Action(
    "guardian_harm",
    "监护人是伤害来源：转监护干预",
    to=("",),
    fields=(
        Field("village_committee_id", "儿童居住地村（居）委会", FieldKind.agency, agency_type=T.village_committee),
        NOTE_REQUIRED,
    ),
    style="danger",
)
# Referring to a hospital: with the guardian's consent, or, where there is danger, on a supervisor's
# confirmation with the reason (精神卫生法 Art. 28).
REFERRAL_ACTIONS = (
    GUARDIAN_HARM,
    Action("refer_with_consent", "监护人同意，转介医院", to=("hospital_accept",), fields=CONSENT_FIELDS),
    Action(
        "refer_danger_override",
        "有危险情形，督导确认后转介",
        to=("hospital_accept",),
        fields=DANGER_FIELDS,
        roles=(Role.supervisor,),
        style="danger",
    ),
)

MENTAL_HEALTH = Process(
    name="mental_health",
    label="心理健康转介",
    code="XL",
    orchestration="mental_health",
    description="发现儿童心理健康问题：县心理辅导中心评估分级，危机干预、心理辅导、转介就医、回转随访。",
    purpose="心理关爱",
    clinical_readers=(T.counselling_center, T.hospital),
    documents=(REFERRAL_LETTER,),
    policies=(
        policy("mental_health.triage_high", "24h", "高风险：心理辅导中心评估分级"),
        policy("mental_health.triage_medium", "3WD", "中风险：心理辅导中心评估分级"),
        policy("mental_health.triage_low", "5WD", "低风险：心理辅导中心评估分级"),
        policy("mental_health.crisis_ack", "1h", "危机：心理辅导中心响应（2小时报县级督导，4小时报政法委）"),
        policy("mental_health.crisis_referral", "24h", "危机：转介医院（自危机发生起）", "精神卫生法第28条"),
        policy("mental_health.counselling_first", "5WD", "首次心理辅导"),
        policy("mental_health.reassess", "28d", "心理辅导：每28日复评"),
        policy("mental_health.consent", "2WD", "转介就医：记录监护人同意", "精神卫生法第28、30条"),
        policy("mental_health.hospital_accept", "2WD", "医院接收或说明理由拒收"),
        policy("mental_health.followup_stable", "3M", "随访：稳定的每3个月一次", "严重精神障碍管理治疗工作规范"),
        policy("mental_health.followup_unstable", "14d", "随访：不稳定的每2周一次", "严重精神障碍管理治疗工作规范"),
        policy("mental_health.followup_stable_visits", "2count", "随访：连续稳定达到该次数即结案"),
    ),
    counter_labels={"sessions": ("已辅导", "次"), "stable_visits": ("连续稳定随访", "次")},
    payload_labels=(
        PayloadLabel("halved_for", "随访间隔减半", "{}期间"),
        PayloadLabel("declined_by", "拒收医院"),
    ),
    check_start=check_start,
    summary_fields=(("risk_level", "风险等级"),),
    report_by="risk_level",
    start_fields=(
        Field("channel", "发现渠道", FieldKind.choice, choices=CHANNELS),
        SIGNS,
        Field("risk_level", "初步风险等级", FieldKind.choice, choices=RISK_LEVELS),
        Field("guardian_aware", "监护人是否知情", FieldKind.bool, required=False),
        Field("contact", "联系人及电话", required=False, help="危机转介必填：能即时联系到儿童或其监护人的人"),
    ),
    starts=(
        StartOption(
            "triage",
            (T.school, T.hospital, T.village_committee, T.township, T.social_work_org, T.youth_league, T.civil_affairs),
            "心理健康转介",
        ),
    ),
    outcomes=(
        Outcome("stable", "随访稳定，结案"),
        Outcome("community_rehab", "已转精神障碍社区康复"),
        Outcome("adult", "儿童已满十八周岁"),
    ),
    steps=(
        Step(
            "triage",
            "评估分级",
            (T.counselling_center,),
            "mental_health.triage_medium",  # by the risk the referrer saw: TRIAGE_POLICY
            description="县心理辅导中心评估分级：危机转危机干预，其余转心理辅导",
            actions=(
                GUARDIAN_HARM,
                Action(
                    "assess",
                    "评估分级",
                    to=("crisis_ack", "counselling"),
                    fields=(
                        Field("risk_level", "风险等级", FieldKind.choice, choices=RISK_LEVELS),
                        Field("risk_notes", "评估意见", FieldKind.textarea, clinical=True),
                        Field(
                            "counsellor_id",
                            "承担心理辅导的单位",
                            FieldKind.agency,
                            required=False,
                            agency_type=T.counselling_center,
                            help="不填则由本中心辅导",
                        ),
                    ),
                ),
            ),
        ),
        Step(
            "crisis_ack",
            "危机干预：响应",
            (T.counselling_center,),
            "mental_health.crisis_ack",
            ladder=CRISIS_OFFSETS,
            audience=CRISIS_LADDER,
            due_label="响应时限",
            description="1小时内响应、通知监护人、确保安全；2小时未响应报县级督导，4小时报政法委协调公安、急救",
            actions=(
                GUARDIAN_HARM,
                Action(
                    "acknowledge",
                    "已响应，确保安全",
                    to=("crisis_referral",),
                    fields=(
                        Field("guardian_notified", "已通知监护人", FieldKind.bool, required=False),
                        Field("police_needed", "有生命危险，请公安机关协助", FieldKind.bool, required=False),
                        Field("safety_measures", "已采取的安全措施", FieldKind.textarea, clinical=True),
                    ),
                ),
            ),
        ),
        Step(
            "crisis_referral",
            "危机干预：转介医院",
            (T.counselling_center,),
            "mental_health.crisis_referral",
            description="危机发生后24小时内转介医院",
            actions=REFERRAL_ACTIONS,
        ),
        Step(
            "counselling",
            "心理辅导",
            (T.counselling_center, T.school, T.social_work_org),
            "mental_health.counselling_first",
            then=("mental_health.reassess",),
            counter="sessions",
            due_label="应辅导/复评日期",
            description="5个工作日内首次辅导，此后每28日复评",
            actions=(
                GUARDIAN_HARM,
                Action(
                    "record_session",
                    "记录一次辅导",
                    to=("",),
                    fields=(
                        Field("session_on", "辅导日期", FieldKind.date, not_future=True, happened=True),
                        Field("session_notes", "辅导记录", FieldKind.textarea, clinical=True),
                    ),
                ),
                Action(
                    "reassess",
                    "复评",
                    to=("", "followup", "medical_referral", "crisis_ack"),
                    fields=(
                        Field("assessed_on", "复评日期", FieldKind.date, not_future=True, happened=True),
                        Field("result", "复评结论", FieldKind.choice, choices=REASSESSMENT),
                        Field("assessment_notes", "复评意见", FieldKind.textarea, clinical=True),
                        Field(
                            "followup_by",
                            "随访单位（好转时）",
                            FieldKind.agency,
                            required=False,
                            agency_type=T.village_committee,
                            help="不填则由报告学校或单位随访",
                        ),
                    ),
                ),
            ),
        ),
        Step(
            "medical_referral",
            "转介就医",
            (T.counselling_center, T.school, T.social_work_org),
            "mental_health.consent",
            description="记录监护人同意（有危险情形的除外，精神卫生法第28条），转介有精神科的医院",
            actions=REFERRAL_ACTIONS,
        ),
        Step(
            "hospital_accept",
            "医院接收",
            (T.hospital,),
            "mental_health.hospital_accept",
            description="医院接收，或说明理由拒收并转另一家医院",
            actions=(
                Action("accept_referral", "接收", to=("treatment",), fields=(NOTE,)),
                Action(
                    "decline_referral",
                    "拒收（说明理由）",
                    to=("",),  # the same step, held by the next hospital
                    fields=(
                        Field("decline_reason", "拒收理由", FieldKind.textarea),
                        Field("next_hospital_id", "改转医院", FieldKind.agency, agency_type=T.hospital),
                    ),
                    style="secondary",
                ),
            ),
        ),
        Step(
            "treatment",
            "治疗",
            (T.hospital,),
            None,
            description="医院记录诊断和治疗方案；出院或门诊后回转社区康复或随访",
            actions=(
                GUARDIAN_HARM,
                Action(
                    "record_plan",
                    "记录诊断及治疗方案",
                    to=("",),
                    fields=(
                        Field("diagnosis", "诊断", FieldKind.textarea, clinical=True),
                        Field("plan", "治疗方案", FieldKind.textarea, clinical=True),
                    ),
                ),
                Action(
                    "discharge",
                    "出院/门诊结束，回转",
                    to=("followup", CLOSE),
                    fields=(
                        Field("discharged_on", "日期", FieldKind.date, not_future=True, happened=True),
                        Field("back_to", "回转去向", FieldKind.choice, choices=DISCHARGE_TO),
                        Field("stability", "病情", FieldKind.choice, choices=STABILITY),
                        Field(
                            "followup_by",
                            "随访单位",
                            FieldKind.agency,
                            required=False,
                            agency_type=T.village_committee,
                            help="不填则由报告学校或单位随访",
                        ),
                        Field("discharge_summary", "出院小结", FieldKind.textarea, clinical=True),
                    ),
                ),
            ),
        ),
        Step(
            "followup",
            "随访",
            (T.village_committee, T.school),
            "mental_health.followup_unstable",  # by stability: see workflows/mental_health.py
            count_key="mental_health.followup_stable_visits",
            counter="stable_visits",
            due_label="应随访日期",
            description="稳定的每3个月、不稳定的每2周随访一次；中高考、寒暑假期间间隔减半；连续两次稳定即结案",
            actions=(
                GUARDIAN_HARM,
                Action(
                    "record_visit",
                    "记录随访",
                    to=("", CLOSE),
                    fields=(
                        Field("visited_on", "随访日期", FieldKind.date, not_future=True, happened=True),
                        Field("stability", "情况", FieldKind.choice, choices=STABILITY),
                        NOTE,
                    ),
                ),
                Action(
                    "worse",
                    "情况加重",
                    to=("counselling", "medical_referral"),
                    fields=(Field("worse_to", "转往", FieldKind.choice, choices=WORSE_TO), NOTE_REQUIRED),
                    style="danger",
                ),
            ),
        ),
    ),
)
