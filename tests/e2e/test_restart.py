"""End to end: `referrals dev` as a user runs it (embedded PostgreSQL, the Temporal dev server, worker and
web app in one command), stopped and started again: every case, deadline and timer is still there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from cli.main import RUNNING
from domain.deadlines import local_date

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Dev:
    def __init__(self, var: Path) -> None:
        self.var = var
        self.port = free_port()
        self.env = {
            **os.environ,
            "REFERRALS_VAR_DIR": str(var),
            "REFERRALS_PORT": str(self.port),
            "REFERRALS_TEMPORAL_PORT": str(free_port()),
            "REFERRALS_TEMPORAL_UI_PORT": str(free_port()),
        }
        for k in ("DATABASE_URL", "TEMPORAL_ADDRESS", "REFERRALS_DATABASE_URL"):
            self.env.pop(k, None)
        self.proc: subprocess.Popen | None = None
        self.log = var / "dev.log"

    def start(self) -> float:
        t = time.monotonic()
        out = open(self.log, "a")
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "dev"],
            cwd=ROOT,
            env=self.env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        deadline = t + 120
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError(f"referrals dev exited: {self.log.read_text()[-3000:]}")
            if RUNNING in self.log.read_text():
                try:
                    if httpx.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).status_code == 200:
                        return time.monotonic() - t
                except httpx.HTTPError:
                    pass
            time.sleep(0.3)
        raise AssertionError(f"referrals dev did not start: {self.log.read_text()[-3000:]}")

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> None:
        assert self.proc is not None
        os.killpg(self.proc.pid, sig)
        try:
            self.proc.wait(60)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            raise

    def token(self, user: str) -> str:
        out = subprocess.run(
            [sys.executable, "-m", "cli.main", "token", "--user", user],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            timeout=60,
            check=True,
        )
        return out.stdout.strip().splitlines()[-1]


@pytest.fixture
def dev(tmp_path: Path):
    d = Dev(tmp_path / "var")
    d.var.mkdir()
    yield d
    if d.proc and d.proc.poll() is None:
        d.stop()


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGKILL], ids=["stopped", "killed"])
def test_stop_and_start_keeps_cases_deadlines_and_timers(dev: Dev, sig: signal.Signals) -> None:
    """Stopped with Ctrl-C (SIGTERM), or killed outright (SIGKILL: the web app, the worker, the Temporal
    server and PostgreSQL die at once, mid-work); either way nothing is lost on the next start."""
    first = dev.start()
    assert "演示账号" in dev.log.read_text() and "luzhou-vc1-director" in dev.log.read_text()
    token = dev.token("luzhou-vc1")
    h = {"Authorization": f"Bearer {token}"}
    base = f"http://127.0.0.1:{dev.port}/api/v1"
    with httpx.Client(timeout=30) as http:
        child = http.get(f"{base}/children", params={"q": "王小明"}, headers=h).json()["items"][0]["id"]
        today = local_date(__import__("datetime").datetime.now(__import__("datetime").UTC)).isoformat()
        r = http.post(
            f"{base}/cases",
            headers={**h, "Idempotency-Key": "e2e-1"},
            json={
                "process": "guardianship",
                "start_step": "admonition",
                "child_id": child,
                "facts": {"facts": "儿童独自在家", "occurred_on": today},
            },
        )
        assert r.status_code == 201, r.text
        case_no = r.json()["case_no"]
        before = http.get(f"{base}/cases/{case_no}", headers=h).json()
    dev.stop(sig)
    assert dev.proc is not None and dev.proc.returncode is not None

    again = dev.start()
    with httpx.Client(timeout=30) as http:
        after = http.get(f"{base}/cases/{case_no}", headers=h).json()
        assert after["live"] is True  # the workflow is still running and answers its Query
        assert after["steps"] == before["steps"]  # same step, holder, deadline and escalation timers
        assert after["timeline"] == before["timeline"]
        r = http.post(
            f"{base}/cases/{case_no}/actions",
            headers=h,
            json={
                "step": "admonition",
                "step_seq": after["steps"][0]["step_seq"],
                "action": "record_admonition",
                "payload": {"done_on": today, "content": "重启后继续办理"},
            },
        )
        assert r.status_code == 200, r.text
        assert r.json()["steps"][0]["step"] == "admonition_followup"
        # The same idempotency key after the restart still names the same case.
        r = http.post(
            f"{base}/cases",
            headers={**h, "Idempotency-Key": "e2e-1"},
            json={
                "process": "guardianship",
                "start_step": "admonition",
                "child_id": child,
                "facts": {"facts": "儿童独自在家", "occurred_on": today},
            },
        )
        assert r.status_code == 200 and r.json()["case_no"] == case_no
    print(f"referrals dev served its first request after {first:.1f}s (fresh var/), {again:.1f}s (restart)")
