"""What an import's apply re-checks and marks, and what its background check leaves behind, on the real
stack (PostgreSQL, the web app): a change set checked before a child was changed, registered, or another
list applied is refused whole and nothing changes, and the same file is checked again; a partial apply
marks as named by the list only the rows it applied; a check whose web process died shows failed, whether
someone looks at it or only the reconciler does."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from api.registry import checking, service
from db.models import Agency, Child, ChildSource, RegistryChange, RegistryImport
from db.seed import make_id_number
from domain.registry import Source
from tests.api.test_cases_api import auth
from tests.api.test_registry_imports import URL, apply, checked, child_by_name, detail, pupil, upload, xlsx
from tests.conftest import Live, make_token


async def statuses(live: Live, import_id: int) -> list[str]:
    q = select(RegistryChange.status).where(RegistryChange.import_id == import_id).order_by(RegistryChange.id)
    async with live.db.sf() as s:
        return list((await s.execute(q)).scalars())


async def children(live: Live) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(func.count()).select_from(Child))).scalar_one()


async def source_of(live: Live, child_id: int, source: Source = Source.education) -> ChildSource | None:
    async with live.db.sf() as s:
        return (
            await s.execute(
                select(ChildSource).where(ChildSource.child_id == child_id, ChildSource.source == source.value)
            )
        ).scalar_one_or_none()


async def test_a_child_changed_since_the_check_refuses_the_apply_and_nothing_is_applied(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    committee = await make_token(live.db, "luzhou-vc1")
    wang = await child_by_name(live, "王小明")
    roll = xlsx(
        Source.education,
        [
            {
                **pupil(1),
                "身份证号": wang.id_number,
                "姓名": "王小明",
                "出生日期": wang.birth_date,
                "学校": "潞州区第二中学",
            },
            pupil(2),
        ],
    )
    imp = await checked(live, clerk, Source.education, roll)
    assert imp["counts"] == {"changed": {"pending": 1}, "new": {"pending": 1}}

    # After the check, the village committee corrects 王小明's school through the API.
    r = await live.http.patch(f"/api/v1/children/{wang.id}", headers=auth(committee), json={"school": "潞州区第三中学"})
    assert r.status_code == 200, r.text
    before = await children(live)

    r = await apply(live, clerk, imp["id"])
    assert r.status_code == 409, r.text
    message = r.json()["error"]["message"]
    assert r.json()["error"]["code"] == "changed_since_check"
    assert "儿童王小明的台账记录已修改" in message and "未应用任何变更" in message and "重新导入本文件" in message
    # Nothing applied: no child registered, the corrected school kept, every item pending, no list mark.
    assert await children(live) == before
    assert (await child_by_name(live, "王小明")).school == "潞州区第三中学"
    assert await statuses(live, imp["id"]) == ["pending", "pending"]
    assert (await detail(live, clerk, imp["id"]))["summary"]["status"] == "ready"
    assert await source_of(live, wang.id) is None

    # The same file again is checked again (not answered with the stale import): the diff starts from now.
    again = await checked(live, clerk, Source.education, roll)
    assert again["id"] != imp["id"] and again["same_file"] is False
    changed = (await detail(live, clerk, again["id"], kind="changed"))["changes"][0]
    assert changed["diff"]["school"] == ["潞州区第三中学", "潞州区第二中学"]
    r = await apply(live, clerk, again["id"])
    assert r.status_code == 200, r.text
    assert (await child_by_name(live, "王小明")).school == "潞州区第二中学"
    # The first import is now behind an applied one of the same list: still refused, still unapplied.
    r = await apply(live, clerk, imp["id"])
    assert r.status_code == 409 and await statuses(live, imp["id"]) == ["pending", "pending"]


async def test_a_child_registered_or_another_list_applied_since_the_check_refuses_the_apply(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    committee = await make_token(live.db, "luzhou-vc1")
    first = await checked(live, clerk, Source.education, xlsx(Source.education, [pupil(5), pupil(6)]))
    later = await checked(live, clerk, Source.education, xlsx(Source.education, [pupil(6), pupil(7)]))

    # Pupil 5 is registered by the committee after the check (as a case's start would register a child).
    body = {
        "name": "学生5",
        "sex": "male",
        "id_number": pupil(5)["身份证号"],
        "birth_date": date(2015, 6, 1).isoformat(),
        "origin_region": "140403",
        "residence_region": "140403",
        "guardians": [{"name": "家长5", "relation": "父亲", "phone": "13900000055"}],
    }
    r = await live.http.post("/api/v1/children", headers=auth(committee), json=body)
    assert r.status_code == 201, r.text
    before = await children(live)
    r = await apply(live, clerk, first["id"])
    assert r.status_code == 409 and "第2行的儿童已在检查后登记" in r.json()["error"]["message"], r.text
    assert await children(live) == before and await statuses(live, first["id"]) == ["pending", "pending"]

    # Only pupil 6 of the first list: applied (pupil 5's row is not in this part).
    six = [c["id"] for c in (await detail(live, clerk, first["id"]))["changes"] if c["row_no"] == 3]
    assert (await apply(live, clerk, first["id"], change_ids=six)).status_code == 200
    assert await children(live) == before + 1

    # The later list was checked before the first one's part was applied: its items were computed without it.
    r = await apply(live, clerk, later["id"])
    assert r.status_code == 409, r.text
    assert f"同一来源的导入#{first['id']}已在本次检查后应用" in r.json()["error"]["message"]
    assert await children(live) == before + 1 and set(await statuses(live, later["id"])) == {"pending"}


async def test_a_partial_apply_marks_only_the_rows_it_applied(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    # Pupil 5 is registered from the police list: on no school roll yet.
    police = {"身份证号": pupil(5)["身份证号"], "姓名": "学生5", "性别": "男", "出生日期": date(2015, 6, 1)}
    r = await checked(live, clerk, Source.police, xlsx(Source.police, [police]))
    assert (await apply(live, clerk, r["id"])).status_code == 200
    term1 = await checked(live, clerk, Source.education, xlsx(Source.education, [pupil(1), pupil(2), pupil(3)]))
    assert (await apply(live, clerk, term1["id"])).status_code == 200
    p1, p2, p3, p5 = [await child_by_name(live, f"学生{n}") for n in (1, 2, 3, 5)]

    # Next term: pupil 1 in another school, pupil 2 as before, pupil 3 gone, pupil 4 new, pupil 5 on the roll.
    rows = [{**pupil(1), "学校": "潞州区第二中学"}, pupil(2), pupil(4), pupil(5)]
    term2 = await checked(live, clerk, Source.education, xlsx(Source.education, rows))
    assert term2["counts"] == {"changed": {"pending": 2}, "new": {"pending": 1}, "left": {"pending": 1}}
    items = (await detail(live, clerk, term2["id"]))["changes"]
    new = [c["id"] for c in items if c["kind"] == "new"]
    r = await apply(live, clerk, term2["id"], change_ids=new)
    assert r.status_code == 200 and r.json()["status"] == "partial", r.text

    # Marked by this list: the new pupil, and pupil 2, whose row has nothing to review. Not pupil 1 (its
    # changed school not applied: still on the last list, not refreshed), not pupil 5 (not yet on any roll),
    # and pupil 3 is still on the roll (the left item not applied).
    p4 = await child_by_name(live, "学生4")
    assert (await source_of(live, p4.id)).last_import_id == term2["id"]  # type: ignore[union-attr]
    assert (await source_of(live, p2.id)).last_import_id == term2["id"]  # type: ignore[union-attr]
    assert (await source_of(live, p1.id)).last_import_id == term1["id"]  # type: ignore[union-attr]
    assert (await child_by_name(live, "学生1")).last_refreshed_at == p1.last_refreshed_at
    assert (await child_by_name(live, "学生2")).last_refreshed_at > p2.last_refreshed_at  # type: ignore[operator]
    assert await source_of(live, p5.id) is None
    assert (await source_of(live, p3.id)).left_at is None  # type: ignore[union-attr]

    # Pupil 1's row applied: now it is named by this list too.
    one = [c["id"] for c in items if c["kind"] == "changed" and c["child_id"] == p1.id]
    assert (await apply(live, clerk, term2["id"], change_ids=one)).status_code == 200
    assert (await source_of(live, p1.id)).last_import_id == term2["id"]  # type: ignore[union-attr]

    # The next roll names pupils 2 and 4 only: left are pupils 1 and 3 (on the roll as applied), not pupil 5,
    # whose row on the earlier roll was never applied.
    term3 = await checked(live, clerk, Source.education, xlsx(Source.education, [pupil(2), pupil(4)]))
    left = (await detail(live, clerk, term3["id"], kind="left"))["changes"]
    assert sorted(c["child_id"] for c in left) == sorted([p1.id, p3.id])

    # The rest of the earlier roll still applies: pupil 1, rewritten by its own earlier part, is no change
    # since its check.
    r = await apply(live, clerk, term2["id"])
    assert r.status_code == 200 and r.json()["status"] == "applied", r.text
    assert (await source_of(live, p5.id)).last_import_id == term2["id"]  # type: ignore[union-attr]


async def test_a_check_whose_web_process_died_shows_failed_and_the_file_is_checked_again(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    roll = xlsx(Source.education, [pupil(1)])
    async with live.db.sf() as s:
        agency = (await s.execute(select(Agency).where(Agency.code == "luzhou-civil"))).scalar_one()
        silent = datetime.now(UTC) - service.CHECK_STALLED_AFTER - timedelta(seconds=5)
        stuck = RegistryImport(
            source="education",
            county="140403",
            agency_id=agency.id,
            file_hash=checking.file_hash(roll),
            status="checking",
            rows_total=1,
            rows_checked=0,
            problems=[],
            seen_child_ids=[],
            progress_at=silent,
        )
        s.add(stuck)
        await s.commit()
    shown = (await detail(live, clerk, stuck.id))["summary"]
    assert shown["status"] == "invalid"
    assert shown["problems"] == [{"row": 0, "column": "", "reason": service.STALLED_REASON}]
    listed = await live.http.get(f"{URL}/imports", headers=auth(clerk))
    assert [i["status"] for i in listed.json()["items"] if i["id"] == stuck.id] == ["invalid"]

    # The check, had it only been slow, comes back late: it writes nothing over the failure.
    lines = [["学籍号", "身份证号", "姓名", "性别", "出生日期", "学校"]]
    lines.append(["G1", make_id_number("140403", date(2015, 6, 1), 1), "学生1", "男", "2015-06-01", "潞州区实验小学"])
    await service.check_in_background(live.db.sf, stuck.id, lines)
    assert (await detail(live, clerk, stuck.id))["summary"]["status"] == "invalid"
    async with live.db.sf() as s:
        assert (await s.execute(select(func.count()).select_from(RegistryChange))).scalar_one() == 0

    # The clerk uploads the file again: a new import, checked.
    r = await upload(live, clerk, Source.education, roll)
    assert r.status_code == 202 and r.json()["status"] == "checking" and r.json()["rows_checked"] == 0
    done = (await detail(live, clerk, r.json()["id"]))["summary"]
    assert done["status"] == "ready" and done["counts"] == {"new": {"pending": 1}}


async def test_the_reconciler_fails_a_dead_check_nobody_looks_at_and_leaves_a_live_one(live: Live) -> None:
    async with live.db.sf() as s:
        agency = (await s.execute(select(Agency).where(Agency.code == "luzhou-civil"))).scalar_one()
        now = datetime.now(UTC)
        silent, busy = (
            RegistryImport(
                source="education",
                county="140403",
                agency_id=agency.id,
                file_hash=f"{n:064x}",
                status="checking",
                rows_total=10_000,
                rows_checked=1_000,
                problems=[],
                seen_child_ids=[],
                progress_at=at,
            )
            for n, at in ((1, now - service.CHECK_STALLED_AFTER - timedelta(seconds=5)), (2, now))
        )
        s.add_all([silent, busy])
        await s.commit()
    assert await service.expire_all_stalled(live.db.sf) == 1
    async with live.db.sf() as s:
        got = {i.id: (i.status, i.problems) for i in (await s.execute(select(RegistryImport))).scalars()}
    assert got == {
        silent.id: ("invalid", [{"row": 0, "column": "", "reason": service.STALLED_REASON}]),
        busy.id: ("checking", []),
    }
    # Once failed, the next pass finds nothing; the live one is failed only once it too falls silent.
    assert await service.expire_all_stalled(live.db.sf) == 0
    assert await service.expire_all_stalled(live.db.sf, now=now + service.CHECK_STALLED_AFTER * 2) == 1
