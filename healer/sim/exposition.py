"""The simulated cluster in Prometheus text exposition format 0.0.4, for a real Prometheus.

Names and labels are those of docs/metrics.md: per pod the OpenTelemetry HTTP server
histogram per status code, cAdvisor CPU counters and memory working set, kube-state-metrics
limits, restarts, last termination reasons and available replicas, the connection pool
(HikariCP or OpenTelemetry, by driver); postgres_exporter per database server; Tempo's
service graph per call edge. Everything is read from the
cluster's latest scrape, so a missed scrape leaves its service out here too.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from healer.sim import telemetry as t
from healer.sim.model import SimCluster
from healer.sim.physics import RETRYABLE
from healer.sim.telemetry import PodSample, Scrape
from healer.sim.topology import ServiceSpec

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
HTTP = "http_server_request_duration_seconds"
# why: the simulator draws one latency histogram per pod, not one per status code; the
# requests of a tick are dealt out to the codes fastest first in this order (a 404 or a
# refused connection answers at once, a timeout is the slowest thing there is)
LATENCY_ORDER = (404, 503, 200, 500, 499, 504)
HIKARI_POOL = "HikariPool-1"
_ZERO = (0.0,) * t.COUNTERS

# name → (type, help), in the order they are written
FAMILIES: dict[str, tuple[str, str]] = {
    HTTP: ("histogram", "Duration of HTTP server requests."),
    "container_cpu_usage_seconds_total": ("counter", "Cumulative cpu time consumed in seconds."),
    "container_cpu_cfs_periods_total": ("counter", "Number of elapsed enforcement periods."),
    "container_cpu_cfs_throttled_periods_total": ("counter", "Number of throttled periods."),
    "container_memory_working_set_bytes": ("gauge", "Current working set in bytes."),
    "kube_pod_container_resource_limits": ("gauge", "The limit of a resource for a container."),
    "kube_pod_container_status_restarts_total": (
        "counter",
        "The number of container restarts per container.",
    ),
    "kube_pod_container_status_last_terminated_reason": (
        "gauge",
        "Describes the last reason the container was in terminated state.",
    ),
    "kube_deployment_status_replicas_available": ("gauge", "Available replicas per deployment."),
    "hikaricp_connections_active": ("gauge", "Active connections"),
    "hikaricp_connections_max": ("gauge", "Max connections"),
    "hikaricp_connections_pending": ("gauge", "Pending threads"),
    "hikaricp_connections_timeout_total": ("counter", "Connection timeout total count"),
    "db_client_connection_count": ("gauge", "Connections in the state given by `state`."),
    "db_client_connection_max": ("gauge", "The maximum number of open connections allowed."),
    "db_client_connection_pending_requests": ("gauge", "Requests waiting for a connection."),
    "db_client_connection_timeouts_total": ("counter", "Timeouts obtaining a connection."),
    "pg_stat_activity_count": ("gauge", "number of connections in this state"),
    "pg_settings_max_connections": ("gauge", "Server Parameter: max_connections"),
    "traces_service_graph_request_total": ("counter", "Total count of requests between nodes"),
    "traces_service_graph_request_failed_total": ("counter", "Failed requests between nodes"),
}

Labels = Mapping[str, str]
Present = Sequence[tuple[ServiceSpec, Sequence[PodSample]]]


@dataclass
class _PodHistograms:
    """One pod's HTTP histogram per status code, cumulative since the pod (re)started."""

    counters: tuple[float, ...] = _ZERO  # the pod's counters when last folded in
    buckets: dict[int, list[int]] = field(default_factory=dict)  # code → le order, +Inf last
    sums: dict[int, float] = field(default_factory=dict)


@dataclass
class _Edge:
    calls: float = 0.0
    failed: float = 0.0


