"""The registry's pages as a clerk uses them (real PostgreSQL, the web app): the template downloaded, a list
uploaded and checked with its progress shown, wrong rows listed, the change set applied from the page
(a candidate confirmed), the list filtered and exported, the child's one-person-one-file; and a proposal a
school confirms through the ordinary start form."""

from __future__ import annotations

import re
from datetime import date

from sqlalchemy import select

from api.registry import checking
from api.spreadsheet import XLSX_MEDIA_TYPE, is_xlsx, xlsx_rows
from db.models import Agency, Case, RegistryImport, RegistryProposal
from db.seed import make_id_number
from domain.registry import TEMPLATES, Source
from tests.api.test_dropout_api import absence
from tests.api.test_registry_imports import child_by_name, pupil, xlsx
from tests.conftest import Live
from tests.ui.test_pages import browser, csrf_of
from ui.registry_pages import check_in_background


async def test_a_clerk_imports_reviews_and_applies_from_the_pages(live: Live) -> None:
    async with browser(live, "luzhou-civil") as http:
        home = await http.get("/registry")
        assert home.status_code == 200 and "流动儿童台账" in home.text and "导入各部门数据" in home.text
        page = await http.get("/registry/imports")
        assert "学籍（教育）" in page.text and "学籍号*" in page.text
        t = await http.get("/registry/templates/education")
        assert is_xlsx(t.content) and xlsx_rows(t.content, max_rows=2)[0][0] == "学籍号"

        # A file with a wrong row: the page lists it, nothing is applied.
        bad = xlsx(Source.education, [pupil(1), {**pupil(2), "性别": "?"}])
        r = await http.post(
            "/registry/imports",
            data={"csrf": csrf_of(page.text), "source": "education"},
            files={"file": ("roll.xlsx", bad, XLSX_MEDIA_TYPE)},
        )
        assert r.status_code == 303
        shown = await http.get(r.headers["location"])
        assert "有错误，未导入" in shown.text and "第3行“性别”：应为“男”或“女”" in shown.text

        # Missing columns: refused at once, on the import page.
        r = await http.post(
            "/registry/imports",
            data={"csrf": csrf_of(page.text), "source": "disability"},
            files={"file": ("roll.xlsx", bad, XLSX_MEDIA_TYPE)},
        )
        assert r.status_code == 422 and "缺少列：残疾类别" in r.text

        li = await child_by_name(live, "李娜")
        good = xlsx(
            Source.education,
            [
                pupil(1, **{"重点情形": "困境"}),
                {**pupil(4), "身份证号": "", "姓名": "李娜", "出生日期": li.birth_date, "监护人姓名": "李强"},
            ],
        )
        r = await http.post(
            "/registry/imports",
            data={"csrf": csrf_of(page.text), "source": "education"},
            files={"file": ("roll2.xlsx", good, XLSX_MEDIA_TYPE)},
        )
        assert r.status_code == 303
        review = await http.get(r.headers["location"])
        assert "变更清单" in review.text and "待审核" in review.text
        assert "疑似同一儿童" in review.text and "学生1" in review.text
        new_id = re.search(r'name="change" value="(\d+)"', review.text).group(1)  # type: ignore[union-attr]
        cand_id = re.search(r'name="decide_(\d+)"', review.text).group(1)  # type: ignore[union-attr]
        r = await http.post(
            r.headers["location"] + "/apply",
            data={"csrf": csrf_of(review.text), "change": new_id, f"decide_{cand_id}": "confirm"},
        )
        assert r.status_code == 303
        done = await http.get(r.headers["location"])
        assert "已应用：新增1项、疑似同一儿童1项；新建儿童档案1份" in done.text
        assert "状态：<strong>已应用</strong>" in done.text
        again = await http.post(r.headers["location"] + "/apply", data={"csrf": csrf_of(done.text), "all": "1"})
        assert "未应用：该变更集已全部应用，不能重复应用" in (await http.get(again.headers["location"])).text

        # The list, filtered; the export; the child's file.
        listed = await http.get("/registry", params={"key_child": "1"})
        assert "学生1" in listed.text and "王小明" not in listed.text and "生活困难" in listed.text
        export = await http.get("/registry/export", params={"category": "hardship"})
        rows = xlsx_rows(export.content, max_rows=10)
        assert [r[0] for r in rows[1:]] == ["学生1"]
        s1 = await child_by_name(live, "学生1")
        record = await http.get(f"/children/{s1.id}")
        assert "台账（一人一档）" in record.text and "生活困难" in record.text
        assert "学籍（教育）：潞州区" in record.text and "学校：学籍（教育），导入#" in record.text


