"""The guardianship statistics (监护干预统计) by month, quarter or year, for the police, the courts, the
procuratorates and civil affairs: cases opened by source, the decisions taken, family-education guidance
given and completed, and what is overdue now, by agency."""

from __future__ import annotations

from domain.enums import AgencyType as T
from domain.tallies import EventCount, PeriodicReport, Tally, TallyKind

GUARDIANSHIP_REPORT = PeriodicReport(
    title="监护干预统计",
    periods=("month", "quarter", "year"),
    readers=(T.police, T.court, T.procuratorate, T.civil_affairs),
    tallies=(
        Tally("sources", "立案来源", TallyKind.opened_by_source, note="本期新立案件，按立案单位的类型"),
        Tally(
            "decisions",
            "处理决定",
            TallyKind.events,
            columns=(
                EventCount("训诫", "police_decision", ("decide_reprimand",), "decision", "reprimand"),
                EventCount("训诫并治安处罚", "police_decision", ("decide_reprimand",), "decision", "reprimand_penalty"),
                EventCount("立案侦查", "police_decision", ("open_criminal_case",)),
                EventCount("不构成违法", "police_decision", ("no_violation",)),
                EventCount("撤销监护人资格", "guardianship_revocation", ("revoke",)),
                EventCount("驳回撤销申请", "guardianship_revocation", ("reject_revocation",)),
            ),
            note="本期作出的决定，按作出决定的单位",
        ),
        Tally(
            "guidance",
            "家庭教育指导",
            TallyKind.events,
            columns=(
                EventCount("指导次数", "family_education_guidance", ("record_session",)),
                EventCount("完成指导", "family_education_guidance", ("record_session",), to_step="monitoring"),
                EventCount("拒不接受指导", "family_education_guidance", ("report_noncompliance",)),
            ),
            note="本期记录的指导，按指导单位；完成指导：应完成次数已满，转入跟踪回访",
        ),
        Tally("overdue", "当前逾期", TallyKind.overdue_now, note="现在仍逾期未办的环节，按承办单位和升级级别"),
    ),
)
