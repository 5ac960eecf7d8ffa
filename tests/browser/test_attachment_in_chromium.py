"""The scanned consent form in a real headless Chromium: the counselling centre records the guardian's consent
to the hospital referral with the scan chosen in the form's file input (one multipart post, no JavaScript),
and downloads it back from the timeline; the reporting school, which reads the case, sees that a form was
recorded and no link, and its browser gets no bytes at the link's address."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from domain.clinical import WITHHELD
from tests import support
from tests.api.test_attachments import referral_case
from tests.browser.test_pages_in_chromium import base_url, chromium, fill, login  # noqa: F401  (fixtures)
from tests.conftest import Live
from tests.files import png

pytestmark = pytest.mark.live

SCAN = png("浏览器上传的同意书", size=32)


async def test_the_consent_form_is_uploaded_and_read_back_in_chromium(
    base_url: str,  # noqa: F811
    chromium: Browser,  # noqa: F811
    live: Live,
) -> None:
    case_no, _ = await referral_case(live)
    centre = await login(chromium, base_url, "luzhou-counselling")
    await centre.open(f"/cases/{case_no}")
    box = centre.page.locator("#act-medical_referral-refer_with_consent")
    if await box.get_attribute("open") is None:
        await box.locator("summary").click()
    form = box.locator("form")
    await expect(form).to_have_attribute("enctype", "multipart/form-data")
    hospital = await support.agency_id(live.db, "luzhou-hospital")
    await fill(
        form,
        {
            "hospital_id": str(hospital),
            "consenter_name": "王母",
            "consenter_relation": "mother",
            "consent_method": "written",
            "consent_form_ref": "心档2026-9",
        },
    )
    await form.locator("input[type=file][name=consent_form]").set_input_files(
        {"name": "知情同意书.png", "mimeType": "image/png", "buffer": SCAN}
    )
    async with centre.page.expect_navigation():
        await form.locator("button[type=submit]").click()
    await expect(centre.page.locator(".flash-ok")).to_contain_text("已提交")
    link = centre.page.locator("table.timeline .attachment a")
    await expect(link).to_have_count(1)
    href = await link.get_attribute("href")
    assert href and href.startswith(f"/cases/{case_no}/attachments/")
    async with centre.page.expect_download() as download:
        await link.click()
    got = await download.value
    path = await got.path()
    assert path is not None and path.read_bytes() == SCAN
    assert got.suggested_filename.endswith(".png") and "同意书" not in got.suggested_filename
    await centre.shot("mental_health-consent-form-uploaded-desktop")

    school = await login(chromium, base_url, "luzhou-school1")
    await school.open(f"/cases/{case_no}")
    row = school.page.locator("table.timeline tr", has_text="监护人同意，转介医院")
    await expect(row).to_contain_text(f"知情同意书扫描件：{WITHHELD}")
    await expect(school.page.locator("a[href*='/attachments/']")).to_have_count(0)
    r = await school.context.request.get(base_url + href)
    assert r.status == 404 and SCAN not in await r.body()
