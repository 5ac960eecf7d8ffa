"""Columns of a case kept for reads (migration 0019): the earliest open step's due time, and the case's
parties as arrays an index answers, so that "cases this user may see" and "soonest due first" need no
look at case_steps or case_parties. Written by activities/cases.py with the rest of the projection, in
the same transaction; an agency's type and region never change (api/admin/agencies.py), so a party's
scope, taken when it joins the case, stays true."""

from __future__ import annotations

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.sql import Update

from db.models import Agency, Case, CaseParty, CaseStep

# The whole table at once: the migration's backfill (a frozen copy there) and bulk loads (bench/).
BACKFILL_SQL = """
UPDATE cases c SET next_due_at = s.due
FROM (SELECT case_id, min(due_at) AS due FROM case_steps GROUP BY case_id) s
WHERE s.case_id = c.id;
UPDATE cases c SET party_agency_ids = p.ids, party_scopes = p.scopes
FROM (
    SELECT cp.case_id,
           array_agg(DISTINCT cp.agency_id ORDER BY cp.agency_id) AS ids,
           array_agg(DISTINCT a.agency_type || '@' || a.region_code) AS scopes
    FROM case_parties cp JOIN agencies a ON a.id = cp.agency_id
    GROUP BY cp.case_id
) p
WHERE p.case_id = c.id;
"""


def scope_key(agency_type: str, region_code: str) -> str:
    """One party's scope as party_scopes holds it (the SQL above builds the same)."""
    return f"{agency_type}@{region_code}"


def next_due_of(case_id: int) -> ColumnElement:
    """The case's earliest open step's due time, as steps stand in this transaction."""
    return select(func.min(CaseStep.due_at)).where(CaseStep.case_id == case_id).scalar_subquery()


def refresh_parties(case_id: int) -> Update:
    """Rewrites the case's party arrays from case_parties (after parties joined)."""
    ids = select(CaseParty.agency_id).where(CaseParty.case_id == case_id).order_by(CaseParty.agency_id)
    scopes = (
        select(Agency.agency_type.concat("@").concat(Agency.region_code))
        .join(CaseParty, CaseParty.agency_id == Agency.id)
        .where(CaseParty.case_id == case_id)
        .distinct()
    )
    return (
        update(Case)
        .where(Case.id == case_id)
        .values(party_agency_ids=func.array(ids.scalar_subquery()), party_scopes=func.array(scopes.scalar_subquery()))
    )
