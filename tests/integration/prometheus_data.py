"""The history the Prometheus adapter tests backfill: services under every profile.

Everything lies in the past (ending three hours ago) so promtool's blocks sit below the
head block. Steady series make every expected value exact; the `seeded` namespace holds
one noisy service whose latency degrades at `ANOMALY`, for the detector.
"""

from __future__ import annotations

import math
import random
import time
from collections.abc import Callable

from .openmetrics import DEFAULT_BUCKETS, History, Span, lognormal, quantile

END = int(time.time()) // 60 * 60 - 3 * 3600
START = END - 80 * 60
AT = END - 10 * 60  # where the steady datasets are read
ANOMALY = END - 8 * 60  # the seeded service's p99 jumps sixfold here
ISTIO_BUCKETS_MS = (1.0, 5.0, 10.0, 25.0, 50.0, 100.0, 250.0, 500.0, 1000.0, 2500.0, 5000.0)


def p99(median: float) -> float:
    """histogram_quantile(0.99) of a steady lognormal over the default buckets."""
    return quantile(0.99, DEFAULT_BUCKETS, lognormal(median))


def istio_p99(median: float) -> float:
    cdf = lognormal(median * 1000)
    return quantile(0.99, ISTIO_BUCKETS_MS, cdf) / 1000


def steady(median: float) -> Callable[[float, float], float]:
    """A latency distribution that stays the same over time."""
    cdf = lognormal(median)

    def at(le: float, t: float) -> float:
        return cdf(le)

    return at


def otel_http(
    h: History,
    service: str,
    namespace: str,
    *,
    rate: float,
    errors: float,
    median: float,
    pods: int = 2,
    span: Span | None = None,
) -> None:
    """`pods` pods sharing `rate`; `errors` of the requests answer 500."""
    cdf = steady(median)
    for pod in range(pods):
        for code, share in (("200", 1 - errors), ("500", errors)):
            if share or rate == 0:
                labels = {
                    "service": service,
                    "namespace": namespace,
                    "pod": f"{service}-{pod}",
                    "http_response_status_code": code,
                }
                h.histogram(
                    "http_server_request_duration_seconds",
                    labels,
                    rate * share / pods,
                    cdf,
                    span=span,
                )


def prometheus_client(
    h: History, service: str, *, rate: float, errors: float, median: float, code_label: str = "code"
) -> None:
    labels = {"service": service, "namespace": "shop", "pod": f"{service}-0"}
    h.histogram("http_request_duration_seconds", labels, rate, steady(median))
    h.counter("http_requests", {**labels, code_label: "200"}, rate * (1 - errors))
    h.counter("http_requests", {**labels, code_label: "404"}, 0.0)
    if errors:
        h.counter("http_requests", {**labels, code_label: "503"}, rate * errors)


def istio(h: History) -> None:
    """pay/payments behind the mesh: 12 req/s, 1/4 of them 5xx; the source proxy's
    reports of the same requests say something else, and must be ignored."""
    for reporter, rate, median in (("destination", 12.0, 80.0), ("source", 40.0, 400.0)):
        for source, share in (("frontend", 0.75), ("unknown", 0.25)):
            labels = {
                "reporter": reporter,
                "source_workload": source,
                "source_workload_namespace": "shop" if source != "unknown" else "unknown",
                "destination_workload": "payments",
                "destination_workload_namespace": "pay",
                "namespace": "pay",
            }
            for code, part in (("200", 0.75), ("503", 0.25)):
                series = {**labels, "response_code": code}
                h.histogram(
                    "istio_request_duration_milliseconds",
                    series,
                    rate * share * part,
                    steady(median),  # milliseconds
                    buckets=ISTIO_BUCKETS_MS,
                )
                h.counter("istio_requests", series, rate * share * part)


def cadvisor(h: History) -> None:
    """shop/frontend: two pods using 0.3 and 0.5 of a 1-core limit each, a fifth of the
    CFS periods throttled, 2 replicas available."""
    for pod, used in (("frontend-0", 0.3), ("frontend-1", 0.5)):
        base = {"namespace": "shop", "pod": pod}
        h.counter("container_cpu_usage_seconds", {**base, "container": "frontend"}, used)
        h.counter("container_cpu_usage_seconds", {**base, "container": ""}, 5.0)  # cgroup
        h.counter("container_cpu_usage_seconds", {**base, "container": "POD"}, 0.01)  # pause
        h.counter("container_cpu_cfs_throttled_periods", {**base, "container": "frontend"}, 2.0)
        h.counter("container_cpu_cfs_periods", {**base, "container": "frontend"}, 10.0)
        for resource, unit, value in (("cpu", "core", 1.0), ("memory", "byte", 2.0**30)):
            labels = {**base, "container": "frontend", "resource": resource, "unit": unit}
            h.gauge("kube_pod_container_resource_limits", labels, value)
    h.gauge(
        "kube_deployment_status_replicas_available",
        {"namespace": "shop", "deployment": "frontend"},
        2.0,
    )


