"""The timeline write in two statements: one appends the event (once per case and seq) and applies its
step, party and notification changes; the next, which sees what the first wrote, brings the case row up
to date (next_due_at, party arrays: db/case_reads.py) and settles the notices of steps no longer open.

Plain SQL through the session's connection: the ORM's cost per statement was a quarter of the worker's CPU
per action (issue 13). Everything the first statement changes is gated on its timeline insert, so a retried
event changes nothing; the case row is locked first, so two tries of one event never interleave."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from domain.messages import EventRecord, StepState

# Rows passed as JSON, typed by jsonb_to_recordset: one parameter per list, whatever its length.
_STEP_COLUMNS = """track text, step text, step_seq int, holder_agency_id int, holder_type text,
    holder_region text, co_holder_ids int[], opened_at timestamptz, due_at timestamptz, level2_at timestamptz,
    level3_at timestamptz, due_provisional bool, allowance text, escalation_level int, counters jsonb,
    external jsonb"""
_STEP_NAMES = [c.split()[0] for c in _STEP_COLUMNS.replace("\n", " ").split(",")]
_STEP_UPDATES = ", ".join(f"{c} = excluded.{c}" for c in _STEP_NAMES if c != "track")

_OPENING = """
opened AS (
    INSERT INTO cases (case_no, process, child_id, county, status, started_by_agency_id, facts, opened_at,
                       last_activity_at, last_seq)
    VALUES (%(case_no)s::text, %(process)s::text,
            -- a provisional record merged into a registered child stands for that child; the row lock
            -- waits for a merge under way (activities/cases.py registered_child_id)
            COALESCE(
                (SELECT merged_into_id FROM children WHERE id = %(child_id)s::int FOR KEY SHARE), %(child_id)s::int
            ),
            %(county)s::text, 'open', %(starter_id)s::int, %(facts)s::jsonb,
            %(at)s::timestamptz, %(at)s::timestamptz, 0)
    ON CONFLICT (case_no) DO NOTHING
    RETURNING id
),"""

_APPEND = """
WITH {opening}
locked AS (SELECT id FROM cases WHERE case_no = %(case_no)s::text FOR UPDATE),
c AS (SELECT COALESCE({opened_id}(SELECT id FROM locked)) AS id),
ins AS (
    INSERT INTO timeline_events (case_id, seq, at, kind, track, action, from_step, to_step, actor_user_id,
                                 actor_agency_id, actor_name, actor_agency_name, note, payload, due_at)
    SELECT c.id, %(seq)s::int, %(at)s::timestamptz, %(kind)s::text, %(track)s::text, %(action)s::text,
           %(from_step)s::text, %(to_step)s::text, %(actor_user_id)s::int, %(actor_agency_id)s::int,
           %(actor_name)s::text, %(actor_agency_name)s::text, %(note)s::text, %(payload)s::jsonb,
           %(due_at)s::timestamptz
    FROM c WHERE c.id IS NOT NULL
    ON CONFLICT (case_id, seq) DO NOTHING
    RETURNING case_id
),
ended AS (
    -- a track set again by this event is overwritten below instead (one statement changes a row once)
    DELETE FROM case_steps cs USING ins
    WHERE cs.case_id = ins.case_id AND (%(end_all)s::bool OR cs.track = ANY(%(end_tracks)s::text[]))
      AND cs.track <> ALL(%(set_tracks)s::text[])
),
steps AS (
    INSERT INTO case_steps (case_id, {step_names})
    SELECT ins.case_id, s.* FROM ins, jsonb_to_recordset(%(steps)s::jsonb) AS s({step_columns})
    ON CONFLICT (case_id, track) DO UPDATE SET {step_updates}
),
parties AS (
    INSERT INTO case_parties (case_id, agency_id, role, visible_from_seq)
    SELECT ins.case_id, p.agency_id, p.role, p.visible_from_seq
    FROM ins, jsonb_to_recordset(%(parties)s::jsonb) AS p(agency_id int, role text, visible_from_seq int)
    ON CONFLICT DO NOTHING
),
about AS (
    -- the step of the event's track once the event is applied: the one it sets, or the one left open
    SELECT COALESCE(%(note_step_seq)s::int, CASE WHEN %(note_look_up)s::bool THEN (
        SELECT step_seq FROM case_steps WHERE case_id = (SELECT id FROM c) AND track = %(note_track)s::text) END) AS seq
),
notes AS (
    INSERT INTO notifications (case_id, seq, agency_id, user_id, role, kind, title, created_at, track, step_seq)
    SELECT ins.case_id, %(seq)s::int, n.agency_id,
           -- one person, if they still work there; else everyone of the agency
           CASE WHEN n.user_id IS NOT NULL AND EXISTS (
               SELECT 1 FROM users u WHERE u.id = n.user_id AND u.is_active AND u.agency_id = n.agency_id
           ) THEN n.user_id END,
           n.role, n.kind, n.title, %(at)s::timestamptz,
           CASE WHEN n.on_step AND about.seq IS NOT NULL THEN %(note_track)s::text END,
           CASE WHEN n.on_step THEN about.seq END
    FROM ins, about, jsonb_to_recordset(%(notes)s::jsonb)
        AS n(agency_id int, user_id int, role text, kind text, title text, on_step bool)
    ON CONFLICT DO NOTHING
)
SELECT (SELECT id FROM c), (SELECT case_id FROM ins)
"""

APPEND_SQL = _APPEND.format(
    opening="", opened_id="", step_names=", ".join(_STEP_NAMES), step_columns=_STEP_COLUMNS, step_updates=_STEP_UPDATES
)
OPEN_SQL = _APPEND.format(
    opening=_OPENING,
    opened_id="(SELECT id FROM opened), ",
    step_names=", ".join(_STEP_NAMES),
    step_columns=_STEP_COLUMNS,
    step_updates=_STEP_UPDATES,
)

# The case row after the steps and parties above (a later statement sees them), and the notices settled
# (as activities/cases.py settle_notifications): of a step no longer open, and to holders of a step that
# another agency holds now.
CASE_SQL = """
WITH case_row AS (
    UPDATE cases SET
        last_seq = %(seq)s::int,
        main_step = %(main_step)s::text,
        next_due_at = (SELECT min(due_at) FROM case_steps WHERE case_id = %(case_id)s::int),
        summary = COALESCE(%(summary)s::jsonb, summary),
        last_activity_at = CASE WHEN %(activity)s::bool THEN %(at)s::timestamptz ELSE last_activity_at END,
        status = CASE WHEN %(outcome)s::text IS NOT NULL THEN 'closed' ELSE status END,
        outcome = COALESCE(%(outcome)s::text, outcome),
        closed_at = CASE WHEN %(outcome)s::text IS NOT NULL THEN %(at)s::timestamptz ELSE closed_at END,
        party_agency_ids = CASE WHEN %(parties)s::bool THEN ARRAY(
            SELECT agency_id FROM case_parties WHERE case_id = %(case_id)s::int ORDER BY agency_id
        ) ELSE party_agency_ids END,
        party_scopes = CASE WHEN %(parties)s::bool THEN ARRAY(
            SELECT DISTINCT a.agency_type || '@' || a.region_code
            FROM agencies a JOIN case_parties cp ON cp.agency_id = a.id WHERE cp.case_id = %(case_id)s::int
        ) ELSE party_scopes END
    WHERE id = %(case_id)s::int
)
UPDATE notifications n SET settled_at = %(at)s::timestamptz
WHERE n.case_id = %(case_id)s::int AND n.step_seq IS NOT NULL AND n.settled_at IS NULL
  AND (
    NOT EXISTS (
        SELECT 1 FROM case_steps cs
        WHERE cs.case_id = n.case_id AND cs.track = n.track AND cs.step_seq = n.step_seq
    )
    OR (n.kind = ANY(%(holder_notices)s::text[]) AND NOT EXISTS (
        SELECT 1 FROM case_steps cs
        WHERE cs.case_id = n.case_id AND cs.track = n.track AND cs.step_seq = n.step_seq
          AND (cs.holder_agency_id = n.agency_id OR n.agency_id = ANY(cs.co_holder_ids))
    ))
  )