async def test_a_school_confirms_a_proposal_through_the_start_form(live: Live) -> None:
    async with browser(live, "luzhou-civil") as http:
        page = await http.get("/registry/imports")
        for rows in ([pupil(1), pupil(2)], [pupil(1)]):
            r = await http.post(
                "/registry/imports",
                data={"csrf": csrf_of(page.text), "source": "education"},
                files={"file": ("roll.xlsx", xlsx(Source.education, rows), XLSX_MEDIA_TYPE)},
            )
            review = await http.get(r.headers["location"])
            await http.post(r.headers["location"] + "/apply", data={"csrf": csrf_of(review.text), "all": "1"})
    async with browser(live, "luzhou-school1") as http:
        listed = await http.get("/registry/proposals")
        assert listed.status_code == 200 and "学生2" in listed.text and "劝返复学" in listed.text
        assert "台账提示" in (await http.get("/inbox")).text  # in the navigation
        link = re.search(r'href="(/cases/new\?[^"]+registry_proposal=\d+)"', listed.text).group(1)  # type: ignore[union-attr]
        form = await http.get(link.replace("&amp;", "&"))
        assert form.status_code == 200 and 'name="registry_proposal"' in form.text
        fields = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', form.text))
        body = {
            **fields,
            "class_name": "三年级一班",
            "known": "本学期未注册",
            **absence(),
        }
        r = await http.post("/cases", data=body)
        assert r.status_code == 303, r.text[:3000]
        async with live.db.sf() as s:
            case = (await s.execute(select(Case))).scalar_one()
            proposal = (await s.execute(select(RegistryProposal))).scalar_one()
        assert proposal.status == "confirmed" and proposal.case_no == case.case_no
        assert "没有待处理的提示" in (await http.get("/registry/proposals")).text


async def test_the_import_page_shows_its_progress_while_a_list_is_checked(live: Live) -> None:
    async with live.db.sf() as s:
        agency = (await s.execute(select(Agency).where(Agency.code == "luzhou-civil"))).scalar_one()
        imp = RegistryImport(
            source="police",
            county="140403",
            agency_id=agency.id,
            file_hash="x",
            status="checking",
            rows_total=10_000,
            rows_checked=3_000,
            problems=[],
            seen_child_ids=[],
        )
        s.add(imp)
        await s.commit()
    async with browser(live, "luzhou-civil") as http:
        page = await http.get(f"/registry/imports/{imp.id}")
        assert '<meta http-equiv="refresh" content="1">' in page.text
        assert '<progress id="check-progress" value="3000" max="10000">' in page.text
        assert "已检查 3000 / 10000 行" in page.text

    # The check the page waits for: its progress is written every 1,000 rows, then the change set.
    seen: list[int] = []
    lines = [[c.header for c in TEMPLATES[Source.police]]]
    born = [date(2016, 1, 1 + n // 1000) for n in range(2500)]
    lines += [[make_id_number("140403", b, n % 1000), f"儿童{n}", "男", b.isoformat()] for n, b in enumerate(born)]
    lines = [row + [""] * (len(lines[0]) - len(row)) for row in lines]
    real = checking.run_check

    async def watched(session, row, ls, *, progress=None):  # type: ignore[no-untyped-def]
        async def tell(done: int, total: int) -> None:
            seen.append(done)
            assert progress is not None
            await progress(done, total)

        return await real(session, row, ls, progress=tell)

    checking.run_check = watched  # type: ignore[assignment]
    try:
        await check_in_background(live.db.sf, imp.id, lines)
    finally:
        checking.run_check = real  # type: ignore[assignment]
    assert seen == [1000, 2000, 2500]
    async with live.db.sf() as s:
        done = await s.get(RegistryImport, imp.id)
        assert done is not None and done.status == "ready" and done.rows_checked == 2500
