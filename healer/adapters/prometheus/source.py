"""`PrometheusMetrics`: the MetricsSource port over a Prometheus HTTP API.

Each snapshot sends one instant query per signal (plus one for the database servers),
each grouped by service and namespace, so the query count never grows with the
services; `history` sends the same queries as range queries and zips them into
snapshots. Topology comes from service-graph or Istio metrics, or from the settings.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from healer.adapters.prometheus.client import PrometheusClient, Sample, Series
from healer.adapters.prometheus.custom import custom_profile
from healer.adapters.prometheus.profiles import (
    BUILTIN,
    TOPOLOGIES,
    EdgeQuery,
    Profile,
)
from healer.adapters.prometheus.queries import (
    PROFILE_LABEL,
    STAT_LABEL,
    DatabaseQuery,
    Scope,
    SignalQuery,
    database_query,
    edge_query,
    signal_queries,
)
from healer.config import PrometheusSettings
from healer.domain.model import DatabaseStats, Edge, MetricsSnapshot, ServiceRef, Signal, Topology
from healer.errors import ConfigError

log = logging.getLogger(__name__)

Labelled = Sequence[tuple[Mapping[str, str], float]]


@dataclass(frozen=True)
class TopologySource:
    """Where edges come from: a query over trace or mesh metrics, or a declared list."""

    query: EdgeQuery | None = None
    declared: frozenset[Edge] = frozenset()
    databases: Mapping[ServiceRef, str] | None = None


class PrometheusMetrics:
    """MetricsSource over Prometheus; `queries` counts the HTTP queries sent."""

    def __init__(
        self,
        client: PrometheusClient,
        profiles: Sequence[Profile],
        *,
        scope: Scope,
        topology: TopologySource,
        default_namespace: str = "default",
    ) -> None:
        self.client = client
        self.scope = scope
        self.default_namespace = default_namespace
        self._signals = signal_queries(profiles, scope)
        self._databases = database_query(profiles, scope)
        self._topology = topology
        self._seen: frozenset[ServiceRef] = frozenset()

    @classmethod
    def from_settings(
        cls,
        settings: PrometheusSettings,
        *,
        token: str | None,
        window: timedelta = timedelta(minutes=1),
    ) -> PrometheusMetrics:
        """The adapter the settings describe. The composition root reads the token from
        the environment variable `settings.token_env` names, and passes it here."""
        client = PrometheusClient(
            settings.url, token=token, timeout=settings.timeout, verify_tls=settings.verify_tls
        )
        scope = Scope(settings.selector, window, settings.service_label, settings.namespace_label)
        return cls(
            client,
            profiles_from_settings(settings),
            scope=scope,
            topology=topology_from_settings(settings),
            default_namespace=settings.default_namespace,
        )

    @property
    def queries(self) -> int:
        return self.client.queries

    def close(self) -> None:
        self.client.close()

    def snapshot(self, at: datetime) -> MetricsSnapshot:
        services: dict[ServiceRef, dict[Signal, float]] = {}
        for query in self._signals:
            found = self.client.instant(query.signal.value, query.promql, at)
            for ref, value in self._by_service(query, _pairs(found)).items():
                services.setdefault(ref, {})[query.signal] = value
        databases = {}
        if self._databases is not None:
            found = self.client.instant("databases", self._databases.promql, at)
            databases = self._by_database(self._databases, _pairs(found))
        self._seen = frozenset(services)
        return MetricsSnapshot(at, services, databases)

    def history(self, start: datetime, end: datetime, step: timedelta) -> list[MetricsSnapshot]:
        """A snapshot per step, from one range query per signal."""
        grid = _grid(start, end, step)
        services: dict[int, dict[ServiceRef, dict[Signal, float]]] = {t: {} for t in grid}
        for query in self._signals:
            found = self.client.range(query.signal.value, query.promql, start, end, step)
            for at, pairs in _by_time(found).items():
                if at in services:
                    for ref, value in self._by_service(query, pairs).items():
                        services[at].setdefault(ref, {})[query.signal] = value
        databases: dict[int, dict[str, DatabaseStats]] = {}
        if self._databases is not None:
            found = self.client.range("databases", self._databases.promql, start, end, step)
            databases = {
                at: self._by_database(self._databases, pairs)
                for at, pairs in _by_time(found).items()
            }
        if grid:
            self._seen = frozenset(services[grid[-1]])
        return [MetricsSnapshot(_datetime(at), services[at], databases.get(at, {})) for at in grid]

    def topology(self, at: datetime) -> Topology:
        """Edges from the configured source; services also include the last snapshot's."""
        source = self._topology
        edges = set(source.declared)
        if source.query is not None:
            promql = edge_query(source.query, self.scope)
            found = self.client.instant("topology", promql, at)
            edges |= self._edges(source.query, found)
        databases = dict(source.databases or {})
        services = set(self._seen) | set(databases)
        for edge in edges:
            services |= {edge.caller, edge.callee}
        return Topology(frozenset(services), frozenset(edges), databases)

    def _by_service(self, query: SignalQuery, pairs: Labelled) -> dict[ServiceRef, float]:
        """Per service, the value of the first listed profile that answered for it."""
        best: dict[ServiceRef, tuple[int, float]] = {}
        for labels, value in pairs:
            names = query.labels.get(labels.get(PROFILE_LABEL, ""))
            if names is None or not labels.get(names.service):
                continue  # why: a series we cannot attribute to a service is no evidence
            ref = self._ref(labels[names.service], labels.get(names.namespace))
            if ref not in best or names.order < best[ref][0]:
                best[ref] = (names.order, value)
        return {ref: value for ref, (_, value) in best.items()}

    def _by_database(self, query: DatabaseQuery, pairs: Labelled) -> dict[str, DatabaseStats]:
        stats: dict[str, dict[str, tuple[int, float]]] = {}
        for labels, value in pairs:
            found = query.labels.get(labels.get(PROFILE_LABEL, ""))
            name = labels.get(found[1]) if found else None
            stat = labels.get(STAT_LABEL, "")
            if found is None or not name:
                continue
            known = stats.setdefault(name, {})
            if stat not in known or found[0] < known[stat][0]:
                known[stat] = (found[0], value)
        return {
            name: DatabaseStats(name, s["connections"][1], s["max_connections"][1])
            for name, s in stats.items()
            # why: connections without their limit (or the reverse) cannot be judged
            if {"connections", "max_connections"} <= set(s)
        }

    def _edges(self, query: EdgeQuery, found: Iterable[Sample]) -> set[Edge]:
        edges = set()
        for sample in found:
            caller, callee = sample.labels.get(query.caller), sample.labels.get(query.callee)
            if not caller or not callee or {caller, callee} & query.ignore:
                continue
            edges.add(
                Edge(
                    self._edge_end(caller, sample.labels, query.caller_namespace),
                    self._edge_end(callee, sample.labels, query.callee_namespace),
                )
            )
        return edges

    def _edge_end(self, name: str, labels: Mapping[str, str], label: str | None) -> ServiceRef:
        if label and labels.get(label):
            return self._ref(name, labels[label])
        # why: service graphs name services without their namespace; take the namespace
        # of the one service of that name the last snapshot saw, if there is exactly one
        matches = [ref for ref in self._seen if ref.name == name]
        return matches[0] if len(matches) == 1 else self._ref(name, None)

    def _ref(self, name: str, namespace: str | None) -> ServiceRef:
        return ServiceRef(namespace or self.default_namespace, name)


