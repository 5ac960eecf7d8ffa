"""The `referrals` command: `dev` (everything on embedded defaults), `worker`, `web`, `migrate`,
`seed-demo`, `token`."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Coroutine
from typing import Any

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from config.logs import configure_logging
from config.settings import Settings
from domain.regions import CITY_CODE

log = logging.getLogger("referrals")
STARTED = time.monotonic()


# ---------------------------------------------------------------------------- pieces


def start_temporal_dev_server(settings: Settings) -> subprocess.Popen:
    from cli import temporal_dev
    from worker.binaries import temporal_cli

    return temporal_dev.start(settings, temporal_cli())


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment (and `overrides`); unsafe ones stop the command with the reason."""
    try:
        settings = Settings(**overrides)
    except ValidationError as e:
        raise SystemExit("refusing to start: " + "; ".join(map(_reason, e.errors()))) from None
    configure_logging(settings.log_level, settings.log_format)
    return settings


def _reason(err: ErrorDetails) -> str:
    where = ".".join(map(str, err["loc"]))
    return f"{where}: {err['msg']}" if where else err["msg"].removeprefix("Value error, ")


def use_embedded_database(settings: Settings) -> None:
    """No DATABASE_URL (allowed in dev only): the embedded PostgreSQL under var/, started or reused."""
    from db.embedded import ensure_database, start_embedded

    if not settings.database_url:
        print("正在启动内置 PostgreSQL（var/pg）…", file=sys.stderr, flush=True)  # `token` prints to stdout
        server_url = start_embedded(settings.var_dir.resolve() / "pg", keep_running=False)
        settings.database_url = ensure_database(server_url, "referrals")


async def migrate_and_seed(url: str, *, demo: bool, city: str = CITY_CODE) -> dict[str, int]:
    """Migrations and the region table; with `demo`, the demo deployment of the served `city`. A deployment for
    another city gets its agencies without demo data too, and an administrator whose password is printed once
    (Changzhi's, without demo data, starts with the region table alone, as it always has)."""
    from db.migrate import upgrade
    from db.seed import ensure_admin, seed_deployment, seed_regions
    from db.session import make_engine, make_session_factory, transaction

    await asyncio.to_thread(upgrade, url)
    engine = make_engine(url)
    try:
        async with transaction(make_session_factory(engine)) as s:
            counts = {"regions": await seed_regions(s)}
            if demo or city != CITY_CODE:
                counts.update(await seed_deployment(s, city, demo=demo))
            if not demo and city != CITY_CODE and (password := await ensure_admin(s)):
                print(f"已创建管理员账号 admin，初始密码：{password}（仅显示这一次，请妥善保管）", file=sys.stderr)
    finally:
        await engine.dispose()
    return counts


async def _wait_temporal(settings: Settings):
    from worker.client import connect

    last: Exception | None = None
    for _ in range(60):
        try:
            return await connect(settings)
        except Exception as e:  # the server is still starting
            last = e
            await asyncio.sleep(1)
    raise RuntimeError(f"cannot reach Temporal at {settings.temporal_address}: {last}")


async def seed_demo_cases(settings: Settings, client: Any | None = None) -> int:
    """The demo cases already overdue (db/seed.py `seed_overdue_demo`), started with a worker of this
    process running so that each is opened and escalated now; returns how many were started."""
    from db.seed import seed_overdue_demo
    from db.session import make_engine, make_session_factory
    from worker.client import build_worker

    client = client or await _wait_temporal(settings)
    engine = make_engine(settings.database_url)
    try:
        sf = make_session_factory(engine)
        async with build_worker(client, settings.task_queue, sf):
            return await seed_overdue_demo(sf, client, settings.task_queue)
    finally:
        await engine.dispose()


