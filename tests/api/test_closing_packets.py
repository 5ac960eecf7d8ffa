"""The packets that close a case between two deployments, each with its own database (tests/api/
test_transfer_packets.py sets them up): 长治 (A) is the residence of an application whose origin, 郑州市金水区,
deployment B serves.

- withdrawn: the applicant withdraws at A after the transfer went to B; A exports the signed notice, B imports
  it and its side closes as withdrawn (its step ends, its 待办 empties, its timeline says why).
- ended: B, which pays, ends support on a change of circumstances; B exports the signed notice with the month
  support ends from, A imports it and its case records the end and closes. The other way: A's county civil
  affairs (following the support for the origin office) ends it on a change of circumstances; A exports the
  notice to B, whose case in support closes with the month; B, told, offers no notice of its own.

Tampered, replayed and wrong-deployment packets are refused as the other kinds are, and nothing changes."""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta

from sqlalchemy import update
from temporalio.testing import WorkflowEnvironment

from db.models import Child
from domain.deadlines import local_date
from domain.processes.certification import CERTIFICATION_MATERIALS, month_after
from tests.api.test_cases_api import auth
from tests.api.test_transfer_packets import (
    JINSHUI,
    KEY_A,
    KEY_B,
    PUB_A,
    PUB_B,
    ZHENGZHOU,
    Side,
    _at,
    act,
    counts,
    deployment,
    main_step,
    second_db,
)
from tests.codec_keys import CONVERTER
from tests.conftest import Db, make_token, quiet_runtime
from tests.support import child_id, today_iso, wait_for
from tests.ui.test_pages import browser
from worker.binaries import temporal_test_server


async def _transferred(a: Side, b: Side, town: str, b_town: str, child: str) -> tuple[str, str]:
    """An application accepted at A, forwarded, its transfer packet imported at B: (A's case, B's case)."""
    facts = {"kind": "orphan", "origin_region": JINSHUI, "applicant": "祖母", "situation": "父母双亡"}
    r = await a.http.post(
        "/api/v1/cases",
        json={
            "process": "certification",
            "start_step": "residence_intake",
            "child_id": await child_id(a.db, child),
            "facts": facts,
        },
        headers=auth(town),
    )
    assert r.status_code == 201, r.text
    no_a = r.json()["case_no"]
    materials = {f.name: True for f in CERTIFICATION_MATERIALS}
    assert (await act(a, town, no_a, "residence_intake", "forward", **materials)).status_code == 200
    r = await a.http.get(f"/api/v1/cases/{no_a}/transfer-packet", params={"to": "zhengzhou"}, headers=auth(town))
    assert r.status_code == 200, r.text
    r = await b.http.post("/api/v1/transfer-packets", json=r.json(), headers=auth(b_town))
    assert r.status_code == 201, r.text
    no_b = r.json()["case_no"]
    await wait_for(lambda: _at(b, b_town, no_b, "origin_verification"), what="B's case")
    return no_a, no_b


async def _refused(side: Side, token: str, raw: dict, code: str) -> None:
    before = await counts(side.db)
    r = await side.http.post("/api/v1/transfer-packets", json=raw, headers=auth(token))
    assert 400 <= r.status_code < 500, r.text
    assert r.json()["error"]["code"] == code and r.json()["error"]["message"], r.text
    assert await counts(side.db) == before