def pools(h: History) -> None:
    """shop/orders on HikariCP, shop/cart on OpenTelemetry's pool metrics; two pods each."""
    for pod, (active, pending, timeouts) in enumerate(((3, 1, 0.5), (5, 0, 0.0))):
        labels = {
            "service": "orders",
            "namespace": "shop",
            "pod": f"orders-{pod}",
            "pool": "HikariPool-1",
        }
        h.gauge("hikaricp_connections_active", labels, active)
        h.gauge("hikaricp_connections_max", labels, 10.0)
        h.gauge("hikaricp_connections_pending", labels, pending)
        h.counter("hikaricp_connections_timeout", labels, timeouts)
    for pod, (used, idle, pending, timeouts) in enumerate(((2, 8, 2, 0.1), (4, 6, 0, 0.0))):
        labels = {
            "service": "cart",
            "namespace": "shop",
            "pod": f"cart-{pod}",
            "pool_name": "carts",
        }
        h.gauge("db_client_connection_count", {**labels, "state": "used"}, used)
        h.gauge("db_client_connection_count", {**labels, "state": "idle"}, idle)
        h.gauge("db_client_connection_max", labels, 10.0)
        h.gauge("db_client_connection_pending_requests", labels, pending)
        h.counter("db_client_connection_timeouts", labels, timeouts)


def postgres(h: History) -> None:
    """Servers orders (42 of 100 connections) and cart (10 of 50); `lonely` has no limit."""
    for server, states, limit in (
        ("orders", {"active": 12, "idle": 30}, 100.0),
        ("cart", {"active": 5, "idle": 5}, 50.0),
        ("lonely", {"active": 1}, None),
    ):
        for state, count in states.items():
            labels = {"server": server, "datname": server, "state": state, "namespace": "db"}
            h.gauge("pg_stat_activity_count", labels, count)
        if limit is not None:
            h.gauge("pg_settings_max_connections", {"server": server, "namespace": "db"}, limit)


def service_graph(h: History) -> None:
    for client, server in (
        ("frontend", "cart"),
        ("frontend", "catalog"),
        ("frontend", "payments"),
        ("cart", "orders"),
        ("catalog", "ghost"),  # never seen in the signals: lands in the default namespace
    ):
        h.counter("traces_service_graph_request", {"client": client, "server": server}, 1.0)


def custom(h: History) -> None:
    """A worker measured only by an in-house counter, labelled `app`."""
    h.counter("jobs_processed", {"app": "worker", "namespace": "shop"}, 3.0)


def scale(h: History) -> None:
    """3 services in scale-3 and 300 in scale-300, around AT only (keeps the file small)."""
    span = (AT - 2 * 60, AT + 15)
    for namespace, count in (("scale-3", 3), ("scale-300", 300)):
        for i in range(count):
            otel_http(
                h, f"svc-{i:03d}", namespace, rate=2.0, errors=0.01, median=0.05, pods=1, span=span
            )


def seeded(h: History) -> None:
    """seeded/checkout: p99 wanders around its usual value, then degrades at ANOMALY."""
    noise = random.Random(7)
    wobble = {t: math.exp(noise.gauss(0, 0.15)) for t in h.times()}

    def cdf(le: float, t: float) -> float:
        median = 0.05 * wobble[t] * (6.0 if t >= ANOMALY else 1.0)
        return lognormal(median)(le)

    for code, share in (("200", 0.99), ("500", 0.01)):
        labels = {"service": "checkout", "namespace": "seeded", "pod": "checkout-0"}
        labels["http_response_status_code"] = code
        h.histogram("http_server_request_duration_seconds", labels, 20.0 * share, cdf)


def everything() -> History:
    h = History(START, END)
    otel_http(h, "frontend", "shop", rate=20.0, errors=0.05, median=0.04)
    otel_http(h, "cart", "shop", rate=10.0, errors=0.0, median=0.02)
    otel_http(h, "idle", "shop", rate=0.0, errors=0.0, median=0.02)
    # frontend also has client-library metrics; OpenTelemetry's answer must win
    prometheus_client(h, "frontend", rate=999.0, errors=0.5, median=2.0)
    prometheus_client(h, "catalog", rate=8.0, errors=0.025, median=0.1)
    prometheus_client(h, "legacy", rate=4.0, errors=0.25, median=0.3, code_label="status")
    istio(h)
    cadvisor(h)
    pools(h)
    postgres(h)
    service_graph(h)
    custom(h)
    scale(h)
    seeded(h)
    return h
