"""When things may be recorded and what dates they may name (processes.md §1 clarifications), on the
time-skipping server with fake activities: a scheduled visit or attendance check only from its window
(7 days before its date, a policy), an action possible only once a date has passed (an order's compliance
date), dates of what happened between the step's opening and today, and the next step counted from them."""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest

from domain.deadlines import SHANGHAI, end_of_local_day, local_date, start_of_local_day
from domain.errors import DomainError
from tests.fakes import FakeCase, FakeEnv, op
from tests.support import dropout_facts, form, today_iso

FACTS = {"facts": "监护人长期外出，儿童独自在家", "occurred_on": today_iso()}


def day_end(d, n: int):
    return end_of_local_day(d + timedelta(days=n))


async def admonition(f: FakeEnv, **kw) -> FakeCase:
    return await FakeCase.open(f, "guardianship", op("vc1"), "admonition", FACTS, **kw)


async def monitoring(c: FakeCase) -> None:
    await c.act(op("vc1"), "record_admonition", form("record_admonition"))
    await c.act(op("vc1"), "improved", form("improved"))
    assert (await c.step()).step == "monitoring"


# ---------------------------------------------------------------------------- scheduled visits


async def test_a_monitoring_visit_is_recorded_only_from_its_window(fake_env: FakeEnv) -> None:
    c = await admonition(fake_env)
    await monitoring(c)
    first = await c.step()
    due = local_date(first.deadlines.due_at)
    assert first.window_opens_at == start_of_local_day(due - timedelta(days=7))
    with pytest.raises(DomainError) as e:
        await c.act(op("vc1"), "record_visit", form("record_visit"))  # the day monitoring began
    assert (e.value.code, e.value.message) == (
        "not_yet",
        f"“记录回访”{(due - timedelta(days=7)).isoformat()}起可办理（应回访日期{due.isoformat()}）",
    )
    # New harm can be reported any day.
    assert (await c.view()).steps["main"].step == "monitoring"

    await c.sleep_until(first.window_opens_at - timedelta(minutes=1))
    with pytest.raises(DomainError):
        await c.act(op("vc1"), "record_visit", form("record_visit"))
    await c.sleep(timedelta(minutes=2))
    await c.act(op("vc1"), "record_visit", form("record_visit"))
    second = await c.step()
    assert second.window_opens_at == start_of_local_day(local_date(second.deadlines.due_at) - timedelta(days=7))
    with pytest.raises(DomainError) as e:
        await c.act(op("vc1"), "record_visit", form("record_visit"))  # the 90-day visit, 60 days early
    assert e.value.code == "not_yet"
    r = await c.act(op("vc1"), "report_new_harm", form("report_new_harm"))
    assert r.steps[0].step == "police_report"


async def test_a_consolidation_check_is_recorded_only_from_its_window(fake_env: FakeEnv) -> None:
    c = await FakeCase.open(
        fake_env, "dropout_return", op("school1"), "school_contact", dropout_facts(), village_committee="vc2"
    )
    await c.act(op("school1"), "returned", form("returned"))
    check = await c.step()
    with pytest.raises(DomainError) as e:
        await c.act(op("school1"), "record_attendance", form("record_attendance"))
    due = local_date(check.deadlines.due_at)
    assert (
        e.value.message
        == f"“记录到校核查（正常在校）”{(due - timedelta(days=7)).isoformat()}起可办理（应核查日期{due.isoformat()}）"
    )
    await c.sleep_until(check.window_opens_at)
    await c.act(op("school1"), "record_attendance", form("record_attendance"))
    with pytest.raises(DomainError) as e:
        await c.act(op("school1"), "record_attendance", form("record_attendance"))
    assert e.value.code == "not_yet"
    # Dropping out again is reported any day.
    r = await c.act(op("school1"), "dropped_again", form("dropped_again"))
    assert r.steps[0].step == "school_contact"


# ---------------------------------------------------------------------------- dates of what happened


