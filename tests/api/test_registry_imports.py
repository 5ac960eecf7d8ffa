"""The registry's imports on the real stack (PostgreSQL, the web app): each source's xlsx built here with
openpyxl, wrong rows named and nothing applied, 15-digit ID numbers, candidates without ID numbers, the
change set (new / left / moved / changed / flagged) applied in part and whole, applying twice refused,
the same file again doubling nothing, the bad files refused early, and a 10,000-row file timed."""

from __future__ import annotations

import asyncio
import csv
import io
import time
from datetime import date
from typing import Any

import httpx
from openpyxl import Workbook
from sqlalchemy import func, select, text

from api.spreadsheet import XLSX_MEDIA_TYPE, is_xlsx, xlsx_rows
from db.models import Case, Child, ChildSource, RegistryChange, RegistryImport
from db.seed import make_id_number
from domain.registry import TEMPLATES, Source, id_15_to_18
from tests.api.test_cases_api import auth
from tests.conftest import Live, make_token
from tests.support import today_iso

URL = "/api/v1/registry"
STALLED_S = 180  # a 10,000-row check or apply taking longer than this is stuck, not slow


def headers(source: Source) -> list[str]:
    return [c.header for c in TEMPLATES[source]]


def xlsx(source: Source, rows: list[dict[str, Any]]) -> bytes:
    """An agency's sheet as Excel writes it: the template's headers, a row per child (a date cell as a date)."""
    wb = Workbook()
    ws = wb.active
    head = headers(source)
    ws.append(head)
    for row in rows:
        ws.append([row.get(h, "") for h in head])
    for line in ws.iter_rows(min_row=2):
        for cell in line:
            if isinstance(cell.value, str) and cell.value.startswith("="):
                cell.data_type = "s"  # a name typed as a formula is the agency's text, not a formula
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def csv_bytes(source: Source, rows: list[dict[str, Any]]) -> bytes:
    out = io.StringIO()
    w = csv.writer(out)
    head = headers(source)
    w.writerow(head)
    for row in rows:
        w.writerow([row.get(h, "") for h in head])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


async def upload(
    live: Live, token: str, source: Source, data: bytes, name: str = "list.xlsx", **form: str
) -> httpx.Response:
    media = XLSX_MEDIA_TYPE if is_xlsx(data) else "text/csv"
    return await live.http.post(
        f"{URL}/imports",
        files={"file": (name, data, media)},
        data={"source": source.value, **form},
        headers=auth(token),
    )


async def checked(
    live: Live, token: str, source: Source, data: bytes, name: str = "list.xlsx", **form: str
) -> dict[str, Any]:
    """A list uploaded as a clerk's system does: 202 with the progress URL, then its result once checked (the
    check runs after the answer, as on the page)."""
    r = await upload(live, token, source, data, name, **form)
    if r.status_code == 200:  # the very same file: the earlier import, answered at once
        assert r.json()["same_file"] is True, r.text
        return r.json()
    assert r.status_code == 202, r.text[:2000]
    started = r.json()
    assert started["status"] == "checking" and r.headers["location"] == started["progress_url"]
    return await settled(live, token, started["progress_url"])


async def settled(live: Live, token: str, url: str) -> dict[str, Any]:
    for _ in range(600):
        r = await live.http.get(url, params={"limit": 1}, headers=auth(token))
        assert r.status_code == 200, r.text
        if r.json()["summary"]["status"] != "checking":
            return r.json()["summary"]
        await asyncio.sleep(0.1)
    raise AssertionError("the import is still being checked after a minute")


def problem_texts(imp: dict[str, Any]) -> list[str]:
    """The import's problems as the page words them."""
    return [
        f"第{p['row']}行" + (f"“{p['column']}”" if p["column"] else "") + f"：{p['reason']}"
        if p["row"]
        else p["reason"]
        for p in imp["problems"]
    ]


async def detail(live: Live, token: str, import_id: int, **params: Any) -> dict[str, Any]:
    r = await live.http.get(f"{URL}/imports/{import_id}", params={"limit": 1000, **params}, headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()


async def apply(live: Live, token: str, import_id: int, **body: Any) -> httpx.Response:
    return await live.http.post(f"{URL}/imports/{import_id}/apply", json=body, headers=auth(token))


async def child_by_name(live: Live, name: str) -> Child:
    async with live.db.sf() as s:
        return (await s.execute(select(Child).where(Child.name == name))).scalars().one()


async def count(live: Live, model: Any) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(func.count()).select_from(model))).scalar_one()


