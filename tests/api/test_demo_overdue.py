"""`referrals seed-demo` loads a few cases already past each escalation level, so the stalled lists
(逾期与停滞) have content on first start. Real PostgreSQL, Temporal dev server and worker."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from db.models import Notification
from db.seed import OVERDUE_DEMO, seed_overdue_demo
from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.support import wait_for


async def stalled_levels(live: Live, username: str, **params: object) -> list[int]:
    r = await live.http.get("/api/v1/stalled", headers=auth(await make_token(live.db, username)), params=params)
    assert r.status_code == 200, r.text
    return sorted(i["step"]["escalation_level"] for i in r.json()["items"])


async def test_the_demo_has_cases_at_every_escalation_level(live: Live) -> None:
    assert await stalled_levels(live, "luzhou-civil-sup", include_overdue=True) == []
    assert await seed_overdue_demo(live.db.sf, live.temporal, live.task_queue) == len(OVERDUE_DEMO)

    async def escalated() -> list[int] | None:
        levels = await stalled_levels(live, "luzhou-civil-sup", include_overdue=True)
        return levels if levels == [1, 2, 3] else None

    # The workflow escalates each level by level on start.
    assert await wait_for(escalated, what="the demo cases escalated") == [1, 2, 3]
    async with live.db.sf() as s:
        told = (await s.execute(select(Notification.kind, Notification.step_seq, Notification.settled_at))).all()
    # The escalations' notices name the step they are about, which is still open: none settled yet.
    assert {k for k, _, _ in told} >= {"overdue", "escalated"}
    assert all(seq is not None and settled is None for k, seq, settled in told if k in ("overdue", "escalated"))
    assert await stalled_levels(live, "luzhou-civil-sup") == [2, 3]  # the county's list: level 2 on
    assert await stalled_levels(live, "city-civil-sup") == [3]  # the city's: level 3
    assert await stalled_levels(live, "city-civil-sup", include_overdue=True) == [1, 2, 3]
    # Loading the demo again starts nothing twice, on a later day either (when the day found would differ).
    assert await seed_overdue_demo(live.db.sf, live.temporal, live.task_queue) == 0
    later = datetime.now(UTC) + timedelta(days=3)
    assert await seed_overdue_demo(live.db.sf, live.temporal, live.task_queue, now=later) == 0
    assert await stalled_levels(live, "luzhou-civil-sup", include_overdue=True) == [1, 2, 3]


async def test_the_seed_demo_command_starts_them_with_a_worker_of_its_own(live: Live) -> None:
    """`referrals seed-demo` runs a worker while it starts the cases (cli/main.py `seed_demo_cases`)."""
    from cli.main import seed_demo_cases
    from config.settings import Settings

    settings = Settings(environment="dev", database_url=live.db.url, task_queue=f"{live.task_queue}-seed")
    assert await seed_demo_cases(settings, client=live.temporal) == len(OVERDUE_DEMO)
    levels = await stalled_levels(live, "luzhou-civil-sup", include_overdue=True)
    assert len(levels) <= len(OVERDUE_DEMO)  # opened; escalated as far as that worker got
    r = await live.http.get("/api/v1/cases", headers=auth(await make_token(live.db, "luzhou-civil-sup")))
    assert len(r.json()["items"]) == len(OVERDUE_DEMO)
