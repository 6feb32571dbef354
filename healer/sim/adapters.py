"""The healer's ports over a `SimCluster`, in process: metrics, logs and the cluster API.

They answer the way the real adapters do (one query per signal whatever the number of
services, absent data for a missed scrape, `ActionFailed` for a request Kubernetes
would refuse), and a test can make any of them fail for the next few calls.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta

from healer.domain.model import (
    RESTARTS_WINDOW_S,
    DatabaseStats,
    LogBatch,
    LogRecord,
    MetricsSnapshot,
    ServiceRef,
    Signal,
    Topology,
    Workload,
)
from healer.errors import ActionFailed, ClusterUnavailable, SourceUnavailable
from healer.sim import promql
from healer.sim import telemetry as t
from healer.sim.model import SimCluster
from healer.sim.workloads import Deployment

_Query = Callable[[promql.Window], dict[str, float]]


class _Outage:
    """`fail_next(n)`: the next n calls raise, as a source that is down would."""

    def __init__(self) -> None:
        self._failures = 0

    def fail_next(self, n: int = 1) -> None:
        self._failures += n

    def _maybe_fail(self, error: Exception) -> None:
        if self._failures > 0:
            self._failures -= 1
            raise error


class SimMetrics(_Outage):
    """MetricsSource over the simulated scrapes, evaluated as PromQL would be."""

    def __init__(self, cluster: SimCluster, *, window: timedelta = timedelta(minutes=1)) -> None:
        super().__init__()
        self.cluster = cluster
        self.window = window
        self.queries = 0  # one per signal per snapshot, whatever the number of services
        self._names = {d.ref: n for n, d in cluster.deployments.items()}
        self._pooled = {n for n, d in cluster.deployments.items() if d.spec.pool is not None}

    def snapshot(self, at: datetime) -> MetricsSnapshot:
        self._maybe_fail(SourceUnavailable("prometheus: connection refused (simulated outage)"))
        w = promql.window(self.cluster.scrapes, at.timestamp(), self.window.total_seconds())
        signals: dict[Signal, dict[str, float]] = {}
        for signal, query in self._queries():
            self.queries += 1
            signals[signal] = query(w)
        self.queries += 1
        signals[Signal.RESTARTS] = self._restarts(at.timestamp())
        services: dict[ServiceRef, dict[Signal, float]] = {}
        for ref, name in self._names.items():
            values = {s: v[name] for s, v in signals.items() if name in v}
            if values:
                services[ref] = values
        self.queries += 1
        databases = {
            name: DatabaseStats(name, used, limit) for name, (used, limit) in w.databases.items()
        }
        return MetricsSnapshot(at, services, databases)

    def topology(self, at: datetime) -> Topology:
        self._maybe_fail(SourceUnavailable("prometheus: connection refused (simulated outage)"))
        self.queries += 1
        return self.cluster.topology.as_topology()

    def history(self, start: datetime, end: datetime, step: timedelta) -> list[MetricsSnapshot]:
        """Past snapshots from the retained scrapes; counted as one range query per signal."""
        before = self.queries
        found, at = [], start
        while at <= end:
            found.append(self.snapshot(at))
            at += step
        self.queries = before + len(self._queries()) + 2
        return found

    def _queries(self) -> list[tuple[Signal, _Query]]:
        return [
            (Signal.REQUEST_RATE, _request_rate),
            (Signal.ERROR_RATIO, _error_ratio),
            (Signal.LATENCY_P99, _p99),
            (Signal.CPU_UTILISATION, _cpu),
            (Signal.CPU_THROTTLING, _throttling),
            (Signal.POOL_USED, self._pool_gauge(t.POOL_USED)),
            (Signal.POOL_MAX, self._pool_gauge(t.POOL_MAX)),
            (Signal.POOL_PENDING, self._pool_gauge(t.POOL_PENDING)),
            (Signal.POOL_TIMEOUTS, self._pool_timeouts),
            (Signal.REPLICAS, _replicas),
            (Signal.MEMORY_UTILISATION, _memory),
            (Signal.OOM_KILLED, _oom_killed),
        ]

    def _restarts(self, at: float) -> dict[str, float]:
        """`sum by (service) (increase(kube_pod_container_status_restarts_total[15m]))`."""
        return promql.gauge_increase(self.cluster.scrapes, t.RESTARTS, at - RESTARTS_WINDOW_S, at)

    def _pool_gauge(self, slot: int) -> _Query:
        def query(w: promql.Window) -> dict[str, float]:
            return {s: v for s, v in promql.gauge_sum(w, slot).items() if s in self._pooled}

        return query

    def _pool_timeouts(self, w: promql.Window) -> dict[str, float]:
        found = promql.rates(w, (t.POOL_TIMEOUTS,))
        return {s: v[0] for s, v in found.items() if s in self._pooled}


def _request_rate(w: promql.Window) -> dict[str, float]:
    return {s: sum(v) for s, v in promql.rates(w, promql.ALL_CODES).items()}


def _error_ratio(w: promql.Window) -> dict[str, float]:
    out = {}
    for service, values in promql.rates(w, promql.ALL_CODES).items():
        total = sum(values)
        if total > 0:
            errors = sum(values[promql.ALL_CODES.index(slot)] for slot in promql.FIVE_XX)
            out[service] = errors / total
    return out


def _p99(w: promql.Window) -> dict[str, float]:
    out = {}
    for service, counts in promql.rates(w, promql.BUCKET_SLOTS).items():
        value = promql.histogram_quantile(0.99, counts)
        if value is not None:
            out[service] = value
    return out


def _cpu(w: promql.Window) -> dict[str, float]:
    limits = promql.gauge_sum(w, t.CPU_LIMIT)
    used = promql.rates(w, (t.CPU_SECONDS,))
    return {s: v[0] / limits[s] for s, v in used.items() if limits.get(s)}


def _throttling(w: promql.Window) -> dict[str, float]:
    out = {}
    for service, (throttled, periods) in promql.rates(w, (t.CPU_THROTTLED, t.CPU_PERIODS)).items():
        if periods > 0:
            out[service] = throttled / periods
    return out


def _memory(w: promql.Window) -> dict[str, float]:
    """The fullest container's working set over its limit: the one the kernel kills first."""
    out = {}
    for service, pods in w.latest.items():
        shares = [
            p.gauges[t.MEMORY_USED] / p.gauges[t.MEMORY_LIMIT]
            for p in pods
            if p.gauges[t.MEMORY_LIMIT] > 0
        ]
        if shares:
            out[service] = max(shares)
    return out


