"""Key-child follow-up (重点对象关爱服务), processes.md §5: plan item 2. The child director of the village
committee contacts a key child's family at least every 3 months and visits the home at least every 6
months, for years; overdue, the township's child supervisor and then county civil affairs are told."""

from __future__ import annotations

from domain.enums import AgencyType as T
from domain.errors import DomainError
from domain.idnumber import age_on
from domain.oversight import COMMITTEE_AUDIENCE
from domain.policy import policy
from domain.process import (
    CLOSE,
    DATE_DONE,
    END_TRACK,
    NOTE,
    NOTE_REQUIRED,
    Action,
    Field,
    FieldKind,
    FieldRole,
    Outcome,
    PayloadLabel,
    Process,
    StartContext,
    StartOption,
    Step,
    handover_step,
)
from domain.registry import KEY_CATEGORY_LABELS

# The plan's categories of key children (重点对象), as the registry flags them.
CATEGORIES = tuple((c.value, label) for c, label in KEY_CATEGORY_LABELS.items())
CONTACT_KINDS = (("phone", "电话"), ("meeting", "见面"), ("message", "微信或短信"), ("other", "其他"))

# Processes a home visit may open a case of, for the same child, linked to this one; only those deployed
# (domain/processes PROCESSES) and startable by the visitor's agency are taken (workflows/followup.py).
LINKABLE = (("guardianship", "监护干预"), ("mental_health", "心理健康转介"), ("dropout_return", "劝返复学"))
# A protection case of the child keeps the follow-up going past 16, until 18.
PROTECTION_PROCESSES = ("guardianship",)
CLOSES_AT_AGE = 16
PROTECTED_UNTIL_AGE = 18


def check_start(ctx: StartContext) -> None:
    """A key child is followed until 16 (processes.md §5): an older child is not listed."""
    age = age_on(ctx.birth_date, ctx.today)
    if age >= CLOSES_AT_AGE:
        raise DomainError(
            "too_old",
            f"该儿童已满{CLOSES_AT_AGE}周岁，不再列为重点对象开展关爱服务（保护案件未结的，由该案件继续跟进）",
            field="child_id",
        )


CATEGORY_FIELD = Field("categories", "重点对象类别", FieldKind.choices, choices=CATEGORIES, help="可多选")
# Who may end the follow-up or record a move: civil affairs (keeper of the key list) and the township.
KEEPERS = (T.civil_affairs, T.township)

