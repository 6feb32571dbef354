"""Diagnosis: which service is to blame, why, and the evidence for it.

Every service of the incident, and every callee of one, is a candidate. A candidate
whose own callee is also anomalous is probably a victim (latency and errors travel
upstream), so it loses points; local evidence (CPU, pool gauges, a fresh rollout, its
own new error lines) decides the cause and adds points. Ranked, so an engineer sees
the runners-up too.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from healer.detect.detector import Observation
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
    Topology,
)
from healer.pipeline.causes import (
    SURGE_LOAD,
    Facts,
    cpu,
    database,
    deploy,
    full_databases,
    log_evidence,
    memory,
    pool,
    reachable,
    surge,
    surge_load,
)

__all__ = ["Facts", "candidates", "diagnose"]
ROOT_BONUS = 1.0
VICTIM_PENALTY = -1.5


def candidates(
    incident: Incident, topology: Topology, snapshot: MetricsSnapshot | None = None
) -> set[ServiceRef]:
    """The incident's services and their callees; with a snapshot, also every service
    pooled on a database at its limit that one of the incident's own services draws on
    (the one crowding it out may look fine)."""
    found = set(incident.services)
    for service in incident.services:
        found |= topology.callees(service)
    if snapshot is not None:
        # why not the callees' databases: an incident of callers would then name the same
        # root as the incident of the pooled services, and both would act on it
        drawn = {topology.databases.get(s) for s in incident.services}
        full = drawn & set(full_databases(snapshot))
        found |= {s for s, name in topology.databases.items() if name in full}
    return found


def diagnose(incident: Incident, *, facts: Facts, now: datetime) -> Diagnosis:
    onset = min((a.since for a in incident.anomalies), default=now)
    anomalous = {a.service for a in facts.observation.anomalies} | incident.services
    services = candidates(incident, facts.topology, facts.snapshot) | _surging(incident, facts)
    loaded = {
        hot: entry
        for entry in sorted(services)
        for hot in surge_load(entry, facts, onset)
        if hot != entry
    }
    ranked = sorted(
        (
            _hypothesis(s, facts=facts, anomalous=anomalous, onset=onset, loaded=loaded)
            for s in services
        ),
        key=lambda h: (-h.score, h.service),
    )
    return Diagnosis(at=now, ranked=tuple(ranked[:5]), affected=frozenset(incident.services))


def _surging(incident: Incident, facts: Facts) -> set[ServiceRef]:
    """Entry services taking well over their usual traffic in front of the incident: where
    a surge comes in, though the first service it overwhelms may be far behind them."""
    topology = facts.topology
    # why from the loads: few services take 1.4x their usual at once, and `callers`
    # scans every edge of the graph
    return {
        entry
        for entry, load in facts.observation.load.items()
        if load >= SURGE_LOAD
        and entry in topology.services
        and not topology.callers(entry)
        and reachable(entry, topology) & incident.services
    }


def _hypothesis(
    service: ServiceRef,
    *,
    facts: Facts,
    anomalous: set[ServiceRef],
    onset: datetime,
    loaded: Mapping[ServiceRef, ServiceRef],
) -> Hypothesis:
    by_cause: dict[Cause, list[Evidence]] = {
        Cause.MEMORY_LEAK: memory(service, facts, onset),
        Cause.TRAFFIC_SURGE: surge(service, facts, anomalous, onset),
        Cause.CPU_SATURATION: cpu(service, facts.snapshot),
        Cause.POOL_EXHAUSTION: pool(service, facts),
        Cause.DB_MAX_CONNECTIONS: database(service, facts),
        Cause.BAD_DEPLOY: deploy(service, facts, onset),
    }
    cause, local = max(by_cause.items(), key=lambda item: _weight(item[1]))
    if _weight(local) < 1.0:
        cause, local = _unexplained(service, facts)
    # why: for a surge the callees' saturation is the consequence, not a better culprit
    position = [] if cause is Cause.TRAFFIC_SURGE else _position(service, facts, anomalous)
    if cause in (Cause.CPU_SATURATION, Cause.SLOW_DEPENDENCY) and service in loaded:
        position.append(
            Evidence(
                "topology",
                f"busy together with other services behind {loaded[service].name}: "
                "the load changed, not this service",
                VICTIM_PENALTY,
            )
        )
    symptoms = _symptoms(service, facts.observation)
    evidence = tuple(local + position + symptoms)
    return Hypothesis(service, cause, round(_weight(list(evidence)), 3), evidence)


def _weight(evidence: list[Evidence]) -> float:
    return sum(e.weight for e in evidence)


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
        # why upstream lines count here: with no anomalous callee in the cluster, the
        # calls it logs as failing go to something outside it (an API, a managed service)
        calls = log_evidence(service, facts.observation, LogClass.UPSTREAM, 0.7)
        return Cause.DEPENDENCY_ERRORS, [
            Evidence("metrics", "failing with CPU, pool and version unchanged", 0.3),
            *calls,
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
        found += log_evidence(service, facts.observation, LogClass.UPSTREAM, -0.5)
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
