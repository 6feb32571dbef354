"""PrometheusMetrics against a real Prometheus serving backfilled history.

promtool turns `prometheus_data.everything()` into blocks, a Prometheus from Debian's
package serves them, and the adapter reads snapshots, history and topology at those past
times: every profile's values, the per-service choice between profiles, a query count
that does not grow with the services, and a detector seeded from `history()`.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from healer.adapters.prometheus import PrometheusMetrics
from healer.config import PrometheusSettings
from healer.detect.detector import Detector
from healer.domain.model import DatabaseStats, Edge, MetricsSnapshot, ServiceRef, Signal

from . import prometheus_data as data
from .conftest import PrometheusFactory, PrometheusServer

AT = datetime.fromtimestamp(data.AT, UTC)
QUERIES_PER_SNAPSHOT = 14  # 13 signals under the default profiles, plus the databases


def shop(name: str) -> ServiceRef:
    return ServiceRef("shop", name)


@pytest.fixture(scope="module")
def server(prometheus: PrometheusFactory) -> PrometheusServer:
    data_dir = prometheus.workdir / "adapter-history"
    prometheus.backfill(data.everything().text(), data_dir)
    return prometheus.start(data_dir=data_dir)


@pytest.fixture(scope="module")
def connect(server: PrometheusServer) -> Iterator[Any]:
    made: list[PrometheusMetrics] = []

    def make(**settings: Any) -> PrometheusMetrics:
        defaults: dict[str, Any] = {
            "databases": {"shop/orders": "orders", "shop/cart": "cart"},
        }
        prom = PrometheusSettings(url=server.url, **(defaults | settings))
        made.append(PrometheusMetrics.from_settings(prom, token=None))
        return made[-1]

    yield make
    for metrics in made:
        metrics.close()


@pytest.fixture(scope="module")
def snapshot(connect: Any) -> MetricsSnapshot:
    result: MetricsSnapshot = connect().snapshot(AT)
    return result


def test_the_backfilled_history_is_served(server: PrometheusServer) -> None:
    assert server.query('http_requests_total{service="legacy"}', data.AT)
    assert not server.query('http_requests_total{service="legacy"}', data.START - 600)


def test_otel_http_latency_errors_and_rate(snapshot: MetricsSnapshot) -> None:
    frontend = snapshot.services[shop("frontend")]
    assert frontend[Signal.LATENCY_P99] == pytest.approx(data.p99(0.04), rel=1e-6)
    assert frontend[Signal.ERROR_RATIO] == pytest.approx(0.05, rel=1e-6)
    assert frontend[Signal.REQUEST_RATE] == pytest.approx(20.0, rel=1e-6)
    # the interpolated p99 lies in the bucket that holds the true one (0.04 × e^(2.326×0.5))
    true_p99 = 0.04 * 3.2005
    assert 0.1 < true_p99 <= 0.25 and 0.1 < frontend[Signal.LATENCY_P99] <= 0.25


def test_no_5xx_is_a_zero_ratio_not_missing_data(snapshot: MetricsSnapshot) -> None:
    cart = snapshot.services[shop("cart")]
    assert cart[Signal.ERROR_RATIO] == 0.0
    assert cart[Signal.REQUEST_RATE] == pytest.approx(10.0, rel=1e-6)


def test_a_service_without_traffic_has_no_latency_or_ratio(snapshot: MetricsSnapshot) -> None:
    # histogram_quantile and 0/0 answer NaN there: that is "no data", never healthy
    idle = snapshot.services[shop("idle")]
    assert Signal.LATENCY_P99 not in idle and Signal.ERROR_RATIO not in idle
    assert idle[Signal.REQUEST_RATE] == 0.0


def test_prometheus_client_with_code_or_status_labels(snapshot: MetricsSnapshot) -> None:
    catalog, legacy = snapshot.services[shop("catalog")], snapshot.services[shop("legacy")]
    assert catalog[Signal.LATENCY_P99] == pytest.approx(data.p99(0.1), rel=1e-6)
    assert catalog[Signal.ERROR_RATIO] == pytest.approx(0.025, rel=1e-6)
    assert catalog[Signal.REQUEST_RATE] == pytest.approx(8.0, rel=1e-6)
    assert legacy[Signal.ERROR_RATIO] == pytest.approx(0.25, rel=1e-6)


def test_the_first_listed_profile_wins_per_service(connect: Any) -> None:
    # frontend exports both; its prometheus-client metrics say 999 req/s, half of them 5xx
    otel_first = connect().snapshot(AT).services[shop("frontend")]
    assert otel_first[Signal.REQUEST_RATE] == pytest.approx(20.0, rel=1e-6)
    client_first = connect(profiles=["prometheus-client", "otel-http"]).snapshot(AT)
    assert client_first.services[shop("frontend")][Signal.ERROR_RATIO] == pytest.approx(0.5)
    assert client_first.services[shop("cart")][Signal.REQUEST_RATE] == pytest.approx(10.0)


def test_istio_reads_the_destination_proxy_in_seconds(snapshot: MetricsSnapshot) -> None:
    payments = snapshot.services[ServiceRef("pay", "payments")]
    assert payments[Signal.LATENCY_P99] == pytest.approx(data.istio_p99(0.08), rel=1e-6)
    assert payments[Signal.ERROR_RATIO] == pytest.approx(0.25, rel=1e-6)
    assert payments[Signal.REQUEST_RATE] == pytest.approx(12.0, rel=1e-6)


def test_cpu_throttling_and_replicas(snapshot: MetricsSnapshot) -> None:
    frontend = snapshot.services[shop("frontend")]
    assert frontend[Signal.CPU_UTILISATION] == pytest.approx(0.4, rel=1e-6)
    assert frontend[Signal.CPU_THROTTLING] == pytest.approx(0.2, rel=1e-6)
    assert frontend[Signal.REPLICAS] == 2.0
    assert ServiceRef("shop", "POD") not in snapshot.services


def test_connection_pools_summed_over_pods(snapshot: MetricsSnapshot) -> None:
    orders, cart = snapshot.services[shop("orders")], snapshot.services[shop("cart")]
    assert {s: orders[s] for s in (Signal.POOL_USED, Signal.POOL_MAX, Signal.POOL_PENDING)} == {
        Signal.POOL_USED: 8.0,
        Signal.POOL_MAX: 20.0,
        Signal.POOL_PENDING: 1.0,
    }
    assert orders[Signal.POOL_TIMEOUTS] == pytest.approx(0.5, rel=1e-6)
    assert (cart[Signal.POOL_USED], cart[Signal.POOL_MAX], cart[Signal.POOL_PENDING]) == (
        6.0,
        20.0,
        2.0,
    )
    assert cart[Signal.POOL_TIMEOUTS] == pytest.approx(0.1, rel=1e-6)


def test_database_servers(snapshot: MetricsSnapshot) -> None:
    assert snapshot.databases == {
        "orders": DatabaseStats("orders", 42.0, 100.0),
        "cart": DatabaseStats("cart", 10.0, 50.0),
    }  # `lonely` exports no limit, so it cannot be judged and is absent


def test_topology_from_the_service_graph(connect: Any) -> None:
    metrics = connect()
    metrics.snapshot(AT)
    topology = metrics.topology(AT)
    assert topology.edges == {
        Edge(shop("frontend"), shop("cart")),
        Edge(shop("frontend"), shop("catalog")),
        Edge(shop("frontend"), ServiceRef("pay", "payments")),
        Edge(shop("cart"), shop("orders")),
        Edge(shop("catalog"), ServiceRef("default", "ghost")),
    }
    assert topology.databases == {shop("orders"): "orders", shop("cart"): "cart"}
    assert {shop("idle"), shop("legacy"), ServiceRef("default", "ghost")} <= topology.services


def test_topology_from_istio(connect: Any) -> None:
    topology = connect(topology="istio").topology(AT)
    # requests from outside the mesh (source "unknown") are no edge
    assert topology.edges == {Edge(shop("frontend"), ServiceRef("pay", "payments"))}


def test_a_custom_profile(connect: Any) -> None:
    jobs = {
        "service_label": "app",
        "signals": {
            "request_rate": "sum by ($by) (rate(jobs_processed_total{$selector}[$window]))"
        },
    }
    metrics = connect(profiles=["otel-http", "jobs"], custom_profiles={"jobs": jobs})
    found = metrics.snapshot(AT)
    assert found.services[shop("worker")] == {Signal.REQUEST_RATE: pytest.approx(3.0)}
    assert found.services[shop("frontend")][Signal.REQUEST_RATE] == pytest.approx(20.0)


def test_queries_per_snapshot_do_not_grow_with_services(connect: Any) -> None:
    counts = {}
    for namespace, services in (("scale-3", 3), ("scale-300", 300)):
        metrics = connect(selector=f'namespace="{namespace}"')
        before = metrics.queries
        found = metrics.snapshot(AT)
        counts[services] = metrics.queries - before
        assert len(found.services) == services
        assert all(s.namespace == namespace for s in found.services)
        one = found.services[ServiceRef(namespace, "svc-000")]
        assert one[Signal.REQUEST_RATE] == pytest.approx(2.0, rel=1e-6)
    assert counts == {3: QUERIES_PER_SNAPSHOT, 300: QUERIES_PER_SNAPSHOT}


def test_history_is_one_range_query_per_signal(connect: Any) -> None:
    metrics = connect()
    before = metrics.queries
    found = metrics.history(AT - timedelta(minutes=5), AT, timedelta(minutes=1))
    assert metrics.queries - before == QUERIES_PER_SNAPSHOT
    assert [s.at for s in found] == [AT - timedelta(minutes=m) for m in range(5, -1, -1)]
    for past in found:
        frontend = past.services[shop("frontend")]
        assert frontend[Signal.LATENCY_P99] == pytest.approx(data.p99(0.04), rel=1e-6)
        assert frontend[Signal.CPU_UTILISATION] == pytest.approx(0.4, rel=1e-6)
        assert past.services[shop("orders")][Signal.POOL_USED] == 8.0
        assert past.databases["orders"] == DatabaseStats("orders", 42.0, 100.0)
    assert found[-1].services == metrics.snapshot(AT).services


def _polls(start: float, count: int) -> list[datetime]:
    return [datetime.fromtimestamp(start + 15 * i, UTC) for i in range(count)]


def test_a_detector_seeded_from_history_fires_without_warm_up(connect: Any) -> None:
    metrics = connect(selector='namespace="seeded"')
    checkout = ServiceRef("seeded", "checkout")
    anomaly = datetime.fromtimestamp(data.ANOMALY, UTC)
    history = metrics.history(
        anomaly - timedelta(hours=1), anomaly - timedelta(seconds=15), timedelta(seconds=15)
    )
    assert len(history) == 240 and all(checkout in s.services for s in history)

    seeded, cold = Detector(), Detector()
    assert seeded.seed(history) == 3  # p99, 5xx ratio and request rate of seeded/checkout
    fired: list[datetime] = []
    for at in _polls(data.ANOMALY - 60, 4 + 12):  # 4 normal polls, then 3 minutes degraded
        now = metrics.snapshot(at)
        found = seeded.observe(now, None).for_service(checkout)
        assert not cold.observe(now, None).anomalies  # still warming up: says nothing
        if found:
            fired.append(at)
            anomaly_seen = found[0]
    assert fired and fired[0] > anomaly
    # the baseline it compared against is the one learned from the backfilled history
    assert anomaly_seen.baseline == pytest.approx(data.p99(0.05), rel=0.2)
    assert anomaly_seen.value > 4 * anomaly_seen.baseline