class Exposition:
    """Renders a `SimCluster`'s current state; folds in every scrape taken since last time.

    The per-status-code histograms and the service-graph counters are not kept by the
    simulator, so they are built here from the increases between scrapes, which keeps
    them monotone between restarts and resetting to zero when the pod's counters do.
    """

    def __init__(self, cluster: SimCluster) -> None:
        self._cluster = cluster
        self._last: Scrape | None = None
        self._pods: dict[str, dict[str, _PodHistograms]] = {}  # service → pod → histograms
        self._edges: dict[tuple[str, str], _Edge] = {}  # (client, server) → calls

    def render(self) -> str:
        """The exposition as of the cluster's latest scrape."""
        self._catch_up()
        scrape = self._cluster.scrapes.scrapes[-1]
        specs = {name: dep.spec for name, dep in self._cluster.deployments.items()}
        present = [(specs[name], samples) for name, samples in scrape.services.items()]
        out = _Text()
        self._http(out, present)
        _cpu(out, present)
        _pools(out, present)
        _postgres(out, present, scrape.databases)
        self._service_graph(out, specs)
        return out.text()

    # --- folding scrapes into the counters the simulator does not keep ---

    def _catch_up(self) -> None:
        fresh: list[Scrape] = []
        for scrape in reversed(self._cluster.scrapes.scrapes):
            if scrape is self._last:
                break
            fresh.append(scrape)
        for scrape in reversed(fresh):
            self._fold(scrape)
        if fresh:
            self._last = fresh[0]

    def _fold(self, scrape: Scrape) -> None:
        served: dict[str, list[float]] = {}
        for service, samples in scrape.services.items():
            pods = self._pods.setdefault(service, {})
            increases = [_fold_pod(pods, sample) for sample in samples]
            for gone in set(pods) - {s.pod for s in samples}:
                del pods[gone]
            served[service] = [sum(slot) for slot in zip(*increases, strict=True)]
        for caller, increase in served.items():
            if increase:
                self._fold_calls(caller, increase, served)

    def _fold_calls(
        self, caller: str, increase: Sequence[float], served: Mapping[str, Sequence[float]]
    ) -> None:
        requests = sum(increase[slot] for slot in t.REQ.values())
        for edge in self._cluster.topology.callees(caller):
            retried, failed = _callee_shares(served.get(edge.callee, ()))
            calls = requests * edge.calls * (1.0 + retried)  # why: each retry is a span too
            counted = self._edges.setdefault((caller, edge.callee), _Edge())
            counted.calls += calls
            counted.failed += calls * failed

    # --- families that need the folded state ---

    def _http(self, out: _Text, present: Present) -> None:
        for spec, samples in present:
            pods = self._pods.get(spec.name, {})
            for sample in samples:
                histograms = pods.get(sample.pod)
                if histograms is not None:
                    _add_histograms(out, _pod_labels(spec, sample), histograms)

    def _service_graph(self, out: _Text, specs: Mapping[str, ServiceSpec]) -> None:
        for (client, server), edge in self._edges.items():
            labels = {"namespace": specs[client].namespace, "client": client, "server": server}
            # why: Tempo counts spans, which are whole
            out.add("traces_service_graph_request_total", labels, math.floor(edge.calls))
            out.add("traces_service_graph_request_failed_total", labels, math.floor(edge.failed))


def _fold_pod(pods: dict[str, _PodHistograms], sample: PodSample) -> list[float]:
    """Fold one pod's counters in; returns their increases since it was last seen."""
    now = sample.counters or _ZERO
    seen = pods.get(sample.pod)
    if seen is None or any(n < o for n, o in zip(now, seen.counters, strict=True)):
        seen = pods[sample.pod] = _PodHistograms()  # why: a restart counts from zero again
    increase = [n - o for n, o in zip(now, seen.counters, strict=True)]
    seen.counters = now
    split = _split(increase)
    sums = _split_sum(split, increase[t.HIST_SUM])
    for code, buckets in split.items():
        total = seen.buckets.setdefault(code, [0] * len(t.BUCKETS))
        for i, count in enumerate(buckets):
            total[i] += count
        seen.sums[code] = seen.sums.get(code, 0.0) + sums[code]
    return increase


