"""Which cases a principal may read, as SQL conditions: operators read the cases their agency is a
party to; supervisors also read every case that an agency they oversee (domain/oversight.py) in their
scope (their county, or the whole city) is a party to; admins manage the system and read no cases.
A case out of scope is reported as not found (404), never as forbidden, so its existence does not leak."""

from __future__ import annotations

from sqlalchemy import ColumnElement, false, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from api.principal import Principal
from db.case_reads import scope_key
from db.models import Agency, Case, CaseParty
from domain.oversight import overseen_types
from domain.regions import scope_of


def scope_regions(p: Principal) -> list[str]:
    """The regions a supervisor oversees."""
    return scope_of(p.agency.region_code)


def overseen_type_values(p: Principal) -> list[str]:
    """The holder types a supervisor oversees in their scope; none for operators and local agencies."""
    if not p.is_supervisor or p.agency.township is not None:
        return []  # a supervisor below the county (a police station's) oversees only their own agency
    return sorted(t.value for t in overseen_types(p.agency.agency_type))


def case_visible(p: Principal) -> ColumnElement[bool]:
    """Answered by the GIN indexes on the case's party arrays (db/case_reads.py), not by scanning
    case_parties: the same rule, as the parties' (type, region) pairs the scope covers."""
    if p.is_admin:
        return false()
    own = Case.party_agency_ids.contains([p.agency.id])
    types = overseen_type_values(p)
    if not types:
        return own
    scopes = [scope_key(t, r) for t in types for r in scope_regions(p)]
    return or_(own, Case.party_scopes.overlap(scopes))


async def visible_from_seq(session: AsyncSession, p: Principal, case_id: int) -> int:
    """The first timeline event the principal may read (a receiving agency reads from the hand-over)."""
    conds = [CaseParty.agency_id == p.agency.id]
    types = overseen_type_values(p)
    if types:
        a = aliased(Agency)
        conds.append(
            CaseParty.agency_id.in_(select(a.id).where(a.agency_type.in_(types), a.region_code.in_(scope_regions(p))))
        )
    value = (
        await session.execute(
            select(func.min(CaseParty.visible_from_seq)).where(CaseParty.case_id == case_id, or_(*conds))
        )
    ).scalar_one_or_none()
    return int(value or 0)
