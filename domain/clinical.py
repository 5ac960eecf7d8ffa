"""Clinical content (Field.clinical): who may read it and how it reads to everyone else.

A process names the agency types that may read its clinical fields (Process.clinical_readers: the
counselling centre, the hospital); an agency of such a type reads them once it is a party to the case (it
holds or held a step: the assigned counsellor, the hospital referred). Everyone else who may read the case
(the reporting school, the supervisors, the police in a crisis) reads the step, the deadline, the holder and
the summary (the risk level), and in place of each clinical value a marker that one was recorded.
"""

from __future__ import annotations

from typing import Any

from domain.enums import AGENCY_TYPE_LABELS, AgencyType
from domain.process import Process

WITHHELD = "（临床信息，仅限心理辅导机构和医院查看）"


def reads_clinical(process: Process, agency_type: AgencyType, is_party: bool) -> bool:
    return is_party and AgencyType(agency_type) in process.clinical_readers and bool(process.clinical_names())


def clinical_reason(agency_type: AgencyType) -> str:
    """Why a reader may read the clinical content, as the audit log records it."""
    return f"本单位为案件当事单位（{AGENCY_TYPE_LABELS[AgencyType(agency_type)]}）"


def withhold(process: Process, values: dict[str, Any] | None) -> dict[str, Any]:
    """The values with every clinical one replaced by the marker (a blank one left blank)."""
    names = process.clinical_names()
    return {k: (WITHHELD if k in names and v not in (None, "") else v) for k, v in (values or {}).items()}
