"""The city's message gateway as the outbound-channel tests play it: a real HTTP server on 127.0.0.1 that
answers each request 500 or 200 as the test says, and keeps what it was sent."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Receiver:
    """Fails the first `failures` requests (HTTP 500), and every request while `down` is set."""

    failures: int = 0
    down: bool = False
    requests: list[tuple[dict[str, str], bytes, int]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, headers: dict[str, str], body: bytes) -> int:
        with self.lock:
            status = 500 if self.down or self.failures > 0 else 200
            self.failures -= 1
            self.requests.append((headers, body, status))
            return status

    def accepted(self) -> list[tuple[dict[str, str], bytes, int]]:
        with self.lock:
            return [r for r in self.requests if r[2] == 200]

    def refused(self) -> int:
        with self.lock:
            return sum(r[2] != 200 for r in self.requests)


@contextmanager
def serve_gateway() -> Iterator[tuple[Receiver, str]]:
    """The receiver and its address, served until the block ends."""
    state = Receiver()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            status = state.answer({k: v for k, v in self.headers.items()}, body)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield state, f"http://127.0.0.1:{server.server_address[1]}/gateway"
    finally:
        server.shutdown()
        server.server_close()
