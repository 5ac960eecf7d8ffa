"""单位管理 through the pages, driven like a browser: the admin adds a school with the 新增单位 form (the county
bureau can then name it in a dropout report, and a user is added to it), imports a CSV file, is told every wrong
row of a bad file, switches agencies off and on; refused forms keep what was typed and say why."""

from __future__ import annotations

import re

import httpx
from sqlalchemy import select

from db.models import Agency
from tests.api.test_dropout_api import report_body
from tests.conftest import Live, make_token
from tests.support import child_id
from tests.ui.test_admin_user_pages import ids
from tests.ui.test_pages import browser, csrf_of, form, location, submit

HEADER = "code,name,type,region,township"


async def upload(admin: httpx.AsyncClient, page: str, text: str | bytes, **fields: str) -> httpx.Response:
    """Posts the 导入 form with a file, as a browser does (multipart)."""
    f = form(page, action="/admin/agencies/import")
    data = {k: v for k, v in f.fields.items() if k != "file"}
    body = text.encode("utf-8") if isinstance(text, str) else text
    return await admin.post(f.action, data={**data, **fields}, files={"file": ("单位.csv", body, "text/csv")})


async def agency(live: Live, code: str) -> Agency | None:
    async with live.db.sf() as s:
        return (await s.execute(select(Agency).where(Agency.code == code))).scalar_one_or_none()


async def test_add_a_school_that_a_bureau_names_and_a_user_joins(live: Live) -> None:
    async with browser(live, "admin") as admin:
        settings = await admin.get("/admin")
        assert 'href="/admin/agencies"' in settings.text and "单位管理" in settings.text
        page = await admin.get("/admin/agencies")
        assert page.status_code == 200 and "新增单位" in page.text and "luzhou-school1" in page.text
        assert 'type="file"' in page.text and 'accept=".xlsx,.csv"' in page.text
        created = await submit(
            admin,
            form(page.text, action="/admin/agencies"),
            code="luzhou-school3",
            name="潞州区第三小学",
            agency_type="school",
            region_code="140403",
            township="东街街道",
        )
        url = location(created)
        assert re.fullmatch(r"/admin/agencies/\d+", url)
        shown = await admin.get(url)
        assert "已新增单位 潞州区第三小学（luzhou-school3）" in shown.text and "学校/幼儿园" in shown.text
        assert "该单位还没有用户" in shown.text
        school_id = url.rsplit("/", 1)[1]

        # 为该单位新增用户: the form offers the school.
        users = await admin.get(f"/admin/users?agency_id={school_id}")
        assert form(users.text, action="/admin/users").fields["agency_id"] == school_id
        added = await submit(
            admin,
            form(users.text, action="/admin/users"),
            username="luzhou-school3-zhou",
            display_name="周老师",
            password="Sanxiao2026",
            confirm="Sanxiao2026",
        )
        user_url = location(added)
        shown = await admin.get(url)
        assert f'href="{user_url}"' in shown.text and "周老师" in shown.text

    # The county bureau's dropout report offers the new school.
    child = await child_id(live.db, "王小明")
    async with browser(live, "luzhou-edu") as bureau:
        start = await bureau.get(f"/cases/new?child_id={child}&process=dropout_return")
        assert start.status_code == 200 and f'<option value="{school_id}">潞州区第三小学</option>' in start.text


