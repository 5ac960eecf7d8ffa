"""Need-to-know on a child's record (儿童档案), by agency type, in one place: the API and the pages read
these rules and nothing else.

Every agency that can find a child (its county, or the agency that registered it) may see who the child
is: name, sex, age and county of residence. The address, school, village committee, guardians and their
phones are for the agencies whose work takes them to the family; correcting the record is for those who
keep it (the committee where the child lives, civil affairs, the township), and for the agency that
registered the child, which wrote what it corrects."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.enums import AgencyType as T
from domain.errors import DomainError


class RecordView(StrEnum):
    basic = "basic"  # name, sex, age, county of residence
    full = "full"  # and address, school, committee, guardians and contacts


# Those who keep the record: they read all of it and correct it.
KEEPERS: frozenset[T] = frozenset({T.village_committee, T.civil_affairs, T.township})
# Those whose work reaches the family (a home visit, an investigation, a hearing): they read all of it.
FULL_READERS: frozenset[T] = KEEPERS | {
    T.police,
    T.procuratorate,
    T.court,
    T.education_bureau,
    T.school,
    T.womens_federation,
    T.social_work_org,
}
# Everyone else (a hospital, the health commission, counselling, the youth league, ...): the basic view.


@dataclass(frozen=True)
class RecordAccess:
    view: RecordView
    may_edit: bool

    @property
    def full(self) -> bool:
        return self.view == RecordView.full


def record_access(agency_type: T | str, *, registered_it: bool) -> RecordAccess:
    """What an agency of this type may do with a child's record it can find."""
    kind = T(agency_type)
    if registered_it or kind in KEEPERS:
        return RecordAccess(RecordView.full, may_edit=True)
    return RecordAccess(RecordView.full if kind in FULL_READERS else RecordView.basic, may_edit=False)


def check_may_edit(access: RecordAccess) -> None:
    if not access.may_edit:
        raise DomainError(
            "not_permitted",
            "本单位只能查看该儿童的基本信息，不能修改档案；如需更正，请联系儿童居住地的村（居）委会或民政部门",
        )
