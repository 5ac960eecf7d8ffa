"""External mode between two deployments of this system, each with its own database (and task queue) on one
Temporal dev server: 长治 (A) accepts an application whose origin is 郑州市金水区, served by deployment B.
Deployment B serves 郑州市 (Settings.served_city), so 金水区 is inside it and outside A. A exports the signed
transfer packet; B imports it and runs the origin side (its township verifies, its civil
affairs decides); B's answer, exported and imported into A, records the origin's opinion and decision on A's
case, which moves on to telling the applicant. A tampered packet, one imported again, one for another
deployment and one from an untrusted deployment are refused, and nothing changes."""

from __future__ import annotations

import copy
import json
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
import psycopg
from sqlalchemy import func, select
from temporalio.testing import WorkflowEnvironment

from api.security import hash_password
from config.settings import Settings
from db.embedded import with_database
from db.models import Agency, Case, TransferPacketRecord, User
from db.session import make_engine, make_session_factory, transaction
from domain.deadlines import local_date
from domain.packets import new_signing_key
from domain.processes.certification import CERTIFICATION_MATERIALS, month_after
from domain.regions import CITY_CODE
from tests.api.test_cases_api import auth
from tests.codec_keys import TEST_PAYLOAD_KEYS
from tests.conftest import BLOCK, Db, _databases, make_token
from tests.support import child_id, today_iso, wait_for
from tests.ui.test_pages import browser, csrf_of
from web.app import create_app
from worker.client import build_worker

JINSHUI = "410105"
ZHENGZHOU = "410100"  # the city deployment B serves
KEY_A, PUB_A = new_signing_key()
KEY_B, PUB_B = new_signing_key()
_, PUB_STRANGER = new_signing_key()


@dataclass
class Side:
    http: httpx.AsyncClient
    db: Db
    app: object


@asynccontextmanager
async def deployment(
    env: WorkflowEnvironment, db: Db, name: str, key: str, trusted: str, served_city: str = CITY_CODE
) -> AsyncIterator[Side]:
    tq = f"tq-{name}-{uuid.uuid4().hex[:6]}"
    settings = Settings(
        environment="dev",
        database_url=db.url,
        task_queue=tq,
        secret_key="test-secret",
        secure_cookies=False,
        payload_keys=TEST_PAYLOAD_KEYS,
        deployment_id=name,
        packet_signing_key=key,
        packet_trusted_keys=trusted,
        served_city=served_city,
    )
    app = create_app(settings, client=env.client, session_factory=db.sf)
    async with (
        build_worker(env.client, tq, db.sf),
        httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://testserver") as http,
    ):
        yield Side(http, db, app)