async def test_a_refused_add_keeps_what_was_typed(live: Live) -> None:
    async with browser(live, "admin") as admin:
        f = form((await admin.get("/admin/agencies")).text, action="/admin/agencies")
        typed = {
            "code": "luzhou-school1",
            "name": "潞州区第三小学",
            "agency_type": "school",
            "region_code": "140403",
            "township": "东街街道",
        }
        taken = await submit(admin, f, **typed)
        assert taken.status_code == 409 and "单位代码“luzhou-school1”已被使用（潞州区实验小学）" in taken.text
        assert '<details class="action" id="new-agency" open>' in taken.text
        again = form(taken.text, action="/admin/agencies")
        assert {k: again.fields[k] for k in typed} == typed
        assert re.search(r'has-error">\s*<label for="f-code">', taken.text)

        committee = {**typed, "code": "luzhou-vc3", "agency_type": "village_committee", "township": "北街街道"}
        unknown = await submit(admin, f, **committee)
        assert unknown.status_code == 422 and "潞州区没有启用的乡镇（街道）“北街街道”" in unknown.text
        assert re.search(r'has-error">\s*<label for="f-township">', unknown.text)
    assert await agency(live, "luzhou-vc3") is None


async def test_import_a_file_and_a_file_with_wrong_rows(live: Live) -> None:
    good = "\ufeff" + "\r\n".join(
        [
            HEADER,
            "luzhou-school3,潞州区第三小学,学校,潞州区,东街街道",
            "luzhou-school2,潞州区第二中学（东校区）,学校,潞州区,东街街道",
            "luzhou-school1,潞州区实验小学,学校,潞州区,东街街道",
        ]
    )
    bad = "\n".join(
        [
            HEADER,
            "luzhou-school4,潞州区第四小学,学校,潞州区,东街街道",
            "luzhou-school5,潞州区第五小学,小学校,潞州区,东街街道",
            "xiangyuan-school3,襄垣县第三小学,学校,太原市,古韩镇",
        ]
    )
    async with browser(live, "admin") as admin:
        page = (await admin.get("/admin/agencies")).text
        checked = await upload(admin, page, good, dry_run="on")
        assert location(checked) == "/admin/agencies"
        assert "检查通过，尚未导入：将新增1个，更新1个，未变1个" in (await admin.get("/admin/agencies")).text
        assert await agency(live, "luzhou-school3") is None

        done = await upload(admin, page, good)
        assert location(done) == "/admin/agencies"
        listed = await admin.get("/admin/agencies", params={"region_code": "140403", "agency_type": "school"})
        assert "已导入单位.csv：新增1个，更新1个，未变1个" in listed.text
        assert "潞州区第三小学" in listed.text and "潞州区第二中学（东校区）" in listed.text

        refused = await upload(admin, page, bad)
        assert refused.status_code == 422
        assert '<details class="action" id="import-agencies" open>' in refused.text
        assert "共2行有误，未导入任何单位" in refused.text
        assert "<li>第3行：单位类型“小学校”无法识别" in refused.text
        assert "<li>第4行：县（区）“太原市”不在长治市" in refused.text
        assert await agency(live, "luzhou-school4") is None

        no_file = await admin.post(
            "/admin/agencies/import", data={"csrf": csrf_of(page)}, files={"file": ("", b"", "text/csv")}
        )
        assert no_file.status_code == 422 and "请选择要导入的Excel（xlsx）或CSV文件" in no_file.text
        gbk = await upload(admin, page, good.removeprefix("\ufeff").encode("gbk"))
        assert gbk.status_code == 422 and "CSV UTF-8（逗号分隔）" in gbk.text
        expired = await admin.post(
            "/admin/agencies/import", data={"csrf": "stale"}, files={"file": ("a.csv", good.encode(), "text/csv")}
        )
        assert expired.status_code == 403
        # Reached by GET after logging in again: the list.
        assert location(await admin.get("/admin/agencies/import")) == "/admin/agencies"

        # The export is the import's format: imported back, it changes nothing.
        export = await admin.get(
            "/admin/agencies/export.csv", params={"region_code": "140403", "agency_type": "school"}
        )
        assert export.status_code == 200 and export.headers["content-type"].startswith("text/csv")
        lines = export.content.decode("utf-8-sig").splitlines()
        assert lines[0] == HEADER and "luzhou-school3,潞州区第三小学,学校/幼儿园,潞州区,东街街道" in lines
        again = await upload(admin, page, export.content)
        assert location(again) == "/admin/agencies"
        assert "新增0个，更新0个，未变3个" in (await admin.get("/admin/agencies")).text


