"""What clients send to the children's registry: a registration and a change of a record."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field

# A family has a few guardians; a page showing hundreds is of no use to anyone.
GUARDIANS_LIMIT = 10


class GuardianIn(BaseModel):
    name: str = Field(default="", max_length=50)
    relation: str = Field(default="", max_length=20)
    phone: str = Field(default="", max_length=32)
    is_guardian: bool = True


class ChildIn(BaseModel):
    name: str = Field(default="", max_length=50)
    sex: str | None = Field(default=None, max_length=8)
    id_number: str = Field(default="", max_length=32)
    birth_date: date | None = None
    origin_region: str = Field(default="", max_length=100)
    residence_region: str = Field(default="", max_length=100)
    residence_committee_id: int | None = None
    address: str = Field(default="", max_length=200)
    school: str | None = Field(default=None, max_length=100)
    guardians: list[GuardianIn] = Field(default_factory=list, max_length=GUARDIANS_LIMIT)
    # 暂无身份证号码: registered with what is known, flagged provisional, the number added later.
    no_id_number: bool = False
    no_id_reason: str | None = None  # domain/identity.py NoIdReason
    birth_date_estimated: bool = False


class ChildUpdate(BaseModel):
    """A correction or a change of a child's record; only the fields sent change. A verified identity (the
    ID number, and the birth date, sex and origin it fixes) is not changed here; a provisional record's is
    completed: what is learnt, and the ID number once known (the record becomes verified)."""

    name: str | None = Field(default=None, max_length=50)
    residence_region: str | None = Field(default=None, max_length=100)
    residence_committee_id: int | None = None
    address: str | None = Field(default=None, max_length=200)
    school: str | None = Field(default=None, max_length=100)
    # the whole list, replacing the old one
    guardians: list[GuardianIn] | None = Field(default=None, max_length=GUARDIANS_LIMIT)
    # Provisional records only:
    id_number: str | None = None
    sex: str | None = None
    birth_date: date | None = None
    birth_date_estimated: bool | None = None
    origin_region: str | None = None  # sent with the ID number: confirms an origin other than the number's
    no_id_reason: str | None = None
