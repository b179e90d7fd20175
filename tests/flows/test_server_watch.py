"""The watch on a shared Prefect server: it tells of a server that stops answering, after its
grace period, and of nothing while the server answers."""

from __future__ import annotations

import http.server
import socket
import threading
import time

from flows.server import ServerWatch, health_problem


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(200 if self.path == "/api/health" else 404)
        self.end_headers()
        self.wfile.write(b"true")

    def log_message(self, *args: object) -> None:
        pass


def test_a_server_nothing_listens_at_is_gone_after_the_grace_period():
    url = f"http://127.0.0.1:{_closed_port()}/api"
    told: list[tuple[float, str]] = []
    start = time.monotonic()
    with ServerWatch(url, lambda reason: told.append((time.monotonic(), reason)), poll=0.05,
                     refused_grace=0.5, slow_grace=60.0):
        deadline = start + 10
        while not told and time.monotonic() < deadline:
            time.sleep(0.02)
    ((when, reason),) = told
    assert when - start >= 0.5  # not on the first refusal: a restart is not a death
    assert reason.startswith("no answer for ") and reason.endswith(" s: ConnectError")
    assert health_problem(url, timeout=1.0) == ("ConnectError", True)


def test_a_server_that_answers_is_never_gone_and_one_that_stops_is():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_address[1]}/api"
    assert health_problem(url, timeout=2.0) is None
    assert health_problem(url + "/wrong", timeout=2.0) == ("HTTP 404", False)
    told: list[str] = []
    with ServerWatch(url, told.append, poll=0.05, refused_grace=0.3, slow_grace=60.0):
        time.sleep(1.0)
        assert told == []
        server.shutdown()
        server.server_close()
        deadline = time.monotonic() + 10
        while not told and time.monotonic() < deadline:
            time.sleep(0.02)
    assert len(told) == 1 and told[0].endswith("ConnectError")
