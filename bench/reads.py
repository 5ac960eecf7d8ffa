"""Benchmark of the dashboards at city scale against hand-written SQL, in the same run (issue 13).

Starts a throwaway embedded PostgreSQL, migrates and seeds it like the tests, loads N cases (default
100,000) and their timeline with COPY (bench/lists.py's generator: the 12 counties weighted, the paths the
processes allow, many steps overdue) and its read columns (db/case_reads.py BACKFILL_SQL), then in
rounds that interleave the two sides times:

- the application: the JSON API, through the ASGI app in this process (httpx.ASGITransport: the whole
  stack of middlewares, the token lookup, the service, the JSON answer; no network, no uvicorn);
- the bare limit: hand-written SQL on one psycopg connection giving the same answer (the same groups and
  counts, the same first page), on the same schema and indexes.

for the city month report, the city and a county stalled list, and the city case list's first page. Before
timing, it checks that each app answer equals the SQL's, and that the visibility the indexed party arrays
give equals the rule over case_parties for every principal used. One line per goal: p50 and p95 of each
side, the ratio of the p50s, and whether the goal (ratio <= 3x, app p95 <= 300 ms) is met.

    .venv/bin/python -m bench.reads [--cases N] [--rounds R]      (or: make bench READS_ARGS="--cases 20000")
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import psycopg
from sqlalchemy import select

from api.cases.report import PER_PAGE as REPORT_PER_PAGE
from api.cases.report import period_bounds
from api.cases.visibility import overseen_type_values, scope_regions
from api.principal import Principal, load_principal
from api.security import new_token, token_hash
from bench.lists import bulk_load, migrate_and_seed
from config.settings import Settings
from db.embedded import embedded_server, ensure_database
from db.models import ApiToken, PolicyOverrideRow, User
from db.session import make_engine, make_session_factory, transaction
from domain.deadlines import local_date
from domain.oversight import supervision_level
from domain.periods import month_period
from domain.policy import Allowance, PolicyOverride, Unit, resolve_policy
from domain.processes import POLICY_DEFAULTS, get_process
from domain.regions import CHANGZHI_COUNTIES, region_name
from worker.codec import PayloadKeys

DB_NAME = "referrals_bench_reads"
RATIO_GOAL = 3.0
P95_GOAL_MS = 300.0
STALLED_PAGE = 50
CASE_PAGE = 20


@dataclass(frozen=True)
class Side:
    """One side of a goal: a call that answers the comparable value (for the check)."""

    call: Callable[[], Awaitable[Any]]
    samples: list[float]


@dataclass
class Goal:
    what: str
    app: Side
    sql: Side
    rows: str = ""


def visible_sql(alias: str = "c") -> str:
    """The read rule on the indexed arrays: own agency a party, or a party in the supervisor's scope."""
    return f"({alias}.party_agency_ids @> ARRAY[%(aid)s]::int[] OR {alias}.party_scopes && %(scopes)s::text[])"


def scope_params(p: Principal) -> dict[str, Any]:
    types = overseen_type_values(p)
    scopes = [f"{t}@{r}" for t in types for r in scope_regions(p)] if types else []
    return {"aid": p.agency.id, "scopes": scopes}


# ---------------------------------------------------------------------------- the bare side


REPORT_SQL = f"""
WITH r AS (
    SELECT c.id, c.case_no, c.status, c.county, c.opened_at, c.closed_at, c.summary, c.facts
    FROM cases c
    WHERE {visible_sql()} AND c.process = %(process)s AND c.opened_at < %(end)s
      AND (c.status = 'open' OR c.closed_at >= %(start)s)
), f AS (SELECT DISTINCT facts->>'follows' AS follows FROM r WHERE facts->>'follows' IS NOT NULL)
SELECT coalesce(r.facts->>'follows', '') <> '' AND coalesce(r.summary->>%(key)s, '') <> ''
           AND r.summary->%(key)s = r.facts->%(key)s AS transfer,
       r.county, r.summary->>%(key)s AS value,
       CASE WHEN r.status = 'open' THEN s.step END AS step,
       count(*) AS cases, count(*) FILTER (WHERE s.due_at < %(now)s) AS overdue
FROM r LEFT JOIN case_steps s ON s.case_id = r.id AND s.track = 'main'
WHERE NOT EXISTS (SELECT 1 FROM f WHERE f.follows = r.case_no)
GROUP BY 1, 2, 3, 4
"""