FOLLOWUP = Process(
    name="key_child_followup",
    label="重点对象关爱服务",
    code="GA",
    orchestration="followup",
    description="重点流动儿童：村（居）儿童主任至少每3个月联系一次家庭、每6个月入户走访一次，持续跟踪。",
    purpose="关爱服务",
    # Sixteen years of contacts and visits: a run hands over to the next well before 1,000 events.
    history_limit=400,
    key_child_field="categories",
    one_open_per_child=True,
    closes_at_age=CLOSES_AT_AGE,
    check_start=check_start,
    aged_out_outcome="aged_out",
    policies=(
        policy(
            "followup.contact", "3M", "儿童主任联系重点对象家庭（至少每3个月一次）", "长治市流动儿童关爱保护实施方案"
        ),
        policy("followup.home_visit", "6M", "儿童主任入户走访（至少每6个月一次）", "长治市流动儿童关爱保护实施方案"),
        policy("followup.handoff_ack", "5WD", "迁入地县民政局确认接收"),
    ),
    counter_labels={"contacts": ("已联系", "次"), "visits": ("已入户走访", "次")},
    summary_fields=(("categories", "重点对象类别"),),
    payload_labels=(PayloadLabel("linked_case", "开立关联案件"),),
    start_fields=(
        CATEGORY_FIELD,
        Field(
            "village_committee_id",
            "居住地村（居）委会",
            FieldKind.agency,
            required=False,
            agency_type=T.village_committee,
            help="由其儿童主任联系和走访；不填则按儿童登记的居住地",
            role=FieldRole.residence_committee,
        ),
        Field("known", "已掌握的情况", FieldKind.textarea, required=False),
    ),
    starts=(StartOption("contact", KEEPERS, "列为重点对象，开始关爱服务", opens_too=("home_visit",)),),
    outcomes=(
        Outcome("left_key_list", "已移出重点对象名单"),
        Outcome("moved", "已迁出并移交"),
        Outcome("aged_out", "已年满16周岁（保护案件已结）"),
    ),
    tracks={"main": "联系家庭", "visit": "入户走访"},
    steps=(
        Step(
            "contact",
            "联系家庭",
            (T.village_committee,),
            "followup.contact",
            audience=COMMITTEE_AUDIENCE,
            counter="contacts",
            due_label="下次联系期限",
            description="儿童主任联系重点对象家庭，了解近况；下次联系从本次联系之日起计",
            actions=(
                Action(
                    "record_contact",
                    "记录联系",
                    to=("",),
                    fields=(
                        DATE_DONE,
                        Field("kind", "方式", FieldKind.choice, choices=CONTACT_KINDS),
                        Field("content", "联系情况", FieldKind.textarea),
                    ),
                ),
                # Civil affairs (keeper of the key list) or the township ends the follow-up; the committee
                # that contacts the family does not.
                Action(
                    "leave_key_list",
                    "移出重点对象名单",
                    to=(CLOSE,),
                    actor_types=KEEPERS,
                    fields=(NOTE_REQUIRED,),
                    style="secondary",
                ),
                Action(
                    "moved_away",
                    "已迁出本县，移交迁入地",
                    to=("handover",),
                    actor_types=KEEPERS,
                    fields=(
                        Field(
                            "destination_region",
                            "迁入地（县、市、区）",
                            FieldKind.region,
                            role=FieldRole.destination_region,
                        ),
                        Field("destination_address", "迁入地地址", required=False),
                        NOTE,
                    ),
                    style="secondary",
                ),
            ),
        ),
        Step(
            "home_visit",
            "入户走访",
            (T.village_committee,),
            "followup.home_visit",
            track="visit",
            audience=COMMITTEE_AUDIENCE,
            counter="visits",
            due_label="下次走访期限",
            description="儿童主任入户走访；发现监护、心理或失学等问题的，可开立关联案件",
            actions=(
                Action(
                    "record_visit",
                    "记录入户走访",
                    to=("",),
                    fields=(
                        Field("done_on", "走访日期", FieldKind.date, not_future=True, happened=True),
                        Field("findings", "走访情况", FieldKind.textarea),
                        Field(
                            "open_case",
                            "发现问题，开立关联案件",
                            FieldKind.choice,
                            required=False,
                            choices=LINKABLE,
                            help="所开案件以走访情况为立案情况、以走访日期为发现日期",
                        ),
                        Field(
                            "linked_facts",
                            "关联案件的立案信息",
                            FieldKind.facts,
                            required=False,
                            choices=LINKABLE,
                            facts_of="open_case",
                            help="所选流程立案表中走访记录以外的信息（如心理健康转介的发现渠道、初步风险等级）",
                        ),
                    ),
                ),
                # The visits end when the child moves away (the contact step's hand-over).
                Action("visits_end", "随迁出结束走访", to=(END_TRACK,), by_system=True),
            ),
        ),
        handover_step(
            "跨县移交",
            T.civil_affairs,
            "followup.handoff_ack",
            "迁入地县民政局确认接收（本市以外的，由移出地记录对方回执）；确认前不能以迁出结案",
            ack_fields=(
                Field("continue_here", "在本县继续关爱服务（新建关联案件）", FieldKind.bool, required=False),
                Field(
                    "destination_committee_id",
                    "儿童现居住地村（居）委会",
                    FieldKind.agency,
                    required=False,
                    agency_type=T.village_committee,
                    role=FieldRole.destination_agency,
                ),
            ),
        ),
    ),
)
