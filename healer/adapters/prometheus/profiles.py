"""Signal profiles: how one exporter's metric names become the healer's signals.

A profile is data, a PromQL template per signal plus the result labels that name the
service and namespace. Templates take three placeholders: `$selector` (the configured
extra label matchers, to put inside a `{...}`), `$window` (the rate range) and `$by`
(the grouping labels, service and namespace). Built-in profiles cover the common
exporters; `healer.adapters.prometheus.custom` reads the same shape from the settings.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from healer.domain.model import RESTARTS_WINDOW_S, Signal

PLACEHOLDERS = frozenset({"selector", "window", "by"})


@dataclass(frozen=True)
class SeriesQuery:
    """One PromQL template grouped `by ($by)`, and which result labels name what.

    A label left as None is the configured `service_label` / `namespace_label`: the
    application's own metrics carry whatever the scrape relabelling gave them.
    """

    template: str
    service_label: str | None = None
    namespace_label: str | None = None


@dataclass(frozen=True)
class DatabaseQueries:
    """Server-side connection counts; `label` names the database on both results."""

    connections: str
    max_connections: str
    label: str = "server"


@dataclass(frozen=True)
class Profile:
    name: str
    signals: Mapping[Signal, SeriesQuery] = field(default_factory=dict)
    databases: DatabaseQueries | None = None


@dataclass(frozen=True)
class EdgeQuery:
    """Caller→callee pairs, one result series per pair, grouped `by ($by)`."""

    template: str
    caller: str
    callee: str
    caller_namespace: str | None = None
    callee_namespace: str | None = None
    ignore: frozenset[str] = frozenset()  # names standing for "outside the mesh"

    @property
    def labels(self) -> tuple[str, ...]:
        found = (self.caller, self.caller_namespace, self.callee, self.callee_namespace)
        return tuple(label for label in found if label)


def _latency(metric: str, matchers: str = "", scale: str = "") -> str:
    inner = f"rate({metric}_bucket{{{matchers}$selector}}[$window])"
    return f"histogram_quantile(0.99, sum by (le, $by) ({inner})){scale}"


def _rate(metric: str, matchers: str = "") -> str:
    return f"sum by ($by) (rate({metric}{{{matchers}$selector}}[$window]))"


def _error_ratio(metric: str, *codes: str, matchers: str = "") -> str:
    # why the `or ... * 0`: a service that served no 5xx at all has no 5xx series, and
    # "no errors" must read as 0, not as no data.
    total = _rate(metric, matchers)
    errors = [_rate(metric, f'{matchers}{label}=~"5..",') for label in codes]
    return f"({' or '.join(errors)} or {total} * 0) / {total}"


def _gauge(metric: str, matchers: str = "") -> str:
    return f"sum by ($by) ({metric}{{{matchers}$selector}})"


def _ratio(numerator: str, denominator: str) -> str:
    return f"{numerator} / {denominator}"


def _memory_share() -> str:
    # why max, not sum: the kernel kills the one container that reaches its own limit,
    # so the fullest container is what matters; both sides are reduced to one series
    # per container first, since cAdvisor briefly keeps a restarted container's old one.
    per = "max by (namespace, pod, container)"
    used = f"{per} (container_memory_working_set_bytes{{{_CONTAINER}$selector}})"
    limit = f'{per} (kube_pod_container_resource_limits{{resource="memory",$selector}})'
    return f"max by ($by) ({used} / on (namespace, pod, container) {limit})"


# Istio reports each request twice (source and destination proxy); the destination's
# report is the server's view. `!="source"` also keeps series exported without the label.
_ISTIO = 'reporter!="source",'
# cAdvisor also exports the pod's cgroup (container="") and the pause container ("POD").
_CONTAINER = 'container!="",container!="POD",'

BUILTIN: Mapping[str, Profile] = {
    p.name: p
    for p in (
        Profile(
            "otel-http",
            {
                Signal.LATENCY_P99: SeriesQuery(_latency("http_server_request_duration_seconds")),
                Signal.ERROR_RATIO: SeriesQuery(
                    _error_ratio(
                        "http_server_request_duration_seconds_count", "http_response_status_code"
                    )
                ),
                Signal.REQUEST_RATE: SeriesQuery(
                    _rate("http_server_request_duration_seconds_count")
                ),
            },
        ),
        Profile(
            "prometheus-client",
            {
                Signal.LATENCY_P99: SeriesQuery(_latency("http_request_duration_seconds")),
                Signal.ERROR_RATIO: SeriesQuery(
                    _error_ratio("http_requests_total", "code", "status")
                ),
                Signal.REQUEST_RATE: SeriesQuery(_rate("http_requests_total")),
            },
        ),
        Profile(
            "istio",
            {
                signal: SeriesQuery(
                    template, "destination_workload", "destination_workload_namespace"
                )
                for signal, template in (
                    (
                        Signal.LATENCY_P99,
                        _latency("istio_request_duration_milliseconds", _ISTIO, " / 1000"),
                    ),
                    (
                        Signal.ERROR_RATIO,
                        _error_ratio("istio_requests_total", "response_code", matchers=_ISTIO),
                    ),
                    (Signal.REQUEST_RATE, _rate("istio_requests_total", _ISTIO)),
                )
            },
        ),
        Profile(
            "cadvisor",
            {
                Signal.CPU_UTILISATION: SeriesQuery(
                    _ratio(
                        _rate("container_cpu_usage_seconds_total", _CONTAINER),
                        _gauge("kube_pod_container_resource_limits", 'resource="cpu",'),
                    ),
                    "container",
                    "namespace",
                ),
                Signal.CPU_THROTTLING: SeriesQuery(
                    _ratio(
                        _rate("container_cpu_cfs_throttled_periods_total", _CONTAINER),
                        _rate("container_cpu_cfs_periods_total", _CONTAINER),
                    ),
                    "container",
                    "namespace",
                ),
                Signal.REPLICAS: SeriesQuery(
                    _gauge("kube_deployment_status_replicas_available"), "deployment", "namespace"
                ),
                Signal.MEMORY_UTILISATION: SeriesQuery(_memory_share(), "container", "namespace"),
                Signal.RESTARTS: SeriesQuery(
                    f"sum by ($by) (increase(kube_pod_container_status_restarts_total"
                    f"{{$selector}}[{RESTARTS_WINDOW_S}s]))",
                    "container",
                    "namespace",
                ),
                Signal.OOM_KILLED: SeriesQuery(
                    _gauge(
                        "kube_pod_container_status_last_terminated_reason", 'reason="OOMKilled",'
                    ),
                    "container",
                    "namespace",
                ),
            },
        ),
        Profile(
            "otel-db-pool",
            {
                Signal.POOL_USED: SeriesQuery(
                    _gauge("db_client_connection_count", 'state="used",')
                ),
                Signal.POOL_MAX: SeriesQuery(_gauge("db_client_connection_max")),
                Signal.POOL_PENDING: SeriesQuery(_gauge("db_client_connection_pending_requests")),
                Signal.POOL_TIMEOUTS: SeriesQuery(_rate("db_client_connection_timeouts_total")),
            },
        ),
        Profile(
            "hikaricp",
            {
                Signal.POOL_USED: SeriesQuery(_gauge("hikaricp_connections_active")),
                Signal.POOL_MAX: SeriesQuery(_gauge("hikaricp_connections_max")),
                Signal.POOL_PENDING: SeriesQuery(_gauge("hikaricp_connections_pending")),
                Signal.POOL_TIMEOUTS: SeriesQuery(_rate("hikaricp_connections_timeout_total")),
            },
        ),
        Profile(
            "postgres-exporter",
            databases=DatabaseQueries(
                # every backend in any state holds one of the server's connections
                connections="sum by ($by) (pg_stat_activity_count{$selector})",
                max_connections="max by ($by) (pg_settings_max_connections{$selector})",
            ),
        ),
    )
}

TOPOLOGIES: Mapping[str, EdgeQuery] = {
    # A pair's counter series exists once it has carried a request, so any series in the
    # lookback window is an edge; `group` keeps one result per pair.
    "service-graph": EdgeQuery(
        "group by ($by) (traces_service_graph_request_total{$selector})", "client", "server"
    ),
    "istio": EdgeQuery(
        'group by ($by) (istio_requests_total{reporter!="source",$selector})',
        "source_workload",
        "destination_workload",
        "source_workload_namespace",
        "destination_workload_namespace",
        ignore=frozenset({"unknown"}),
    ),
}
