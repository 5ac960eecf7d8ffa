"""Columns of a case kept for reads (migration 0019): the earliest open step's due time, and the case's
parties as arrays an index answers, so that "cases this user may see" and "soonest due first" need no
look at case_steps or case_parties. Written by activities/projection.py with the rest of the projection, in
the same transaction; an agency's type and region never change (api/admin/agencies.py), so a party's
scope, taken when it joins the case, stays true."""

from __future__ import annotations

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
