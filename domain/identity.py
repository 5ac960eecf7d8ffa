"""A child's identity in the registry: verified by an ID number, or provisional (registered with what is
known, the number added later), and who may merge a provisional record into a registered child.

A provisional record is never merged by the system: a person compares both and confirms (docs/glossary.md:
临时档案, 合并档案).
"""

from __future__ import annotations

from enum import StrEnum

from domain.enums import AgencyType, Role
from domain.errors import DomainError
from domain.messages import AgencyRef
from domain.permissions import serves_county


class IdentityStatus(StrEnum):
    verified = "verified"  # registered with a checked ID number
    provisional = "provisional"  # no ID number yet: 身份待核实


IDENTITY_BADGE = "身份待核实"


class NoIdReason(StrEnum):
    not_yet_issued = "not_yet_issued"
    no_household_registration = "no_household_registration"
    identity_unknown = "identity_unknown"
    other = "other"


NO_ID_REASON_LABELS: dict[NoIdReason, str] = {
    NoIdReason.not_yet_issued: "尚未办理/婴幼儿",
    NoIdReason.no_household_registration: "无户籍",
    NoIdReason.identity_unknown: "身份不明（热线等）",
    NoIdReason.other: "其他",
}


def parse_no_id_reason(value: str | None) -> NoIdReason:
    try:
        return NoIdReason((value or "").strip())
    except ValueError:
        raise DomainError("field_invalid", "请选择暂无身份证号码的原因", field="no_id_reason") from None


# Who merges: the civil-affairs bureau keeps the registry of children in need (儿童督导员 and 儿童主任
# work under it), so a supervisor of civil affairs in the child's county, or at the city, decides that two
# records are one child. Administrators manage the system and read no child's record, so they do not.
MERGE_AGENCY_TYPE = AgencyType.civil_affairs
MERGE_REFUSED = "只有儿童居住县（区）或市级民政部门的督导可以合并儿童档案"


def may_merge(role: Role, agency: AgencyRef, county: str) -> bool:
    """Whether someone of `role` at `agency` may merge a provisional record of a child living in `county`."""
    return role == Role.supervisor and agency.agency_type == MERGE_AGENCY_TYPE and serves_county(agency, county)


def check_may_merge(role: Role, agency: AgencyRef, county: str) -> None:
    if not may_merge(role, agency, county):
        raise DomainError("not_permitted", MERGE_REFUSED)