def _pairs(samples: Iterable[Sample]) -> Labelled:
    return [(s.labels, s.value) for s in samples]


def _by_time(found: Iterable[Series]) -> dict[int, list[tuple[Mapping[str, str], float]]]:
    """A range result turned around: per step (unix ms), the series' values there."""
    out: dict[int, list[tuple[Mapping[str, str], float]]] = {}
    for series in found:
        for at, value in series.points.items():
            out.setdefault(at, []).append((series.labels, value))
    return out


def _grid(start: datetime, end: datetime, step: timedelta) -> list[int]:
    """The steps Prometheus evaluates a range at, in unix ms.

    prometheus-api-client sends start and end rounded to whole seconds, so the grid
    starts there too, or the steps would not line up with the answer's timestamps.
    """
    first, last = round(start.timestamp()) * 1000, round(end.timestamp()) * 1000
    width = round(step.total_seconds() * 1000)
    if width <= 0:
        raise ValueError(f"history step must be positive, not {step}")
    return list(range(first, last + 1, width))


def _datetime(millis: int) -> datetime:
    return datetime.fromtimestamp(millis / 1000, UTC)


_SETTINGS = "sources.metrics.prometheus"


def profiles_from_settings(settings: PrometheusSettings) -> list[Profile]:
    """The listed profiles in order; ConfigError for an unknown name or a bad custom one."""
    found = []
    for name in settings.profiles:
        if name in settings.custom_profiles:
            where = f"{_SETTINGS}.custom_profiles.{name}"
            try:
                found.append(custom_profile(name, settings.custom_profiles[name]))
            except ValueError as exc:
                raise ConfigError("<settings>", None, where, str(exc)) from exc
        elif name in BUILTIN:
            found.append(BUILTIN[name])
        else:
            known = ", ".join([*BUILTIN, *settings.custom_profiles])
            reason = f"unknown profile {name!r} (known: {known})"
            raise ConfigError("<settings>", None, f"{_SETTINGS}.profiles", reason)
    return found


def topology_from_settings(settings: PrometheusSettings) -> TopologySource:
    default = settings.default_namespace
    databases = {
        ServiceRef.parse(service, default): name for service, name in settings.databases.items()
    }
    if settings.topology != "config":
        return TopologySource(TOPOLOGIES[settings.topology], databases=databases)
    edges = set()
    for text in settings.edges:
        caller, arrow, callee = text.partition("->")
        if not arrow or not caller.strip() or not callee.strip():
            reason = f"{text!r} is not `caller->callee`"
            raise ConfigError("<settings>", None, f"{_SETTINGS}.edges", reason)
        edges.add(
            Edge(
                ServiceRef.parse(caller.strip(), default), ServiceRef.parse(callee.strip(), default)
            )
        )
    return TopologySource(declared=frozenset(edges), databases=databases)