async def test_a_withdrawal_at_the_residence_closes_the_origin_side_in_the_other_deployment(
    dev_env: WorkflowEnvironment, db: Db, pg_server_url: str, template_db: str
) -> None:
    async with (
        second_db(pg_server_url, template_db) as db_b,
        deployment(dev_env, db, "changzhi", KEY_A, f"zhengzhou={PUB_B}") as a,
        deployment(dev_env, db_b, "zhengzhou", KEY_B, f"changzhi={PUB_A}", served_city=ZHENGZHOU) as b,
    ):
        town, b_town = await make_token(db, "luzhou-town1"), await make_token(db_b, "jinshui-town1")
        no_a, no_b = await _transferred(a, b, town, b_town, "李娜")
        assert no_b in [i["case_no"] for i in (await b.http.get("/api/v1/inbox", headers=auth(b_town))).json()["items"]]

        r = await a.http.get(f"/api/v1/cases/{no_a}/withdrawn-packet", headers=auth(town))
        assert r.status_code == 409 and "尚未撤回" in r.json()["error"]["message"], r.text
        r = await a.http.post(
            f"/api/v1/cases/{no_a}/actions",
            headers=auth(town),
            json={
                "action": "record_withdrawal",
                "payload": {"withdrawn_on": today_iso(), "note": "申请人书面撤回申请"},
            },
        )
        assert r.status_code == 200, r.text
        detail = (await a.http.get(f"/api/v1/cases/{no_a}", headers=auth(town))).json()
        assert (detail["status"], detail["outcome"], detail["steps"]) == ("closed", "withdrawn", [])

        # The case page offers the notice where it applies; the file is the signed packet.
        async with browser(a, "luzhou-town1") as page:  # type: ignore[arg-type]
            html = (await page.get(f"/cases/{no_a}")).text
            assert "导出撤回通知" in html and f"/cases/{no_a}/withdrawn-packet.json" in html
            file = await page.get(f"/cases/{no_a}/withdrawn-packet.json")
            assert file.status_code == 200 and "attachment" in file.headers["content-disposition"]
        notice = file.json()
        p = notice["packet"]
        assert (p["kind"], p["to_deployment"], p["case_no"]) == ("withdrawn", "zhengzhou", no_a)
        assert p["body"]["reason"] == "申请人撤回申请" and p["body"]["withdrawn_on"] == today_iso()

        tampered = copy.deepcopy(notice)
        tampered["packet"]["body"]["reason"] = "不予认定"
        await _refused(b, b_town, tampered, "packet_tampered")
        elsewhere = copy.deepcopy(notice)
        elsewhere["packet"]["to_deployment"] = "taiyuan"
        await _refused(b, b_town, elsewhere, "packet_wrong_deployment")
        await _refused(a, town, notice, "packet_wrong_deployment")  # brought back to its sender
        assert (await main_step(b, b_town, no_b)) == "origin_verification"

        r = await b.http.post("/api/v1/transfer-packets", json=notice, headers=auth(b_town))
        assert r.status_code == 201 and r.json() == {"case_no": no_b, "opened": False}, r.text
        detail = (await b.http.get(f"/api/v1/cases/{no_b}", headers=auth(b_town))).json()
        assert (detail["status"], detail["outcome"], detail["steps"]) == ("closed", "withdrawn", [])
        assert any("申请人撤回申请" in (e.get("note") or "") for e in detail["timeline"]), detail["timeline"]
        inbox = (await b.http.get("/api/v1/inbox", headers=auth(b_town))).json()["items"]
        assert no_b not in [i["case_no"] for i in inbox]
        await _refused(b, b_town, notice, "packet_replayed")


