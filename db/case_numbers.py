"""Case numbers: one count per process (its code), county and year, numbered from 1.

The number is taken in the caller's transaction by one upsert: the counter row stays locked until that
transaction ends, so concurrent reservations get distinct consecutive numbers, and a reservation that is
rolled back gives its number back (no gap)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from db.models import CaseCounter, CaseCounterBase
from domain.ids import case_number, case_year


async def next_case_no(session: AsyncSession, *, code: str, county: str, at: datetime) -> str:
    """The next number of the process with case-number prefix `code` in `county`, for a case opened at `at`."""
    year = case_year(at)
    first = select(func.coalesce(func.max(CaseCounterBase.base), 0) + 1).scalar_subquery()
    stmt = (
        insert(CaseCounter)
        .values(code=code, county=county, year=year, last=first)
        .on_conflict_do_update(
            index_elements=[CaseCounter.code, CaseCounter.county, CaseCounter.year],
            set_={"last": CaseCounter.last + 1},
        )
        .returning(CaseCounter.last)
    )
    n = (await session.execute(stmt)).scalar_one()
    return case_number(code, county, n, at)


# The earlier request of this idempotency key, if any; if none, the counter moved on (its row then stays
# locked until the caller's transaction ends). One statement for both, so a new start pays one round trip.
_RESERVE_SQL = """
WITH earlier AS (
    SELECT case_no, request_hash, released_at IS NOT NULL AS released FROM case_requests
    WHERE agency_id = %(agency_id)s::int AND idempotency_key = %(key)s::text
),
bumped AS (
    INSERT INTO case_counters (code, county, year, last)
    SELECT %(code)s::text, %(county)s::text, %(year)s::int, (SELECT COALESCE(max(base), 0) + 1 FROM case_counter_base)
    WHERE NOT EXISTS (SELECT 1 FROM earlier)
    ON CONFLICT (code, county, year) DO UPDATE SET last = case_counters.last + 1
    RETURNING last
)
SELECT (SELECT last FROM bumped), (SELECT case_no FROM earlier), (SELECT request_hash FROM earlier),
       (SELECT released FROM earlier)
"""

_CLAIM_SQL = """
INSERT INTO case_requests (agency_id, idempotency_key, request_hash, case_no)
VALUES (%(agency_id)s::int, %(key)s::text, %(hash)s::text, %(case_no)s::text)
ON CONFLICT (agency_id, idempotency_key) DO NOTHING
RETURNING case_no
"""

# The number goes back to the count: this transaction holds the counter row since it took the number, so
# the count still ends at it.
_GIVE_BACK_SQL = """
UPDATE case_counters SET last = last - 1
WHERE code = %(code)s::text AND county = %(county)s::text AND year = %(year)s::int AND last = %(n)s::int
"""

_EARLIER_SQL = """
UPDATE case_requests SET released_at = CASE WHEN request_hash = %(hash)s::text THEN NULL ELSE released_at END
WHERE agency_id = %(agency_id)s::int AND idempotency_key = %(key)s::text
RETURNING case_no, request_hash
"""


@dataclass(frozen=True)
class Reserved:
    case_no: str
    created: bool  # False: the number an earlier request with this key got
    request_hash: str  # what the key was first sent with


async def reserve_case_no(
    conn: AsyncConnection, *, agency_id: int, key: str, digest: str, code: str, county: str, at: datetime
) -> Reserved:
    """The case number for an idempotency key, in the caller's transaction: a new one (the next of the
    process's count in the county), or the one an earlier request with the key got. Sent again while its
    number stood released (worker/reconciler.py), that request has it back."""
    year = case_year(at)
    ids = {"agency_id": agency_id, "key": key, "hash": digest}
    where = {"code": code, "county": county, "year": year}
    n, case_no, kept, released = (await conn.exec_driver_sql(_RESERVE_SQL, {**ids, **where})).one()
    if n is None:
        if released and kept == digest:
            await conn.exec_driver_sql(_EARLIER_SQL, ids)
        return Reserved(case_no, False, kept)
    case_no = case_number(code, county, n, at)
    claimed = (await conn.exec_driver_sql(_CLAIM_SQL, {**ids, "case_no": case_no})).scalar_one_or_none()
    if claimed is not None:
        return Reserved(case_no, True, digest)
    # The same key won a race meanwhile: its number stands, this one goes back.
    await conn.exec_driver_sql(_GIVE_BACK_SQL, {**where, "n": n})
    case_no, kept = (await conn.exec_driver_sql(_EARLIER_SQL, ids)).one()
    return Reserved(case_no, False, kept)