def _oom_killed(w: promql.Window) -> dict[str, float]:
    return promql.gauge_sum(w, t.OOM_KILLED)


def _replicas(w: promql.Window) -> dict[str, float]:
    return {s: float(len(pods)) for s, pods in w.latest.items()}


class SimLogs(_Outage):
    """LogSource over the simulated log lines (a sample per tick, true totals)."""

    def __init__(self, cluster: SimCluster) -> None:
        super().__init__()
        self.cluster = cluster
        self.queries = 0

    def read(self, since: datetime, until: datetime) -> LogBatch:
        self._maybe_fail(SourceUnavailable("elasticsearch: 503 Service Unavailable (simulated)"))
        self.queries += 1
        records: list[LogRecord] = []
        totals: dict[ServiceRef, int] = {}
        for tick in self.cluster.log_ticks:
            if not since < tick.until <= until:
                continue
            records += [r for r in tick.records if since < r.at <= until]
            for ref, count in tick.totals.items():
                totals[ref] = totals.get(ref, 0) + count
        return LogBatch(since, until, tuple(records), totals)


@dataclass(frozen=True)
class Mutation:
    """A change the cluster accepted (dry runs are not recorded)."""

    at: datetime
    action: str
    service: ServiceRef
    args: dict[str, object]


class SimKube(_Outage):
    """Cluster port: reads workloads and carries out scale, set_env and rollback."""

    def __init__(self, cluster: SimCluster) -> None:
        super().__init__()
        self.cluster = cluster
        self.calls = 0
        self.mutations: list[Mutation] = []

    @contextmanager
    def acting_for(self, incident_id: str, reason: str = "") -> Iterator[None]:
        """The simulated cluster keeps no annotations; changes are listed in `mutations`."""
        yield

    def workload(self, service: ServiceRef) -> Workload:
        return self._deployment(service).workload()

    def scale(self, service: ServiceRef, replicas: int, *, dry_run: bool = False) -> None:
        dep = self._deployment(service)
        dep.check_scale(replicas)
        if not dry_run:
            dep.scale(replicas)
            self._record("scale", service, replicas=replicas)

    def set_env(self, service: ServiceRef, name: str, value: str, *, dry_run: bool = False) -> None:
        dep = self._deployment(service)
        dep.check_env(name, value)
        if not dry_run:
            dep.set_env(name, value, self.cluster.now)
            self._record("set_env", service, name=name, value=value)

    def rollback(
        self, service: ServiceRef, to_revision: int | None = None, *, dry_run: bool = False
    ) -> None:
        dep = self._deployment(service)
        target = dep.rollback_target(to_revision)
        if not dry_run:
            dep.rollback(target.number, self.cluster.now)
            self._record("rollback", service, to_revision=target.number)

    def restart(self, service: ServiceRef, *, at: str, dry_run: bool = False) -> None:
        dep = self._deployment(service)
        if not dry_run and dep.current.restarted_at != at:  # why: one stamp, one restart
            dep.restart(self.cluster.now, at)
            self._record("restart", service, at=at)

    def delete_pod(self, service: ServiceRef, pod: str, *, dry_run: bool = False) -> str:
        dep = self._deployment(service)
        if not any(p.name == pod for p in dep.pods):
            raise ActionFailed(f'pods "{pod}" not found for {service}')
        if not dry_run:
            dep.delete_pod(pod)
            self._record("delete_pod", service, pod=pod)
        return pod

    def _deployment(self, service: ServiceRef) -> Deployment:
        self._maybe_fail(ClusterUnavailable("kubernetes: 503 the server is currently unable"))
        self.calls += 1
        if not self.cluster.has(service):
            raise ActionFailed(
                f'deployments.apps "{service.name}" not found in namespace "{service.namespace}"'
            )
        return self.cluster.deployment(service)

    def _record(self, action: str, service: ServiceRef, **args: object) -> None:
        self.mutations.append(Mutation(self.cluster.now, action, service, dict(args)))
