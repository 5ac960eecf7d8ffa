"""The consent form's file input on the case page, posted as a plain multipart form: a file that is not a
scan is refused with the form shown again and nothing kept; a consent refused by the workflow takes its new
file back with it (a refused action changes nothing); an accepted one keeps it, and the centre's page links
it while the reporting school's shows only that it was recorded. Real PostgreSQL, Temporal dev server and
worker."""

from __future__ import annotations

import httpx

from domain.clinical import WITHHELD
from tests.api.test_attachments import SCAN, events, referral_case, rows
from tests.conftest import Live
from tests.files import GIF
from tests.support import agency_id
from tests.ui.test_pages import Form, browser, form

BOX = "act-medical_referral-refer_with_consent"


async def consent_form(http: httpx.AsyncClient, case_no: str) -> Form:
    page = await http.get(f"/cases/{case_no}")
    assert page.status_code == 200, page.text[:500]
    f = form(page.text, container=BOX)
    assert f.action == f"/cases/{case_no}/attachments" and 'enctype="multipart/form-data"' in page.text
    f.fields.pop("consent_form", None)  # the file input: posted as a file
    return f


async def post(http: httpx.AsyncClient, f: Form, data: bytes, **values: str) -> httpx.Response:
    return await http.post(
        f.action, data={**f.fields, **values}, files={"consent_form": ("scan.png", data, "image/png")}
    )


async def test_the_consent_form_posts_its_scan_with_the_action(live: Live) -> None:
    case_no, _ = await referral_case(live)
    values = {
        "hospital_id": str(await agency_id(live.db, "luzhou-hospital")),
        "consenter_name": "王母",
        "consenter_relation": "mother",
        "consent_method": "written",
        "consent_form_ref": "心档-3",
    }
    before = await events(live, case_no)
    async with browser(live, "luzhou-counselling") as centre:
        r = await post(centre, await consent_form(centre, case_no), GIF, **values)
        assert r.status_code == 415 and "只能上传PDF、JPG或PNG格式的扫描件" in r.text
        assert f'id="{BOX}" open' in r.text  # the form is shown again, open, with the reason
        r = await post(centre, await consent_form(centre, case_no), SCAN, **{**values, "consenter_relation": "teacher"})
        assert r.status_code in (409, 422) and "所选同意人不是监护人" in r.text
        assert (await rows(live), await events(live, case_no)) == (0, before)

        r = await post(centre, await consent_form(centre, case_no), SCAN, **values)
        assert r.status_code == 303, r.text[:2000]
        assert await rows(live) == 1 and await events(live, case_no) == before + 1
        page = (await centre.get(f"/cases/{case_no}")).text
        link = page.split('class="small attachment"')[1].split('href="')[1].split('"')[0]
        got = await centre.get(link)
        assert got.status_code == 200 and got.content == SCAN
    async with browser(live, "luzhou-school1") as school:
        page = (await school.get(f"/cases/{case_no}")).text
        assert WITHHELD in page and "/attachments/" not in page
        assert (await school.get(link)).status_code == 404
