"""The columns kept for reads (migration 0019, db/case_reads.py) against a real PostgreSQL and Temporal: the
projection writer keeps next_due_at and the party arrays true to case_steps and case_parties as a case moves
on, the migration's backfill computes the same, and the lists read them (order, visibility, pagination)."""

from __future__ import annotations

from sqlalchemy import func, select, text, update

from db.case_reads import BACKFILL_SQL, scope_key
from db.models import Agency, Case, CaseParty, CaseStep
from tests.conftest import Live, make_token
from tests.support import act, open_steps, start, today_iso


def auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def truth(live: Live, case_no: str) -> tuple:
    """What the read columns must say, from the tables they are kept from."""
    async with live.db.sf() as s:
        case_id = (await s.execute(select(Case.id).where(Case.case_no == case_no))).scalar_one()
        due = (await s.execute(select(func.min(CaseStep.due_at)).where(CaseStep.case_id == case_id))).scalar_one()
        parties = (
            await s.execute(
                select(Agency.id, Agency.agency_type, Agency.region_code)
                .join(CaseParty, CaseParty.agency_id == Agency.id)
                .where(CaseParty.case_id == case_id)
            )
        ).all()
    return due, sorted(a for a, _, _ in parties), sorted({scope_key(t, r) for _, t, r in parties})


async def kept(live: Live, case_no: str) -> tuple:
    async with live.db.sf() as s:
        c = (await s.execute(select(Case).where(Case.case_no == case_no))).scalar_one()
        return c.next_due_at, sorted(c.party_agency_ids), sorted(c.party_scopes)


async def test_the_projection_keeps_next_due_and_parties_and_the_backfill_agrees(live: Live) -> None:
    case_no = await start(live.db, live.temporal, live.task_queue, "luzhou-vc1")
    opened = await kept(live, case_no)
    assert opened == await truth(live, case_no)
    assert opened[0] is not None and opened[1], "an open case has a due step and a party"

    step = next(iter((await open_steps(live.db, case_no)).values()))
    await act(
        live.db,
        live.temporal,
        case_no,
        "luzhou-vc1",
        "record_admonition",
        {"done_on": today_iso(), "content": "已上门劝诫，监护人表示改正"},
        step=step.step,
        step_seq=step.step_seq,
    )
    moved = await kept(live, case_no)
    assert moved == await truth(live, case_no)
    assert moved[0] != opened[0], "the next step's deadline replaced the first's"

    # The migration's backfill (the same SQL) gives what the activity wrote.
    async with live.db.sf() as s:
        await s.execute(update(Case).values(next_due_at=None, party_agency_ids=[], party_scopes=[]))
        for statement in BACKFILL_SQL.split(";"):
            if statement.strip():
                await s.execute(text(statement))
        await s.commit()
    assert await kept(live, case_no) == moved


async def test_visibility_and_the_list_order_read_the_kept_columns(live: Live) -> None:
    first = await start(live.db, live.temporal, live.task_queue, "luzhou-vc1")
    second = await start(live.db, live.temporal, live.task_queue, "luzhou-vc1", child="李娜")
    vc, other, city = (
        await make_token(live.db, "luzhou-vc1"),
        await make_token(live.db, "shangdang-vc1"),
        await make_token(live.db, "city-civil-sup"),
    )
    async with live.db.sf() as s:  # the first due much later: the list puts the second first
        await s.execute(update(Case).where(Case.case_no == first).values(next_due_at=text("now() + interval '1 year'")))
        await s.commit()
    mine = (await live.http.get("/api/v1/cases", headers=auth(vc))).json()
    assert [i["case_no"] for i in mine["items"]][:2] == [second, first]
    paged = (await live.http.get("/api/v1/cases", params={"per_page": 1, "page": 2}, headers=auth(vc))).json()
    assert (paged["total"], paged["page"], [i["case_no"] for i in paged["items"]]) == (2, 2, [first])
    assert (await live.http.get("/api/v1/cases", headers=auth(other))).json()["total"] == 0
    assert {i["case_no"] for i in (await live.http.get("/api/v1/cases", headers=auth(city))).json()["items"]} >= {
        first,
        second,
    }
    # A party array without the agency hides the case from it: visibility reads the array, nothing else.
    async with live.db.sf() as s:
        await s.execute(update(Case).where(Case.case_no == first).values(party_agency_ids=[], party_scopes=[]))
        await s.commit()
    assert [i["case_no"] for i in (await live.http.get("/api/v1/cases", headers=auth(vc))).json()["items"]] == [second]
    assert (await live.http.get(f"/api/v1/cases/{first}", headers=auth(vc))).status_code == 404


async def test_the_stalled_list_pages_and_counts_by_holder(live: Live) -> None:
    cases = [
        await start(live.db, live.temporal, live.task_queue, "luzhou-vc1", child=name) for name in ("王小明", "李娜")
    ]
    async with live.db.sf() as s:  # both steps at level 3: on the city's list
        await s.execute(
            update(CaseStep)
            .where(CaseStep.case_id.in_(select(Case.id).where(Case.case_no.in_(cases))))
            .values(escalation_level=3, due_at=text("now() - interval '30 days'"))
        )
        await s.commit()
    city = await make_token(live.db, "city-civil-sup")
    whole = (await live.http.get("/api/v1/stalled", headers=auth(city))).json()
    listed = [i["case_no"] for i in whole["items"] if i["case_no"] in cases]
    assert sorted(listed) == sorted(cases)
    assert whole["total"] == sum(h["steps"] for h in whole["holders"]) >= 2
    holder = whole["items"][0]["step"]["holder"]["id"]
    line = next(h for h in whole["holders"] if h["agency_id"] == holder)
    assert line["level3"] >= 1 and line["name"]
    one = (await live.http.get("/api/v1/stalled", params={"per_page": 1, "page": 2}, headers=auth(city))).json()
    assert (one["page"], one["per_page"], len(one["items"]), one["total"]) == (2, 1, 1, whole["total"])
    assert one["items"][0]["case_no"] == whole["items"][1]["case_no"]
    only = (await live.http.get("/api/v1/stalled", params={"holder": holder}, headers=auth(city))).json()
    assert only["total"] == line["steps"] and {i["step"]["holder"]["id"] for i in only["items"]} == {holder}
    bad = await live.http.get("/api/v1/stalled", params={"page": 0}, headers=auth(city))
    assert bad.status_code == 422 and bad.json()["error"]["message"]
