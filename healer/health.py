"""Health endpoints every replica serves, leader or not: `/healthz`, `/readyz`, `/status`.

Kubernetes probes need an answer from the follower as much as from the leader: a
follower that cannot take over when needed is as broken as a leader that stopped
polling. Live means the process answers and, when leading, polls have not stalled.
Ready means live and, when leading, the last poll completed recently.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import cast

log = logging.getLogger(__name__)


@dataclass
class PollStatus:
    """What the daemon's loop last did; written by the loop, read by the endpoints."""

    interval: float
    polls: int = 0
    failures: int = 0  # polls that raised, in a row
    held: str | None = None  # why the last poll held, if it did
    last_started: float | None = None  # time.time() of the last poll's start
    last_finished: float | None = None
    lock: threading.Lock = field(default_factory=threading.Lock, repr=False, compare=False)

    def started(self) -> None:
        with self.lock:
            self.last_started = time.time()

    def finished(self, *, ok: bool, held: str | None = None) -> None:
        with self.lock:
            self.last_finished = time.time()
            self.polls += ok
            self.failures = 0 if ok else self.failures + 1
            self.held = held


@dataclass(frozen=True)
class Health:
    live: bool
    ready: bool
    detail: dict[str, object]


def judge(status: PollStatus, *, leading: bool, now: float | None = None) -> Health:
    """Live unless a leader's poll has been running for over ten intervals (stuck);
    ready unless a leader has not finished a poll in three intervals or keeps failing."""
    now = time.time() if now is None else now
    with status.lock:
        started, finished = status.last_started, status.last_finished
        detail: dict[str, object] = {
            "polls": status.polls,
            "failures": status.failures,
            "held": status.held,
            "last_started": started,
            "last_finished": finished,
        }
    running = started is not None and (finished is None or finished < started)
    stuck = leading and running and now - (started or now) > 10 * status.interval
    stale = leading and (finished is None or now - finished > 3 * status.interval)
    failing = leading and status.failures >= 3
    detail |= {"leading": leading, "stuck": stuck, "stale": stale}
    return Health(live=not stuck, ready=not (stuck or stale or failing), detail=detail)


class HealthServer:
    """Serves the endpoints on a background thread; `stop()` ends it."""

    def __init__(self, host: str, port: int, health: Callable[[], Health]) -> None:
        self._httpd = _Server((host, port), health)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.2}, daemon=True
        )

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def start(self) -> HealthServer:
        self._thread.start()
        log.info("health endpoints on port %d (/healthz, /readyz, /status)", self.port)
        return self

    def stop(self) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()
        self._thread.join(5)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], health: Callable[[], Health]) -> None:
        self.health = health
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        health = cast(_Server, self.server).health()
        if self.path == "/healthz":
            self._answer(200 if health.live else 503, {"live": health.live})
        elif self.path == "/readyz":
            self._answer(200 if health.ready else 503, {"ready": health.ready})
        elif self.path == "/status":
            self._answer(200, {"live": health.live, "ready": health.ready, **health.detail})
        else:
            self._answer(404, {"error": f"no such endpoint: {self.path}"})

    def _answer(self, code: int, body: dict[str, object]) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        log.debug("%s " + format, self.address_string(), *args)