async def test_switch_off_and_on(live: Live) -> None:
    school1 = await ids(live, Agency, Agency.code, "luzhou-school1")
    school2 = await ids(live, Agency, Agency.code, "luzhou-school2")
    token = await make_token(live.db, "luzhou-school1")
    r = await live.http.post(
        "/api/v1/cases", json=await report_body(live), headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 201, r.text
    async with browser(live, "admin") as admin:
        busy = await admin.get(f"/admin/agencies/{school1}")
        assert "该单位现承办1个未办结环节" in busy.text
        refused = await submit(admin, form(busy.text, container="status"))
        assert refused.status_code == 409
        assert "潞州区实验小学仍承办1个未办结的案件环节，请先由督导将这些环节改派给其他单位，再停用" in refused.text

        url = f"/admin/agencies/{school2}"
        page = await admin.get(url)
        # Its users, each linking to their account.
        assert re.search(r'<a href="/admin/users/\d+">luzhou-school2-sup</a>', page.text)
        off = await submit(admin, form(page.text, container="status"))
        assert location(off) == url
        after = await admin.get(url)
        assert "已停用 潞州区第二中学" in after.text and form(after.text, container="status").fields["active"] == "1"
        stopped = await admin.get("/admin/agencies", params={"active": "0"})
        assert "luzhou-school2" in stopped.text and ">luzhou-school1</a>" not in stopped.text
        # A stopped agency is not offered for new users.
        assert f'<option value="{school2}">' not in (await admin.get("/admin/users")).text

        on = await submit(admin, form(after.text, container="status"))
        assert location(on) == url
        assert "已启用 潞州区第二中学" in (await admin.get(url)).text
        assert (await agency(live, "luzhou-school2")).is_active  # type: ignore[union-attr]

        # Renaming keeps what was typed when refused.
        named = await submit(admin, form(page.text, container="edit"), name="潞州区实验小学")
        assert named.status_code == 409 and "潞州区已有名为“潞州区实验小学”的单位" in named.text
        assert form(named.text, container="edit").fields["name"] == "潞州区实验小学"
        saved = await submit(admin, form(page.text, container="edit"), name="潞州区第二中学校")
        assert location(saved) == url and "潞州区第二中学校" in (await admin.get(url)).text

        # The administrators' own agency offers no 停用.
        home = await ids(live, Agency, Agency.code, "city-civil")
        assert "这是系统管理员所在的单位，不能停用" in (await admin.get(f"/admin/agencies/{home}")).text
        # A POST-only address reached by GET leads to the agency's page.
        assert location(await admin.get(f"{url}/active")) == url


async def test_only_admins_see_agency_administration(live: Live) -> None:
    async with browser(live, "luzhou-civil-sup") as sup:
        assert (await sup.get("/admin/agencies")).status_code == 403
        assert (await sup.get("/admin/agencies/1")).status_code == 403
        assert (await sup.get("/admin/agencies/export.csv")).status_code == 403
        inbox = await sup.get("/inbox")
        r = await sup.post("/admin/agencies", data={"csrf": csrf_of(inbox.text), "code": "x-y-z"})
        assert r.status_code == 403 and "只有管理员" in r.text
        r = await sup.post(
            "/admin/agencies/import",
            data={"csrf": csrf_of(inbox.text)},
            files={
                "file": ("a.csv", f"{HEADER}\nluzhou-school3,潞州区第三小学,学校,潞州区,东街街道".encode(), "text/csv")
            },
        )
        assert r.status_code == 403 and "只有管理员" in r.text
    async with browser(live) as anonymous:
        assert location(await anonymous.get("/admin/agencies")) == "/login?next=/admin/agencies"
    assert await agency(live, "luzhou-school3") is None