def _split(increase: Sequence[float]) -> dict[int, list[int]]:
    """The increase of a pod's histogram dealt out to the status codes, fastest first.

    Each code's buckets are cumulative and end at its request count; together they add
    up to the pod's own buckets, scaled to the requests the codes count.
    """
    counts = {code: round(increase[slot]) for code, slot in t.REQ.items()}
    total, served = sum(counts.values()), increase[t.HIST_COUNT]
    if total <= 0 or served <= 0:
        return {}
    # why scaled: a pod's share of each counter is rounded on its own, so its codes may
    # count a request more or less than its histogram; a cap would pile them up at +Inf
    finite = range(t.BUCKET0, t.BUCKET0 + len(t.BUCKETS) - 1)
    bounds = [round(increase[slot] * total / served) for slot in finite] + [total]
    out: dict[int, list[int]] = {}
    below = 0
    for code in LATENCY_ORDER:
        n = counts[code]
        if n > 0:
            out[code] = [min(max(bound - below, 0), n) for bound in bounds]
        below += n
    return out


def _split_sum(split: Mapping[int, Sequence[int]], total: float) -> dict[int, float]:
    """The increase of the latency sum, shared by how slow each code's buckets are."""
    mass = {code: _mass(buckets) for code, buckets in split.items()}
    whole = sum(mass.values())
    if whole <= 0:
        return dict.fromkeys(split, 0.0)
    return {code: total * m / whole for code, m in mass.items()}


def _mass(cumulative: Sequence[int]) -> float:
    """Seconds spent by these requests, taking each bucket at its middle."""
    out, below, lower = 0.0, 0, 0.0
    for le, count in zip(t.BUCKETS, cumulative, strict=True):
        upper = lower if math.isinf(le) else le
        out += (count - below) * (lower + upper) / 2.0
        below, lower = count, upper
    return out


def _callee_shares(increase: Sequence[float]) -> tuple[float, float]:
    """Of a callee's requests in a scrape interval: the retried share and the 5xx share."""
    if not increase:
        return 0.0, 0.0
    total = sum(increase[slot] for slot in t.REQ.values())
    if total <= 0:
        return 0.0, 0.0
    retried = sum(increase[t.REQ[code]] for code in RETRYABLE)
    failed = sum(increase[slot] for code, slot in t.REQ.items() if code >= 500)
    return retried / total, failed / total


def _add_histograms(out: _Text, labels: Labels, histograms: _PodHistograms) -> None:
    for code in t.CODES:
        buckets = histograms.buckets.get(code)
        if not buckets:
            continue  # why: an SDK exports a status code once it has served one
        coded = {**labels, "http_response_status_code": str(code)}
        for le, count in zip(t.BUCKETS, buckets, strict=True):
            out.add(HTTP, {**coded, "le": _bound(le)}, count, "_bucket")
        out.add(HTTP, coded, histograms.sums.get(code, 0.0), "_sum")
        out.add(HTTP, coded, buckets[-1], "_count")


# --- families read straight off the latest scrape ---


def _cpu(out: _Text, present: Present) -> None:
    for spec, samples in present:
        for sample in samples:
            labels = {**_pod_labels(spec, sample), "container": spec.name}
            counters = sample.counters or _ZERO
            out.add("container_cpu_usage_seconds_total", labels, counters[t.CPU_SECONDS])
            out.add("container_cpu_cfs_periods_total", labels, counters[t.CPU_PERIODS])
            out.add("container_cpu_cfs_throttled_periods_total", labels, counters[t.CPU_THROTTLED])
            limit = {**labels, "resource": "cpu", "unit": "core"}
            out.add("kube_pod_container_resource_limits", limit, sample.gauges[t.CPU_LIMIT])
            _memory(out, labels, sample)
        deployment = {"namespace": spec.namespace, "service": spec.name, "deployment": spec.name}
        out.add("kube_deployment_status_replicas_available", deployment, len(samples))


