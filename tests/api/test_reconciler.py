"""Reserved case numbers left without a workflow: a start sent while Temporal is down reserves its number
and answers 503; once the client has given up, the reconciler releases the number, and the case never
appears. A reservation whose workflow started (its worker is down) is left to run; the same request sent
again after a release takes its number back and starts."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from api.cases import service
from db.models import Case, CaseRequest
from tests.api.test_cases_api import auth, start_body
from tests.api.test_outages import second_app
from tests.conftest import Live, make_token
from tests.support import child_id, today_iso, wait_for, who
from worker.reconciler import reconcile_reservations


async def reservation(live: Live, case_no: str) -> CaseRequest:
    async with live.db.sf() as s:
        return (await s.execute(select(CaseRequest).where(CaseRequest.case_no == case_no))).scalar_one()


async def test_a_number_reserved_while_temporal_was_down_is_released_then_taken_back(live: Live) -> None:
    token = await make_token(live.db, "luzhou-vc1")
    body = await start_body(live)
    key = {"Idempotency-Key": "given-up-start"}
    async with second_app(live, temporal=False) as http:
        assert (await http.post("/api/v1/cases", json=body, headers={**auth(token), **key})).status_code == 503
    async with live.db.sf() as s:
        (case_no,) = (await s.execute(select(CaseRequest.case_no))).scalars()

    early = await reconcile_reservations(live.db.sf, live.temporal)  # too recent: the client may retry
    assert early.released == []
    done = await reconcile_reservations(live.db.sf, live.temporal, older_than=timedelta(0))
    assert done.released == [case_no]
    assert (await reservation(live, case_no)).released_at is not None
    again = await reconcile_reservations(live.db.sf, live.temporal, older_than=timedelta(0))
    assert again.released == []

    # The same form sent again (same key) is the same case: its number, now started.
    r = await live.http.post("/api/v1/cases", json=body, headers={**auth(token), **key})
    assert r.status_code in (200, 201), r.text
    assert r.json()["case_no"] == case_no
    assert (await reservation(live, case_no)).released_at is None
    assert (await live.http.get(f"/api/v1/cases/{case_no}", headers=auth(token))).status_code == 200


async def test_a_reservation_whose_workflow_started_is_left_to_run(live: Live) -> None:
    idle_queue = f"{live.task_queue}-no-worker"
    async with live.db.sf() as s:
        started = await service.start_case(
            session=s,
            client=live.temporal,
            task_queue=idle_queue,
            principal=await who(live.db, "luzhou-vc1"),
            data=service.StartCaseIn(
                process="guardianship",
                start_step="admonition",
                child_id=await child_id(live.db, "王小明"),
                facts={"facts": "儿童独自在家", "occurred_on": today_iso()},
            ),
            wait_seconds=0.5,
        )
    assert started.result is None  # no worker: the first event is not written
    done = await reconcile_reservations(live.db.sf, live.temporal, older_than=timedelta(0))
    assert done.running == [started.case_no] and done.released == []
    assert (await reservation(live, started.case_no)).released_at is None

    from worker.client import build_worker

    async with build_worker(live.temporal, idle_queue, live.db.sf):

        async def opened() -> Case | None:
            async with live.db.sf() as s:
                return (await s.execute(select(Case).where(Case.case_no == started.case_no))).scalar_one_or_none()

        await wait_for(opened, what="the case's first event")