def pupil(n: int, *, county: str = "140403", born: date = date(2015, 6, 1), **extra: str) -> dict[str, Any]:
    """A new pupil of the school roll, numbered n."""
    return {
        "学籍号": f"G{n:08d}",
        "身份证号": make_id_number(county, born, n % 1000),
        "姓名": f"学生{n}",
        "性别": "男" if n % 2 else "女",
        "出生日期": born,
        "学校": "潞州区实验小学",
        "年级": "三年级",
        "乡镇（街道）": "东街街道",
        "监护人姓名": f"家长{n}",
        "监护人电话": f"139{n:08d}",
        **extra,
    }


async def test_school_roll_change_set_reviewed_then_applied_in_part_and_whole(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    wang = await child_by_name(live, "王小明")  # lives in 潞州区
    li = await child_by_name(live, "李娜")  # no ID number in the row: a candidate by name, birth date, guardian
    old = "140403" + "090312" + "123"  # a first-generation 15-digit number
    rows = [
        {
            **pupil(1),
            "身份证号": wang.id_number,
            "姓名": "王小明",
            "出生日期": wang.birth_date,
            "学校": "潞州区第二中学",
        },
        pupil(2, **{"重点情形": "监护缺失、心理行为问题"}),
        {**pupil(3, born=date(1909, 3, 12)), "身份证号": old},
        {**pupil(4), "身份证号": "", "姓名": "李娜", "出生日期": li.birth_date, "监护人姓名": "李强"},
    ]
    imp = await checked(live, clerk, Source.education, xlsx(Source.education, rows))
    assert imp["status"] == "ready" and imp["rows_total"] == 4 and imp["county"] == "140403"
    assert imp["counts"] == {
        "changed": {"pending": 1},
        "new": {"pending": 2},
        "candidate": {"pending": 1},
    }
    changes = (await detail(live, clerk, imp["id"]))["changes"]
    by_kind = {c["kind"]: c for c in changes}
    assert by_kind["changed"]["child_id"] == wang.id
    assert by_kind["changed"]["diff"]["school"] == [wang.school or "", "潞州区第二中学"]
    assert by_kind["candidate"]["child_id"] == li.id and by_kind["candidate"]["row_no"] == 5
    converted = next(c for c in changes if c["row_no"] == 4)
    assert converted["facts"]["converted_from_15"] is True
    assert converted["facts"]["id_number"].startswith("140403") and "*" in converted["facts"]["id_number"]

    # Nothing is applied until the clerk applies: the record is as it was.
    assert (await child_by_name(live, "王小明")).school == wang.school
    before = await count(live, Child)

    # Apply the new children only.
    new_ids = [c["id"] for c in changes if c["kind"] == "new"]
    r = await apply(live, clerk, imp["id"], change_ids=new_ids)
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "partial" and r.json()["children_created"] == 2
    assert await count(live, Child) == before + 2
    flagged = await child_by_name(live, "学生2")
    assert set(flagged.key_flags) == {"guardian_missing", "psychological"}
    assert flagged.key_flags["psychological"]["source"] == "education"
    assert flagged.provenance["school"]["import_id"] == imp["id"]
    assert flagged.created_by_agency_id is not None and flagged.identity_status == "verified"
    # A child flagged as a key child gets the follow-up the definitions name, its categories from the flags.
    assert r.json()["key_child_cases"] == 1
    async with live.db.sf() as s:
        followed = (await s.execute(select(Case).where(Case.child_id == flagged.id))).scalars().all()
    assert [(c.process, c.status, sorted(c.facts["categories"])) for c in followed] == [
        ("key_child_followup", "open", ["guardian_missing", "psychological"])
    ]
    assert (await child_by_name(live, "学生3")).id_number == id_15_to_18(old)

    # The same items again: refused, nothing changed.
    r = await apply(live, clerk, imp["id"], change_ids=new_ids)
    assert r.status_code == 409 and "已处理" in r.json()["error"]["message"]
    assert await count(live, Child) == before + 2

    # A candidate is never applied without a decision.
    cand = by_kind["candidate"]["id"]
    r = await apply(live, clerk, imp["id"], change_ids=[cand])
    assert r.status_code == 422 and "确认或否定" in r.json()["error"]["message"]

    # The rest: the changed school, and the candidate confirmed.
    r = await apply(live, clerk, imp["id"], change_ids=[by_kind["changed"]["id"]], confirm=[cand])
    assert r.status_code == 200, r.text
    assert r.json()["status"] == "applied"
    wang_now = await child_by_name(live, "王小明")
    assert wang_now.school == "潞州区第二中学"
    assert wang_now.provenance["school"] == {"source": "education", "import_id": imp["id"], "on": today_iso()}
    assert (await child_by_name(live, "李娜")).school_roll_no == "G00000004"
    assert await count(live, Child) == before + 2  # the confirmed candidate is 李娜, not a new child

    # All applied: applying again is refused; the applied change set stays viewable.
    r = await apply(live, clerk, imp["id"])
    assert r.status_code == 409 and "已全部应用" in r.json()["error"]["message"]
    shown = await detail(live, clerk, imp["id"])
    assert shown["summary"]["status"] == "applied" and all(c["status"] == "applied" for c in shown["changes"])
    assert all(c["decided_at"] for c in shown["changes"])


async def test_wrong_rows_are_each_named_and_nothing_is_applied(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    good = make_id_number("140403", date(2015, 6, 1), 11)
    wrong_check = good[:17] + ("0" if good[17] != "0" else "1")
    rows = [
        pupil(1),
        {**pupil(2), "身份证号": wrong_check},
        {**pupil(3), "性别": "未知", "姓名": ""},
        {**pupil(4), "身份证号": "", "监护人姓名": ""},
        {**pupil(5), "出生日期": "2015-13-40"},
        {**pupil(6), "学籍号": "G00000001"},
        {**pupil(7), "重点情形": "贫困"},
    ]
    before = await count(live, Child)
    wrong = await checked(live, clerk, Source.education, xlsx(Source.education, rows))
    assert wrong["status"] == "invalid"
    reasons = problem_texts(wrong)
    assert "第3行“身份证号”：身份证号码校验位错误，请核对" in reasons
    assert "第4行“姓名”：不能为空" in reasons and "第4行“性别”：应为“男”或“女”" in reasons
    assert "第5行“监护人姓名”：无身份证号时必须填写监护人姓名，用于比对" in reasons
    assert any(x.startswith("第6行“出生日期”") for x in reasons)
    assert "第7行“学籍号”：与第2行重复" in reasons
    assert any(x.startswith("第8行“重点情形”：只能填写") for x in reasons)
    assert not any(x.startswith("第2行") for x in reasons)
    assert await count(live, Child) == before and await count(live, RegistryChange) == 0
    async with live.db.sf() as s:
        imp = (await s.execute(select(RegistryImport))).scalar_one()
    assert imp.status == "invalid"
    r = await apply(live, clerk, imp.id)
    assert r.status_code == 409 and "未通过检查" in r.json()["error"]["message"]


async def test_bad_files_are_refused_early_and_nothing_is_stored(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    r = await upload(live, clerk, Source.police, b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\x00\x01", name="a.pdf")
    assert r.status_code == 422 and "不是电子表格" in r.json()["error"]["message"]
    missing = xlsx(Source.education, [pupil(1)])
    wb = Workbook()
    wb.active.append(["身份证号", "姓名"])
    out = io.BytesIO()
    wb.save(out)
    r = await upload(live, clerk, Source.education, out.getvalue())
    assert r.status_code == 422
    assert "缺少列：学籍号、性别、出生日期、学校" in r.json()["error"]["message"]
    gbk = "身份证号,姓名\n".encode("gbk")
    r = await upload(live, clerk, Source.health, gbk, name="a.csv")
    assert r.status_code == 422 and "UTF-8" in r.json()["error"]["message"]
    # Another county's list: refused whoever sends it.
    r = await upload(live, clerk, Source.education, missing, county="140404")
    assert r.status_code == 403 and "其他县" in r.json()["error"]["message"]
    school = await make_token(live.db, "luzhou-school1")
    r = await upload(live, school, Source.education, missing)
    assert r.status_code == 403
    # 100 MB: refused at the edge without being read to its end.
    big = b"x" * (100 * 1024 * 1024)
    started = time.monotonic()
    r = await upload(live, clerk, Source.education, big, name="big.csv")
    assert r.status_code == 413 and time.monotonic() - started < 10
    assert await count(live, RegistryImport) == 0


async def test_left_moved_flagged_and_the_same_file_again(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    zhao = await child_by_name(live, "赵雨涵")  # lives in 上党区
    first = xlsx(Source.education, [pupil(1), pupil(2)])
    r = await checked(live, clerk, Source.education, first)
    assert (await apply(live, clerk, r["id"])).status_code == 200
    children = await count(live, Child)

    # The very same file again: the earlier import, nothing doubled.
    again = await upload(live, clerk, Source.education, first)
    assert again.status_code == 200 and again.json()["same_file"] is True and again.json()["id"] == r["id"]
    # The same rows in another file (CSV): all matched, nothing to change.
    same = await checked(live, clerk, Source.education, csv_bytes(Source.education, [pupil(1), pupil(2)]), "a.csv")
    assert same["status"] == "ready" and same["counts"] == {}
    assert await count(live, Child) == children

    # Next term's roll without pupil 2, with 赵雨涵 (moved here) and pupil 1 in another school.
    term2 = [
        {**pupil(1), "学校": "潞州区第二中学"},
        {**pupil(9), "身份证号": zhao.id_number, "姓名": zhao.name, "出生日期": zhao.birth_date},
    ]
    imp = await checked(live, clerk, Source.education, xlsx(Source.education, term2))
    assert imp["counts"] == {
        "changed": {"pending": 2},
        "moved": {"pending": 1},
        "left": {"pending": 1},
    }, imp
    left = (await detail(live, clerk, imp["id"], kind="left"))["changes"][0]
    assert left["child_name"] == "学生2"
    moved = (await detail(live, clerk, imp["id"], kind="moved"))["changes"][0]
    assert moved["diff"] == {"residence_region": ["140404", "140403"]}
    r = await apply(live, clerk, imp["id"])
    assert r.status_code == 200 and r.json()["applied"] == {"changed": 2, "moved": 1, "left": 1}
    assert r.json()["proposals"] == 1  # 学生2 still lives here and is on no roll
    assert (await child_by_name(live, "赵雨涵")).residence_region == "140403"
    async with live.db.sf() as s:
        gone = (await s.execute(select(ChildSource).where(ChildSource.child_id == left["child_id"]))).scalar_one()
    assert gone.left_at is not None

    # Disability records raise the flag; the police list's residence date becomes "migrant since".
    dpf = [
        {
            "身份证号": zhao.id_number,
            "姓名": zhao.name,
            "性别": "女",
            "出生日期": zhao.birth_date,
            "残疾类别": "听力",
            "残疾等级": "二级",
        }
    ]
    r = await checked(live, clerk, Source.disability, xlsx(Source.disability, dpf))
    assert r["counts"] == {"changed": {"pending": 1}, "flagged": {"pending": 1}}
    dpf_import = r["id"]
    assert (await apply(live, clerk, dpf_import)).status_code == 200
    zhao_now = await child_by_name(live, "赵雨涵")
    assert zhao_now.key_flags["disability"]["source"] == "disability"
    async with live.db.sf() as s:
        followed = (await s.execute(select(Case.process).where(Case.child_id == zhao_now.id))).scalars().all()
    assert "key_child_followup" in followed
    assert zhao_now.registry_facts == {"grade": "三年级", "disability_kind": "听力", "disability_grade": "二级"}
    flags = await live.http.get(f"{URL}/children/{zhao_now.id}/key-flags", headers=auth(clerk))
    assert flags.json()["items"] == [
        {
            "category": "disability",
            "label": "残疾",
            "source": "disability",
            "import_id": dpf_import,
            "on": today_iso(),
        }
    ]
    police = [
        {
            "身份证号": zhao.id_number,
            "姓名": zhao.name,
            "性别": "女",
            "出生日期": zhao.birth_date.isoformat(),
            "户籍地区划代码": "370923",
            "居住登记日期": "2024-09-01",
        }
    ]
    r = await checked(live, clerk, Source.police, csv_bytes(Source.police, police), name="p.csv")
    assert (await apply(live, clerk, r["id"])).status_code == 200
    assert (await child_by_name(live, "赵雨涵")).migrant_since == date(2024, 9, 1)
    # The CSV of the first term's rows, checked before the second term was applied, is superseded.
    r = await apply(live, clerk, same["id"])
    assert r.status_code == 409 and "更新的导入" in r.json()["error"]["message"]


async def test_each_source_imports_with_its_template(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    for source in Source:
        r = await live.http.get(f"{URL}/templates/{source.value}", headers=auth(clerk))
        assert r.status_code == 200 and is_xlsx(r.content)
        head = xlsx_rows(r.content, max_rows=5)[0]
        assert head == headers(source)
        row = {
            "身份证号": make_id_number("140403", date(2020, 1, 2), 40 + list(Source).index(source)),
            "姓名": f"儿童{source.value}",
            "性别": "女",
            "出生日期": "2020-01-02",
            "学籍号": "X1",
            "学校": "潞州区实验小学",
            "残疾类别": "肢体",
            "医疗救助对象": "是",
            "参保状态": "已参保",
        }
        r = await checked(live, clerk, source, xlsx(source, [row]))
        assert r["counts"] == {"new": {"pending": 1}}, (source, r)
        assert (await apply(live, clerk, r["id"])).status_code == 200
    assert set((await child_by_name(live, "儿童medical_insurance")).key_flags) == {"hardship"}
    sources = await live.http.get(f"{URL}/sources", headers=auth(clerk))
    assert [s["source"] for s in sources.json()["items"]] == [s.value for s in Source]


async def table_sizes(s: Any) -> dict[str, int]:
    """Each table's size with its indexes and TOAST (pg_total_relation_size)."""
    rows = await s.execute(
        text(
            "SELECT c.relname, pg_total_relation_size(c.oid) FROM pg_class c "
            "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.relkind = 'r' AND n.nspname = 'public'"
        )
    )
    return {name: int(size) for name, size in rows}


async def test_a_10000_row_file_is_checked_and_applied_in_seconds(live: Live) -> None:
    clerk = await make_token(live.db, "luzhou-civil")
    rows = [pupil(n, born=date(2012 + n % 8, 1 + n % 12, 1 + n % 28)) for n in range(1, 10_001)]
    data = xlsx(Source.education, rows)
    async with live.db.sf() as s:
        empty = (await s.execute(text("SELECT pg_database_size(current_database())"))).scalar_one()
        tables_before = await table_sizes(s)
    started = time.monotonic()
    r = await checked(live, clerk, Source.education, data)
    check_s = time.monotonic() - started
    assert r["counts"] == {"new": {"pending": 10_000}}, r
    started = time.monotonic()
    a = await apply(live, clerk, r["id"])
    applied = time.monotonic() - started
    assert a.status_code == 200 and a.json()["children_created"] == 10_000
    async with live.db.sf() as s:
        size = (await s.execute(text("SELECT pg_database_size(current_database())"))).scalar_one()
        tables = await table_sizes(s)
    grown = {t: n - tables_before.get(t, 0) for t, n in tables.items() if n - tables_before.get(t, 0) > 0}
    print(
        f"\n10,000 rows ({len(data) // 1024} KB xlsx): checked in {check_s:.1f} s, applied in {applied:.1f} s; "
        f"database {empty / 1e6:.1f} MB before, {size / 1e6:.1f} MB after; tables grew by "
        f"{sum(grown.values()) / 1e6:.1f} MB: "
        + ", ".join(f"{t} {n / 1e6:.2f}" for t, n in sorted(grown.items(), key=lambda x: -x[1]))
    )
    # The figures above are the measure (printed); this only catches a check or apply that stalls, with
    # room for a shared, loaded machine (34 s was seen for the apply with other test runs beside it).
    assert check_s < STALLED_S and applied < STALLED_S

    # Next term's roll: the same 10,000 pupils, each a grade up. Every row is matched and changed; the
    # apply re-reads all 10,000 children it was checked against before writing.
    rows = [{**row, "年级": "四年级"} for row in rows]
    started = time.monotonic()
    r = await checked(live, clerk, Source.education, xlsx(Source.education, rows))
    again_s = time.monotonic() - started
    assert r["counts"] == {"changed": {"pending": 10_000}}, r
    started = time.monotonic()
    a = await apply(live, clerk, r["id"])
    again_applied = time.monotonic() - started
    assert a.status_code == 200 and a.json()["applied"] == {"changed": 10_000}, a.text
    assert (await child_by_name(live, "学生9999")).registry_facts["grade"] == "四年级"
    print(f"the same 10,000 pupils a grade up: checked in {again_s:.1f} s, applied in {again_applied:.1f} s")
    assert again_s < STALLED_S and again_applied < STALLED_S