async def test_support_ended_at_the_origin_is_recorded_on_the_residences_case(
    dev_env: WorkflowEnvironment, db: Db, pg_server_url: str, template_db: str
) -> None:
    async with (
        second_db(pg_server_url, template_db) as db_b,
        deployment(dev_env, db, "changzhi", KEY_A, f"zhengzhou={PUB_B}") as a,
        deployment(dev_env, db_b, "zhengzhou", KEY_B, f"changzhi={PUB_A}", served_city=ZHENGZHOU) as b,
    ):
        town, b_town = await make_token(db, "luzhou-town1"), await make_token(db_b, "jinshui-town1")
        b_civil = await make_token(db_b, "jinshui-civil")
        no_a, no_b = await _transferred(a, b, town, b_town, "李娜")
        r = await act(b, b_town, no_b, "origin_verification", "give_opinion", verified_by="data", opinion="approve")
        assert r.status_code == 200, r.text
        month = month_after(local_date(datetime.now(UTC)))
        r = await act(b, b_civil, no_b, "origin_decision", "approve", doc_no="金民认〔2026〕13号", allowance_from=month)
        assert r.status_code == 200, r.text
        r = await b.http.get(f"/api/v1/cases/{no_b}/ended-packet", headers=auth(b_civil))
        assert r.status_code == 409 and "尚未终止" in r.json()["error"]["message"], r.text
        answer = (await b.http.get(f"/api/v1/cases/{no_b}/answer-packet", headers=auth(b_civil))).json()
        assert (await a.http.post("/api/v1/transfer-packets", json=answer, headers=auth(town))).status_code == 201
        assert (await act(a, town, no_a, "notify_applicant", "notified", done_on=today_iso())).status_code == 200
        assert (await main_step(a, town, no_a)) == "in_support"

        r = await act(
            b, b_civil, no_b, "in_support", "circumstances_changed", changed_on=today_iso(), note="母亲刑满释放"
        )
        assert r.status_code == 200, r.text
        async with browser(b, "jinshui-civil") as page:  # type: ignore[arg-type]
            html = (await page.get(f"/cases/{no_b}")).text
            assert "导出保障终止通知" in html
            file = await page.get(f"/cases/{no_b}/ended-packet.json")
            assert file.status_code == 200, file.text
        ended = file.json()
        p = ended["packet"]
        assert (p["kind"], p["to_deployment"], p["case_no"]) == ("ended", "changzhi", no_a)
        ends = month_after(local_date(datetime.now(UTC)))
        assert (p["body"]["ended_because"], p["body"]["ends_from"]) == ("ended", ends)

        tampered = copy.deepcopy(ended)
        tampered["packet"]["body"]["ends_from"] = "2099-01"
        await _refused(a, town, tampered, "packet_tampered")
        elsewhere = copy.deepcopy(ended)
        elsewhere["packet"]["to_deployment"] = "taiyuan"
        await _refused(a, town, elsewhere, "packet_wrong_deployment")
        assert (await main_step(a, town, no_a)) == "in_support"

        r = await a.http.post("/api/v1/transfer-packets", json=ended, headers=auth(town))
        assert r.status_code == 201 and r.json() == {"case_no": no_a, "opened": False}, r.text
        detail = (await a.http.get(f"/api/v1/cases/{no_a}", headers=auth(town))).json()
        assert (detail["status"], detail["outcome"], detail["steps"]) == ("closed", "ended", [])
        assert {f["key"]: f["value"] for f in detail["summary"]}["support_ends_from"] == ends
        last = detail["timeline"][-1]
        assert f"保障自{ends}起终止" in (last.get("note") or "") and last["payload"]["support_ends_from"] == ends
        await _refused(a, town, ended, "packet_replayed")