@asynccontextmanager
async def second_db(pg_server_url: str, template_db: str) -> AsyncIterator[Db]:
    """Deployment B's own database, from the same template, with Jinshui's township and civil affairs."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template_db}"')
    url = with_database(pg_server_url, name)
    with psycopg.connect(url, autocommit=True) as conn:
        # Its own block of case numbers, as every test database has: B's workflow IDs meet no other test's.
        conn.execute("UPDATE case_counter_base SET base = %s", (next(_databases) * BLOCK,))
    engine = make_engine(url)
    db = Db(url, engine, make_session_factory(engine))
    async with transaction(db.sf) as s:
        pw = hash_password("demo1234")
        for code, agency_name, t, town in (
            ("jinshui-town1", "金水区经八路街道办事处", "township", "经八路街道"),
            ("jinshui-civil", "郑州市金水区民政局", "civil_affairs", None),
        ):
            a = Agency(code=code, name=agency_name, agency_type=t, region_code=JINSHUI, township=town, is_default=True)
            s.add(a)
            await s.flush()
            s.add(
                User(
                    username=code,
                    display_name=f"{agency_name}经办人",
                    agency_id=a.id,
                    role="operator",
                    password_hash=pw,
                )
            )
    try:
        yield db
    finally:
        await engine.dispose()
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def act(side: Side, token: str, case_no: str, step: str, action: str, **payload: object) -> httpx.Response:
    return await side.http.post(
        f"/api/v1/cases/{case_no}/actions",
        headers=auth(token),
        json={"step": step, "action": action, "payload": payload},
    )


async def main_step(side: Side, token: str, case_no: str) -> str:
    r = await side.http.get(f"/api/v1/cases/{case_no}", headers=auth(token))
    assert r.status_code == 200, r.text
    return r.json()["main_step"]


async def counts(db: Db) -> tuple[int, int]:
    async with db.sf() as s:
        cases = (await s.execute(select(func.count()).select_from(Case))).scalar_one()
        packets = (await s.execute(select(func.count()).select_from(TransferPacketRecord))).scalar_one()
    return cases, packets


async def test_a_packet_goes_to_another_deployment_and_its_answer_closes_the_loop(
    dev_env: WorkflowEnvironment, db: Db, pg_server_url: str, template_db: str
) -> None:
    async with (
        second_db(pg_server_url, template_db) as db_b,
        deployment(dev_env, db, "changzhi", KEY_A, f"zhengzhou={PUB_B}") as a,
        deployment(dev_env, db_b, "zhengzhou", KEY_B, f"changzhi={PUB_A}", served_city=ZHENGZHOU) as b,
        # The same database and name, but serving 长治市 as the default does: 金水区 is outside it.
        deployment(dev_env, db_b, "zhengzhou", KEY_B, f"changzhi={PUB_A}") as b_elsewhere,
    ):
        town = await make_token(db, "luzhou-town1")
        facts = {"kind": "orphan", "origin_region": JINSHUI, "applicant": "祖母", "situation": "父母双亡"}
        r = await a.http.post(
            "/api/v1/cases",
            json={
                "process": "certification",
                "start_step": "residence_intake",
                "child_id": await child_id(db, "李娜"),
                "facts": facts,
            },
            headers=auth(town),
        )
        assert r.status_code == 201, r.text
        no_a = r.json()["case_no"]
        materials = {f.name: True for f in CERTIFICATION_MATERIALS}
        assert (await act(a, town, no_a, "residence_intake", "forward", **materials)).status_code == 200
        assert (await main_step(a, town, no_a)) == "origin_verification"

        r = await a.http.get(f"/api/v1/cases/{no_a}/transfer-packet", params={"to": "zhengzhou"}, headers=auth(town))
        assert r.status_code == 200, r.text
        packet = r.json()
        assert packet["packet"]["from_deployment"] == "changzhi" and packet["packet"]["body"]["child"]["name"] == "李娜"

        # The pages: the packet as a file to download, and an import refused in Chinese.
        async with browser(a, "luzhou-town1") as page:  # type: ignore[arg-type]
            assert (await page.get(f"/transfer-packets?case_no={no_a}")).status_code == 200
            file = await page.get(f"/cases/{no_a}/transfer-packet.json", params={"to": "zhengzhou"})
            assert file.status_code == 200 and "attachment" in file.headers["content-disposition"]
            assert file.json()["packet"]["body"]["child"]["name"] == "李娜"
            form = await page.get("/transfer-packets")
            r = await page.post(
                "/transfer-packets", data={"csrf": csrf_of(form.text), "packet": json.dumps(file.json())}
            )
            assert r.status_code == 422 and "不是发给本系统的" in r.text  # a packet for B, brought to A

        b_town = await make_token(db_b, "jinshui-town1")
        b_civil = await make_token(db_b, "jinshui-civil")
        before = await counts(db_b)

        async def refused(raw: dict, code: str) -> None:
            r = await b.http.post("/api/v1/transfer-packets", json=raw, headers=auth(b_town))
            assert 400 <= r.status_code < 500, r.text
            assert r.json()["error"]["code"] == code and r.json()["error"]["message"]
            assert await counts(db_b) == before

        tampered = copy.deepcopy(packet)
        tampered["packet"]["body"]["child"]["name"] = "张三"
        await refused(tampered, "packet_tampered")
        elsewhere = copy.deepcopy(packet)
        elsewhere["packet"]["to_deployment"] = "taiyuan"
        await refused(elsewhere, "packet_wrong_deployment")
        r = await a.http.get(f"/api/v1/cases/{no_a}/transfer-packet", params={"to": "taiyuan"}, headers=auth(town))
        await refused(r.json(), "packet_wrong_deployment")  # signed, but for another deployment
        stranger = copy.deepcopy(packet)
        stranger["packet"]["from_deployment"] = "stranger"
        await refused(stranger, "packet_untrusted")
        r = await b_elsewhere.http.post("/api/v1/transfer-packets", json=packet, headers=auth(b_town))
        assert r.status_code == 422 and r.json()["error"]["code"] == "packet_invalid", r.text
        assert "不在本系统服务的长治市" in r.json()["error"]["message"] and await counts(db_b) == before

        r = await b.http.post("/api/v1/transfer-packets", json=packet, headers=auth(b_town))
        assert r.status_code == 201, r.text
        no_b = r.json()["case_no"]
        assert r.json()["opened"] and no_b.startswith("RD-") and JINSHUI in no_b
        before = await counts(db_b)
        await refused(packet, "packet_replayed")

        # B runs the origin side.
        await wait_for(lambda: _at(b, b_town, no_b, "origin_verification"), what="B's case")
        await _supplement_through_the_residence(a, b, town, b_town, no_a, no_b)
        r = await act(b, b_town, no_b, "origin_verification", "give_opinion", verified_by="both", opinion="approve")
        assert r.status_code == 200, r.text
        r = await b.http.get(f"/api/v1/cases/{no_b}/answer-packet", headers=auth(b_civil))
        assert r.status_code == 409 and "尚未作出" in r.json()["error"]["message"]
        month = month_after(local_date(datetime.now(UTC)))
        r = await act(b, b_civil, no_b, "origin_decision", "approve", doc_no="金民认〔2026〕12号", allowance_from=month)
        assert r.status_code == 200, r.text
        assert r.json()["steps"][0]["step"] == "in_support"  # the origin pays from the next month

        r = await b.http.get(f"/api/v1/cases/{no_b}/answer-packet", headers=auth(b_civil))
        assert r.status_code == 200, r.text
        answer = r.json()
        assert answer["packet"]["to_deployment"] == "changzhi" and answer["packet"]["case_no"] == no_a

        # Back in A: the answer records the origin's opinion and decision; the residence tells the applicant.
        tampered = copy.deepcopy(answer)
        tampered["packet"]["body"]["decision"] = "reject"
        r = await a.http.post("/api/v1/transfer-packets", json=tampered, headers=auth(town))
        assert r.status_code == 422 and r.json()["error"]["code"] == "packet_tampered"
        assert (await main_step(a, town, no_a)) == "origin_verification"
        r = await a.http.post("/api/v1/transfer-packets", json=answer, headers=auth(town))
        assert r.status_code == 201, r.text
        assert r.json() == {"case_no": no_a, "opened": False}
        assert (await main_step(a, town, no_a)) == "notify_applicant"
        detail = (await a.http.get(f"/api/v1/cases/{no_a}", headers=auth(town))).json()
        payloads = [e.get("payload") or {} for e in detail["timeline"]]
        assert any(p.get("doc_no") == "金民认〔2026〕12号" for p in payloads), payloads
        r = await a.http.post("/api/v1/transfer-packets", json=answer, headers=auth(town))
        assert r.status_code in (409, 422) and r.json()["error"]["code"] in ("packet_replayed", "not_now")
        r = await act(a, town, no_a, "notify_applicant", "notified", done_on=today_iso())
        assert r.status_code == 200, r.text
        assert r.json()["steps"][0]["step"] == "in_support"


async def _supplement_through_the_residence(a: Side, b: Side, town: str, b_town: str, no_a: str, no_b: str) -> None:
    """B's township asks for a supplement: it goes to A in a packet, A's applicant has 30 days there, and the
    supplied materials come back to B in a packet; each packet imported once only."""
    items = "户口簿复印件（户主页）"
    r = await act(b, b_town, no_b, "origin_verification", "request_supplement", items=items)
    assert r.status_code == 200, r.text
    assert (await main_step(b, b_town, no_b)) == "supplement"
    r = await b.http.get(f"/api/v1/cases/{no_b}/answer-packet", headers=auth(b_town))
    assert r.status_code == 200, r.text
    request = r.json()
    assert request["packet"]["kind"] == "supplement_ask" and request["packet"]["case_no"] == no_a
    assert request["packet"]["body"]["items"] == items

    before = await counts(a.db)
    r = await a.http.post("/api/v1/transfer-packets", json=request, headers=auth(town))
    assert r.status_code == 201 and r.json() == {"case_no": no_a, "opened": False}, r.text
    detail = (await a.http.get(f"/api/v1/cases/{no_a}", headers=auth(town))).json()
    assert detail["main_step"] == "supplement"
    step = next(s for s in detail["steps"] if s["step"] == "supplement")
    opened, due = (datetime.fromisoformat(step[k]) for k in ("opened_at", "due_at"))
    # The applicant's clock runs at the residence: 30 calendar days (the policy table's certification.supplement).
    assert local_date(due) == local_date(opened) + timedelta(days=30), step
    cases_before, packets_before = await counts(a.db)
    r = await a.http.post("/api/v1/transfer-packets", json=request, headers=auth(town))
    assert r.status_code in (409, 422) and r.json()["error"]["code"] in ("packet_replayed", "not_now"), r.text
    assert await counts(a.db) == (cases_before, packets_before) and before[0] == cases_before

    r = await act(a, town, no_a, "supplement", "supplemented", done_on=today_iso())
    assert r.status_code == 200, r.text
    assert (await main_step(a, town, no_a)) == "origin_verification"
    r = await a.http.get(f"/api/v1/cases/{no_a}/transfer-packet", params={"to": "zhengzhou"}, headers=auth(town))
    assert r.status_code == 200, r.text
    supplied = r.json()
    assert supplied["packet"]["kind"] == "supplement_back" and supplied["packet"]["body"]["items"] == items

    b_before = await counts(b.db)
    r = await b.http.post("/api/v1/transfer-packets", json=supplied, headers=auth(b_town))
    assert r.status_code == 201 and r.json() == {"case_no": no_b, "opened": False}, r.text
    assert (await main_step(b, b_town, no_b)) == "origin_verification"
    assert (await counts(b.db))[0] == b_before[0]  # no second case opened at the origin
    after = await counts(b.db)
    r = await b.http.post("/api/v1/transfer-packets", json=supplied, headers=auth(b_town))
    assert r.status_code in (409, 422) and r.json()["error"]["code"] in ("packet_replayed", "not_now"), r.text
    assert await counts(b.db) == after and (await main_step(b, b_town, no_b)) == "origin_verification"


async def _at(side: Side, token: str, case_no: str, step: str) -> bool:
    r = await side.http.get(f"/api/v1/cases/{case_no}", headers=auth(token))
    return r.status_code == 200 and r.json()["main_step"] == step
