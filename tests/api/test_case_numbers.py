"""Case numbers: each process counts its cases per county and year from 1, concurrent starts get distinct
consecutive numbers, a follow-on case takes the next number of its new county, and a case numbered
before the counts existed is still found and opened by its number."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime

from sqlalchemy import select

from activities.cases import CaseActivities
from api.cases import service
from db.case_numbers import next_case_no
from db.models import Agency, CaseCounterBase, CaseRequest
from db.session import transaction
from domain.ids import case_year
from domain.messages import FollowOnRequest
from domain.processes import get_process
from tests.api.test_cases_api import auth, start_body
from tests.api.test_dropout_api import report_body
from tests.conftest import Db, Live, make_token
from tests.support import child_id, today_iso, who
from tests.ui.test_pages import browser

GUARDIANSHIP = get_process("guardianship").code
DROPOUT = get_process("dropout_return").code


async def base(db: Db) -> int:
    """Where this test database's counts start (0 in a deployment; see tests/conftest.py)."""
    async with db.sf() as s:
        return (await s.execute(select(CaseCounterBase.base))).scalar_one()


async def numbered(db: Db, code: str, county: str, *serials: int) -> list[str]:
    """The case numbers a user sees for the given places in a count of this year, `KC-2026-140403-00001`."""
    year = case_year(datetime.now(UTC))
    b = await base(db)
    return [f"{code}-{year}-{county}-{b + n:05d}" for n in serials]


async def started(live: Live, token: str, body: dict) -> str:
    r = await live.http.post("/api/v1/cases", json=body, headers=auth(token))
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


async def test_each_process_numbers_a_countys_cases_from_one(live: Live) -> None:
    school = await make_token(live.db, "luzhou-school1")
    luzhou_vc = await make_token(live.db, "luzhou-vc1")
    shangdang_vc = await make_token(live.db, "shangdang-vc1")

    dropout = [await started(live, school, await report_body(live, child="王小明"))]
    guardianship = [await started(live, luzhou_vc, await start_body(live, child="王小明"))]
    elsewhere = [await started(live, shangdang_vc, await start_body(live, child="赵雨涵"))]
    dropout.append(await started(live, school, await report_body(live, child="李娜")))
    guardianship.append(await started(live, luzhou_vc, await start_body(live, child="李娜")))
    dropout.append(await started(live, school, await report_body(live, child="张浩")))

    assert dropout == await numbered(live.db, DROPOUT, "140403", 1, 2, 3)
    assert guardianship == await numbered(live.db, GUARDIANSHIP, "140403", 1, 2)
    assert elsewhere == await numbered(live.db, GUARDIANSHIP, "140404", 1)
    # The number names the case: its API resource and the list's search box find it.
    assert (await live.http.get(f"/api/v1/cases/{dropout[2]}", headers=auth(school))).status_code == 200
    assert (await live.http.get(f"/api/v1/cases/{elsewhere[0]}", headers=auth(shangdang_vc))).status_code == 200
    listed = (await live.http.get("/api/v1/cases", params={"q": dropout[1]}, headers=auth(school))).json()
    assert [c["case_no"] for c in listed["items"]] == [dropout[1]]


async def reserve(db: Db, code: str, county: str) -> str:
    async with transaction(db.sf) as s:
        return await next_case_no(s, code=code, county=county, at=datetime.now(UTC))


async def test_concurrent_reservations_get_distinct_consecutive_numbers(db: Db) -> None:
    got = await asyncio.gather(*(reserve(db, DROPOUT, "140403") for _ in range(20)))
    assert sorted(got) == await numbered(db, DROPOUT, "140403", *range(1, 21))
    # A reservation rolled back gives its number back: the count has no gap.
    async with db.sf() as s, s.begin():
        taken = await next_case_no(s, code=DROPOUT, county="140403", at=datetime.now(UTC))
        await s.rollback()
    assert [taken] == await numbered(db, DROPOUT, "140403", 21)
    assert await reserve(db, DROPOUT, "140403") == taken


