"""The timeline write and the agency lookup run as local activities in the worker; one that keeps failing
(here: no police agency to take a report) is handed to the server as an ordinary activity, retried until
it succeeds. The case goes on once an agency is there, and nothing is recorded twice."""

from __future__ import annotations

import asyncio

from domain.enums import AgencyType as T
from domain.errors import DomainError
from tests.fakes import AGENCIES, FakeCase, FakeEnv, op
from tests.support import form
from tests.workflow.test_fast_guardianship import FACTS


async def test_a_lookup_that_keeps_failing_goes_on_on_the_server(fake_env: FakeEnv) -> None:
    c = await FakeCase.open(fake_env, "guardianship", op("vc1"), "admonition", FACTS)
    police = {a.id for a in AGENCIES.values() if a.agency_type == T.police}
    fake_env.fakes.inactive.update(police)
    asked = asyncio.create_task(c.act(op("vc1"), "report_serious", form("report_serious"), request_id="r-1"))
    while len(fake_env.fakes.failures) < 4:  # three local tries, then the server's first  # noqa: ASYNC110 - the fakes signal nothing
        await asyncio.sleep(0.05)
    assert not asked.done()
    fake_env.fakes.inactive.difference_update(police)
    try:
        r = await asked
    except DomainError as e:  # answered "busy, try again" while the server retried: the same request again
        assert e.code == "unavailable"
        r = await c.act(op("vc1"), "report_serious", form("report_serious"), request_id="r-1")
    assert (await c.step()).step == "police_report"
    assert [e.action for e in c.events()] == [None, "report_serious"]
    assert r.seq == 2
