"""The registry's list, export and proposals on the real stack: filters and paging in SQL, the clerk's area
only, ID numbers masked in the export unless the clerk's agency registered the child; a candidate
rejected becomes a new (provisional) child; a pupil gone from the roll is proposed to the school and the
education bureau, and a dropout case starts only when a person of theirs confirms."""

from __future__ import annotations

from sqlalchemy import func, select

from api.spreadsheet import is_xlsx, read_cell, xlsx_rows
from db.models import Case, Child, RegistryProposal
from domain.registry import Source
from tests.api.test_cases_api import auth
from tests.api.test_dropout_api import absence
from tests.api.test_registry_imports import URL, apply, checked, child_by_name, detail, pupil, xlsx
from tests.conftest import Live, make_token
from tests.support import today_iso


async def imported(live: Live, token: str, source: Source, rows: list[dict]) -> int:
    r = await checked(live, token, source, xlsx(source, rows))
    assert r["status"] == "ready", r
    a = await apply(live, token, r["id"])
    assert a.status_code == 200, a.text
    return r["id"]


async def test_the_list_filters_pages_and_exports_the_clerks_area(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    rows = [
        pupil(1, **{"重点情形": "残疾"}),
        pupil(2, **{"乡镇（街道）": "西街街道"}),
        pupil(3, **{"学校": "潞州区第二中学", "姓名": '=HYPERLINK("http://x")'}),
    ]
    await imported(live, clerk, Source.education, rows)
    r = await live.http.get(f"{URL}/children", params={"limit": 2}, headers=auth(clerk))
    assert r.status_code == 200, r.text
    page = r.json()
    demo_here = 3  # 王小明, 李娜, 张浩 live in 潞州区
    assert page["total"] == 3 + demo_here and len(page["items"]) == 2
    assert {c["residence_region"] for c in page["items"]} == {"140403"}
    second = await live.http.get(f"{URL}/children", params={"limit": 2, "offset": 2}, headers=auth(clerk))
    assert not {c["id"] for c in second.json()["items"]} & {c["id"] for c in page["items"]}

    async def names(**params: object) -> set[str]:
        r = await live.http.get(f"{URL}/children", params=params, headers=auth(clerk))
        assert r.status_code == 200, r.text
        return {c["name"] for c in r.json()["items"]}

    assert await names(key_child=True) == {"学生1"}
    assert await names(category="disability") == {"学生1"}
    assert await names(category="vagrancy") == set()
    assert await names(township="西街街道") == {"学生2"}
    assert await names(school="第二中学") == {'=HYPERLINK("http://x")'}
    assert "学生1" in await names(refreshed_after=today_iso())
    assert "王小明" in await names(refreshed_before=today_iso())
    # Another county's list, or the registry for another agency type: refused.
    r = await live.http.get(f"{URL}/children", params={"county": "140404"}, headers=auth(clerk))
    assert r.status_code == 403
    police = await make_token(live.db, "luzhou-police")
    assert (await live.http.get(f"{URL}/children", headers=auth(police))).status_code == 403
    city = await make_token(live.db, "city-civil")
    r = await live.http.get(f"{URL}/children", params={"county": "140404"}, headers=auth(city))
    assert r.status_code == 200 and {c["name"] for c in r.json()["items"]} == {"赵雨涵"}

    # The export: masked ID numbers of children another agency registered; formulas never run.
    r = await live.http.get(f"{URL}/children/export", headers=auth(clerk))
    assert r.status_code == 200 and is_xlsx(r.content)
    sheet = xlsx_rows(r.content, max_rows=100)
    assert sheet[0][:4] == ["姓名", "性别", "出生日期", "身份证号"]
    by_name = {read_cell(row[0]): row for row in sheet[1:]}
    assert "*" not in by_name["学生1"][3] and len(by_name["学生1"][3]) == 18
    assert "*" in by_name["王小明"][3]
    assert by_name["学生1"][7] == "残疾"
    assert '=HYPERLINK("http://x")' in by_name
    other = await make_token(live.db, "luzhou-civil-sup")
    r = await live.http.get(f"{URL}/children/export", headers=auth(other))
    assert r.status_code == 200
    # Another person of the registering agency sees the whole number too; the demo children's stay masked.
    theirs = {read_cell(row[0]): row for row in xlsx_rows(r.content, max_rows=100)[1:]}
    assert "*" not in theirs["学生1"][3] and "*" in theirs["王小明"][3]


async def test_a_rejected_candidate_is_a_new_provisional_child(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    li = await child_by_name(live, "李娜")
    row = {**pupil(4), "身份证号": "", "姓名": "李娜", "出生日期": li.birth_date, "监护人姓名": "李强"}
    r = await checked(live, clerk, Source.education, xlsx(Source.education, [row]))
    cand = (await detail(live, clerk, r["id"]))["changes"][0]
    assert cand["kind"] == "candidate"
    a = await apply(live, clerk, r["id"], reject=[cand["id"]])
    assert a.status_code == 200, a.text
    assert a.json()["rejected"] == 1 and a.json()["children_created"] == 1 and a.json()["status"] == "applied"
    async with live.db.sf() as s:
        two = list((await s.execute(select(Child).where(Child.name == "李娜").order_by(Child.id))).scalars())
    assert len(two) == 2 and two[1].identity_status == "provisional" and two[1].school_roll_no == "G00000004"
    assert two[0].school_roll_no is None  # the registered 李娜 is untouched


async def test_a_pupil_gone_from_the_roll_is_proposed_and_a_person_starts_the_case(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    await imported(live, clerk, Source.education, [pupil(1), pupil(2), pupil(3)])
    # Next term: 学生2 and 学生3 are on no roll; 学生3 moved to 上党区 by the police list first.
    term2 = await checked(live, clerk, Source.education, xlsx(Source.education, [pupil(1)]))
    assert term2["counts"] == {"left": {"pending": 2}}
    s3 = await child_by_name(live, "学生3")
    async with live.db.sf() as s:
        row = await s.get(Child, s3.id)
        row.residence_region = "140404"
        await s.commit()
    a = await apply(live, clerk, term2["id"])
    assert a.status_code == 200 and a.json()["proposals"] == 1  # 学生3 no longer lives here

    school = await make_token(live.db, "luzhou-school1")
    r = await live.http.get(f"{URL}/proposals", headers=auth(school))
    assert r.status_code == 200, r.text
    [proposal] = r.json()["items"]
    assert (proposal["child_name"], proposal["process"], proposal["status"]) == ("学生2", "dropout_return", "pending")
    async with live.db.sf() as s:
        assert (await s.execute(select(func.count()).select_from(Case))).scalar_one() == 0  # nothing started
    # Civil affairs and another county's school do not see it, and may not decide it.
    assert (await live.http.get(f"{URL}/proposals", headers=auth(clerk))).json()["items"] == []
    far = await make_token(live.db, "shangdang-school1")
    assert (await live.http.get(f"{URL}/proposals", headers=auth(far))).json()["items"] == []
    r = await live.http.post(f"{URL}/proposals/{proposal['id']}/reject", headers=auth(far))
    assert r.status_code == 403

    body = {"start_step": "school_contact", "facts": {"class_name": "三年级一班", "known": "本学期未注册", **absence()}}
    r = await live.http.post(f"{URL}/proposals/{proposal['id']}/confirm", json=body, headers=auth(school))
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "confirmed" and r.json()["case_no"]
    async with live.db.sf() as s:
        case = (await s.execute(select(Case))).scalar_one()
        assert case.case_no == r.json()["case_no"] and case.process == "dropout_return"
        assert case.child_id == (await child_by_name(live, "学生2")).id
    r = await live.http.post(f"{URL}/proposals/{proposal['id']}/confirm", json=body, headers=auth(school))
    assert r.status_code == 409
    async with live.db.sf() as s:
        assert (await s.execute(select(func.count()).select_from(Case))).scalar_one() == 1
        assert (await s.execute(select(RegistryProposal.status))).scalar_one() == "confirmed"


async def test_a_child_the_registry_moves_has_its_open_cases_told(live: Live) -> None:
    from api.registry import applying
    from tests.api.test_dropout_api import report_body

    zhao = await child_by_name(live, "赵雨涵")  # lives in 上党区
    school = await make_token(live.db, "shangdang-school1")
    started = await live.http.post("/api/v1/cases", json=await report_body(live, child="赵雨涵"), headers=auth(school))
    assert started.status_code == 201, started.text
    clerk = await make_token(live.db, "luzhou-civil")
    police = [{"身份证号": zhao.id_number, "姓名": zhao.name, "性别": "女", "出生日期": zhao.birth_date}]
    r = await checked(live, clerk, Source.police, xlsx(Source.police, police))
    assert r["counts"] == {"moved": {"pending": 1}}
    assert (await apply(live, clerk, r["id"])).status_code == 200
    assert (await child_by_name(live, "赵雨涵")).residence_region == "140403"
    async with live.db.sf() as s:
        assert await applying.tell_cases(s, live.temporal, [zhao.id]) == 1  # type: ignore[arg-type]
        assert await applying.tell_cases(s, live.temporal, []) == 0  # type: ignore[arg-type]
