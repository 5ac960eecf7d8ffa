"""The six-monthly registry refresh of a county (domain/refresh.py, workflows/refresh.py) on the time-skipping
server with the real activities and PostgreSQL: opened with a notice to the county's civil affairs, due at
the end of the half-year, escalated to the county's then the city's civil-affairs supervisors, done when
the county's import is applied (the registry's call) or a person records it, once."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta

from sqlalchemy import select

from api.refresh import service
from db.models import Agency, Notification, RegistryRefresh
from domain.deadlines import local_date
from domain.months import add_months
from domain.refresh import WORKFLOW_TYPE, RefreshInput, RefreshState, half_year, period_start
from tests.support import HISTORIES, SAVE_HISTORIES, wait_for
from tests.workflow.conftest import Wf

LUZHOU = "140403"


async def start(w: Wf, county: str = LUZHOU):
    handle = await w.client.start_workflow(
        WORKFLOW_TYPE,
        RefreshInput(county=county),
        id=f"refresh-{county}-{uuid.uuid4().hex[:8]}",
        task_queue=w.tq,
        result_type=RefreshState,
    )
    return handle


async def row(w: Wf, county: str = LUZHOU) -> RegistryRefresh | None:
    async with w.db.sf() as s:
        return (await s.execute(select(RegistryRefresh).where(RegistryRefresh.county == county))).scalar_one_or_none()


async def told(w: Wf) -> list[tuple[int, str, str, str]]:
    """(level, agency code, role, kind) of the refresh's notices, in order."""
    async with w.db.sf() as s:
        rows = await s.execute(
            select(Notification.seq, Agency.code, Notification.role, Notification.kind)
            .join(Agency, Agency.id == Notification.agency_id)
            .where(Notification.refresh_id.is_not(None))
            .order_by(Notification.seq, Agency.code)
        )
        return [tuple(r) for r in rows]


async def civil(w: Wf, code: str = "luzhou-civil") -> Agency:
    async with w.db.sf() as s:
        return (await s.execute(select(Agency).where(Agency.code == code))).scalar_one()


async def test_due_overdue_escalated_then_done_by_the_import(fresh_wf: Wf) -> None:
    w = fresh_wf
    handle = await start(w)
    opened = await wait_for(lambda: row(w), what="the refresh row")
    period, first = half_year(local_date(opened.opened_at))
    assert (opened.period, local_date(opened.due_at)) == (period, add_months(first, 6))
    assert period_start(period) == first
    assert await told(w) == [(0, "luzhou-civil", "", "new_step")]

    for level, expected in (
        (1, [(1, "luzhou-civil", "", "overdue")]),
        (2, [(2, "luzhou-civil", "supervisor", "escalated")]),
        (3, [(3, "city-civil", "supervisor", "escalated")]),
    ):
        at = {1: opened.due_at, 2: opened.level2_at, 3: opened.level3_at}[level]
        await w.env.sleep(at - await w.env.get_current_time() + timedelta(minutes=1))

        async def reached(level: int = level) -> bool:
            r = await row(w)
            return r is not None and r.escalation_level == level

        await wait_for(reached, what=f"level {level}")
        assert [t for t in await told(w) if t[0] == level] == expected

    agency = await civil(w)
    async with w.db.sf() as s:
        states = await service.record_by_import(
            session=s, client=w.client, county=LUZHOU, agency_id=agency.id, agency_name=agency.name, import_ref="cs-42"
        )
    assert [(st.period, st.done.import_ref) for st in states] == [(period, "cs-42")]
    result = await handle.result()
    assert result.done is not None and result.level == 3
    done = await row(w)
    assert done.done_at is not None and done.import_ref == "cs-42" and done.done_by_agency_id == agency.id
    async with w.db.sf() as s:
        unsettled = (
            await s.execute(
                select(Notification.id).where(Notification.refresh_id == done.id, Notification.settled_at.is_(None))
            )
        ).all()
    assert unsettled == []
    # Recorded again: nothing open, nothing to do.
    async with w.db.sf() as s:
        assert (
            await service.record_by_import(
                session=s,
                client=w.client,
                county=LUZHOU,
                agency_id=agency.id,
                agency_name=agency.name,
                import_ref="cs-43",
            )
            == []
        )
    assert (await row(w)).import_ref == "cs-42"
    if SAVE_HISTORIES:  # replayed by tests/replay
        history = await handle.fetch_history()
        text = json.dumps(history.to_json_dict(), separators=(",", ":"))
        (HISTORIES / "refresh-escalated-then-imported.json").write_text(text + "\n", encoding="utf-8")


async def test_done_in_time_is_never_escalated(fresh_wf: Wf) -> None:
    w = fresh_wf
    handle = await start(w)
    opened = await wait_for(lambda: row(w), what="the refresh row")
    await w.env.sleep((opened.due_at - await w.env.get_current_time()) / 2)
    agency = await civil(w)
    async with w.db.sf() as s:
        await service.record_by_import(
            session=s, client=w.client, county=LUZHOU, agency_id=agency.id, agency_name=agency.name, import_ref="cs-1"
        )
    result = await handle.result()
    assert result.level == 0 and result.done is not None
    await w.env.sleep(opened.level3_at - await w.env.get_current_time() + timedelta(days=1))
    assert (await row(w)).escalation_level == 0
    assert [t[0] for t in await told(w)] == [0]
