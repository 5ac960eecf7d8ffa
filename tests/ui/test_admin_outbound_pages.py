"""外发通知 and 关爱期 through the pages, driven like a browser on real PostgreSQL and Temporal: the admin
points the counselling centre at the message gateway (the secret set, never shown back, kept when left
blank), sees the delivery log fail while the gateway is down and turn delivered when it comes back; adds
and removes care periods. Refused forms say why and change nothing; a stale form and a non-admin are
refused."""

from __future__ import annotations

from sqlalchemy import func, select

from db.models import AgencyWebhook, CarePeriodRow
from tests.api.test_outbound_channel import Receiver, crisis, deliveries, receiver, until  # noqa: F401
from tests.conftest import Live
from tests.support import agency_id
from tests.ui.test_pages import browser, form, forms_of, location, submit

SECRET = "page-secret-0123456789"


async def stored_hook(live: Live, agency: int) -> AgencyWebhook | None:
    async with live.db.sf() as s:
        return await s.get(AgencyWebhook, agency)


async def test_the_admin_sets_the_gateway_and_reads_the_delivery_log(
    live: Live,
    receiver: tuple[Receiver, str],  # noqa: F811
) -> None:
    gateway, url = receiver
    gateway.down = True
    centre = await agency_id(live.db, "luzhou-counselling")
    path = f"/admin/agencies/{centre}/webhook"
    async with browser(live, "admin") as admin:
        detail = await admin.get(f"/admin/agencies/{centre}")
        assert f'href="{path}"' in detail.text
        page = await admin.get(path)
        assert page.status_code == 200 and "未设置" in page.text and "还没有推送记录" in page.text

        # Refused: an address that is not http(s), a short secret; nothing is stored, the secret not echoed.
        bad = await submit(admin, form(page.text, action=path), url="ftp://gateway", secret=SECRET, is_active="1")
        assert bad.status_code == 422 and "请填写以 https:// 开头的消息网关地址" in bad.text
        assert SECRET not in bad.text and 'value="ftp://gateway"' in bad.text
        short = await submit(admin, form(page.text, action=path), url=url, secret="short", is_active="1")
        assert short.status_code == 422 and "签名密钥至少16个字符" in short.text
        assert await stored_hook(live, centre) is None

        saved = await submit(admin, form(page.text, action=path), url=url, secret=SECRET, is_active="1")
        assert location(saved) == path
        shown = await admin.get(path)
        assert "已保存外发通知设置" in shown.text and "已开启" in shown.text and f'value="{url}"' in shown.text
        assert SECRET not in shown.text and "已设置（不显示）" in shown.text

        # The secret left blank is kept; switched off and on again.
        off = form(shown.text, action=path)
        off.fields.pop("is_active", None)
        assert location(await submit(admin, off, url=url, secret="")) == path
        hook = await stored_hook(live, centre)
        assert hook is not None and (hook.secret, hook.is_active) == (SECRET, False)
        assert "已关闭" in (await admin.get(path)).text
        again = await admin.get(path)
        assert location(await submit(admin, form(again.text, action=path), url=url, secret="", is_active="1")) == path

        # The delivery log: failing while the gateway is down, delivered once it is back.
        case_no = await crisis(live)

        async def failed() -> bool:
            return any(d.attempts >= 1 for d in await deliveries(live, case_no))

        assert await until(failed)
        log = await admin.get(path)
        assert case_no in log.text and "未送达（重试中）" in log.text and "HTTP 500" in log.text
        assert "来电称有自伤念头" not in log.text  # the log shows no message content
        gateway.down = False

        async def delivered() -> bool:
            return all(d.status == "delivered" for d in await deliveries(live, case_no))

        assert await until(delivered, within=90)
        assert "已送达" in (await admin.get(path)).text

        stale = await admin.post(path, data={"csrf": "stale", "url": "https://evil.example/x", "secret": SECRET})
        assert stale.status_code == 403
    async with browser(live, "luzhou-counselling-sup") as sup:
        assert (await sup.get(path)).status_code == 403
    hook = await stored_hook(live, centre)
    assert hook is not None and hook.url == url


async def care_rows(live: Live) -> int:
    async with live.db.sf() as s:
        return (await s.execute(select(func.count()).select_from(CarePeriodRow))).scalar_one()


async def test_the_admin_adds_and_removes_care_periods(live: Live) -> None:
    path = "/admin/care-periods"
    async with browser(live, "admin") as admin:
        assert f'href="{path}"' in (await admin.get("/admin")).text
        page = await admin.get(path)
        assert page.status_code == 200 and "本市尚未设置" in page.text and "寒假" in page.text
        before = await care_rows(live)

        backwards = await submit(
            admin, form(page.text, action=path), label="期末考试", starts_on="2027-01-20", ends_on="2027-01-10"
        )
        assert backwards.status_code in (400, 409, 422) and "结束日期早于开始日期" in backwards.text
        assert 'value="期末考试"' in backwards.text
        garbled = await submit(admin, form(page.text, action=path), label="期末考试", starts_on="明天", ends_on="")
        assert garbled.status_code == 422 and "开始日期格式应为 YYYY-MM-DD" in garbled.text
        assert await care_rows(live) == before

        added = await submit(
            admin, form(page.text, action=path), label="期末考试", starts_on="2027-01-05", ends_on="2027-01-12"
        )
        assert location(added) == path
        shown = await admin.get(path)
        assert "已添加关爱期：期末考试（2027-01-05 至 2027-01-12）" in shown.text and "本市尚未设置" not in shown.text
        assert "期末考试" in shown.text and "暑假" in shown.text  # the defaults are now the city's, kept
        rows = await care_rows(live)
        assert rows > 1

        remove = next(
            f
            for f in forms_of(shown.text)
            if f.action == "/admin/care-periods/remove" and f.fields.get("label") == "期末考试"
        )
        assert location(await submit(admin, remove)) == path
        after = await admin.get(path)
        assert "已删除关爱期：期末考试（2027-01-05 至 2027-01-12）" in after.text
        assert await care_rows(live) == rows - 1
        gone = await submit(admin, remove)  # the same form again: already removed
        assert gone.status_code == 404 and "该关爱期已不存在" in gone.text
        assert await care_rows(live) == rows - 1

        stale = await admin.post(
            path, data={"csrf": "stale", "label": "x", "starts_on": "2027-03-01", "ends_on": "2027-03-02"}
        )
        assert stale.status_code == 403 and await care_rows(live) == rows - 1
    async with browser(live, "luzhou-counselling-sup") as sup:
        assert (await sup.get(path)).status_code == 403
        page = await sup.get("/admin")
        assert page.status_code == 403
