"""Dates of what happened and scheduled windows against PostgreSQL and the real activities: a backdated
admonition whose follow-up counts from the day it was done, monitoring visits recorded from their windows;
a return to school dated before it was typed, its checks counted from it. Saved as the histories that go
through the patched paths (a next step counted from the date done, windows, dates checked)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from domain.deadlines import end_of_local_day, local_date
from domain.errors import DomainError
from tests import support as s
from tests.support import CaseDriver, DropoutDriver, form


def day_end(d, n: int):
    return end_of_local_day(d + timedelta(days=n))


async def test_a_backdated_admonition_counts_from_its_date_and_visits_wait_for_their_windows(fresh_wf):
    today = await s.server_today(fresh_wf.env)
    found, done = today - timedelta(days=10), today - timedelta(days=8)
    c = await CaseDriver.open(fresh_wf, "luzhou-vc1", facts={"occurred_on": found.isoformat()})
    with pytest.raises(DomainError) as e:
        await c.act("luzhou-vc1", "record_admonition", form("record_admonition", done_on="2020-01-01"))
    assert e.value.message == f"“日期”不能早于本环节开始的日期（{found.isoformat()}）"
    await c.act("luzhou-vc1", "record_admonition", form("record_admonition", done_on=done.isoformat()))
    review = await c.step()
    assert (review.step, review.due_at) == ("admonition_followup", day_end(done, 30))

    improved = today - timedelta(days=1)
    await c.act("luzhou-vc1", "improved", form("improved", done_on=improved.isoformat()))
    first = await c.step()
    assert (first.step, first.due_at) == ("monitoring", day_end(improved, 30))
    with pytest.raises(DomainError) as e:
        await c.act("luzhou-vc1", "record_visit", form("record_visit"))
    due = local_date(first.due_at)
    assert (e.value.code, e.value.message) == (
        "not_yet",
        f"“记录回访”{(due - timedelta(days=7)).isoformat()}起可办理（应回访日期{due.isoformat()}）",
    )
    await c.sleep_to_window()
    await c.act("luzhou-vc1", "record_visit", form("record_visit"))
    second = await c.step()
    assert second.due_at == day_end(improved, 90)
    await c.sleep_to_window()
    r = await c.act("luzhou-vc1", "record_visit", form("record_visit"))
    assert (r.closed, r.outcome) == (True, "resolved")
    await c.save_history("dates-done-and-visit-windows")


async def test_a_return_dated_before_it_was_typed_counts_its_checks_from_it(fresh_wf):
    c = await DropoutDriver.open(fresh_wf)
    await c.sleep(timedelta(days=3))
    back = await s.server_today(fresh_wf.env) - timedelta(days=2)
    await c.act("luzhou-school1", "returned", form("returned", returned_on=back.isoformat()))
    check = await c.step()
    assert (check.step, check.due_at) == ("consolidation", day_end(back, 30))
    with pytest.raises(DomainError) as e:
        await c.act("luzhou-school1", "record_attendance", form("record_attendance"))
    assert e.value.code == "not_yet"
    await c.sleep_to_window()
    await c.act("luzhou-school1", "record_attendance", form("record_attendance"))
    assert (await c.step()).due_at == day_end(back, 90)
    await c.sleep_to_window()
    r = await c.act("luzhou-school1", "record_attendance", form("record_attendance"))
    assert (r.closed, r.outcome) == (True, "returned")
    await c.save_history("dates-done-and-check-windows")