async def test_support_ended_at_the_residence_is_recorded_on_the_origins_case(
    dev_env: WorkflowEnvironment, db: Db, pg_server_url: str, template_db: str
) -> None:
    """The other way: A, the residence (its county civil affairs follows the support for the origin office),
    records a change of circumstances; A exports the signed notice to B, whose import closes B's case in
    support with the month support ends from."""
    async with (
        second_db(pg_server_url, template_db) as db_b,
        deployment(dev_env, db, "changzhi", KEY_A, f"zhengzhou={PUB_B}") as a,
        deployment(dev_env, db_b, "zhengzhou", KEY_B, f"changzhi={PUB_A}", served_city=ZHENGZHOU) as b,
    ):
        town, civil = await make_token(db, "luzhou-town1"), await make_token(db, "luzhou-civil")
        b_town, b_civil = await make_token(db_b, "jinshui-town1"), await make_token(db_b, "jinshui-civil")
        no_a, no_b = await _transferred(a, b, town, b_town, "李娜")
        r = await act(b, b_town, no_b, "origin_verification", "give_opinion", verified_by="data", opinion="approve")
        assert r.status_code == 200, r.text
        month = month_after(local_date(datetime.now(UTC)))
        r = await act(b, b_civil, no_b, "origin_decision", "approve", doc_no="金民认〔2026〕14号", allowance_from=month)
        assert r.status_code == 200, r.text
        answer = (await b.http.get(f"/api/v1/cases/{no_b}/answer-packet", headers=auth(b_civil))).json()
        assert (await a.http.post("/api/v1/transfer-packets", json=answer, headers=auth(town))).status_code == 201
        assert (await act(a, town, no_a, "notify_applicant", "notified", done_on=today_iso())).status_code == 200
        assert (await main_step(a, town, no_a)) == "in_support"
        assert (await main_step(b, b_civil, no_b)) == "in_support"
        r = await a.http.get(f"/api/v1/cases/{no_a}/ended-packet", headers=auth(civil))
        assert r.status_code == 409 and "尚未终止" in r.json()["error"]["message"], r.text

        r = await act(a, civil, no_a, "in_support", "circumstances_changed", changed_on=today_iso(), note="父亲回归")
        assert r.status_code == 200, r.text
        async with browser(a, "luzhou-civil") as page:  # type: ignore[arg-type]
            html = (await page.get(f"/cases/{no_a}")).text
            assert "导出保障终止通知（交户籍地系统导入）" in html
            file = await page.get(f"/cases/{no_a}/ended-packet.json")
            assert file.status_code == 200 and "attachment" in file.headers["content-disposition"], file.text
        ended = file.json()
        p = ended["packet"]
        ends = month_after(local_date(datetime.now(UTC)))
        assert (p["kind"], p["from_deployment"], p["to_deployment"], p["case_no"]) == (
            "ended",
            "changzhi",
            "zhengzhou",
            no_a,
        )
        assert (p["body"]["from_side"], p["body"]["ended_because"], p["body"]["ends_from"]) == (
            "residence",
            "ended",
            ends,
        )
        assert p["body"]["decided_by"] == "山西省长治市潞州区民政局"

        tampered = copy.deepcopy(ended)
        tampered["packet"]["body"]["ends_from"] = "2099-01"
        await _refused(b, b_civil, tampered, "packet_tampered")
        elsewhere = copy.deepcopy(ended)
        elsewhere["packet"]["to_deployment"] = "taiyuan"
        await _refused(b, b_civil, elsewhere, "packet_wrong_deployment")
        await _refused(a, civil, ended, "packet_wrong_deployment")  # brought back to its sender
        await _refused(b, b_town, ended, "not_holder")  # the township does not hold B's support
        assert (await main_step(b, b_civil, no_b)) == "in_support"

        r = await b.http.post("/api/v1/transfer-packets", json=ended, headers=auth(b_civil))
        assert r.status_code == 201 and r.json() == {"case_no": no_b, "opened": False}, r.text
        detail = (await b.http.get(f"/api/v1/cases/{no_b}", headers=auth(b_civil))).json()
        assert (detail["status"], detail["outcome"], detail["steps"]) == ("closed", "ended", [])
        assert {f["key"]: f["value"] for f in detail["summary"]}["support_ends_from"] == ends
        last = detail["timeline"][-1]
        assert last["note"] == f"居住地（山西省长治市潞州区民政局）告知：情况变化，保障自{ends}起终止", last
        assert last["payload"]["support_ends_from"] == ends
        await _refused(b, b_civil, ended, "packet_replayed")
        # B was told; it has no end of its own to tell A.
        async with browser(b, "jinshui-civil") as page:  # type: ignore[arg-type]
            assert "导出保障终止通知" not in (await page.get(f"/cases/{no_b}")).text
        r = await b.http.get(f"/api/v1/cases/{no_b}/ended-packet", headers=auth(b_civil))
        assert r.status_code == 409 and "对方系统告知" in r.json()["error"]["message"], r.text


