"""What an issued document (文书) keeps: its number (文号) and the facts it stated when it was issued, so that a
later change of the child's address or a guardian's name does not change a document already served.

The number reads `潞公训字〔2026〕第12号`: the issuing agency's short name, the kind's word (DocumentKind.word),
the year and the count of that agency, word and year (db/documents.py)."""

from __future__ import annotations

import re
from datetime import date, datetime
from typing import Any

from pydantic import BaseModel, Field

from domain.enums import AgencyType

# The character an agency's type contributes to its short name (公安局 → 公); a type not here contributes the
# first character of the name after the county's.
_TYPE_CHARS: dict[AgencyType, str] = {
    AgencyType.police: "公",
    AgencyType.procuratorate: "检",
    AgencyType.court: "法",
    AgencyType.civil_affairs: "民",
    AgencyType.education_bureau: "教",
    AgencyType.womens_federation: "妇",
    AgencyType.health_commission: "卫",
    AgencyType.political_legal_committee: "政法",
    AgencyType.youth_league: "团",
    AgencyType.disabled_persons_federation: "残",
    AgencyType.medical_insurance: "医保",
}
# Words an agency name may start with before the county's name (中共潞州区委…, 共青团潞州区委员会).
_LEADING = ("中共", "共青团")
# The suffix a county-level region name ends with.
_REGION_SUFFIX = re.compile(r"(自治县|市|区|县)$")


def derive_short_name(name: str, agency_type: AgencyType, region_name: str) -> str:
    """The short name an agency's document numbers start with when none is set: the county's first character
    and the type's (潞州区公安局 → 潞公, 长治市人民检察院 → 长检); a police station adds its own
    (潞州区公安局西街派出所 → 潞公西), so that two agencies of a county rarely share one."""
    rest = name
    for lead in _LEADING:
        rest = rest.removeprefix(lead)
    place = _REGION_SUFFIX.sub("", region_name)
    if region_name and rest.startswith(region_name):
        rest = rest[len(region_name) :]
    elif place and rest.startswith(place):
        rest = rest[len(place) :]
    head = place[:1] if place else name[:1]
    word = _TYPE_CHARS.get(agency_type)
    if word is None:
        return (head + rest[:1]) if rest else name[:2]
    station = re.search(r"(?:局|分局)(.)[^局]*派出所$", rest)
    return head + word + (station.group(1) if station else "")


def document_number(short_name: str, word: str, year: int, n: int) -> str:
    return f"{short_name}{word}〔{year}〕第{n}号"


class GuardianAtIssue(BaseModel):
    name: str
    relation: str
    phone: str = ""
    is_guardian: bool = True


class ChildAtIssue(BaseModel):
    """The child as the registry had them when the document was issued (the templates' `child`)."""

    name: str
    sex: str
    birth_date: date
    birth_date_estimated: bool = False
    id_number: str | None = None
    identity_status: str = "verified"
    address: str = ""
    school: str | None = None
    guardians: list[GuardianAtIssue] = Field(default_factory=list)


class DocumentSnapshot(BaseModel):
    """Everything a document's template reads beyond its own fields, as it was at issue."""

    number: str
    issuer: str  # the issuing agency's name
    issued_at: datetime
    case_no: str
    process_label: str
    purpose: str
    child: ChildAtIssue
    committee_name: str = ""  # the village committee where the child lived
    origin_name: str = ""  # where the child is registered (户籍地)
    residence_name: str = ""
    case_county_name: str = ""
    facts: list[tuple[str, str]] = Field(default_factory=list)  # the case's start facts, labelled
    raw: dict[str, Any] = Field(default_factory=dict)  # the case's start facts as recorded
    # A transfer packet's addressee and destination (empty for other documents).
    addressee: str = ""
    destination: str = ""
    # Whom the service receipt (送达回证) names and where it is served.
    served_to: str = ""
    served_at: str = ""

    def context(self) -> dict[str, Any]:
        """The names the document templates read."""
        return {
            "child": self.child,
            "number": self.number,
            "issuer": self.issuer,
            "committee_name": self.committee_name,
            "origin_name": self.origin_name,
            "residence_name": self.residence_name,
            "case_county_name": self.case_county_name,
            "facts": self.facts,
            "raw": self.raw,
            "addressee": self.addressee,
            "destination": self.destination,
            "purpose": self.purpose,
            "served_to": self.served_to,
            "served_at": self.served_at,
        }
