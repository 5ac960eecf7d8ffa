"""A child without an ID number through the pages: 登记儿童 with 暂无身份证号码, the 身份待核实 badge on the
record, the start form, the case page and the lists, the possible-duplicate warning, the number added on the
edit page, and the merge a civil-affairs supervisor confirms side by side. Real PostgreSQL, Temporal dev
server and worker (the `live` fixture)."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import func, select

from db.models import AuditEntry, Case, Child
from domain.idnumber import check_character
from tests import support
from tests.conftest import Live
from tests.ui.test_pages import browser, form, location, submit

BADGE = "身份待核实"


def no_id(**over: str) -> dict[str, str]:
    return {
        "name": "未知",
        "no_id_number": "on",
        "sex": "female",
        "birth_date": "2024-02-01",
        "birth_date_estimated": "on",
        "no_id_reason": "no_household_registration",
        "residence_region": "140403",
        **over,
    }


async def children(live: Live) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(func.count()).select_from(Child))).scalar_one()


async def test_registered_without_a_number_a_case_started_and_the_badge_everywhere(live: Live) -> None:
    async with browser(live, "luzhou-vc1") as clerk:
        page = await clerk.get("/children/new")
        assert "暂无身份证号码" in page.text and "身份不明（热线等）" in page.text
        start_url = location(await submit(clerk, form(page.text, action="/children/new"), **no_id()))
        assert start_url.startswith("/cases/new?child_id=")
        cid = int(start_url.rsplit("=", 1)[1])
        # A committee starts more than one process: it chooses guardianship intervention.
        start_page = await clerk.get(start_url + "&process=guardianship")
        assert "儿童已登记为临时档案（身份待核实）" in start_page.text
        assert BADGE in start_page.text and "2024-02-01（估计）" in start_page.text
        record = await clerk.get(f"/children/{cid}")
        assert record.status_code == 200 and BADGE in record.text and "（无户籍）" in record.text
        assert "户籍地</dt><dd>不详" in record.text and "合并到已登记儿童档案" not in record.text

        # A case is started for it exactly as for any child.
        start_form = form(start_page.text, action="/cases")
        filled = {"facts": "无户籍幼儿无人照料", "occurred_on": support.today_iso()}
        case_url = location(await submit(clerk, start_form, **filled))
        case_page = await clerk.get(case_url)
        assert case_page.status_code == 200 and BADGE in case_page.text and "未知" in case_page.text
        listed = await clerk.get("/cases")
        row = next(r for r in listed.text.split("<tr") if case_url.rsplit("/", 1)[1] in r)
        assert BADGE in row
        inbox = await clerk.get("/inbox")
        row = next(r for r in inbox.text.split("<tr") if case_url.rsplit("/", 1)[1] in r)
        assert BADGE in row
        found = await submit(clerk, form((await clerk.get("/cases/new")).text, action="/cases/new"), q="未知")
        assert f'href="/children/{cid}"' in found.text and BADGE in found.text
        # A verified child has no badge.
        other = await clerk.get(f"/children/{await support.child_id(live.db, '王小明')}")
        assert BADGE not in other.text


async def test_bad_input_is_refused_next_to_the_field_and_registers_nothing(live: Live) -> None:
    before = await children(live)
    tomorrow = (date.fromisoformat(support.today_iso()) + timedelta(days=1)).isoformat()
    async with browser(live, "luzhou-vc1") as clerk:
        f = form((await clerk.get("/children/new")).text, action="/children/new")
        for over, text in [
            ({"name": ""}, "请填写“姓名”"),
            ({"birth_date": tomorrow}, "出生日期不能晚于今天"),
            ({"birth_date": "2024-13-01"}, "出生日期格式不正确"),
            ({"no_id_reason": "nonsense"}, "请选择暂无身份证号码的原因"),
            ({"no_id_number": ""}, "请勾选“暂无身份证号码”"),
        ]:
            r = await submit(clerk, f, **no_id(**over))
            assert r.status_code == 422 and "未能登记" in r.text and text in r.text, over
            assert 'value="140403" selected' in r.text  # what was chosen stays
    assert await children(live) == before


async def test_a_possible_duplicate_is_shown_and_the_clerk_decides(live: Live) -> None:
    wang = await support.child_id(live.db, "王小明")
    before = await children(live)
    async with browser(live, "luzhou-vc1") as clerk:
        f = form((await clerk.get("/children/new")).text, action="/children/new")
        typed = no_id(name="小明", sex="male", birth_date="2015-03-12", birth_date_estimated="")
        warned = await submit(clerk, f, **typed)
        assert warned.status_code == 200 and "台账中已有姓名和出生日期相符的儿童" in warned.text
        assert f'href="/children/{wang}"' in warned.text and f'href="/cases/new?child_id={wang}"' in warned.text
        assert await children(live) == before  # nothing registered yet
        again = form(warned.text, action="/children/new")
        assert again.fields["name"] == "小明"
        location(await submit(clerk, again, confirm_new="on"))
    assert await children(live) == before + 1


async def test_the_number_added_later_and_the_merge_through_the_pages(live: Live) -> None:
    wang = await support.child_id(live.db, "王小明")
    async with live.db.sf() as s:
        wang_number = (await s.get(Child, wang)).id_number  # type: ignore[union-attr]
    async with browser(live, "luzhou-vc1") as clerk:
        f = form((await clerk.get("/children/new")).text, action="/children/new")
        first = int(location(await submit(clerk, f, **no_id())).rsplit("=", 1)[1])
        second = int(location(await submit(clerk, f, **no_id(name="小明", sex="male"))).rsplit("=", 1)[1])
        case_no = await support.start(live.db, live.temporal, live.task_queue, "luzhou-vc1", child="小明")

        # The number of a new child: the record becomes verified (the estimate gives way to the number's date).
        edit = await clerk.get(f"/children/{first}/edit")
        assert "补录身份证号码" in edit.text and BADGE in edit.text
        first17 = "14040320240203002"  # a girl born 2024-02-03 in 潞州区
        saved = await submit(
            clerk, form(edit.text, action=f"/children/{first}/edit"), id_number=first17 + check_character(first17)
        )
        assert location(saved) == f"/children/{first}"
        shown = await clerk.get(f"/children/{first}")
        assert "身份证号码已补录，儿童身份已核实" in shown.text and BADGE not in shown.text
        assert "2024-02-03" in shown.text and "140403" in shown.text

        # 王小明's number: refused with the offer, which a committee's clerk passes to the supervisor.
        edit = await clerk.get(f"/children/{second}/edit")
        refused = await submit(clerk, form(edit.text, action=f"/children/{second}/edit"), id_number=wang_number)
        assert refused.status_code == 409 and "已登记在另一名儿童的档案" in refused.text
        assert "合并须由儿童居住县（区）或市级民政部门的督导办理" in refused.text
        assert f'action="/children/{second}/merge"' not in refused.text
        assert (await clerk.get(f"/children/{second}/merge")).status_code == 403

    async with browser(live, "luzhou-civil-sup") as sup:
        edit = await sup.get(f"/children/{second}/edit")
        refused = await submit(sup, form(edit.text, action=f"/children/{second}/edit"), id_number=wang_number)
        assert refused.status_code == 409
        compare = await submit(sup, form(refused.text, action=f"/children/{second}/merge"))
        assert compare.status_code == 200 and "临时档案（合并后保留为“已合并”）" in compare.text
        assert "已登记儿童档案（合并到此）" in compare.text and "王小明" in compare.text and "小明" in compare.text
        assert "案件：1 件" in compare.text
        async with live.db.sf() as s:
            assert (await s.execute(select(Case.child_id).where(Case.case_no == case_no))).scalar_one() == second
        confirm = form(compare.text, action=f"/children/{second}/merge")
        assert confirm.fields.get("confirm") is None  # the person ticks it
        assert location(await submit(sup, confirm, confirm="on")) == f"/children/{wang}"
        page = await sup.get(f"/children/{wang}")
        assert "已合并：原临时档案的1件案件已转入该儿童档案" in page.text and case_no in page.text

    async with browser(live, "luzhou-vc1") as clerk:
        old = await clerk.get(f"/children/{second}")
        assert location(old) == f"/children/{wang}"
        assert case_no in (await clerk.get(f"/children/{wang}")).text
        case_page = await clerk.get(f"/cases/{case_no}")
        assert f'href="/children/{wang}"' in case_page.text and BADGE not in case_page.text
        assert location(await clerk.get(f"/cases/new?child_id={second}")) == f"/cases/new?child_id={wang}"
    async with live.db.sf() as s:
        assert (await s.execute(select(Case.child_id).where(Case.case_no == case_no))).scalar_one() == wang
        assert (await s.get(Child, second)).merged_into_id == wang  # type: ignore[union-attr]
        merges = (
            await s.execute(select(func.count()).select_from(AuditEntry).where(AuditEntry.action == "merge_child"))
        ).scalar_one()
    assert merges == 3  # the provisional record, the registered one, the case


async def test_the_merge_page_finds_candidates_and_is_closed_to_others(live: Live) -> None:
    li = await support.child_id(live.db, "李娜")
    async with browser(live, "luzhou-vc1") as clerk:
        f = form((await clerk.get("/children/new")).text, action="/children/new")
        typed = no_id(name="李娜", sex="female", birth_date="2013-08-02", birth_date_estimated="", confirm_new="on")
        cid = int(location(await submit(clerk, f, **typed)).rsplit("=", 1)[1])
    async with browser(live, "luzhou-civil-sup") as sup:
        record = await sup.get(f"/children/{cid}")
        assert "合并到已登记儿童档案" in record.text
        page = await sup.get(f"/children/{cid}/merge")
        assert page.status_code == 200 and f'href="/children/{cid}/merge?into={li}"' in page.text
        compare = await sup.get(f"/children/{cid}/merge?into={li}")
        assert "确认合并" in compare.text
        # Without the tick nothing is merged: the comparison comes back.
        again = await submit(sup, form(compare.text, action=f"/children/{cid}/merge"))
        assert again.status_code == 200 and "确认合并" in again.text
        unknown = await submit(
            sup, form(page.text, action=f"/children/{cid}/merge"), into_id_number="140403201001010011"
        )
        assert unknown.status_code == 404 and "未找到该身份证号码的儿童" in unknown.text
    for user, status in (("shangdang-civil-sup", 404), ("luzhou-police-sup", 403)):
        async with browser(live, user) as other:
            r = await other.get(f"/children/{cid}/merge?into={li}")
            assert r.status_code == status, user
    async with live.db.sf() as s:
        assert (await s.get(Child, cid)).merged_into_id is None  # type: ignore[union-attr]