async def test_the_applicants_supplement_lapsing_at_the_residence_closes_the_origin_side(
    db: Db, pg_server_url: str, template_db: str
) -> None:
    """B asks for a supplement after the transfer went out; A's applicant does not supply it in time. The
    county's policy gives the applicant one hour (the shortest a policy can say), and the two deployments run
    on a time-skipping server of their own (the dev server cannot skip even that hour): A's case lapses and is
    withdrawn, its signed notice says so with the items asked, and B's import closes B's waiting case."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER, test_server_existing_path=temporal_test_server(), runtime=quiet_runtime()
    )
    try:
        async with (
            second_db(pg_server_url, template_db) as db_b,
            deployment(env, db, "changzhi", KEY_A, f"zhengzhou={PUB_B}") as a,
            deployment(env, db_b, "zhengzhou", KEY_B, f"changzhi={PUB_A}", served_city=ZHENGZHOU) as b,
        ):
            town, admin = await make_token(db, "luzhou-town1"), await make_token(db, "admin")
            b_town = await make_token(db_b, "jinshui-town1")
            policy = {
                "key": "certification.supplement",
                "region_code": "140403",
                "value": "1h",
                "effective_from": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            }
            r = await a.http.post("/api/v1/admin/policy", json=policy, headers=auth(admin))
            assert r.status_code == 201, r.text
            no_a, no_b = await _transferred(a, b, town, b_town, "李娜")

            r = await act(b, b_town, no_b, "origin_verification", "request_supplement", items="监护人身份证明")
            assert r.status_code == 200, r.text
            ask = (await b.http.get(f"/api/v1/cases/{no_b}/answer-packet", headers=auth(b_town))).json()
            assert ask["packet"]["kind"] == "supplement_ask"
            assert (await a.http.post("/api/v1/transfer-packets", json=ask, headers=auth(town))).status_code == 201
            detail = (await a.http.get(f"/api/v1/cases/{no_a}", headers=auth(town))).json()
            (supplement,) = detail["steps"]
            assert (supplement["step"], supplement["allowance"]) == ("supplement", "1h"), supplement
            r = await a.http.get(f"/api/v1/cases/{no_a}/withdrawn-packet", headers=auth(town))
            assert r.status_code == 409 and "尚未撤回" in r.json()["error"]["message"], r.text

            await env.sleep(timedelta(hours=1, minutes=5))

            async def lapsed() -> dict | None:
                d = (await a.http.get(f"/api/v1/cases/{no_a}", headers=auth(town))).json()
                return d if d["status"] == "closed" else None

            detail = await wait_for(lapsed, what="A's lapse")
            assert (detail["outcome"], detail["steps"]) == ("withdrawn", [])
            assert detail["timeline"][-1]["action"] == "lapse", detail["timeline"][-1]
            async with browser(a, "luzhou-town1") as page:  # type: ignore[arg-type]
                assert "导出撤回通知" in (await page.get(f"/cases/{no_a}")).text
                file = await page.get(f"/cases/{no_a}/withdrawn-packet.json")
                assert file.status_code == 200, file.text
            notice = file.json()
            p = notice["packet"]
            assert (p["kind"], p["to_deployment"], p["case_no"]) == ("withdrawn", "zhengzhou", no_a)
            assert (p["body"]["reason"], p["body"]["items"]) == ("逾期未补正，视为撤回", "监护人身份证明")

            tampered = copy.deepcopy(notice)
            tampered["packet"]["body"]["items"] = ""
            await _refused(b, b_town, tampered, "packet_tampered")
            assert (await main_step(b, b_town, no_b)) == "supplement"  # B's step waits for the residence's word
            r = await b.http.post("/api/v1/transfer-packets", json=notice, headers=auth(b_town))
            assert r.status_code == 201 and r.json() == {"case_no": no_b, "opened": False}, r.text
            detail = (await b.http.get(f"/api/v1/cases/{no_b}", headers=auth(b_town))).json()
            assert (detail["status"], detail["outcome"], detail["steps"]) == ("closed", "withdrawn", [])
            note = detail["timeline"][-1].get("note") or ""
            assert "逾期未补正，视为撤回" in note and "监护人身份证明" in note, detail["timeline"][-1]
            await _refused(b, b_town, notice, "packet_replayed")
    finally:
        await env.shutdown()


async def _in_support(
    a: Side, b: Side, tokens: tuple[str, str, str], child: str, doc_no: str, *, notify: bool = True
) -> tuple[str, str]:
    """An application transferred from A to B, approved at B (in support there), its answer imported at A and
    (unless `notify` is False) the applicant told: both sides in support. (A's case, B's case)."""
    town, b_town, b_civil = tokens
    no_a, no_b = await _transferred(a, b, town, b_town, child)
    r = await act(b, b_town, no_b, "origin_verification", "give_opinion", verified_by="data", opinion="approve")
    assert r.status_code == 200, r.text
    month = month_after(local_date(datetime.now(UTC)))
    r = await act(b, b_civil, no_b, "origin_decision", "approve", doc_no=doc_no, allowance_from=month)
    assert r.status_code == 200, r.text
    answer = (await b.http.get(f"/api/v1/cases/{no_b}/answer-packet", headers=auth(b_civil))).json()
    assert (await a.http.post("/api/v1/transfer-packets", json=answer, headers=auth(town))).status_code == 201
    if notify:
        assert (await act(a, town, no_a, "notify_applicant", "notified", done_on=today_iso())).status_code == 200
        assert (await main_step(a, town, no_a)) == "in_support"
    assert (await main_step(b, b_civil, no_b)) == "in_support"
    return no_a, no_b


async def _case(side: Side, token: str, case_no: str) -> dict:
    r = await side.http.get(f"/api/v1/cases/{case_no}", headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()


def _summary(detail: dict) -> dict[str, str]:
    return {f["key"]: f["value"] for f in detail["summary"]}


async def _refused_unchanged(side: Side, token: str, case_no: str, raw: dict, code: str) -> None:
    """Refused as the other kinds are, and the case's timeline and summary are as they were."""
    before = await _case(side, token, case_no)
    await _refused(side, token, raw, code)
    after = await _case(side, token, case_no)
    assert (after["timeline"], after["summary"]) == (before["timeline"], before["summary"])


