"""Diagnosis: which service is to blame, why, and the evidence for it.

Every service of the incident, and every callee of one, is a candidate. A candidate
whose own callee is also anomalous is probably a victim (latency and errors travel
upstream), so it loses points; local evidence (CPU, pool gauges, a fresh rollout, its
own new error lines) decides the cause and adds points. Ranked, so an engineer sees
the runners-up too.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from healer.detect.detector import Observation, TemplateCount
from healer.detect.logclass import LogClass
from healer.domain.model import (
    AnomalyKind,
    Cause,
    Diagnosis,
    Evidence,
    Hypothesis,
    Incident,
    MetricsSnapshot,
    ServiceRef,
    Signal,
    Topology,
    Workload,
)

DEPLOY_LOOKBACK = timedelta(minutes=20)  # a rollout this long before the symptoms is a suspect
CPU_HOT = 0.85
ROOT_BONUS = 1.0
VICTIM_PENALTY = -1.5


@dataclass(frozen=True)
class Facts:
    """What one poll knows, gathered for diagnosis."""

    snapshot: MetricsSnapshot
    observation: Observation
    topology: Topology
    workloads: Mapping[ServiceRef, Workload]


def candidates(incident: Incident, topology: Topology) -> set[ServiceRef]:
    found = set(incident.services)
    for service in incident.services:
        found |= topology.callees(service)
    return found


def diagnose(incident: Incident, *, facts: Facts, now: datetime) -> Diagnosis:
    onset = min((a.since for a in incident.anomalies), default=now)
    anomalous = {a.service for a in facts.observation.anomalies} | incident.services
    ranked = sorted(
        (
            _hypothesis(s, facts=facts, anomalous=anomalous, onset=onset)
            for s in candidates(incident, facts.topology)
        ),
        key=lambda h: (-h.score, h.service),
    )
    return Diagnosis(at=now, ranked=tuple(ranked[:5]), affected=frozenset(incident.services))


def _hypothesis(
    service: ServiceRef, *, facts: Facts, anomalous: set[ServiceRef], onset: datetime
) -> Hypothesis:
    by_cause: dict[Cause, list[Evidence]] = {
        Cause.CPU_SATURATION: _cpu(service, facts.snapshot),
        Cause.POOL_EXHAUSTION: _pool(service, facts),
        Cause.DB_MAX_CONNECTIONS: _database(service, facts),
        Cause.BAD_DEPLOY: _deploy(service, facts, onset),
    }
    cause, local = max(by_cause.items(), key=lambda item: _weight(item[1]))
    if _weight(local) < 1.0:
        cause, local = _unexplained(service, facts)
    position = _position(service, facts, anomalous)
    symptoms = _symptoms(service, facts.observation)
    evidence = tuple(local + position + symptoms)
    return Hypothesis(service, cause, round(_weight(list(evidence)), 3), evidence)


def _weight(evidence: list[Evidence]) -> float:
    return sum(e.weight for e in evidence)


def _cpu(service: ServiceRef, snapshot: MetricsSnapshot) -> list[Evidence]:
    used = snapshot.value(service, Signal.CPU_UTILISATION)
    if used is None or used < CPU_HOT:
        return []
    found = [
        Evidence("metrics", f"CPU at {used:.0%} of its limit", 1.0 + 3 * (used - CPU_HOT), used)
    ]
    throttled = snapshot.value(service, Signal.CPU_THROTTLING)
    if throttled is not None and throttled > 0.25:
        found.append(Evidence("metrics", f"throttled in {throttled:.0%} of CPU periods", 0.5))
    return found


def _pool(service: ServiceRef, facts: Facts) -> list[Evidence]:
    snap = facts.snapshot
    used, size = snap.value(service, Signal.POOL_USED), snap.value(service, Signal.POOL_MAX)
    pending = snap.value(service, Signal.POOL_PENDING) or 0.0
    timeouts = snap.value(service, Signal.POOL_TIMEOUTS) or 0.0
    found = []
    if pending > 0.5 or timeouts > 0.01:
        found.append(
            Evidence(
                "metrics",
                f"{pending:.0f} requests waiting for a connection, "
                f"{timeouts:.2f} acquisition timeouts/s",
                1.5,
                pending,
            )
        )
    if used is not None and size and used / size >= 0.95:
        found.append(Evidence("metrics", f"pool full: {used:.0f} of {size:.0f} in use", 1.0))
    found += _log_evidence(service, facts.observation, LogClass.POOL_TIMEOUT, 1.0)
    return found


def _database(service: ServiceRef, facts: Facts) -> list[Evidence]:
    name = facts.topology.databases.get(service)
    stats = facts.snapshot.databases.get(name) if name else None
    logs = _log_evidence(service, facts.observation, LogClass.DB_CONNECTIONS, 1.5)
    if stats is None or stats.max_connections <= 0:
        return logs
    share = stats.connections / stats.max_connections
    if share < 0.95:
        return []
    return [
        Evidence(
            "metrics",
            f"database {name} at {stats.connections:.0f} of "
            f"{stats.max_connections:.0f} connections",
            1.0,
            stats.connections,
            stats.max_connections,
        ),
        *logs,
    ]


def _deploy(service: ServiceRef, facts: Facts, onset: datetime) -> list[Evidence]:
    workload = facts.workloads.get(service)
    if workload is None or len(workload.history) < 2:
        return []
    latest = max(workload.history, key=lambda r: r.revision)
    if not onset - DEPLOY_LOOKBACK <= latest.at <= onset + timedelta(minutes=5):
        return []
    lead = (onset - latest.at).total_seconds() / 60
    found = [
        Evidence(
            "cluster",
            f"revision {latest.revision} ({latest.image}) rolled out "
            f"{lead:.0f} min before the first symptom",
            1.5,
        )
    ]
    for row in _firing(service, facts.observation, LogClass.EXCEPTION):
        if row.since >= latest.at:
            found.append(Evidence("logs", f"new error since the rollout: {row.text[:160]}", 1.5))
            break
    if any(a.kind is AnomalyKind.ERRORS for a in facts.observation.for_service(service)):
        found.append(Evidence("metrics", "its own 5xx ratio rose after the rollout", 0.5))
    return found


def _unexplained(service: ServiceRef, facts: Facts) -> tuple[Cause, list[Evidence]]:
    """No local resource or change explains it: what is left is what it waits on."""
    kinds = {a.kind for a in facts.observation.for_service(service)}
    if AnomalyKind.LATENCY in kinds:
        return Cause.SLOW_DEPENDENCY, [
            Evidence(
                "metrics",
                "slow with CPU, pool and version unchanged: it waits on something slow",
                0.8,
            )
        ]
    if AnomalyKind.ERRORS in kinds:
        return Cause.DEPENDENCY_ERRORS, [
            Evidence("metrics", "failing with no local cause found", 0.3)
        ]
    return Cause.UNKNOWN, []


def _position(service: ServiceRef, facts: Facts, anomalous: set[ServiceRef]) -> list[Evidence]:
    sick = sorted(c.name for c in facts.topology.callees(service) if c in anomalous)
    if sick:
        found = [
            Evidence(
                "topology",
                f"its callee {', '.join(sick)} is anomalous too: its "
                "symptoms may be explained downstream",
                VICTIM_PENALTY,
            )
        ]
        found += _log_evidence(service, facts.observation, LogClass.UPSTREAM, -0.5)
        return found
    if service in anomalous:
        return [Evidence("topology", "none of its callees is anomalous", ROOT_BONUS)]
    return []


def _symptoms(service: ServiceRef, observation: Observation) -> list[Evidence]:
    return [
        Evidence("metrics", a.detail, 0.3, a.value, a.baseline)
        for a in observation.for_service(service)
        if a.kind is not AnomalyKind.LOG_PATTERN
    ]


def _firing(service: ServiceRef, observation: Observation, cls: LogClass) -> list[TemplateCount]:
    return [t for t in observation.templates.get(service, ()) if t.firing and t.cls is cls]


def _log_evidence(
    service: ServiceRef, observation: Observation, cls: LogClass, weight: float
) -> list[Evidence]:
    rows = _firing(service, observation, cls)
    if not rows:
        return []
    top = max(rows, key=lambda t: t.count)
    total = sum(t.count for t in rows)
    return [Evidence("logs", f"{total:.0f} '{cls}' lines this poll, e.g. {top.text[:160]}", weight)]