async def test_a_date_done_before_the_step_opened_or_in_the_future_is_refused(fake_env: FakeEnv) -> None:
    c = await admonition(fake_env)
    today = await c.today()
    for day, code in ((today - timedelta(days=1), "date_before_step"), (today + timedelta(days=1), "date_in_future")):
        with pytest.raises(DomainError) as e:
            await c.act(op("vc1"), "record_admonition", form("record_admonition", done_on=day.isoformat()))
        assert (e.value.code, e.value.field) == (code, "done_on")
    assert (await c.step()).step == "admonition"
    before = "“日期”不能早于本环节开始的日期"
    with pytest.raises(DomainError, match=before):
        await c.act(op("vc1"), "record_admonition", form("record_admonition", done_on="2020-01-01"))

    # A dropout's return, contact and home-visit dates too (every date of what happened).
    d = await FakeCase.open(
        fake_env, "dropout_return", op("school1"), "school_contact", dropout_facts(), village_committee="vc2"
    )
    for name in ("contacted_on", "visited_on"):
        with pytest.raises(DomainError) as e:
            await d.act(op("school1"), "not_returned", form("not_returned", **{name: "2020-01-01"}))
        assert (e.value.code, e.value.field) == ("date_before_step", name)
    with pytest.raises(DomainError) as e:
        await d.act(op("school1"), "returned", form("returned", returned_on="2020-01-01"))
    assert e.value.field == "returned_on"


async def test_a_backdated_first_step_takes_dates_from_the_day_the_matter_was_found(fake_env: FakeEnv) -> None:
    now = await fake_env.env.get_current_time()
    found = local_date(now) - timedelta(days=10)
    reported = datetime.combine(found, time(18, 0), tzinfo=SHANGHAI)
    c = await admonition(fake_env, reported_at=reported)
    with pytest.raises(DomainError) as e:
        await c.act(
            op("vc1"), "record_admonition", form("record_admonition", done_on=(found - timedelta(days=1)).isoformat())
        )
    assert e.value.message == f"“日期”不能早于本环节开始的日期（{found.isoformat()}）"
    await c.act(op("vc1"), "record_admonition", form("record_admonition", done_on=found.isoformat()))
    assert (await c.step()).step == "admonition_followup"


# ---------------------------------------------------------------------------- counted from the date done


async def test_the_follow_up_counts_from_the_date_the_admonition_was_done(fake_env: FakeEnv) -> None:
    now = await fake_env.env.get_current_time()
    found = local_date(now) - timedelta(days=12)
    c = await admonition(fake_env, reported_at=datetime.combine(found, time(18, 0), tzinfo=SHANGHAI))
    done = found + timedelta(days=2)
    await c.act(op("vc1"), "record_admonition", form("record_admonition", done_on=done.isoformat()))
    review = await c.step()
    assert (review.step, review.deadlines.due_at, local_date(review.base)) == (
        "admonition_followup",
        day_end(done, 30),  # 30 days after the admonition, not after it was typed in
        done,
    )
    # The follow-up may name any day from the admonition on.
    await c.act(op("vc1"), "improved", form("improved", done_on=(done + timedelta(days=1)).isoformat()))
    watch = await c.step()
    assert watch.deadlines.due_at == day_end(done + timedelta(days=1), 30)


async def test_consolidation_counts_from_the_return_date(fake_env: FakeEnv) -> None:
    c = await FakeCase.open(
        fake_env, "dropout_return", op("school1"), "school_contact", dropout_facts(), village_committee="vc2"
    )
    await c.sleep(timedelta(days=3))
    back = await c.today() - timedelta(days=2)
    await c.act(op("school1"), "returned", form("returned", returned_on=back.isoformat()))
    check = await c.step()
    assert (check.step, check.deadlines.due_at) == ("consolidation", day_end(back, 30))
    await c.sleep_until(check.window_opens_at)
    await c.act(op("school1"), "record_attendance", form("record_attendance"))
    second = await c.step()
    assert second.deadlines.due_at == day_end(back, 90)  # both checks count from the return