async def test_full_time_education_recorded_at_the_residence_is_recorded_on_the_origins_case(
    dev_env: WorkflowEnvironment, db: Db, pg_server_url: str, template_db: str
) -> None:
    """A (the residence; its county civil affairs follows the support for the origin office) records that the
    child is in full-time school; A's case page offers the signed education notice, B (which pays) imports it
    and its own case records the same education: the date studies end in its summary and on its timeline
    (its 18th birthday then goes on to that date: the time-skipping test below). B offers no notice back."""
    async with (
        second_db(pg_server_url, template_db) as db_b,
        deployment(dev_env, db, "changzhi", KEY_A, f"zhengzhou={PUB_B}") as a,
        deployment(dev_env, db_b, "zhengzhou", KEY_B, f"changzhi={PUB_A}", served_city=ZHENGZHOU) as b,
    ):
        town, civil = await make_token(db, "luzhou-town1"), await make_token(db, "luzhou-civil")
        b_town, b_civil = await make_token(db_b, "jinshui-town1"), await make_token(db_b, "jinshui-civil")
        no_a, no_b = await _in_support(a, b, (town, b_town, b_civil), "李娜", "金民认〔2026〕15号")
        r = await a.http.get(f"/api/v1/cases/{no_a}/education-packet", headers=auth(civil))
        assert r.status_code == 409 and "尚未登记全日制在校就读" in r.json()["error"]["message"], r.text

        until = (local_date(datetime.now(UTC)) + timedelta(days=400)).isoformat()
        r = await act(a, civil, no_a, "in_support", "record_education", until=until, note="长治市第二中学高二")
        assert r.status_code == 200, r.text
        assert _summary(await _case(a, civil, no_a))["in_education_until"] == until
        async with browser(a, "luzhou-civil") as page:  # type: ignore[arg-type]
            html = (await page.get(f"/cases/{no_a}")).text
            assert "导出在校就读通知（交户籍地系统导入）" in html
            file = await page.get(f"/cases/{no_a}/education-packet.json")
            assert file.status_code == 200 and "attachment" in file.headers["content-disposition"], file.text
        notice = file.json()
        p = notice["packet"]
        assert (p["kind"], p["from_deployment"], p["to_deployment"], p["case_no"]) == (
            "education",
            "changzhi",
            "zhengzhou",
            no_a,
        )
        assert (p["body"]["from_side"], p["body"]["until"], p["body"]["note"]) == (
            "residence",
            until,
            "长治市第二中学高二",
        )
        assert p["body"]["recorded_by"] == "山西省长治市潞州区民政局"

        tampered = copy.deepcopy(notice)
        tampered["packet"]["body"]["until"] = "2099-07-01"
        await _refused_unchanged(b, b_civil, no_b, tampered, "packet_tampered")
        elsewhere = copy.deepcopy(notice)
        elsewhere["packet"]["to_deployment"] = "taiyuan"
        await _refused_unchanged(b, b_civil, no_b, elsewhere, "packet_wrong_deployment")
        await _refused_unchanged(a, civil, no_a, notice, "packet_wrong_deployment")  # brought back to its sender
        await _refused_unchanged(b, b_town, no_b, notice, "not_holder")  # the township does not hold B's support
        assert _summary(await _case(b, b_civil, no_b))["in_education_until"] is None

        r = await b.http.post("/api/v1/transfer-packets", json=notice, headers=auth(b_civil))
        assert r.status_code == 201 and r.json() == {"case_no": no_b, "opened": False}, r.text
        detail = await _case(b, b_civil, no_b)
        assert (detail["status"], detail["main_step"]) == ("open", "in_support")
        assert _summary(detail)["in_education_until"] == until
        last = detail["timeline"][-1]
        assert (last["action"], last["payload"]["until"]) == ("record_education", until), last
        assert (
            last["note"] == f"居住地系统（山西省长治市潞州区民政局）告知：全日制在校就读至{until}；长治市第二中学高二"
        )
        await _refused_unchanged(b, b_civil, no_b, notice, "packet_replayed")
        # B was told; it has nothing of its own to tell A.
        async with browser(b, "jinshui-civil") as page:  # type: ignore[arg-type]
            assert "导出在校就读通知" not in (await page.get(f"/cases/{no_b}")).text
        r = await b.http.get(f"/api/v1/cases/{no_b}/education-packet", headers=auth(b_civil))
        assert r.status_code == 409 and "对方系统告知" in r.json()["error"]["message"], r.text


