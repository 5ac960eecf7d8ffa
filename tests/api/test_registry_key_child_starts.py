"""The follow-ups a registry apply owes its flagged key children survive a crash after its commit: the
apply records them in its own transaction; if the web app dies before starting them, the worker's sweep
starts them, once — a second sweep, or the web app's own start after, doubles nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select

from api.cases import service
from api.principal import load_principal
from api.registry import applying, follow_through, key_child_starts
from db.models import Case, KeyChildStart, RegistryRefresh
from domain.refresh import schedule_id
from domain.registry import Source
from tests.api.test_registry_imports import apply, checked, child_by_name, pupil, xlsx
from tests.conftest import Live, make_token
from tests.support import wait_for
from worker.schedules import ensure_refresh_schedules


async def owed(live: Live) -> list[KeyChildStart]:
    async with live.db.sf() as s:
        return list((await s.execute(select(KeyChildStart).order_by(KeyChildStart.id))).scalars())


async def cases_of(live: Live, child_id: int) -> list[Case]:
    async with live.db.sf() as s:
        return list((await s.execute(select(Case).where(Case.child_id == child_id))).scalars())


async def test_starts_left_undone_by_a_crash_are_done_by_the_sweep_once(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    rows = [pupil(901, **{"重点情形": "监护缺失"}), pupil(902, **{"重点情形": "残疾"}), pupil(903)]
    imp = await checked(live, clerk, Source.education, xlsx(Source.education, rows))

    # The web app dies right after the apply's commit: none of its starts happen.
    async def nothing_started(*_: object, **__: object) -> key_child_starts.StartsDone:
        return key_child_starts.StartsDone()

    monkeypatch.setattr(follow_through, "start_owed", nothing_started)
    r = await apply(live, clerk, imp["id"])
    assert r.status_code == 200, r.text
    assert r.json()["key_child_cases"] == 0
    first, second = await child_by_name(live, "学生901"), await child_by_name(live, "学生902")
    waiting = await owed(live)
    # One owed start per flagged child (the unflagged pupil owes none), none done, no case yet.
    assert sorted((w.child_id, w.process, w.done_at) for w in waiting) == sorted(
        [(first.id, "key_child_followup", None), (second.id, "key_child_followup", None)]
    )
    assert waiting[0].facts == {"categories": ["guardian_missing"]} or waiting[1].facts == {
        "categories": ["guardian_missing"]
    }
    assert await cases_of(live, first.id) == [] and await cases_of(live, second.id) == []

    # Too recent for the sweep (the web app may still be at it): left alone.
    early = await key_child_starts.sweep(live.db.sf, live.temporal, live.task_queue)
    assert early == key_child_starts.StartsDone()

    done = await key_child_starts.sweep(live.db.sf, live.temporal, live.task_queue, older_than=timedelta(0))
    assert (done.started, done.existing, done.waiting, done.refused) == (2, 0, 0, 0)
    for child in (first, second):
        (case,) = await cases_of(live, child.id)
        assert (case.process, case.status) == ("key_child_followup", "open")
    rows_after = await owed(live)
    assert all(w.outcome == "started" and w.done_at and w.case_no and w.attempts == 1 for w in rows_after)
    assert {w.case_no for w in rows_after} == {
        c.case_no for child in (first, second) for c in await cases_of(live, child.id)
    }

    # A second sweep finds nothing waiting; the web app's own start coming late doubles nothing either.
    again = await key_child_starts.sweep(live.db.sf, live.temporal, live.task_queue, older_than=timedelta(0))
    assert again == key_child_starts.StartsDone()
    monkeypatch.undo()
    async with live.db.sf() as s:
        late = await key_child_starts.start_owed(s, live.temporal, live.task_queue, [w.id for w in rows_after])
    assert late == key_child_starts.StartsDone()
    assert len(await cases_of(live, first.id)) == 1 and len(await cases_of(live, second.id)) == 1


async def test_a_start_retried_after_its_number_was_reserved_launches_that_case(live: Live) -> None:
    """The crash came inside the start (its number reserved, the workflow not launched): tried again with
    the row's key, the start takes that number and launches it — one case, not a second."""
    clerk = await make_token(live.db, "luzhou-civil")
    imp_id = (
        await checked(live, clerk, Source.education, xlsx(Source.education, [pupil(911, **{"重点情形": "困境"})]))
    )["id"]
    async with live.db.sf() as s:
        principal = await load_principal(s, "luzhou-civil", channel="api")
        assert principal is not None
        done = await applying.apply_changes(session=s, principal=principal, import_id=imp_id, data=applying.ApplyIn())
    (row_id,) = done.start_ids
    child = await child_by_name(live, "学生911")

    # The first try reserves the number and dies before launching: simulated by a launch that fails.
    async def launch_died(*_: object, **__: object) -> None:
        raise ConnectionError("worker host gone")

    mp = pytest.MonkeyPatch()
    mp.setattr(service, "_launch", launch_died)
    try:
        async with live.db.sf() as s:
            first = await key_child_starts.start_owed(s, live.temporal, live.task_queue, [row_id])
    finally:
        mp.undo()
    assert first.waiting == 1 and await cases_of(live, child.id) == []

    done2 = await key_child_starts.sweep(live.db.sf, live.temporal, live.task_queue, older_than=timedelta(0))
    assert (done2.started, done2.existing, done2.waiting) == (1, 0, 0)
    (case,) = await cases_of(live, child.id)
    (row,) = [w for w in await owed(live) if w.id == row_id]
    assert (row.case_no, row.outcome, row.attempts) == (case.case_no, "started", 2)


async def test_a_refresh_the_web_app_did_not_record_is_recorded_by_the_reconciler(
    live: Live, monkeypatch: pytest.MonkeyPatch
) -> None:
    county = "140403"
    try:
        assert await ensure_refresh_schedules(live.temporal, live.task_queue, counties=(county,)) == 1

        async def refresh() -> RegistryRefresh | None:
            async with live.db.sf() as s:
                return (
                    await s.execute(select(RegistryRefresh).where(RegistryRefresh.county == county))
                ).scalar_one_or_none()

        await wait_for(refresh, what="the half-year's refresh")
        clerk = await make_token(live.db, "luzhou-civil")
        import_id = (await checked(live, clerk, Source.education, xlsx(Source.education, [pupil(911)])))["id"]

        # The web app dies after the apply's commit, before it records the county's refresh.
        async def died(**_: object) -> list[object]:
            return []

        monkeypatch.setattr(follow_through, "record_by_import", died)
        r = await apply(live, clerk, import_id)
        assert r.status_code == 200 and r.json()["status"] == "applied", r.text
        assert (await refresh()).done_at is None  # type: ignore[union-attr]
        monkeypatch.undo()

        # Too recent for the reconciler (the web app may still be at it), then recorded, once.
        assert await follow_through.record_missed_refreshes(live.db.sf, live.temporal) == []
        later = datetime.now(UTC) + timedelta(minutes=5)
        assert await follow_through.record_missed_refreshes(live.db.sf, live.temporal, now=later) == [county]

        async def done() -> RegistryRefresh | None:
            row = await refresh()
            return row if row is not None and row.done_at is not None else None

        row = await wait_for(done, what="the refresh recorded by the reconciler")
        assert row.import_ref == f"import-{import_id}"
        assert await follow_through.record_missed_refreshes(live.db.sf, live.temporal, now=later) == []
    finally:
        await live.temporal.get_schedule_handle(schedule_id(county)).delete()