REPORT_PAGE_SQL = f"""
SELECT c.case_no
FROM cases c LEFT JOIN case_steps s ON s.case_id = c.id AND s.track = 'main'
WHERE {visible_sql()} AND c.process = %(process)s AND c.opened_at < %(end)s
  AND (c.status = 'open' OR c.closed_at >= %(start)s)
ORDER BY c.status <> 'open', coalesce(s.escalation_level, 0) DESC, coalesce(s.due_at < %(now)s, false) DESC,
         coalesce(s.due_at, %(end)s), c.case_no COLLATE "C"
LIMIT {REPORT_PER_PAGE}
"""

# The counties' stalled_after in force, as "quiet before" times, are parameters (read once from the policy
# table): a hand-written query would not resolve the policy per row.
STALLED_BASE = """
FROM cases c
JOIN case_steps s ON s.case_id = c.id
JOIN unnest(%(counties)s::text[], %(before)s::timestamptz[]) AS q(county, quiet_before) ON q.county = c.county
WHERE c.status = 'open' AND s.holder_type = ANY(%(types)s) AND s.holder_region = ANY(%(regions)s)
  AND (s.escalation_level >= %(threshold)s OR c.last_activity_at < q.quiet_before OR c.automation_error IS NOT NULL)
"""
STALLED_COUNTS_SQL = f"""
SELECT s.holder_agency_id, count(*), count(*) FILTER (WHERE s.escalation_level >= 2),
       count(*) FILTER (WHERE s.escalation_level >= 3), count(*) FILTER (WHERE s.escalation_level = 0)
{STALLED_BASE} GROUP BY s.holder_agency_id
"""
STALLED_PAGE_SQL = f"""
SELECT c.case_no, s.track {STALLED_BASE}
ORDER BY s.escalation_level DESC, s.due_at NULLS LAST, c.case_no COLLATE "C", s.track LIMIT {STALLED_PAGE}
"""

CASE_COUNT_SQL = f"SELECT count(*) FROM cases c WHERE {visible_sql()} AND c.process = %(process)s AND c.status = 'open'"
CASE_PAGE_SQL = f"""
SELECT c.case_no FROM cases c WHERE {visible_sql()} AND c.process = %(process)s AND c.status = 'open'
ORDER BY c.next_due_at NULLS LAST, c.opened_at DESC, c.id LIMIT {CASE_PAGE}
"""

# The same rule over case_parties (api/cases/visibility.py before migration 0019), to check the arrays.
PARTIES_VISIBLE_SQL = """
SELECT count(*) FROM cases c WHERE EXISTS (
    SELECT 1 FROM case_parties cp JOIN agencies a ON a.id = cp.agency_id
    WHERE cp.case_id = c.id AND (cp.agency_id = %(aid)s OR a.agency_type || '@' || a.region_code = ANY(%(scopes)s))
)
"""
ARRAYS_VISIBLE_SQL = f"SELECT count(*) FROM cases c WHERE {visible_sql()}"


def report_label(value: str | None, transfer: bool, county: str) -> str:
    """Written again here (not imported) so that a wrong label in the app shows as a mismatch."""
    if transfer:
        return f"{region_name(county) or county}（转入，待定）"
    return value or "（未填）"


async def sql_report(conn: psycopg.AsyncConnection, params: dict[str, Any]) -> Any:
    groups: dict[tuple[str, str | None], list[int]] = {}
    for transfer, county, value, step, cases, overdue in await (await conn.execute(REPORT_SQL, params)).fetchall():
        cell = groups.setdefault((report_label(value, transfer, county), step), [0, 0])
        cell[0] += cases
        cell[1] += overdue
    page = [r[0] for r in await (await conn.execute(REPORT_PAGE_SQL, params)).fetchall()]
    return sorted(((g, s, n, o) for (g, s), (n, o) in groups.items()), key=str), page


async def sql_stalled(conn: psycopg.AsyncConnection, params: dict[str, Any]) -> Any:
    counts = sorted(tuple(r) for r in await (await conn.execute(STALLED_COUNTS_SQL, params)).fetchall())
    page = [tuple(r) for r in await (await conn.execute(STALLED_PAGE_SQL, params)).fetchall()]
    return sum(r[1] for r in counts), counts, page


async def sql_cases(conn: psycopg.AsyncConnection, params: dict[str, Any]) -> Any:
    total = (await (await conn.execute(CASE_COUNT_SQL, params)).fetchone())[0]  # type: ignore[index]
    page = [r[0] for r in await (await conn.execute(CASE_PAGE_SQL, params)).fetchall()]
    return total, page


# ---------------------------------------------------------------------------- the application side


def app_report(body: dict[str, Any]) -> Any:
    groups = sorted(((g["group"], g["step"], g["cases"], g["overdue"]) for g in body["groups"]), key=str)
    return groups, [i["case_no"] for i in body["items"]]


