"""What clients send to the children's registry: a registration and a change of a record."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class GuardianIn(BaseModel):
    name: str = ""
    relation: str = ""
    phone: str = ""
    is_guardian: bool = True


class ChildIn(BaseModel):
    name: str = ""
    sex: str | None = None
    id_number: str = ""
    birth_date: date | None = None
    origin_region: str = ""
    residence_region: str = ""
    residence_committee_id: int | None = None
    address: str = ""
    school: str | None = None
    guardians: list[GuardianIn] = Field(default_factory=list)
    # 暂无身份证号码: registered with what is known, flagged provisional, the number added later.
    no_id_number: bool = False
    no_id_reason: str | None = None  # domain/identity.py NoIdReason
    birth_date_estimated: bool = False


class ChildUpdate(BaseModel):
    """A correction or a change of a child's record; only the fields sent change. A verified identity (the
    ID number, and the birth date, sex and origin it fixes) is not changed here; a provisional record's is
    completed: what is learnt, and the ID number once known (the record becomes verified)."""

    name: str | None = None
    residence_region: str | None = None
    residence_committee_id: int | None = None
    address: str | None = None
    school: str | None = None
    guardians: list[GuardianIn] | None = None  # the whole list, replacing the old one
    # Provisional records only:
    id_number: str | None = None
    sex: str | None = None
    birth_date: date | None = None
    birth_date_estimated: bool | None = None
    origin_region: str | None = None  # sent with the ID number: confirms an origin other than the number's
    no_id_reason: str | None = None