async def test_full_time_education_recorded_at_the_origin_waits_for_the_residences_support(
    dev_env: WorkflowEnvironment, db: Db, pg_server_url: str, template_db: str
) -> None:
    """The other way: B, which pays, records the education and exports it to A. A's case still waiting for the
    applicant to be told refuses it (nothing changes); once in support, A imports it."""
    async with (
        second_db(pg_server_url, template_db) as db_b,
        deployment(dev_env, db, "changzhi", KEY_A, f"zhengzhou={PUB_B}") as a,
        deployment(dev_env, db_b, "zhengzhou", KEY_B, f"changzhi={PUB_A}", served_city=ZHENGZHOU) as b,
    ):
        town, civil = await make_token(db, "luzhou-town1"), await make_token(db, "luzhou-civil")
        b_town, b_civil = await make_token(db_b, "jinshui-town1"), await make_token(db_b, "jinshui-civil")
        no_a, no_b = await _in_support(a, b, (town, b_town, b_civil), "李娜", "金民认〔2026〕16号", notify=False)
        until = (local_date(datetime.now(UTC)) + timedelta(days=200)).isoformat()
        r = await act(b, b_civil, no_b, "in_support", "record_education", until=until, note="郑州市第九中学")
        assert r.status_code == 200, r.text
        async with browser(b, "jinshui-civil") as page:  # type: ignore[arg-type]
            assert "导出在校就读通知（交居住地系统导入）" in (await page.get(f"/cases/{no_b}")).text
        r = await b.http.get(f"/api/v1/cases/{no_b}/education-packet", headers=auth(b_civil))
        assert r.status_code == 200, r.text
        notice = r.json()
        p = notice["packet"]
        assert (p["kind"], p["to_deployment"], p["case_no"], p["body"]["from_side"]) == (
            "education",
            "changzhi",
            no_a,
            "origin",
        )

        await _refused_unchanged(a, town, no_a, notice, "not_now")  # A's case is not in support yet
        assert (await act(a, town, no_a, "notify_applicant", "notified", done_on=today_iso())).status_code == 200
        r = await a.http.post("/api/v1/transfer-packets", json=notice, headers=auth(civil))
        assert r.status_code == 201 and r.json() == {"case_no": no_a, "opened": False}, r.text
        detail = await _case(a, civil, no_a)
        assert (detail["status"], _summary(detail)["in_education_until"]) == ("open", until)
        note = detail["timeline"][-1]["note"]
        assert note.startswith("户籍地系统（") and f"告知：全日制在校就读至{until}；郑州市第九中学" in note, note
        await _refused_unchanged(a, civil, no_a, notice, "packet_replayed")