def app_stalled(body: dict[str, Any]) -> Any:
    counts = sorted((h["agency_id"], h["steps"], h["level2"], h["level3"], h["quiet"]) for h in body["holders"])
    return body["total"], counts, [(i["case_no"], i["step"]["track"]) for i in body["items"]]


def app_cases(body: dict[str, Any]) -> Any:
    return body["total"], [i["case_no"] for i in body["items"]]


# ---------------------------------------------------------------------------- setup


async def tokens_and_principals(sf: Any, names: list[str]) -> tuple[dict[str, str], dict[str, Principal]]:
    tokens: dict[str, str] = {}
    async with transaction(sf) as s:
        for name in names:
            user = (await s.execute(select(User).where(User.username == name))).scalar_one()
            tokens[name] = new_token()
            s.add(
                ApiToken(
                    token_hash=token_hash(tokens[name]), name=f"bench:{name}", agency_id=user.agency_id, user_id=user.id
                )
            )
    principals = {}
    async with sf() as s:
        for name in names:
            p = await load_principal(s, name, channel="api")
            assert p is not None, name
            principals[name] = p
    return tokens, principals


async def quiet_before(sf: Any, now: datetime) -> dict[str, Any]:
    """Each county's stalled_after in force now, as the time before which a case counts as quiet."""
    async with sf() as s:
        rows = (await s.execute(select(PolicyOverrideRow).where(PolicyOverrideRow.key == "stalled_after"))).scalars()
        overrides = [PolicyOverride(r.key, r.region_code, Allowance.parse(r.value), r.effective_from) for r in rows]
    counties, before = [], []
    for county in CHANGZHI_COUNTIES:
        a = resolve_policy(POLICY_DEFAULTS["stalled_after"], county, overrides, now)
        hours = a.amount if a.unit == Unit.hours else a.amount * 24
        counties.append(county)
        before.append(now - timedelta(hours=hours))
    return {"counties": counties, "before": before}


# ---------------------------------------------------------------------------- measuring


def ms(seconds: float) -> float:
    return seconds * 1000


def p95(samples: list[float]) -> float:
    return statistics.quantiles(samples, n=20, method="inclusive")[18]


async def timed(side: Side) -> Any:
    started = time.perf_counter()
    value = await side.call()
    side.samples.append(time.perf_counter() - started)
    return value


