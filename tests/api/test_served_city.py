"""A deployment for another city (REFERRALS_SERVED_CITY=410100, 郑州市), on a database of its own migrated
and seeded for that city (db/seed.py `seed_deployment`): without demo data it has no login with the demo
password, only its administrator; with demo data its agencies are Zhengzhou's, no Changzhi account exists,
and its city civil affairs sees the city's cases and their 跨地区审批 rows, as Changzhi's city does its own."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date

import psycopg
from sqlalchemy import select
from temporalio.testing import WorkflowEnvironment

from api.security import verify_password
from db.embedded import with_database
from db.migrate import upgrade
from db.models import Agency, Child, User
from db.seed import DEMO_PASSWORD, ensure_admin, seed_deployment, seed_regions
from db.session import make_engine, make_session_factory, transaction
from domain.processes.certification import CERTIFICATION_MATERIALS
from tests.api.test_cases_api import auth
from tests.api.test_transfer_packets import KEY_B, ZHENGZHOU, act, deployment
from tests.conftest import BLOCK, Db, _databases, make_token
from tests.support import wait_for

JINSHUI, ZHONGYUAN, ERQI = "410105", "410102", "410103"  # 金水区, 中原区, 二七区


@asynccontextmanager
async def fresh_db(pg_server_url: str) -> AsyncIterator[Db]:
    """An empty database migrated to head (not the Changzhi template)."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(pg_server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = with_database(pg_server_url, name)
    await asyncio.to_thread(upgrade, url)
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("UPDATE case_counter_base SET base = %s", (next(_databases) * BLOCK,))
    engine = make_engine(url)
    try:
        yield Db(url, engine, make_session_factory(engine))
    finally:
        await engine.dispose()
        with psycopg.connect(pg_server_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_a_deployment_for_another_city_sees_its_own_city(
    dev_env: WorkflowEnvironment, pg_server_url: str
) -> None:
    async with fresh_db(pg_server_url) as db:
        async with transaction(db.sf) as s:
            await seed_regions(s)
            counts = await seed_deployment(s, ZHENGZHOU, demo=False)
            password = await ensure_admin(s)
        assert counts["users"] == 0 and password
        async with db.sf() as s:
            users = list((await s.execute(select(User))).scalars())
        assert [u.username for u in users] == ["admin"]
        assert verify_password(password, users[0].password_hash)
        assert not any(verify_password(DEMO_PASSWORD, u.password_hash) for u in users)

        async with transaction(db.sf) as s:  # demo data asked for
            await seed_deployment(s, ZHENGZHOU, demo=True)
            assert await ensure_admin(s) is None  # the administrator stays as made
        async with db.sf() as s:
            names = set((await s.execute(select(User.username))).scalars())
            regions = set((await s.execute(select(Agency.region_code))).scalars())
            town = (await s.execute(select(Agency).where(Agency.code == f"{JINSHUI}-town1"))).scalar_one()
        assert "city-civil-sup" in names and f"{JINSHUI}-civil" in names
        assert not names & {"luzhou-civil", "luzhou-town1", "shangdang-civil"}  # no Changzhi-only account
        assert all(r.startswith("4101") for r in regions)
        async with transaction(db.sf) as s:
            child = Child(
                name="王芳",
                sex="female",
                id_number=None,
                identity_status="provisional",
                no_id_reason="other",
                birth_date=date(2014, 4, 1),
                origin_region=ZHONGYUAN,
                residence_region=JINSHUI,
                address="经八路街道",
                created_by_agency_id=town.id,
            )
            s.add(child)
            await s.flush()
            child_id = child.id

        async with deployment(dev_env, db, "zhengzhou", KEY_B, "", served_city=ZHENGZHOU) as z:
            town_token = await make_token(db, f"{JINSHUI}-town1")
            facts = {"kind": "orphan", "origin_region": ZHONGYUAN, "applicant": "祖母", "situation": "父母双亡"}
            r = await z.http.post(
                "/api/v1/cases",
                json={
                    "process": "certification",
                    "start_step": "residence_intake",
                    "child_id": child_id,
                    "facts": facts,
                },
                headers=auth(town_token),
            )
            assert r.status_code == 201, r.text
            no = r.json()["case_no"]
            materials = {f.name: True for f in CERTIFICATION_MATERIALS}
            r = await act(z, town_token, no, "residence_intake", "forward", **materials)
            assert r.status_code == 200, r.text
            assert r.json()["steps"][0]["holder"] == "中原区城关街道办事处"  # the origin, inside this deployment

            city = await make_token(db, "city-civil-sup")
            listed = (await z.http.get("/api/v1/cases", headers=auth(city))).json()["items"]
            assert no in [c["case_no"] for c in listed]
            assert (await z.http.get(f"/api/v1/cases/{no}", headers=auth(city))).status_code == 200

            async def row(token: str) -> dict | None:
                r = await z.http.get("/api/v1/cross-region", headers=auth(token))
                assert r.status_code == 200, r.text
                return next((i for i in r.json()["items"] if i["case_no"] == no), None)

            view = await wait_for(lambda: row(city), what="the city's cross-region row")
            assert (view["residence"], view["origin"], view["side"]) == ("金水区", "中原区", "户籍地")
            # A county of the city that is no party sees neither the case nor its row.
            other = await make_token(db, f"{ERQI}-civil-sup")
            assert await row(other) is None
            assert (await z.http.get(f"/api/v1/cases/{no}", headers=auth(other))).status_code == 404