async def test_the_same_start_sent_twice_at_once_costs_one_number(db: Db) -> None:
    """Two requests with one idempotency key racing: the loser waits for the count, finds the winner's
    case and gives its number back, so the next case is numbered 2."""
    vc = await who(db, "luzhou-vc1")
    process = get_process("guardianship")
    async with db.sf() as first, db.sf() as second:
        won = await service._reserve_case_no(first, vc, process, "140403", "same-key", "same-hash")
        lost = asyncio.create_task(service._reserve_case_no(second, vc, process, "140403", "same-key", "same-hash"))
        await asyncio.sleep(0.3)
        assert not lost.done()  # waiting on the count the first request holds until it commits
        await first.commit()
        assert await lost == (won[0], False)
        await second.commit()
    assert [won[0]] == await numbered(db, GUARDIANSHIP, "140403", 1)
    assert [await reserve(db, GUARDIANSHIP, "140403")] == await numbered(db, GUARDIANSHIP, "140403", 2)


async def test_follow_on_case_takes_the_next_number_of_its_new_county(db: Db) -> None:
    for _ in range(2):
        await reserve(db, DROPOUT, "140404")
    await reserve(db, DROPOUT, "140403")
    async with db.sf() as s:
        shangdang = (await s.execute(select(Agency.id).where(Agency.code == "shangdang-edu"))).scalar_one()
    [origin] = await numbered(db, DROPOUT, "140403", 1)
    req = FollowOnRequest(
        origin_case_no=origin,
        process="dropout_return",
        agency_id=shangdang,
        county="140404",
        child_id=await child_id(db, "王小明"),
    )
    activities = CaseActivities(db.sf)
    follow_on = await activities.open_follow_on(req)
    assert [follow_on] == await numbered(db, DROPOUT, "140404", 3)
    assert await activities.open_follow_on(req) == follow_on  # a retried activity keeps its number
    assert await reserve(db, DROPOUT, "140404") == (await numbered(db, DROPOUT, "140404", 4))[0]


async def test_a_case_numbered_the_old_way_is_still_found_by_its_number(live: Live) -> None:
    """Cases opened before the per-county counts keep numbers like `JH-2026-000123`."""
    vc = await make_token(live.db, "luzhou-vc1")
    old = f"{GUARDIANSHIP}-{case_year(datetime.now(UTC))}-{await base(live.db) + 1:06d}"
    body = await start_body(live)
    async with transaction(live.db.sf) as s:
        agency = (await s.execute(select(Agency.id).where(Agency.code == "luzhou-vc1"))).scalar_one()
        digest = service._request_hash(service.StartCaseIn.model_validate(body))
        s.add(CaseRequest(agency_id=agency, idempotency_key="before-the-counts", request_hash=digest, case_no=old))
    r = await live.http.post("/api/v1/cases", json=body, headers={**auth(vc), "Idempotency-Key": "before-the-counts"})
    assert r.status_code == 200 and r.json()["case_no"] == old, r.text

    case = (await live.http.get(f"/api/v1/cases/{old}", headers=auth(vc))).json()
    assert case["case_no"] == old and [s["step"] for s in case["steps"]] == ["admonition"]
    listed = (await live.http.get("/api/v1/cases", params={"q": old[:-2]}, headers=auth(vc))).json()
    assert [c["case_no"] for c in listed["items"]] == [old]
    r = await live.http.post(
        f"/api/v1/cases/{old}/actions",
        json={
            "step": "admonition",
            "action": "record_admonition",
            "payload": {"done_on": today_iso(), "content": "已上门劝诫，监护人表示改正"},
        },
        headers=auth(vc),
    )
    assert r.status_code == 200 and r.json()["steps"][0]["step"] == "admonition_followup", r.text
    async with browser(live, "luzhou-vc1") as http:
        page = await http.get(f"/cases/{old}")
        assert page.status_code == 200 and "劝诫后回访" in page.text
        found = await http.get("/cases", params={"q": old})
        assert re.findall(r'href="/cases/([^"/]+)"', found.text).count(old) >= 1
    # The next case of the process and county is numbered in the new way, from 1.
    new = await started(live, vc, await start_body(live, child="李娜"))
    assert [new] == await numbered(live.db, GUARDIANSHIP, "140403", 1)
