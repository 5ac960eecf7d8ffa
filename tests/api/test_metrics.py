"""Operations on the real stack: /metrics scraped as Prometheus would, its counts those of the database;
/healthz and /readyz; the access log as JSON without the personal data a request carried."""

from __future__ import annotations

import json
import logging
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import DBAPIError

from config.logs import JsonFormatter
from db.models import Agency, Case, CaseStep
from tests.api.test_cases_api import auth, start_body
from tests.api.test_outages import closed_port, second_app
from tests.conftest import Db, Live, make_token
from tests.support import wait_for

Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


async def scrape(http: httpx.AsyncClient, **headers: str) -> tuple[str, Samples]:
    r = await http.get("/metrics", headers=headers)
    assert r.status_code == 200, r.text
    samples: Samples = {}
    for family in text_string_to_metric_families(r.text):
        for s in family.samples:
            samples[(s.name, tuple(sorted(s.labels.items())))] = s.value
    return r.text, samples


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


async def start(live: Live, token: str, child: str) -> str:
    r = await live.http.post("/api/v1/cases", json=await start_body(live, child), headers=auth(token))
    assert r.status_code == 201, r.text
    return r.json()["case_no"]


async def test_metrics_count_what_the_database_holds(live: Live) -> None:
    vc1, vc2 = await make_token(live.db, "luzhou-vc1"), await make_token(live.db, "luzhou-vc2")
    first = await start(live, vc1, "王小明")
    await start(live, vc1, "李娜")
    third = await start(live, vc2, "张浩")
    # One step two levels past its deadline: the projection the supervisors' lists read says so.
    async with live.db.sf() as s, s.begin():
        await s.execute(
            update(CaseStep)
            .where(CaseStep.case_id == select(Case.id).where(Case.case_no == first).scalar_subquery())
            .values(due_at=datetime.now(UTC) - timedelta(days=3), escalation_level=2)
        )
    # Another whose automation fails: no police agency can take the report.
    async with live.db.sf() as s, s.begin():
        await s.execute(
            update(Agency)
            .where(Agency.code.in_(["luzhou-police", "luzhou-ps2", "city-police"]))
            .values(is_active=False)
        )
    _, before = await scrape(live.http)
    live.app.state.settings.update_timeout_seconds = 2.0
    body = {"request_id": "r-1", "step": "admonition", "action": "report_serious", "payload": {"note": "殴打"}}
    r = await live.http.post(f"/api/v1/cases/{third}/actions", headers=auth(vc2), json=body)
    assert r.status_code == 503

    async def flagged() -> str | None:
        async with live.db.sf() as s:
            return (await s.execute(select(Case.automation_error).where(Case.case_no == third))).scalar_one()

    await wait_for(flagged, what="the automation error flag", within=30)
    r = await live.http.get(f"/api/v1/cases/{first}", headers=auth(vc1))
    assert r.status_code == 200

    text, samples = await scrape(live.http)
    async with live.db.sf() as s:
        by_step = dict(
            (
                await s.execute(
                    select(Case.main_step, func.count()).where(Case.status == "open").group_by(Case.main_step)
                )
            ).all()
        )
        overdue = (
            await s.execute(select(func.count()).select_from(CaseStep).where(CaseStep.due_at < datetime.now(UTC)))
        ).scalar_one()
    assert by_step == {"admonition": 3}
    assert value(samples, "referrals_open_cases", process="guardianship", step="admonition") == 3
    assert overdue == 1
    assert value(samples, "referrals_overdue_steps", process="guardianship", level="2") == 1
    assert value(samples, "referrals_cases_automation_failing", process="guardianship") == 1
    failures = value(samples, "referrals_activity_failures_total", activity="resolve_agency")
    assert failures - value(before, "referrals_activity_failures_total", activity="resolve_agency") >= 3
    assert "# TYPE referrals_outbound_deliveries_total counter" in text
    # Latency by route template: the case read is counted, its number in no label.
    route = {"method": "GET", "route": "/api/v1/cases/{case_no}", "status": "200"}
    assert value(samples, "referrals_http_request_duration_seconds_count", **route) >= 1
    assert first not in text and third not in text


async def test_metrics_answer_this_machine_or_the_token(live: Live) -> None:
    outside = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=live.app, client=("203.0.113.9", 4000)),  # type: ignore[arg-type]
        base_url="http://testserver",
    )
    async with outside:
        r = await outside.get("/metrics")
        assert r.status_code == 403
        assert "监控令牌" in r.json()["error"]["message"]
        live.app.state.settings.metrics_token = "scrape-token-for-tests"
        assert (await outside.get("/metrics", headers=auth("wrong"))).status_code == 403
        await scrape(outside, Authorization="Bearer scrape-token-for-tests")


async def test_health_and_readiness(live: Live) -> None:
    assert (await live.http.get("/healthz")).json() == {"status": "ok"}
    r = await live.http.get("/readyz")
    assert r.status_code == 200
    assert r.json() == {"status": "ready", "postgresql": "ok", "temporal": "ok"}
    async with second_app(live, temporal=False) as http:
        r = await http.get("/readyz")
        assert r.status_code == 503
        assert r.json() == {"status": "unavailable", "postgresql": "ok", "temporal": "unreachable"}
        assert (await http.get("/healthz")).status_code == 200
    down = f"postgresql://postgres@127.0.0.1:{closed_port()}/referrals"
    async with second_app(live, database_url=down) as http:
        r = await http.get("/readyz")
        assert r.status_code == 503
        assert r.json()["postgresql"] == "unreachable"
        r = await http.get("/metrics")  # a scraper reads JSON, not the people's notice page
        assert r.status_code == 503 and r.json()["error"]["code"] == "unavailable"


async def test_a_failed_statement_logs_neither_its_parameters_nor_its_message(db: Db) -> None:
    async with db.sf() as s:
        with pytest.raises(DBAPIError) as e:
            await s.execute(text("SELECT CAST(:name AS integer)"), {"name": "王小明"})
    assert "SQL parameters hidden" in str(e.value)
    assert "王小明" in str(e.value)  # PostgreSQL's own message quotes the value: why messages are not logged
    record = logging.LogRecord("x", logging.ERROR, __file__, 1, "request failed", (), (DBAPIError, e.value, None))
    line = json.loads(JsonFormatter().format(record))
    assert "王小明" not in json.dumps(line, ensure_ascii=False)
    assert line["exception"][0]["type"] == "sqlalchemy.exc.DataError"


async def test_the_request_log_is_json_without_the_childs_name(live: Live, caplog: pytest.LogCaptureFixture) -> None:
    vc = await make_token(live.db, "luzhou-vc1")
    caplog.set_level(logging.INFO)
    headers = {**auth(vc), "X-Request-ID": "req-12345678"}
    r = await live.http.get("/api/v1/children", params={"q": "王小明"}, headers=headers)
    assert r.status_code == 200, r.text
    assert r.headers["X-Request-ID"] == "req-12345678"
    # The app's records (not the test client's own, which logs the URL it sent).
    lines = [JsonFormatter().format(rec) for rec in caplog.records if not rec.name.startswith("httpx")]
    assert all("王小明" not in line for line in lines)
    access = [json.loads(line) for line in lines if '"referrals.access"' in line]
    assert [(a["method"], a["route"], a["status"], a["request_id"]) for a in access] == [
        ("GET", "/api/v1/children", 200, "req-12345678")
    ]
    assert access[0]["latency_ms"] >= 0
