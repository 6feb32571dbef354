"""Local evidence, cause by cause: what one service's metrics, logs and rollouts say
about why it is sick. Each function returns the evidence it found (empty: none), with
weights that `healer.pipeline.diagnosis` adds up and compares.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta

from healer.detect.detector import Observation, TemplateCount
from healer.detect.logclass import LogClass
from healer.domain.model import (
    RESTARTS_WINDOW_S,
    AnomalyKind,
    DatabaseStats,
    Evidence,
    MetricsSnapshot,
    Rollout,
    ServiceRef,
    Signal,
    Topology,
    Workload,
)

DEPLOY_LOOKBACK = timedelta(minutes=20)  # a rollout this long before the symptoms is a suspect
# A leak shows only once memory fills up, which takes minutes to hours after the rollout.
LEAK_LOOKBACK = timedelta(hours=3)
CPU_HOT = 0.85
# Behind an entry, CPU this busy on many services at once is load arriving: queues grow
# well before a service is saturated, and usual load keeps them well under this.
SURGE_BUSY = 0.6
SURGE_MIN = 3  # services busy at once, at least
SURGE_SHARE = 1 / 3  # of the services behind the entry, at least
SURGE_LOAD = 1.4  # the entry's request rate over its usual rate, at least
MEMORY_HIGH = 0.8  # the fullest container's working set / limit that counts as climbing
POOL_FULL = 0.95  # a pool with this share of its connections checked out is full
DB_FULL = 0.95  # a database with this share of its max_connections in use is at its limit
OVERBOOKED = 0.4  # a service whose pools alone could hold this share of its database


@dataclass(frozen=True)
class Facts:
    """What one poll knows, gathered for diagnosis."""

    snapshot: MetricsSnapshot
    observation: Observation
    topology: Topology
    workloads: Mapping[ServiceRef, Workload]


def cpu(service: ServiceRef, snapshot: MetricsSnapshot) -> list[Evidence]:
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


def pool_waiting(snapshot: MetricsSnapshot, service: ServiceRef) -> bool:
    """Requests wait for a connection, or give up waiting."""
    pending = snapshot.value(service, Signal.POOL_PENDING) or 0.0
    return pending > 0.5 or (snapshot.value(service, Signal.POOL_TIMEOUTS) or 0.0) > 0.01


def pool_full(snapshot: MetricsSnapshot, service: ServiceRef) -> bool:
    used, size = snapshot.value(service, Signal.POOL_USED), snapshot.value(service, Signal.POOL_MAX)
    return used is not None and size is not None and size > 0 and used / size >= POOL_FULL


def pool(service: ServiceRef, facts: Facts) -> list[Evidence]:
    snap = facts.snapshot
    used, size = snap.value(service, Signal.POOL_USED), snap.value(service, Signal.POOL_MAX)
    pending = snap.value(service, Signal.POOL_PENDING) or 0.0
    timeouts = snap.value(service, Signal.POOL_TIMEOUTS) or 0.0
    found = []
    if pool_waiting(snap, service):
        found.append(
            Evidence(
                "metrics",
                f"{pending:.0f} requests waiting for a connection, "
                f"{timeouts:.2f} acquisition timeouts/s",
                1.5,
                pending,
            )
        )
    if pool_full(snap, service):
        found.append(Evidence("metrics", f"pool full: {used:.0f} of {size:.0f} in use", 1.0))
    found += log_evidence(service, facts.observation, LogClass.POOL_TIMEOUT, 1.0)
    busy = snap.value(service, Signal.CPU_UTILISATION)
    if found and busy is not None and busy >= CPU_HOT:
        # why: requests waiting for CPU hold their connections longer, so a saturated
        # service fills its pool too; a pool that is the bottleneck leaves the CPU idle
        why = f"but CPU is at {busy:.0%}: the pool may only be waiting on it"
        found.append(Evidence("metrics", why, -2.0))
    return found


def database(service: ServiceRef, facts: Facts) -> list[Evidence]:
    name = facts.topology.databases.get(service)
    stats = facts.snapshot.databases.get(name) if name else None
    logs = log_evidence(service, facts.observation, LogClass.DB_CONNECTIONS, 1.5)
    if stats is None or stats.max_connections <= 0:
        return logs
    if stats.connections / stats.max_connections < DB_FULL:
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
        *_overbooked(service, facts.snapshot, stats.max_connections, name or ""),
        *logs,
    ]


def _overbooked(
    service: ServiceRef, snapshot: MetricsSnapshot, limit: float, name: str
) -> list[Evidence]:
    """Its own pools claim much of the database, and requests wait with pools not full:
    the connections are refused by the database, not missing from a small pool."""
    size = snapshot.value(service, Signal.POOL_MAX) or 0.0
    used = snapshot.value(service, Signal.POOL_USED) or 0.0
    waiting = pool_waiting(snapshot, service)
    found = []
    if size >= OVERBOOKED * limit:
        replicas = snapshot.value(service, Signal.REPLICAS)
        pods = f" over {replicas:.0f} replicas" if replicas else ""
        found.append(
            Evidence(
                "metrics",
                f"its pools{pods} may open {size:.0f} connections; {name} accepts {limit:.0f}",
                2.0,
                size,
                limit,
            )
        )
    if waiting and size and used / size < 0.9:
        found.append(
            Evidence("metrics", f"requests wait with only {used:.0f} of {size:.0f} pooled", 1.0)
        )
    return found


def memory(service: ServiceRef, facts: Facts, onset: datetime) -> list[Evidence]:
    """Containers filling their memory limit and killed for it, again and again."""
    snap = facts.snapshot
    share = snap.value(service, Signal.MEMORY_UTILISATION) or 0.0
    restarts = snap.value(service, Signal.RESTARTS) or 0.0
    oom = snap.value(service, Signal.OOM_KILLED) or 0.0
    # why both: one restart is routine (a liveness probe, a node drain); a leak kills
    # repeatedly, or kills while the other containers are already close to the limit
    killed = oom >= 1 and restarts >= 1 and (restarts >= 2 or share >= MEMORY_HIGH)
    found = []
    if killed:
        found.append(
            Evidence(
                "metrics",
                f"{restarts:.0f} container restarts in the last "
                f"{RESTARTS_WINDOW_S // 60} min, {oom:.0f} containers last killed "
                "for running out of memory",
                2.0,
                restarts,
            )
        )
    if share >= MEMORY_HIGH and (killed or share >= 0.95):
        found.append(
            Evidence("metrics", f"fullest container at {share:.0%} of its memory limit", 1.0, share)
        )
    for climb in facts.observation.for_service(service):
        if climb.kind is AnomalyKind.MEMORY:
            # why this much: nothing but retained memory grows at every scrape for minutes
            found.append(Evidence("metrics", climb.detail, 2.0, climb.value, climb.baseline))
    rollout = began_with_rollout(facts.workloads.get(service), onset, LEAK_LOOKBACK)
    if found and rollout is not None:
        found.append(
            Evidence(
                "cluster",
                f"revision {rollout.revision} ({rollout.image}) rolled out "
                f"{(onset - rollout.at).total_seconds() / 60:.0f} min before the first "
                "symptom: the leak likely shipped with it",
                1.0,
            )
        )
    return found


def full_databases(snapshot: MetricsSnapshot) -> dict[str, DatabaseStats]:
    """The databases at (or within a few connections of) their max_connections."""
    return {
        name: stats
        for name, stats in snapshot.databases.items()
        if stats.max_connections > 0 and stats.connections / stats.max_connections >= DB_FULL
    }


def began_with_rollout(
    workload: Workload | None, onset: datetime, lookback: timedelta = DEPLOY_LOOKBACK
) -> Rollout | None:
    """The workload's latest rollout, if it happened shortly before the symptoms began."""
    if workload is None or len(workload.history) < 2:
        return None
    latest = max(workload.history, key=lambda r: r.revision)
    if latest.revision != workload.revision:
        return None  # why: already rolled back; the suspect no longer runs
    if not onset - lookback <= latest.at <= onset + timedelta(minutes=5):
        return None
    return latest


