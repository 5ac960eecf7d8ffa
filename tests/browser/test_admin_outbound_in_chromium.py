"""外发通知 and 关爱期 in a real headless Chromium: the administrator's forms as a browser posts them. A refused
gateway address says why beside the field and stores nothing; the saved gateway is shown without its secret;
a care period entered backwards is refused with the dates kept, then added and removed."""

from __future__ import annotations

import pytest
from playwright.async_api import Browser, expect

from tests.browser.test_pages_in_chromium import base_url, chromium, fill, login  # noqa: F401  (fixtures)
from tests.conftest import Live
from tests.gateway import serve_gateway
from tests.support import agency_id
from tests.ui.test_admin_outbound_pages import care_rows, stored_hook

pytestmark = pytest.mark.live

SECRET = "chromium-secret-0123456789"


async def test_the_admin_sets_the_gateway_and_the_care_periods_in_chromium(
    base_url: str,  # noqa: F811
    chromium: Browser,  # noqa: F811
    live: Live,
) -> None:
    centre = await agency_id(live.db, "luzhou-counselling")
    admin = await login(chromium, base_url, "admin")
    page = admin.page
    with serve_gateway() as (_, url):
        await admin.open(f"/admin/agencies/{centre}/webhook")
        await expect(page.locator("h1")).to_contain_text("未设置")
        form = page.locator("#webhook form")
        await fill(form, {"url": "ftp://gateway", "secret": SECRET, "is_active": "on"})
        async with page.expect_navigation():
            await form.locator("button[type=submit]").click()
        await expect(page.locator("#webhook .alert-error")).to_contain_text("请填写以 https:// 开头的消息网关地址")
        await expect(page.locator("[name=url]")).to_have_value("ftp://gateway")
        assert SECRET not in await page.content()
        assert await stored_hook(live, centre) is None

        form = page.locator("#webhook form")
        await fill(form, {"url": url, "secret": SECRET, "is_active": "on"})
        async with page.expect_navigation():
            await form.locator("button[type=submit]").click()
        await expect(page.locator("body")).to_contain_text("已保存外发通知设置")
        await expect(page.locator("h1")).to_contain_text("已开启")
        await expect(page.locator("[name=url]")).to_have_value(url)
        await expect(page.locator("#webhook")).to_contain_text("已设置（不显示）")
        assert SECRET not in await page.content()
        hook = await stored_hook(live, centre)
        assert hook is not None and (hook.url, hook.secret, hook.is_active) == (url, SECRET, True)
    await admin.shot("admin-webhook-saved-desktop")

    await admin.open("/admin/care-periods")
    before = await care_rows(live)
    add = page.locator("form[action='/admin/care-periods']")
    await fill(add, {"label": "期末考试", "starts_on": "2027-01-20", "ends_on": "2027-01-10"})
    async with page.expect_navigation():
        await add.locator("button[type=submit]").click()
    await expect(page.locator("body")).to_contain_text("结束日期早于开始日期")
    add = page.locator("form[action='/admin/care-periods']")
    await expect(add.locator("[name=label]")).to_have_value("期末考试")
    assert await care_rows(live) == before

    await fill(add, {"starts_on": "2027-01-05", "ends_on": "2027-01-12"})
    async with page.expect_navigation():
        await add.locator("button[type=submit]").click()
    await expect(page.locator("body")).to_contain_text("已添加关爱期：期末考试（2027-01-05 至 2027-01-12）")
    added = await care_rows(live)
    assert added > before

    row = page.locator("tr", has_text="期末考试")
    async with page.expect_navigation():
        await row.locator("button", has_text="删除").click()
    await expect(page.locator("body")).to_contain_text("已删除关爱期：期末考试（2027-01-05 至 2027-01-12）")
    assert await care_rows(live) == added - 1
