"""PrometheusMetrics against a server that answers like Prometheus's HTTP API, or badly.

The fake speaks the API's wire format (`{"status": ..., "data": {"resultType", "result"}}`,
error bodies with `errorType`, `warnings`), so the real prometheus-api-client and requests
code runs; each failure must come out as SourceUnavailable or SourceGarbage naming the
query, and NaN, ±Inf or missing series must read as absent, never as healthy.
"""

from __future__ import annotations

import json
import logging
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from healer.adapters.prometheus import PrometheusMetrics
from healer.config import PrometheusSettings
from healer.domain.model import ServiceRef, Signal
from healer.errors import SourceError, SourceGarbage, SourceUnavailable

AT = datetime(2030, 5, 1, 12, 0, tzinfo=UTC)
TOKEN = "s3cret-token"
HANG = object()  # an answer that never comes

# One tiny profile, so the fake can tell the queries apart by their metric names.
PROFILE = {
    "signals": {
        "latency_p99": "latency{$selector}",
        "error_ratio": "errors{$selector}",
        "request_rate": "requests{$selector}",
    },
    "databases": {"connections": "conns{$selector}", "max_connections": "max_conns{$selector}"},
}


@dataclass
class Request:
    path: str
    params: dict[str, str]
    headers: dict[str, str]


Reply = tuple[int, str | bytes | dict[str, Any]] | object


@dataclass
class FakePrometheus:
    """Answers /api/v1/query and /api/v1/query_range with `answer(request)`."""

    server: ThreadingHTTPServer
    answer: Callable[[Request], Reply]
    requests: list[Request] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"


def success(result: list[Any], kind: str = "vector", **extra: Any) -> Reply:
    return 200, {"status": "success", "data": {"resultType": kind, "result": result}, **extra}


def series(service: str, value: str, **labels: str) -> dict[str, Any]:
    """One result series as Prometheus returns it for our tagged queries."""
    metric = {"healer_profile": "fake", "service": service, "namespace": "shop", **labels}
    return {"metric": metric, "value": [AT.timestamp(), value]}


def by_metric(**answers: Reply) -> Callable[[Request], Reply]:
    """Answer each query by the first metric name of PROFILE it mentions; else empty."""

    def answer(request: Request) -> Reply:
        query = request.params.get("query", "")
        for metric, reply in answers.items():
            if f"({metric}{{" in query:
                return reply
        return success([])

    return answer


def _handler(fake_ref: list[FakePrometheus]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            fake = fake_ref[0]
            url = urlsplit(self.path)
            params = {k: v[0] for k, v in parse_qs(url.query).items()}
            request = Request(url.path, params, dict(self.headers))
            fake.requests.append(request)
            reply = fake.answer(request)
            if reply is HANG:
                fake.release.wait(10)
                return
            assert isinstance(reply, tuple)
            status, body = reply
            if isinstance(body, dict):
                body = json.dumps(body)
            raw = body.encode() if isinstance(body, str) else body
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, format: str, *args: Any) -> None:
            pass  # why: keep the test output to the assertions

    return Handler


@pytest.fixture
def fake() -> Iterator[FakePrometheus]:
    holder: list[FakePrometheus] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(holder))
    server.daemon_threads = True
    holder.append(FakePrometheus(server, by_metric()))
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield holder[0]
    holder[0].release.set()
    server.shutdown()
    server.server_close()


def adapter(url: str, token: str | None = TOKEN, **settings: Any) -> PrometheusMetrics:
    prom = PrometheusSettings(
        url=url,
        profiles=["fake"],
        custom_profiles={"fake": PROFILE},
        topology="config",
        timeout=0.5,
        **settings,
    )
    return PrometheusMetrics.from_settings(prom, token=token)


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # nothing listens there once the probe is closed


# --- the source cannot answer: SourceUnavailable ---


def test_prometheus_down() -> None:
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match="query 'latency_p99': request failed") as err:
        adapter(f"http://127.0.0.1:{closed_port()}").snapshot(AT)
    assert "refused" in str(err.value).lower()
    assert time.monotonic() - started < 2  # why: no backoff stretching the poll


def test_5xx_with_the_api_error_body(fake: FakePrometheus) -> None:
    body = {"status": "error", "errorType": "unavailable", "error": "too many queries"}
    fake.answer = by_metric(errors=(503, body))
    with pytest.raises(SourceUnavailable) as err:
        adapter(fake.url).snapshot(AT)
    assert "query 'error_ratio' failed: HTTP 503: unavailable: too many queries" in str(err.value)
    assert len(fake.requests) == 2  # no retry storm: latency, then one try at errors


def test_5xx_from_a_proxy_in_front(fake: FakePrometheus) -> None:
    fake.answer = lambda request: (502, "<html><body>Bad Gateway</body></html>")
    with pytest.raises(SourceUnavailable, match=r"HTTP 502: <html><body>Bad Gateway"):
        adapter(fake.url).snapshot(AT)