async def test_at_18_the_origins_support_goes_on_to_the_end_of_studies_the_residence_recorded(
    db: Db, pg_server_url: str, template_db: str
) -> None:
    """The child turns 18 in three weeks. A records full-time education to a date two months on and B imports
    A's notice; on a time-skipping server of their own, at 18 B's case (which pays) goes on, its timeline says
    to when, and it closes as adult only once studies end. Without the notice B would end support at 18."""
    env = await WorkflowEnvironment.start_time_skipping(
        data_converter=CONVERTER, test_server_existing_path=temporal_test_server(), runtime=quiet_runtime()
    )
    try:
        async with (
            second_db(pg_server_url, template_db) as db_b,
            deployment(env, db, "changzhi", KEY_A, f"zhengzhou={PUB_B}") as a,
            deployment(env, db_b, "zhengzhou", KEY_B, f"changzhi={PUB_A}", served_city=ZHENGZHOU) as b,
        ):
            town, civil = await make_token(db, "luzhou-town1"), await make_token(db, "luzhou-civil")
            b_town, b_civil = await make_token(db_b, "jinshui-town1"), await make_token(db_b, "jinshui-civil")
            today = local_date(await env.get_current_time())
            eighteen = today + timedelta(days=21)
            born = eighteen.replace(year=eighteen.year - 18)
            async with db.sf() as s, s.begin():
                await s.execute(update(Child).where(Child.name == "李娜").values(birth_date=born))
            no_a, no_b = await _in_support(a, b, (town, b_town, b_civil), "李娜", "金民认〔2026〕17号")
            until = (local_date(datetime.now(UTC)) + timedelta(days=60)).isoformat()
            r = await act(a, civil, no_a, "in_support", "record_education", until=until, note="长治市第二中学高三")
            assert r.status_code == 200, r.text
            notice = (await a.http.get(f"/api/v1/cases/{no_a}/education-packet", headers=auth(civil))).json()
            r = await b.http.post("/api/v1/transfer-packets", json=notice, headers=auth(b_civil))
            assert r.status_code == 201, r.text

            await env.sleep(timedelta(days=22))

            async def reached(side: Side, token: str, case_no: str) -> dict | None:
                d = await _case(side, token, case_no)
                return d if any(e["kind"] == "age_reached" for e in d["timeline"]) else None

            for side, token, no in ((b, b_civil, no_b), (a, civil, no_a)):
                detail = await wait_for(lambda s=side, t=token, n=no: reached(s, t, n), what="18th birthday")
                assert (detail["status"], detail["main_step"]) == ("open", "in_support"), detail
                (age,) = [e for e in detail["timeline"] if e["kind"] == "age_reached"]
                assert f"仍在全日制学校就读，保障至{until}" in age["note"], age

            await env.sleep(timedelta(days=40))

            async def closed() -> dict | None:
                d = await _case(b, b_civil, no_b)
                return d if d["status"] == "closed" else None

            detail = await wait_for(closed, what="the end of studies at B")
            assert (detail["outcome"], detail["steps"]) == ("adult", []), detail
            assert _summary(detail)["in_education_until"] == until
    finally:
        await env.shutdown()