"""


@dataclass(frozen=True)
class Recipient:
    """One notification row to write: an agency, one person of it (checked in SQL), what and whether it is
    about the event's step."""

    agency_id: int
    user_id: int | None
    role: str
    kind: str
    title: str
    on_step: bool


def _json(value: Any) -> str | None:
    return None if value is None else json.dumps(value, ensure_ascii=False)


def _step_json(st: StepState) -> dict[str, Any]:
    d = st.deadlines
    return {
        "track": st.track,
        "step": st.step,
        "step_seq": st.seq,
        "holder_agency_id": st.holder.id,
        "holder_type": st.holder.agency_type.value,
        "holder_region": st.holder.region_code,
        "co_holder_ids": [a.id for a in st.co_holders],
        "opened_at": st.opened_at.isoformat(),
        "due_at": d.due_at.isoformat() if d else None,
        "level2_at": d.level2_at.isoformat() if d else None,
        "level3_at": d.level3_at.isoformat() if d else None,
        "due_provisional": bool(d and d.provisional),
        "allowance": st.allowance,
        "escalation_level": st.level,
        "counters": st.counters,
        "external": st.external.model_dump(mode="json") if st.external else None,
    }


def note_track(ev: EventRecord) -> str | None:
    """The track the event's step notices are about."""
    return ev.track or (ev.set_steps[0].track if ev.set_steps else None)