def test_a_query_prometheus_refuses(fake: FakePrometheus) -> None:
    body = {"status": "error", "errorType": "bad_data", "error": "parse error at char 3"}
    fake.answer = lambda request: (400, body)
    with pytest.raises(SourceUnavailable, match="HTTP 400: bad_data: parse error"):
        adapter(fake.url).snapshot(AT)


def test_a_hanging_answer_times_out(fake: FakePrometheus) -> None:
    fake.answer = lambda request: HANG
    started = time.monotonic()
    with pytest.raises(SourceUnavailable, match=r"'latency_p99': no answer within 0.5 s"):
        adapter(fake.url).snapshot(AT)
    assert time.monotonic() - started < 3


# --- the source answers garbage: SourceGarbage ---


@pytest.mark.parametrize(
    ("reply", "says"),
    [
        ((200, '{"status": "success", "data": {"resultType": "vec'), "malformed JSON"),
        ((200, "null"), "without data.result"),
        ((200, {"status": "success"}), "without data.result"),
        (success([AT.timestamp(), "1"], "scalar"), "not a list of series"),
        (
            success([{"metric": {}, "values": [[AT.timestamp(), "1"]]}], "matrix"),
            "a range matrix where an instant vector",
        ),
        (success([series("a", "lots")]), "not a number"),
        (success([{"metric": {"service": 1}, "value": [1, "1"]}]), "without a label set"),
        (success([{"metric": {}, "value": "1"}]), "not [time, value]"),
    ],
)
def test_garbage(fake: FakePrometheus, reply: Reply, says: str) -> None:
    fake.answer = by_metric(requests=reply)
    with pytest.raises(SourceGarbage, match=f"query 'request_rate' answered .*{re.escape(says)}"):
        adapter(fake.url).snapshot(AT)


def test_garbage_is_also_a_source_error_the_pipeline_holds_on(fake: FakePrometheus) -> None:
    fake.answer = lambda request: (200, "{{{")
    with pytest.raises(SourceError):
        adapter(fake.url).snapshot(AT)


# --- what comes back is used only where it is real ---


def test_nan_and_inf_are_absent_never_numbers(fake: FakePrometheus) -> None:
    fake.answer = by_metric(
        latency=success([series("a", "NaN"), series("b", "+Inf"), series("c", "0.25")]),
        errors=success([series("a", "-Inf"), series("b", "0.1")]),
    )
    found = adapter(fake.url).snapshot(AT)
    assert found.services == {
        ServiceRef("shop", "b"): {Signal.ERROR_RATIO: 0.1},
        ServiceRef("shop", "c"): {Signal.LATENCY_P99: 0.25},
    }  # a has nothing real: it is absent, not healthy


def test_missing_series_are_absent(fake: FakePrometheus) -> None:
    fake.answer = by_metric(requests=success([series("a", "3"), series("", "9")]))
    found = adapter(fake.url).snapshot(AT)
    # a series without a service label cannot be attributed, so it is dropped too
    assert found.services == {ServiceRef("shop", "a"): {Signal.REQUEST_RATE: 3.0}}
    assert found.value(ServiceRef("shop", "a"), Signal.LATENCY_P99) is None
    assert found.databases == {}


def test_series_without_a_namespace_get_the_default(fake: FakePrometheus) -> None:
    lone = {"metric": {"healer_profile": "fake", "service": "a"}, "value": [1, "2"]}
    fake.answer = by_metric(requests=success([lone]))
    found = adapter(fake.url, default_namespace="apps").snapshot(AT)
    assert found.services == {ServiceRef("apps", "a"): {Signal.REQUEST_RATE: 2.0}}


def test_a_partial_answer_is_used_and_logged(
    fake: FakePrometheus, caplog: pytest.LogCaptureFixture
) -> None:
    warning = "store 10.0.0.3:10901 unavailable, partial response"
    fake.answer = by_metric(requests=success([series("a", "5")], warnings=[warning]))
    with caplog.at_level(logging.WARNING, logger="healer.adapters.prometheus"):
        found = adapter(fake.url).snapshot(AT)
    assert found.services == {ServiceRef("shop", "a"): {Signal.REQUEST_RATE: 5.0}}
    assert any(
        "'request_rate'" in r.getMessage() and warning in r.getMessage() for r in caplog.records
    )


def test_databases_need_both_numbers(fake: FakePrometheus) -> None:
    def db(name: str, stat: str, value: str) -> dict[str, Any]:
        metric = {"healer_profile": "fake", "healer_stat": stat, "server": name}
        return {"metric": metric, "value": [1, value]}

    reply = success(
        [
            db("orders", "connections", "42"),
            db("orders", "max_connections", "100"),
            db("cart", "connections", "7"),
            db("stale", "max_connections", "NaN"),
        ]
    )
    fake.answer = lambda request: reply if "conns{" in request.params["query"] else success([])
    found = adapter(fake.url).snapshot(AT)
    assert list(found.databases) == ["orders"]
    assert found.databases["orders"].connections == 42.0


# --- what goes over the wire ---