def surge(
    service: ServiceRef, facts: Facts, anomalous: set[ServiceRef], onset: datetime
) -> list[Evidence]:
    """More load arrives at an entry service than what lies behind it can serve.

    Many services reached through it get busy at once with no rollout among them: no
    single service got slower, so the common cause is the traffic coming in.
    """
    busy = [s.name for s in surge_load(service, facts, onset)]
    if not busy:
        return []
    rate = facts.snapshot.value(service, Signal.REQUEST_RATE)
    load = facts.observation.load.get(service, 0.0)
    arriving = f" while it serves {rate:.0f} req/s, {load:.1f}× its usual" if rate else ""
    sick = len(reachable(service, facts.topology) & anomalous)
    return [
        Evidence(
            "metrics",
            f"{len(busy)} services from it on run their CPU at ≥{SURGE_BUSY:.0%} of the limit "
            f"at once ({', '.join(busy)}){arriving}, none after a rollout, and {sick} "
            "services behind it anomalous: more load is arriving",
            1.0 + 0.5 * (len(busy) - 1),
        )
    ]


def surge_load(entry: ServiceRef, facts: Facts, onset: datetime) -> list[ServiceRef]:
    """The services busy behind an entry service (itself included) with no rollout of
    their own, when they are a broad share of them; else none."""
    if facts.topology.callers(entry):
        return []  # why: a surge enters where outside traffic does
    if facts.observation.load.get(entry, 0.0) < SURGE_LOAD:
        return []  # why: busy callees behind an entry taking its usual traffic got slower
    behind = reachable(entry, facts.topology) | {entry}
    busy = [
        s
        for s in sorted(behind)
        if (facts.snapshot.value(s, Signal.CPU_UTILISATION) or 0.0) >= SURGE_BUSY
        and began_with_rollout(facts.workloads.get(s), onset) is None
    ]
    # why a broad share: one or two hot services are their own saturation; load that
    # arrives from outside lifts every service it passes through
    return busy if len(busy) >= max(SURGE_MIN, SURGE_SHARE * len(behind)) else []