async def run(args: argparse.Namespace) -> None:
    wall = time.perf_counter()
    load_before = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="referrals-bench-reads-"))
    server = embedded_server(tmp / "pg")
    engine = None
    try:
        url = ensure_database(server.get_uri(), DB_NAME)
        await migrate_and_seed(url)
        now = datetime.now(UTC)
        made = await asyncio.to_thread(bulk_load, url, args.cases, args.seed, args.open_share, now)
        loaded = time.perf_counter()

        from web.app import create_app  # after the database is there: the app reads settings only

        engine = make_engine(url)
        sf = make_session_factory(engine)
        settings = Settings(
            environment="dev",
            database_url=url,
            secret_key="bench-secret",
            secure_cookies=False,
            payload_keys=PayloadKeys.generate("bench"),  # nothing under var/ is made
            var_dir=str(tmp / "var"),
        )
        app = create_app(settings, client=None, session_factory=sf)
        names = ["city-edu-sup", "city-civil-sup", "luzhou-civil-sup"]
        tokens, ps = await tokens_and_principals(sf, names)
        quiet = await quiet_before(sf, now)
        month = date(local_date(now).year, local_date(now).month, 1)
        start, end = period_bounds(month_period(month))
        dropout = get_process("dropout_return")

        conn = await psycopg.AsyncConnection.connect(url, autocommit=True)
        http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bench", timeout=120)

        def api(path: str, who: str, shape: Callable[[dict[str, Any]], Any], **params: Any) -> Side:
            async def call() -> Any:
                r = await http.get(path, params=params, headers={"Authorization": f"Bearer {tokens[who]}"})
                r.raise_for_status()
                return shape(r.json())

            return Side(call, [])

        def bare(fn: Callable[..., Awaitable[Any]], params: dict[str, Any]) -> Side:
            return Side(lambda: fn(conn, params), [])

        def stalled_params(who: str, include_overdue: bool) -> dict[str, Any]:
            p = ps[who]
            return {
                **quiet,
                "types": overseen_type_values(p),
                "regions": scope_regions(p),
                "threshold": supervision_level(p.is_city, include_overdue),
            }

        report_params = {
            **scope_params(ps["city-edu-sup"]),
            "process": dropout.name,
            "key": dropout.report_by,
            "start": start,
            "end": end,
            "now": now,
        }
        goals = [
            Goal(
                f"city month report ({dropout.name} {month:%Y-%m}, city-edu-sup)",
                api(f"/api/v1/reports/{dropout.name}", "city-edu-sup", app_report, month=f"{month:%Y-%m}"),
                bare(sql_report, report_params),
            ),
            Goal(
                "city stalled list, all overdue (city-civil-sup)",
                api("/api/v1/stalled", "city-civil-sup", app_stalled, include_overdue="true"),
                bare(sql_stalled, stalled_params("city-civil-sup", True)),
            ),
            Goal(
                "county stalled list (luzhou-civil-sup)",
                api("/api/v1/stalled", "luzhou-civil-sup", app_stalled),
                bare(sql_stalled, stalled_params("luzhou-civil-sup", False)),
            ),
            Goal(
                "city case list page 1 (guardianship, open; city-civil-sup)",
                api("/api/v1/cases", "city-civil-sup", app_cases, process="guardianship"),
                bare(sql_cases, {**scope_params(ps["city-civil-sup"]), "process": "guardianship"}),
            ),
        ]

        # The check: the app's answer is the SQL's (and the arrays see what the parties rule sees).
        mismatches = []
        for g in goals:
            got, want = await g.app.call(), await g.sql.call()
            if got != want:
                mismatches.append(g.what)
                print(f"MISMATCH {g.what}:\n  app {str(got)[:600]}\n  sql {str(want)[:600]}")
            g.rows = describe(want)
        for who in names:
            params = scope_params(ps[who])
            by_parties = (await (await conn.execute(PARTIES_VISIBLE_SQL, params)).fetchone())[0]  # type: ignore[index]
            by_arrays = (await (await conn.execute(ARRAYS_VISIBLE_SQL, params)).fetchone())[0]  # type: ignore[index]
            if by_parties != by_arrays:
                mismatches.append(f"visibility of {who}")
                print(f"MISMATCH visibility {who}: {by_parties} by case_parties, {by_arrays} by the arrays")

        # The floor under every app line: an authenticated request that reads next to nothing.
        floor = api("/api/v1/me", names[0], lambda body: None)
        for _ in range(args.warmup):
            for g in goals:
                await g.app.call()
                await g.sql.call()
        for i in range(args.rounds):
            for g in goals:  # interleaved: a noisy moment hits both sides alike; who goes first alternates
                first, second = (g.app, g.sql) if i % 2 == 0 else (g.sql, g.app)
                await timed(first)
                await timed(second)
            await timed(floor)
        if args.profile:
            await profile(goals)
        if args.explain_app:
            await explain_app(goals, engine, args.explain_app)
        if args.explain:  # the bare report's plan: what the two report statements cost the server
            plan = await (await conn.execute("EXPLAIN (ANALYZE, BUFFERS OFF) " + REPORT_SQL, report_params)).fetchall()
            print("\n".join(["", "EXPLAIN ANALYZE of the bare report's GROUP BY:", *(f"  {r[0]}" for r in plan)]))
        await http.aclose()
        await conn.close()

        events = made["rows"]["timeline_events"]
        cases = made["cases"]
        print()
        print(
            f"referrals dashboards against hand-written SQL: {args.cases:,} cases ({cases['open']:,} open), "
            f"{events:,} timeline events; {args.rounds} interleaved rounds after {args.warmup} warm-up"
        )
        print(
            f"setup {loaded - wall:.0f} s (COPY {made['copy_s']:.0f} s, generating {made['build_s']:.0f} s, "
            f"VACUUM {made['vacuum_s']:.0f} s); app: the ASGI app in-process over httpx; SQL: one psycopg connection"
        )
        print(
            f"load average {load_before:.2f} at the start, {os.getloadavg()[0]:.2f} now, {os.cpu_count()} CPUs "
            "(the machine is shared: figures are from a loaded machine)"
        )
        print()
        width = max(len(g.what) for g in goals)
        print(
            f"{'goal':<{width}}  {'sql p50':>8} {'sql p95':>8}  {'app p50':>8} {'app p95':>8}  {'ratio':>6}  "
            f"goal (<= {RATIO_GOAL:.0f}x, app p95 <= {P95_GOAL_MS:.0f} ms)"
        )
        for g in goals:
            sp50, sp95 = ms(statistics.median(g.sql.samples)), ms(p95(g.sql.samples))
            ap50, ap95 = ms(statistics.median(g.app.samples)), ms(p95(g.app.samples))
            ratio = ap50 / sp50 if sp50 else float("inf")
            met = ratio <= RATIO_GOAL and ap95 <= P95_GOAL_MS
            print(
                f"{g.what:<{width}}  {sp50:>8.1f} {sp95:>8.1f}  {ap50:>8.1f} {ap95:>8.1f}  {ratio:>5.1f}x  "
                f"{'MET' if met else 'NOT MET'}  [{g.rows}]"
            )
        print(
            f"{'(floor: GET /api/v1/me, the token, middlewares and a tiny answer)':<{width}}  {'':>8} {'':>8}  "
            f"{ms(statistics.median(floor.samples)):>8.1f} {ms(p95(floor.samples)):>8.1f}"
        )
        print()
        print(
            "answers checked: " + ("all equal to the SQL's" if not mismatches else "MISMATCH: " + "; ".join(mismatches))
        )
        print(f"total wall time: {time.perf_counter() - wall:.0f} s")
        if mismatches:
            raise SystemExit(1)
    finally:
        if engine is not None:
            await engine.dispose()
        server.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)


