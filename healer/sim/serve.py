"""`healer sim serve`: a simulated cluster running in real time behind an HTTP server.

Sim time follows the wall clock (`speed` times as fast); each tick's new log lines go to
an optional `Shipper`; `GET /metrics` exposes every service for a real Prometheus. Routes
are a table of (method, path pattern, handler), so more APIs can be added beside these.
"""

from __future__ import annotations

import json
import logging
import math
import re
import signal
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol, cast
from urllib.parse import parse_qs, urlsplit

from healer.domain.model import LogRecord
from healer.sim.exposition import CONTENT_TYPE, Exposition
from healer.sim.model import SimCluster
from healer.sim.scenario import SCENARIO_DIR, Scenario, load_scenario, scenario_by_name
from healer.sim.serve_state import describe
from healer.sim.simulation import Simulation

logger = logging.getLogger(__name__)

REALTIME_DIR = SCENARIO_DIR / "realtime"


class Shipper(Protocol):
    """Sends log lines on (to Elasticsearch's bulk API); returns how many it sent."""

    def ship(self, records: Sequence[LogRecord]) -> int: ...


def realtime_scenarios() -> dict[str, Path]:
    """The short scenarios made for real time (1 s ticks), by name."""
    return {p.stem: p for p in sorted(REALTIME_DIR.glob("*.yaml"))}


def scenario_named(name: str) -> Scenario:
    """A real-time scenario by name (`pool-exhaustion-rt`), else a built-in or a file."""
    found = realtime_scenarios().get(name)
    return load_scenario(found) if found is not None else scenario_by_name(name)


# --- routing ---


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    query: Mapping[str, list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)  # names in lower case
    body: bytes = b""
    params: Mapping[str, str] = field(default_factory=dict)  # named groups of the route


@dataclass(frozen=True)
class Response:
    status: int
    body: bytes
    content_type: str = "text/plain; charset=utf-8"
    headers: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def text(cls, text: str, status: int = 200, content_type: str | None = None) -> Response:
        return cls(status, text.encode(), content_type or "text/plain; charset=utf-8")

    @classmethod
    def json(cls, data: object, status: int = 200) -> Response:
        return cls(status, json.dumps(data, indent=2).encode(), "application/json")


Handler = Callable[[Request], Response]


class Router:
    """Routes by method and a regular expression that must match the whole path."""

    def __init__(self) -> None:
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern), handler))

    def dispatch(self, request: Request) -> Response:
        allowed = []
        for method, pattern, handler in self._routes:
            match = pattern.fullmatch(request.path)
            if match is None:
                continue
            if method == request.method:
                return handler(replace(request, params=match.groupdict()))
            allowed.append(method)
        if allowed:
            allow = {"Allow": ", ".join(sorted(set(allowed)))}
            return Response(405, b"method not allowed\n", headers=allow)
        return Response.text(f"no route for {request.path}\n", 404)


class _HTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # why: a client that hangs must not hold up stop()

    def __init__(self, address: tuple[str, int], router: Router) -> None:
        self.router = router
        super().__init__(address, _Handler)