def reachable(service: ServiceRef, topology: Topology) -> set[ServiceRef]:
    """Every service its calls reach, directly or not."""
    seen: set[ServiceRef] = set()
    stack = [service]
    while stack:
        for callee in topology.callees(stack.pop()):
            if callee not in seen:
                seen.add(callee)
                stack.append(callee)
    return seen


def deploy(service: ServiceRef, facts: Facts, onset: datetime) -> list[Evidence]:
    latest = began_with_rollout(facts.workloads.get(service), onset)
    if latest is None:
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
    for row in firing(service, facts.observation, LogClass.EXCEPTION):
        if row.since >= latest.at:
            found.append(Evidence("logs", f"new error since the rollout: {row.text[:160]}", 1.5))
            break
    if any(a.kind is AnomalyKind.ERRORS for a in facts.observation.for_service(service)):
        found.append(Evidence("metrics", "its own 5xx ratio rose after the rollout", 0.5))
    return found


def firing(service: ServiceRef, observation: Observation, cls: LogClass) -> list[TemplateCount]:
    return [t for t in observation.templates.get(service, ()) if t.firing and t.cls is cls]


def log_evidence(
    service: ServiceRef, observation: Observation, cls: LogClass, weight: float
) -> list[Evidence]:
    rows = firing(service, observation, cls)
    if not rows:
        return []
    top = max(rows, key=lambda t: t.count)
    total = sum(t.count for t in rows)
    return [Evidence("logs", f"{total:.0f} '{cls}' lines this poll, e.g. {top.text[:160]}", weight)]