async def profile(goals: list[Goal]) -> None:
    """Where an app call spends its time: cProfile over 10 calls of each goal, the top of the cumulative list."""
    import cProfile
    import pstats

    for g in goals:
        prof = cProfile.Profile()
        prof.enable()
        for _ in range(10):
            await g.app.call()
        prof.disable()
        print(f"\n--- profile: {g.what} (10 calls)")
        pstats.Stats(prof).sort_stats("tottime").print_stats(25)


async def explain_app(goals: list[Goal], engine: Any, which: str) -> None:
    """What the app's statements cost the server: the SQL one app call of each goal (whose name contains
    `which`) sends, recorded as it is sent, then each run again under EXPLAIN ANALYZE with its parameters,
    the slowest first."""
    from sqlalchemy import event

    sent: list[tuple[str, Any, float]] = []
    started: list[float] = []

    def before(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        started.append(time.perf_counter())

    def after(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        sent.append((statement, parameters, time.perf_counter() - started.pop()))

    for g in goals:
        if which not in g.what:
            continue
        event.listen(engine.sync_engine, "before_cursor_execute", before)
        event.listen(engine.sync_engine, "after_cursor_execute", after)
        try:
            sent.clear()
            await g.app.call()
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", before)
            event.remove(engine.sync_engine, "after_cursor_execute", after)
        print(f"\n--- EXPLAIN ANALYZE of the app's statements: {g.what} ({len(sent)} statements)")
        for statement, parameters, seconds in sorted(sent, key=lambda x: -x[2]):
            if not statement.lstrip().upper().startswith(("SELECT", "WITH")):
                continue
            async with engine.connect() as conn:
                raw = await conn.get_raw_connection()
                cur = raw.driver_connection.cursor()
                await cur.execute("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters)
                plan = [r[0] for r in await cur.fetchall()]
            print(f"\n[{ms(seconds):.1f} ms as sent] {' '.join(statement.split())[:300]}")
            print("\n".join(f"  {line}" for line in plan))


def describe(answer: Any) -> str:
    """A short note of the answer's size for the line."""
    if isinstance(answer, tuple) and len(answer) == 2 and isinstance(answer[0], list):
        return f"{len(answer[0])} groups, {sum(g[2] for g in answer[0]):,} cases counted, page {len(answer[1])}"
    if isinstance(answer, tuple) and len(answer) == 3:
        return f"{answer[0]:,} steps, {len(answer[1])} holders, page {len(answer[2])}"
    return f"{answer[0]:,} cases, page {len(answer[1])}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=100_000, help="cases to load (default 100000)")
    parser.add_argument("--rounds", type=int, default=20, help="timed rounds, each side once a goal (default 20)")
    parser.add_argument("--warmup", type=int, default=2, help="untimed rounds first (default 2)")
    parser.add_argument("--seed", type=int, default=1, help="random seed of the generated data")
    parser.add_argument("--explain", action="store_true", help="print the plan of the bare report afterwards")
    parser.add_argument("--profile", action="store_true", help="profile 10 app calls of each goal afterwards")
    parser.add_argument(
        "--explain-app",
        default="",
        metavar="WORDS",
        help="EXPLAIN ANALYZE the SQL the app sends for the goals whose name contains WORDS (e.g. 'month report')",
    )
    parser.add_argument("--open-share", type=float, default=0.5, help="share of cases still open (default 0.5)")
    args = parser.parse_args()
    if args.rounds < 20:
        parser.error("--rounds must be at least 20 (a p95 needs samples)")
    asyncio.run(run(args))


if __name__ == "__main__":
    main()