def _memory(out: _Text, labels: Labels, sample: PodSample) -> None:
    gauges = sample.gauges
    out.add("container_memory_working_set_bytes", labels, gauges[t.MEMORY_USED])
    limit = {**labels, "resource": "memory", "unit": "byte"}
    out.add("kube_pod_container_resource_limits", limit, gauges[t.MEMORY_LIMIT])
    out.add("kube_pod_container_status_restarts_total", labels, gauges[t.RESTARTS])
    if gauges[t.OOM_KILLED]:  # why: kube-state-metrics has no series before a first termination
        reason = {**labels, "reason": "OOMKilled"}
        out.add("kube_pod_container_status_last_terminated_reason", reason, 1.0)


def _pools(out: _Text, present: Present) -> None:
    for spec, samples in present:
        if spec.pool is None:
            continue
        for sample in samples:
            labels = _pod_labels(spec, sample)
            if spec.pool.driver == "hikaricp":
                _hikari(out, {**labels, "pool": HIKARI_POOL}, sample)
            else:
                _otel_pool(out, {**labels, "pool_name": spec.pool.database}, sample)


def _hikari(out: _Text, labels: Labels, sample: PodSample) -> None:
    gauges, counters = sample.gauges, sample.counters or _ZERO
    out.add("hikaricp_connections_active", labels, gauges[t.POOL_USED])
    out.add("hikaricp_connections_max", labels, gauges[t.POOL_MAX])
    out.add("hikaricp_connections_pending", labels, gauges[t.POOL_PENDING])
    out.add("hikaricp_connections_timeout_total", labels, counters[t.POOL_TIMEOUTS])


def _otel_pool(out: _Text, labels: Labels, sample: PodSample) -> None:
    gauges, counters = sample.gauges, sample.counters or _ZERO
    used, size = gauges[t.POOL_USED], gauges[t.POOL_MAX]
    out.add("db_client_connection_count", {**labels, "state": "used"}, used)
    out.add("db_client_connection_count", {**labels, "state": "idle"}, max(size - used, 0.0))
    out.add("db_client_connection_max", labels, size)
    out.add("db_client_connection_pending_requests", labels, gauges[t.POOL_PENDING])
    out.add("db_client_connection_timeouts_total", labels, counters[t.POOL_TIMEOUTS])


def _postgres(out: _Text, present: Present, databases: Mapping[str, tuple[float, float]]) -> None:
    busy: dict[str, float] = {}
    for spec, samples in present:
        if spec.pool is not None:
            used = sum(s.gauges[t.POOL_USED] for s in samples)
            busy[spec.pool.database] = busy.get(spec.pool.database, 0.0) + used
    for name, (connections, max_connections) in databases.items():
        # why: the connections the pools have checked out are running queries; the
        # rest (idle pooled ones, replication, monitoring, admins) wait
        active = min(busy.get(name, 0.0), connections)
        states = {"active": active, "idle": connections - active, "idle in transaction": 0.0}
        for state, value in states.items():
            labels = {"server": name, "datname": name, "state": state}
            out.add("pg_stat_activity_count", labels, value)
        out.add("pg_settings_max_connections", {"server": name}, max_connections)


# --- the text format ---


class _Text:
    """Samples grouped by family, written with HELP and TYPE in `FAMILIES` order."""

    def __init__(self) -> None:
        self._samples: dict[str, list[str]] = {name: [] for name in FAMILIES}

    def add(self, family: str, labels: Labels, value: float, suffix: str = "") -> None:
        pairs = ",".join(f'{k}="{_escape_label(v)}"' for k, v in labels.items())
        self._samples[family].append(f"{family}{suffix}{{{pairs}}} {_number(value)}\n")

    def text(self) -> str:
        parts = []
        for name, samples in self._samples.items():
            if samples:
                kind, help_text = FAMILIES[name]
                parts.append(f"# HELP {name} {_escape_help(help_text)}\n# TYPE {name} {kind}\n")
                parts += samples
        return "".join(parts)


def _pod_labels(spec: ServiceSpec, sample: PodSample) -> dict[str, str]:
    return {"namespace": spec.namespace, "service": spec.name, "pod": sample.pod}


def _escape_label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _bound(le: float) -> str:
    return "+Inf" if math.isinf(le) else repr(float(le))


def _number(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    if value == int(value) and abs(value) < 1e15:
        return str(int(value))
    return repr(float(value))
