"""What /api/v1/children answers, as the OpenAPI declares it: the shapes api/children/router.py builds.
A record is one of two views (domain/record_access.py): the full record, or the basic view of who the
child is."""

from __future__ import annotations

from pydantic import Field

from api.answer import Answer, Day


class GuardianOut(Answer):
    name: str
    relation: str
    phone: str
    is_guardian: bool


class ChildOut(Answer):
    """A child as lists show it; the full record adds the address, school and guardians."""

    id: int
    name: str
    sex: str | None
    birth_date: Day
    id_number_masked: str | None
    identity_status: str
    no_id_reason: str | None
    birth_date_estimated: bool
    origin_region: str | None
    origin_region_name: str | None
    residence_region: str
    residence_region_name: str
    merged_into_id: int | None


class ChildFull(ChildOut):
    id_number: str | None = Field(description="the whole number: only for the agency that registered the child")
    address: str | None
    school: str | None
    residence_committee_id: int | None
    guardians: list[GuardianOut]


class Registered(ChildFull):
    possible_duplicates: list[ChildOut] | None = Field(
        default=None, description="a provisional record only: records in the caller's area that may be the same child"
    )


class RecordFull(ChildFull):
    record_view: str
    may_edit: bool


class RecordBasic(Answer):
    id: int
    name: str
    sex: str | None
    identity_status: str
    residence_region: str
    residence_region_name: str
    merged_into_id: int | None
    age: int
    record_view: str
    may_edit: bool


ChildRecord = RecordFull | RecordBasic


class Children(Answer):
    items: list[ChildOut]


class MergeAnswer(Answer):
    child: ChildFull | ChildOut
    merged_child_id: int
    cases: list[str]
    guardians_added: int
