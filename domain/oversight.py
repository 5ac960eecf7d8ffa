"""Who oversees whom: the audience of escalations, the supervisors' scope and their stalled lists.

A county-level agency (police, court, civil affairs, education bureau, ...) is overseen by the
supervisors of the same type in its county and then at the city. An agency below the county is
overseen by the county agency responsible for it: village committees (whose 儿童主任 work under civil
affairs) and townships by civil affairs, schools by the education bureau, hospitals by the health
commission, social-work organisations by civil affairs. A supervisor in such a local agency oversees
only their own agency.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from domain.enums import AGENCY_TYPE_LABELS
from domain.enums import AgencyType as T

OVERSEER: dict[T, T] = {
    T.village_committee: T.civil_affairs,
    T.township: T.civil_affairs,
    T.school: T.education_bureau,
    T.hospital: T.health_commission,
    T.social_work_org: T.civil_affairs,
}
LOCAL_TYPES: frozenset[T] = frozenset(OVERSEER)


def overseer_type(agency_type: T) -> T:
    """The agency type whose county and city supervisors oversee steps held by `agency_type`."""
    return OVERSEER.get(T(agency_type), T(agency_type))


def overseen_types(agency_type: T) -> frozenset[T]:
    """The holder types a supervisor of `agency_type` oversees in their scope (none for a local agency)."""
    t = T(agency_type)
    if t in LOCAL_TYPES:
        return frozenset()
    return frozenset({t, *(k for k, v in OVERSEER.items() if v == t)})


def supervision_level(city: bool, include_overdue: bool = False) -> int:
    """The escalation level from which a step is on a supervisor's stalled list: level 2 reaches the
    county's supervisors and level 3 the city's (workflows/oversight.py); all overdue steps on request."""
    if include_overdue:
        return 1
    return 3 if city else 2


class Scope(StrEnum):
    """Where the agencies told at an escalation level are, relative to the step's holder."""

    holder = "holder"  # the holding agency itself
    township = "township"  # in the holder's township (the township's child supervisor, 儿童督导员)
    county = "county"  # in the holder's county
    city = "city"


SCOPE_LABELS = {Scope.township: "乡镇（街道）", Scope.county: "县级", Scope.city: "市级"}


@dataclass(frozen=True)
class Rung:
    """Who is told when a step reaches one level of its escalation ladder: the holder, or the supervisors
    of an agency type (by default the type that oversees the holder) in a scope around the holder."""

    scope: Scope
    agency_type: T | None = None
    # The holder is told as well (a committee's overdue step reaches it and its township's supervisor).
    holder_too: bool = False

    def audience_type(self, holder_type: T) -> T:
        return self.agency_type or overseer_type(holder_type)

    def describe(self, holder_type: T) -> str:
        if self.scope == Scope.holder:
            return "承办单位"
        t = self.audience_type(holder_type)
        if self.scope == Scope.township and t == T.township:
            return "乡镇（街道）儿童督导员"
        return f"{SCOPE_LABELS[self.scope]}{AGENCY_TYPE_LABELS[t]}"


# processes.md "What every step has": the holder, then the county's supervisors, then the city's.
DEFAULT_AUDIENCE: tuple[Rung, Rung, Rung] = (Rung(Scope.holder), Rung(Scope.county), Rung(Scope.city))

# A village committee's step: overdue, the committee and its township's child supervisor (儿童督导员) are told;
# then county civil affairs (which oversees the committees' child directors); then the city's.
COMMITTEE_AUDIENCE: tuple[Rung, Rung, Rung] = (
    Rung(Scope.township, T.township, holder_too=True),
    Rung(Scope.county),
    Rung(Scope.city),
)
