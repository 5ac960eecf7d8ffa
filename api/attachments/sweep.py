"""Attachments that no action names are removed a day after their upload (or after the last action that
named one and was refused): a scanned consent form uploaded for a consent never recorded is a child's
clinical record with no place in the case. Whether an event names one is read from the recorded events'
answers (any answer equal to its id keeps it: a sweep that keeps too much loses nothing), and one found
named is marked so and not read again. Each removal is audited. Run by the worker's reconciler
(worker/reconciler.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

log = logging.getLogger(__name__)

# An upload through the API is named by the action that follows it, in the same sitting; a page posts both
# at once. A day is long past either, and short for a clinical file to lie about unclaimed.
UNNAMED_AFTER = timedelta(hours=24)
BATCH = 200
REASON = "上传后24小时内未被任何办理事项引用，已自动删除"

# Whether a recorded event of its case names it: any answer equal to its id.
_NAMED_BY_EVENT = """
    EXISTS (
        SELECT 1 FROM timeline_events t
        CROSS JOIN LATERAL jsonb_each_text(
            CASE WHEN jsonb_typeof(t.payload) = 'object' THEN t.payload ELSE '{}'::jsonb END
        ) kv
        WHERE t.case_id = x.case_id AND kv.value = x.id::text
    )"""
# Those a recorded event names are marked, whatever their age, never to be read again (no event is ever
# removed); what is left unmarked is the few lately uploaded.
MARK_SQL = text(
    f"""
UPDATE attachments SET recorded = true
WHERE id IN (
    SELECT x.id FROM attachments x
    WHERE NOT x.recorded AND {_NAMED_BY_EVENT}
)
"""
)
# The rest are locked (SKIP LOCKED: a second worker's sweep takes others) and deleted with their audit
# entries in one statement. An action's check marks its attachments named (named_at) in the transaction
# that claims the request, so one named meanwhile is not taken.
SWEEP_SQL = text(
    f"""
WITH gone AS (
    DELETE FROM attachments a
    WHERE a.id IN (
        SELECT x.id FROM attachments x
        WHERE NOT x.recorded AND coalesce(x.named_at, x.created_at) < :cutoff AND NOT {_NAMED_BY_EVENT}
        ORDER BY x.id
        LIMIT :batch
        FOR UPDATE SKIP LOCKED
    )
    RETURNING a.id, a.case_id, a.kind
)
INSERT INTO audit_log (case_no, child_id, action, detail, channel)
SELECT c.case_no, c.child_id, 'attach_removed', 'attachment ' || gone.id || ': ' || gone.kind || ', ' || :reason,
       'system'
FROM gone JOIN cases c ON c.id = gone.case_id
RETURNING case_no
"""
)


@dataclass(frozen=True)
class Swept:
    removed: int


async def remove_unnamed(
    session_factory: async_sessionmaker[AsyncSession],
    *,
    older_than: timedelta = UNNAMED_AFTER,
    now: datetime | None = None,
) -> Swept:
    """One pass, a batch at a time until none is left."""
    cutoff = (now or datetime.now(UTC)) - older_than
    removed = 0
    async with session_factory() as session, session.begin():
        await session.execute(MARK_SQL)
    while True:
        async with session_factory() as session, session.begin():
            n = len((await session.execute(SWEEP_SQL, {"cutoff": cutoff, "batch": BATCH, "reason": REASON})).all())
        removed += n
        if n < BATCH:
            break
    if removed:
        log.info("removed %d attachments no action named", removed)
    return Swept(removed)