class _Handler(BaseHTTPRequestHandler):
    server_version = "healer-sim"

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def do_PUT(self) -> None:
        self._dispatch()

    def do_PATCH(self) -> None:
        self._dispatch()

    def do_DELETE(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        request = Request(
            self.command,
            url.path,
            parse_qs(url.query),
            {k.lower(): v for k, v in self.headers.items()},
            self.rfile.read(length) if length > 0 else b"",
        )
        try:
            response = cast(_HTTPServer, self.server).router.dispatch(request)
        except Exception:  # why: one broken handler answers 500 instead of dropping the line
            logger.exception("%s %s failed", self.command, url.path)
            response = Response.text("internal error\n", 500)
        self.send_response(response.status)
        self.send_header("Content-Type", response.content_type)
        self.send_header("Content-Length", str(len(response.body)))
        for name, value in response.headers.items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(response.body)

    def log_message(self, format: str, *args: object) -> None:
        logger.debug("%s " + format, self.address_string(), *args)


# --- the server ---


class SimServer:
    """A `Simulation` whose time follows the wall clock, served over HTTP.

    Tick k is due `k * tick / speed` wall seconds after the (floored) start, so at speed 1
    sim time is the wall time rounded down to the tick, as a scraping Prometheus expects.
    The clock runs on past the scenario's duration (a frozen cluster would read as an
    outage). One `start()`, one `stop()`; the cluster is only touched under `lock`.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        speed: float = 1.0,
        shipper: Shipper | None = None,
        start: datetime | None = None,
    ) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        wall, tick_s = time.time(), scenario.tick.total_seconds()
        begin = start or datetime.fromtimestamp(math.floor(wall / tick_s) * tick_s, UTC)
        self.simulation = Simulation(scenario, start=begin)
        self.exposition = Exposition(self.simulation.cluster)
        self.speed = speed
        self.shipper = shipper
        self.lock = threading.RLock()
        self.router = Router()
        self.shipped = 0
        self.ship_failures = 0
        self._origin = time.monotonic()
        self._lead = wall - begin.timestamp() if start is None else 0.0  # into the first tick
        self._stopping = threading.Event()
        self._httpd: _HTTPServer | None = None
        self._threads: list[threading.Thread] = []
        self.router.add(
            "GET", "/metrics", lambda _: Response.text(self.metrics(), 200, CONTENT_TYPE)
        )
        self.router.add("GET", "/healthz", lambda _: Response.text("ok\n"))
        self.router.add("GET", "/-/state", lambda _: Response.json(self.state()))

    # --- life cycle ---

    def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        """Listen on host:port (0: any free port) and start the clock."""
        if self._httpd is not None or self._stopping.is_set():
            raise RuntimeError("a SimServer starts once")
        self._httpd = _HTTPServer((host, port), self.router)
        self._threads = [
            threading.Thread(
                target=self._httpd.serve_forever, kwargs={"poll_interval": 0.1}, name="sim-http"
            ),
            threading.Thread(target=self._run, name="sim-clock"),
        ]
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        """Stop serving and ticking; returns once both threads have ended."""
        self._stopping.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        for thread in self._threads:
            thread.join()
        self._threads = []

    def __enter__(self) -> SimServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def address(self) -> tuple[str, int]:
        if self._httpd is None:
            raise RuntimeError("not started")
        host, port = self._httpd.server_address[:2]
        return str(host), int(port)

    @property
    def url(self) -> str:
        host, port = self.address
        return f"http://{host}:{port}"

    # --- what the routes answer ---

    def metrics(self) -> str:
        with self.lock:
            return self.exposition.render()

    def state(self) -> dict[str, object]:
        """Sim time, active faults and replicas per service, for tests and debugging."""
        with self.lock:
            found = describe(self.simulation)
        found["speed"] = self.speed
        found["logs"] = {"shipped": self.shipped, "failures": self.ship_failures}
        return found

    # --- the clock ---

    def _due(self, tick: int) -> float:
        """When (time.monotonic) tick number `tick` is due."""
        tick_s = self.simulation.cluster.tick_s
        return self._origin + (tick * tick_s - self._lead) / self.speed

    def _run(self) -> None:
        done = 0
        while not self._stopping.wait(max(self._due(done + 1) - time.monotonic(), 0.0)):
            records = self._tick()
            done += 1
            self._ship(records)

    def _tick(self) -> Sequence[LogRecord]:
        with self.lock:
            self.simulation.advance()
            cluster = self.simulation.cluster
            _trim_truth(cluster)
            # why: rendering log lines is the costly part of logs; only do it for a shipper
            return cluster.log_ticks[-1].records if self.shipper is not None else ()

    def _ship(self, records: Sequence[LogRecord]) -> None:
        if self.shipper is None or not records:
            return
        try:
            self.shipped += self.shipper.ship(records)
        except Exception:  # why: a cluster keeps running while its log pipeline is down
            self.ship_failures += 1
            if self.ship_failures == 1 or self.ship_failures % 100 == 0:
                logger.warning(
                    "shipping log lines failed (%d times)", self.ship_failures, exc_info=True
                )


def _trim_truth(cluster: SimCluster) -> None:
    """Forget ground truth older than the scrapes kept: a server runs for days."""
    keep = int(cluster.scrapes.retention_s / cluster.tick_s) + 1
    if len(cluster.truth) > 2 * keep:
        del cluster.truth[:-keep]


def serve_forever(
    host: str,
    port: int,
    scenario: Scenario | str,
    speed: float = 1.0,
    shipper: Shipper | None = None,
    *,
    stop: threading.Event | None = None,
    routes: Callable[[SimServer], object] | None = None,
) -> None:
    """Run `scenario` in real time on host:port until Ctrl-C, SIGTERM or `stop` is set.

    `scenario` is a `Scenario`, a real-time or built-in scenario name, or a file path.
    The shipper is the caller's to close afterwards.
    """
    chosen = scenario if isinstance(scenario, Scenario) else scenario_named(scenario)
    server = SimServer(chosen, speed=speed, shipper=shipper)
    if routes is not None:
        routes(server)  # e.g. the Kubernetes API, registered before the first request
    done = stop or threading.Event()
    restore = _on_sigterm(done.set)
    try:
        server.start(host, port)
        logger.info("serving scenario %s on %s at speed %g", chosen.name, server.url, speed)
        if speed != 1.0:
            logger.warning("speed %g: Prometheus stamps samples with its own clock", speed)
        done.wait()
    except KeyboardInterrupt:  # why: Ctrl-C is how a person ends it
        logger.info("interrupted")
    finally:
        server.stop()
        restore()
        logger.info("stopped %s after %d ticks", chosen.name, server.simulation.cluster.ticks)


def _on_sigterm(action: Callable[[], None]) -> Callable[[], None]:
    """Run `action` on SIGTERM (docker stop); returns what puts the old handler back."""
    if threading.current_thread() is not threading.main_thread():
        return lambda: None  # why: only the main thread may set signal handlers
    previous = signal.signal(signal.SIGTERM, lambda _signum, _frame: action())

    def restore() -> None:
        signal.signal(signal.SIGTERM, previous if previous is not None else signal.SIG_DFL)

    return restore