async def serve(
    settings: Settings, *, run_worker: bool, run_web: bool, banner: str = "", demo_cases: bool = False
) -> None:
    """The worker and/or the web app in this process until interrupted; with `demo_cases`, the demo cases
    already overdue are started once the worker runs."""
    import uvicorn

    from db.session import make_engine, make_session_factory
    from web.app import create_app
    from worker.client import build_worker

    engine = make_engine(settings.database_url)
    sf = make_session_factory(engine)
    client = await _wait_temporal(settings)
    tasks = []
    reconciler = None  # not one of `tasks`: it runs until cancelled
    worker = build_worker(client, settings.task_queue, sf) if run_worker else None
    if worker is not None:
        from worker.reconciler import run_reconciler

        if settings.worker_metrics_port and not run_web:  # with the web app, its /metrics has them
            from prometheus_client import start_http_server

            start_http_server(settings.worker_metrics_port, addr=settings.host)

        from worker.schedules import ensure_refresh_schedules

        await ensure_refresh_schedules(
            client, settings.task_queue, counties=tuple(c for c, _ in settings.served().counties)
        )
        tasks.append(asyncio.create_task(worker.run(), name="worker"))
        reconciler = asyncio.create_task(run_reconciler(sf, client, settings.task_queue), name="reconciler")
    seeding = None
    if demo_cases and worker is not None:
        from db.seed import seed_overdue_demo

        # Not one of `tasks`: serving goes on when it is done.
        seeding = asyncio.create_task(seed_overdue_demo(sf, client, settings.task_queue), name="demo cases")
    server = None
    if run_web:
        app = create_app(settings, client=client, session_factory=sf)
        # No uvicorn access log: search URLs carry children's names and ID numbers (?q=, ?id_number=);
        # web/observe.py logs each request by its route template instead.
        config = uvicorn.Config(
            app,
            host=settings.host,
            port=settings.port,
            log_level="warning",
            access_log=False,
            proxy_headers=True,
            log_config=None,  # uvicorn's errors through our JSON handler: no exception messages
        )
        server = uvicorn.Server(config)
        tasks.append(asyncio.create_task(server.serve(), name="web"))
    if server is not None:
        while not server.started and not any(t.done() for t in tasks):  # noqa: ASYNC110 - uvicorn has no event
            await asyncio.sleep(0.05)
    if banner:
        print(banner.replace("{ready}", f"{time.monotonic() - STARTED:.1f}s"), flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    waiter = asyncio.create_task(stop.wait())
    done, _ = await asyncio.wait([*tasks, waiter], return_when=asyncio.FIRST_COMPLETED)
    for t in done:
        if t is not waiter and t.exception():
            log.error("%s stopped: %r", t.get_name(), t.exception())
    if seeding is not None and seeding.done() and seeding.exception():
        log.error("demo cases not started: %r", seeding.exception())
    if server is not None:
        server.should_exit = True
    if reconciler is not None:
        reconciler.cancel()
    if worker is not None:
        await worker.shutdown()
    await asyncio.gather(*tasks, *([reconciler] if reconciler else []), return_exceptions=True)
    await engine.dispose()


# ---------------------------------------------------------------------------- commands


# The wait string tests/e2e/test_restart.py looks for in the log: the system is serving.
RUNNING = "已启动，网址"
# What `referrals worker` and `referrals web` print once serving (tests and the benchmark wait for them).
WORKER_RUNNING = "工作进程（worker）已启动"
WEB_RUNNING = "网页服务已启动"
BANNER_LOGINS = (
    "luzhou-vc1",
    "luzhou-vc1-director",
    "luzhou-police",
    "luzhou-police-sup",
    "luzhou-civil-sup",
    "luzhou-wf",
    "luzhou-school1",
    "luzhou-edu",
    "city-police-sup",
    "admin",
)


def dev_banner(settings: Settings, url: str, counts: dict[str, int]) -> str:
    """What `referrals dev` prints once it serves, in Chinese: where, and a few demo logins from the seed."""
    from db.demo_logins import county_logins
    from db.seed import COUNTY_SLUGS, DEMO_PASSWORD
    from ui.render import APP_NAME

    if settings.served_city == CITY_CODE:
        known = {x.username: x for x in county_logins("140403") + county_logins(CITY_CODE)}
        logins = [f"    {u:<22}{known[u].agency} {known[u].role}" for u in BANNER_LOGINS]
        others = (
            "    其他县（区）账号相同，前缀依次为 "
            + " ".join(v for k, v in COUNTY_SLUGS.items() if k != CITY_CODE)
            + "；市级为 city-；全部账号见 README“Demo logins”"
        )
    else:  # another city's demo (db/seed.py city_agencies): counties by their region codes
        served = settings.served()
        county = served.counties[0][0]
        logins = [f"    {u}" for u in (f"{county}-town1", f"{county}-civil", f"{county}-civil-sup", "city-civil-sup")]
        others = f"    其他县（区）账号相同，前缀为各县（区）的行政区划代码；市级为 city-（服务{served.name}）"
    ui = f"http://{settings.temporal_ui_host}:{settings.temporal_ui_port}/"
    return "\n".join(
        [
            "",
            f"{APP_NAME}{RUNNING}：{url}（{{ready}}后就绪）",
            f"  接口文档：{url}api/docs    Temporal 界面（无登录）：{ui}",
            f"  数据目录：{settings.var_dir.resolve()}（区划代码 {counts.get('regions')} 个，"
            f"新增用户 {counts.get('users', 0)} 个，新增儿童 {counts.get('children', 0)} 名）",
            f"  演示账号（密码均为 {DEMO_PASSWORD}）：",
            *logins,
            others,
            "按 Ctrl-C 停止；再次运行 make run 从停止处继续。",
        ]
    )


def cmd_dev(args: argparse.Namespace) -> None:
    """Everything on embedded defaults: PostgreSQL and Temporal keep their data under var/."""
    settings = load_settings(environment="dev", secure_cookies=False)  # plain http on localhost
    settings.var_dir.mkdir(parents=True, exist_ok=True)
    use_embedded_database(settings)
    temporal = None
    if settings.temporal_address == "localhost:7233" and not os.environ.get("TEMPORAL_ADDRESS"):
        print("正在启动 Temporal 开发服务器（var/temporal）…", flush=True)
        temporal = start_temporal_dev_server(settings)
        settings.temporal_address = f"127.0.0.1:{settings.temporal_port}"
    try:
        counts = asyncio.run(migrate_and_seed(settings.database_url, demo=not args.no_demo, city=settings.served_city))
        url = f"http://{settings.host}:{settings.port}/"
        banner = dev_banner(settings, url, counts)
        serve_forever(serve(settings, run_worker=True, run_web=True, banner=banner, demo_cases=not args.no_demo))
    finally:
        if temporal is not None:
            temporal.terminate()
            try:
                temporal.wait(15)
            except subprocess.TimeoutExpired:
                temporal.kill()


def serve_forever(main: Coroutine[Any, Any, None]) -> None:
    """The serving commands' event loop: uvloop's (libuv), where the web app's and the worker's per-request
    and per-task overhead is smaller than asyncio's own loop (issue 13); uvicorn parses HTTP with httptools
    when it is installed, as it is here."""
    import uvloop

    uvloop.run(main)


def cmd_worker(args: argparse.Namespace) -> None:
    settings = load_settings()
    use_embedded_database(settings)
    serve_forever(serve(settings, run_worker=True, run_web=False, banner=WORKER_RUNNING))


def cmd_web(args: argparse.Namespace) -> None:
    settings = load_settings()
    use_embedded_database(settings)
    serve_forever(
        serve(
            settings, run_worker=False, run_web=True, banner=f"{WEB_RUNNING}：http://{settings.host}:{settings.port}/"
        )
    )


def cmd_migrate(args: argparse.Namespace) -> None:
    settings = load_settings()
    use_embedded_database(settings)
    counts = asyncio.run(migrate_and_seed(settings.database_url, demo=False, city=settings.served_city))
    print(f"migrated; {counts['regions']} region codes present")


def cmd_seed_demo(args: argparse.Namespace) -> None:
    """The demo registry, then (unless --no-cases) the demo cases already overdue, which need Temporal."""
    settings = load_settings()
    use_embedded_database(settings)
    counts = asyncio.run(migrate_and_seed(settings.database_url, demo=True, city=settings.served_city))
    if not args.no_cases:
        counts["overdue_cases"] = asyncio.run(seed_demo_cases(settings))
    print(counts)


async def _token(settings: Settings, user: str | None, agency: str | None, name: str) -> str:
    from sqlalchemy import select

    from api.security import new_token, token_hash
    from db.models import Agency, ApiToken, User
    from db.session import make_engine, make_session_factory, transaction

    engine = make_engine(settings.database_url)
    token = new_token()
    try:
        async with transaction(make_session_factory(engine)) as s:
            if user:
                u = (await s.execute(select(User).where(User.username == user))).scalar_one_or_none()
                if u is None:
                    raise SystemExit(f"no user {user}")
                s.add(
                    ApiToken(
                        token_hash=token_hash(token), name=name or f"user:{user}", agency_id=u.agency_id, user_id=u.id
                    )
                )
            else:
                a = (await s.execute(select(Agency).where(Agency.code == agency))).scalar_one_or_none()
                if a is None:
                    raise SystemExit(f"no agency {agency}")
                s.add(ApiToken(token_hash=token_hash(token), name=name or f"integration:{agency}", agency_id=a.id))
    finally:
        await engine.dispose()
    return token


def cmd_token(args: argparse.Namespace) -> None:
    # A token is made on a configured database or on the one `referrals dev` keeps under var/; it involves
    # neither the secret key nor cookies, so the dev settings serve both.
    settings = load_settings(environment="dev")
    use_embedded_database(settings)
    if bool(args.user) == bool(args.agency):
        raise SystemExit("give --user USERNAME or --agency AGENCY_CODE")
    print(asyncio.run(_token(settings, args.user, args.agency, args.name or "")))


def main(argv: list[str] | None = None) -> None:
    logging.basicConfig(
        level=os.environ.get("REFERRALS_LOG_LEVEL", "INFO"), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("temporalio").setLevel(logging.WARNING)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    parser = argparse.ArgumentParser(prog="referrals", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("dev", help="run everything on embedded defaults (data under ./var/)")
    p.add_argument("--no-demo", action="store_true", help="do not load the demo agencies, users and children")
    p.set_defaults(func=cmd_dev)
    sub.add_parser("worker", help="run the Temporal worker (DATABASE_URL, TEMPORAL_ADDRESS, SECRET_KEY)").set_defaults(
        func=cmd_worker
    )
    sub.add_parser("web", help="run the web app (DATABASE_URL, TEMPORAL_ADDRESS, SECRET_KEY)").set_defaults(
        func=cmd_web
    )
    sub.add_parser("migrate", help="apply database migrations and load reference data").set_defaults(func=cmd_migrate)
    seed = sub.add_parser("seed-demo", help="load the demo agencies, users and children, and a few overdue cases")
    seed.add_argument("--no-cases", action="store_true", help="only the registry (no Temporal needed)")
    seed.set_defaults(func=cmd_seed_demo)
    p = sub.add_parser("token", help="create an API bearer token for a user or an integration")
    p.add_argument("--user")
    p.add_argument("--agency", help="agency code, for an integration's token")
    p.add_argument("--name")
    p.set_defaults(func=cmd_token)
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":  # pragma: no cover
    main(sys.argv[1:])