def append_params(ev: EventRecord, recipients: list[Recipient]) -> dict[str, Any]:
    actor = ev.actor
    # The last step given for a track is the one that stays (as upserting them one by one did).
    steps = {st.track: st for st in ev.set_steps}
    end_all = "*" in ev.end_tracks
    track = note_track(ev)
    params: dict[str, Any] = {
        "case_no": ev.case_no,
        "seq": ev.seq,
        "at": ev.at,
        "kind": ev.kind,
        "track": ev.track,
        "action": ev.action,
        "from_step": ev.from_step,
        "to_step": ev.to_step,
        "actor_user_id": actor.user_id if actor else None,
        "actor_agency_id": actor.agency.id if actor else None,
        "actor_name": actor.user_name if actor else None,
        "actor_agency_name": actor.agency.name if actor else None,
        "note": ev.note,
        "payload": _json(ev.payload),
        "due_at": next((st.deadlines.due_at for st in ev.set_steps if st.deadlines), None),
        "end_all": end_all,
        "end_tracks": [t for t in ev.end_tracks if t != "*"],
        "set_tracks": list(steps),
        "steps": _json([_step_json(st) for st in steps.values()]),
        "parties": _json(
            [
                # A receiving agency (a hand-over) sees the case from the hand-over on; others see all of it.
                {"agency_id": g.agency.id, "role": g.role, "visible_from_seq": ev.seq if g.role == "receiver" else 0}
                for g in ev.parties
            ]
        ),
        "notes": _json([r.__dict__ for r in recipients]),
        "note_track": track,
        "note_step_seq": steps[track].seq if track in steps else None,
        "note_look_up": track is not None and track not in steps and not end_all and track not in ev.end_tracks,
    }
    if ev.opening is not None:
        o = ev.opening
        params.update(
            process=o.process, child_id=o.child_id, county=o.county, starter_id=o.starter.id, facts=_json(o.facts)
        )
    return params


async def append(conn: AsyncConnection, ev: EventRecord, recipients: list[Recipient]) -> tuple[int | None, bool]:
    """The case's id (None: it has no projection row) and whether the event was new."""
    sql = OPEN_SQL if ev.opening is not None else APPEND_SQL
    row = (await conn.exec_driver_sql(sql, append_params(ev, recipients))).one()
    return row[0], row[1] is not None


async def update_case(
    conn: AsyncConnection, case_id: int, ev: EventRecord, *, activity: bool, holder_notices: tuple[str, ...]
) -> None:
    await conn.exec_driver_sql(
        CASE_SQL,
        {
            "case_id": case_id,
            "seq": ev.seq,
            "at": ev.at,
            "main_step": ev.main_step,
            "summary": _json(ev.summary),
            "activity": activity,
            "outcome": ev.closed_outcome,
            "parties": bool(ev.parties),
            "holder_notices": list(holder_notices),
        },
    )