def test_sends_the_token_time_and_a_server_side_timeout(fake: FakePrometheus) -> None:
    adapter(fake.url).snapshot(AT)
    first = fake.requests[0]
    assert first.path == "/api/v1/query"
    assert first.headers["Authorization"] == f"Bearer {TOKEN}"
    assert float(first.params["time"]) == AT.timestamp()
    assert first.params["timeout"] == "450ms"
    assert first.params["query"] == 'label_replace(latency{}, "healer_profile", "fake", "", "")'


def test_no_token_no_authorization_header(fake: FakePrometheus) -> None:
    adapter(fake.url, token=None).snapshot(AT)
    assert "Authorization" not in fake.requests[0].headers


def test_errors_never_show_the_token_or_url_credentials(fake: FakePrometheus) -> None:
    fake.answer = lambda request: (503, {"status": "error", "errorType": "x", "error": "y"})
    url = fake.url.replace("http://", "http://user:hunter2@")
    with pytest.raises(SourceUnavailable) as err:
        adapter(url).snapshot(AT)
    with pytest.raises(SourceUnavailable) as down:
        adapter(f"http://user:hunter2@127.0.0.1:{closed_port()}").snapshot(AT)
    for message in (str(err.value), str(down.value)):
        assert TOKEN not in message and "hunter2" not in message


def test_selector_and_window_reach_the_query(fake: FakePrometheus) -> None:
    prom = PrometheusSettings(url=fake.url, selector='cluster="prod"', topology="config")
    metrics = PrometheusMetrics.from_settings(prom, token=None, window=timedelta(seconds=90))
    metrics.snapshot(AT)
    queries = [r.params["query"] for r in fake.requests]
    assert len(queries) == metrics.queries == 14
    assert all('cluster="prod",' in q for q in queries)
    assert all("[90s]" in q for q in queries if "rate(" in q)


# --- history: range queries zipped into snapshots ---


def matrix(service: str, points: list[tuple[datetime, str]]) -> dict[str, Any]:
    metric = {"healer_profile": "fake", "service": service, "namespace": "shop"}
    return {"metric": metric, "values": [[at.timestamp(), v] for at, v in points]}


def test_history_zips_range_queries_into_snapshots(fake: FakePrometheus) -> None:
    t0, step = AT, timedelta(seconds=15)
    ts = [t0 + i * step for i in range(3)]
    fake.answer = by_metric(
        latency=success([matrix("a", [(ts[0], "0.1"), (ts[1], "NaN"), (ts[2], "0.3")])], "matrix"),
        requests=success([matrix("a", [(ts[1], "4")]), matrix("b", [(ts[2], "1")])], "matrix"),
    )
    metrics = adapter(fake.url)
    found = metrics.history(t0, ts[-1], step)
    assert [s.at for s in found] == ts
    a, b = ServiceRef("shop", "a"), ServiceRef("shop", "b")
    assert [s.services for s in found] == [
        {a: {Signal.LATENCY_P99: 0.1}},
        {a: {Signal.REQUEST_RATE: 4.0}},
        {a: {Signal.LATENCY_P99: 0.3}, b: {Signal.REQUEST_RATE: 1.0}},
    ]
    assert metrics.queries == 4  # three signals and the databases
    assert {r.path for r in fake.requests} == {"/api/v1/query_range"}
    assert fake.requests[0].params["step"] == "15"


def test_history_refuses_an_instant_vector(fake: FakePrometheus) -> None:
    fake.answer = lambda request: success([series("a", "1")])
    with pytest.raises(SourceGarbage, match="an instant vector where a range matrix"):
        adapter(fake.url).history(AT, AT + timedelta(minutes=1), timedelta(seconds=15))


def test_history_timeout(fake: FakePrometheus) -> None:
    fake.answer = lambda request: HANG
    with pytest.raises(SourceUnavailable, match="no answer within"):
        adapter(fake.url).history(AT, AT + timedelta(minutes=1), timedelta(seconds=15))


# --- topology ---


def test_topology_query_failures_are_unavailable(fake: FakePrometheus) -> None:
    fake.answer = lambda request: (503, {"status": "error", "errorType": "timeout", "error": "x"})
    metrics = PrometheusMetrics.from_settings(
        PrometheusSettings(url=fake.url, topology="service-graph", timeout=0.5), token=None
    )
    with pytest.raises(SourceUnavailable, match="query 'topology' failed: HTTP 503"):
        metrics.topology(AT)


def test_declared_topology_sends_no_query(fake: FakePrometheus) -> None:
    metrics = adapter(
        fake.url, edges=["frontend->cart", "shop/cart -> db/orders"], databases={"cart": "carts"}
    )
    topology = metrics.topology(AT)
    assert not fake.requests
    assert {(e.caller.name, e.callee.name, e.callee.namespace) for e in topology.edges} == {
        ("frontend", "cart", "default"),
        ("cart", "orders", "db"),
    }
    assert topology.databases == {ServiceRef("default", "cart"): "carts"}
