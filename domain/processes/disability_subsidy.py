"""The disability subsidies (困难残疾人生活补贴和重度残疾人护理补贴, 两项补贴): plan item 12; 国发〔2015〕52号;
跨省通办. The same residence-accepted, origin-reviewed shape as the certification of orphans, so a
definition only: the certification's workflow (workflows/certification.py) runs it."""

from __future__ import annotations

from domain.enums import AgencyType as T
from domain.process import Outcome, Process, StartOption
from domain.processes.certification import (
    RESULT_NOTICE,
    TRANSFER,
    WITHDRAWAL,
    WITHDRAWN_NOTICE,
    check_cross_region,
    cross_region,
    materials,
    residence_origin_policies,
    residence_origin_steps,
    start_fields,
)

DISABILITY_MATERIALS = materials(
    (
        ("application_form", "《残疾人两项补贴申请审批表》"),
        ("disability_card", "第二代《中华人民共和国残疾人证》"),
        ("household_register", "户口簿及身份证明"),
        ("hardship_proof", "低保或其他困难证明（申请生活补贴的）"),
        ("bank_account", "本人或监护人银行账户"),
    )
)

DISABILITY_SUBSIDY = Process(
    name="disability_subsidy",
    label="残疾人两项补贴",
    code="LB",
    orchestration="certification",
    description="困难残疾人生活补贴和重度残疾人护理补贴：居住地乡镇（街道）受理，户籍地初审，县级残联会同民政部门审核审定。",
    purpose="残疾人两项补贴",
    policies=residence_origin_policies("disability_subsidy", "国发〔2015〕52号（默认）"),
    start_fields=start_fields((("living", "困难残疾人生活补贴"), ("care", "重度残疾人护理补贴"), ("both", "两项补贴"))),
    check_start=check_cross_region,
    cross_region=cross_region((T.civil_affairs, T.disabled_persons_federation)),
    starts=(StartOption("residence_intake", (T.township,), "受理两项补贴申请（跨地区）"),),
    outcomes=(
        Outcome("withdrawn", "申请撤回（含逾期未补正视为撤回）"),
        Outcome("rejected", "不予发放"),
        Outcome("ended", "情况变化，停止发放"),
        Outcome("adult", "年满18周岁，转入成年人补贴"),
    ),
    summary_fields=(
        ("origin", "户籍地"),
        ("holder_side", "办理方"),
        ("allowance_from", "补贴起始月份"),
        ("support_ends_from", "补贴终止月份"),
        ("in_education_until", "全日制在校就读至"),
    ),
    documents=(RESULT_NOTICE, WITHDRAWN_NOTICE, TRANSFER),
    case_actions=(WITHDRAWAL,),
    steps=residence_origin_steps(
        "disability_subsidy",
        DISABILITY_MATERIALS,
        T.disabled_persons_federation,
        decider_with=(T.civil_affairs,),
        decision_label="户籍地县级残联会同民政部门审核审定",
    ),
)
