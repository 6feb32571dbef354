"""Planning: which playbook, with which parameters, for a diagnosis.

`candidates` narrows the playbooks to those that declare they fix the diagnosed cause
(the planner, rules or a model, only ever chooses among these); `RulePlanner` sizes
the change from what the metrics say; `plan` checks the result against the playbook's
own parameter schema whoever proposed it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

from healer.domain.model import (
    Cause,
    DatabaseStats,
    Diagnosis,
    Incident,
    MetricsSnapshot,
    Plan,
    ServiceRef,
    Signal,
    Workload,
)
from healer.domain.playbook import ParamValue, Playbook
from healer.pipeline.causes import (
    DEPLOY_LOOKBACK,
    LEAK_LOOKBACK,
    OVERBOOKED,
    began_with_rollout,
    full_databases,
    pool_full,
    pool_waiting,
)
from healer.ports import Planner

# What an engineer reaches for first, per cause. Playbooks not listed come after.
PREFERENCE: Mapping[Cause, tuple[str, ...]] = {
    Cause.CPU_SATURATION: ("scale",),
    Cause.TRAFFIC_SURGE: ("scale",),
    Cause.POOL_EXHAUSTION: ("tune_pool", "scale"),
    Cause.DB_MAX_CONNECTIONS: ("tune_pool",),
    Cause.BAD_DEPLOY: ("rollback",),
    # why rollback first: a restart only resets the leak's clock; when the leaking
    # version shipped just before, going back cures it (rollback sizes itself out otherwise)
    Cause.MEMORY_LEAK: ("rollback", "restart"),
    Cause.SLOW_DEPENDENCY: ("scale",),
    Cause.DEPENDENCY_ERRORS: ("rollback",),
}
# Causes a rollback fixes whatever the history says; for the others, only a rollout
# shortly before the symptoms makes the previous revision the cure.
ROLLBACK_ANYWAY = frozenset({Cause.BAD_DEPLOY})
DB_HEADROOM = 0.15  # lowering a pool for db_max_connections leaves this share of the database free
TARGET_CPU = 0.6  # scale so that CPU use lands here
SURGE_STEP = 1.5  # a surge's first scale-out adds at least half as many replicas again
TARGET_POOL = 0.7  # size the pool so that demand fills this share of it
MAX_POOL_STEP = 4  # never grow a pool more than this many times in one change
USUAL_POOL = 10  # a tiny pool may grow to this in one change (HikariCP's default size)


class RejectedPlan(Exception):
    """The planner proposed something the playbook's own schema refuses."""


def candidates(
    diagnosis: Diagnosis, playbooks: Mapping[str, Playbook], tried: Sequence[str] = ()
) -> list[Playbook]:
    fitting = [p for p in playbooks.values() if diagnosis.cause in p.fixes and p.name not in tried]
    order = PREFERENCE.get(diagnosis.cause, ())
    return sorted(fitting, key=lambda p: (order.index(p.name) if p.name in order else 99, p.name))


def plan(
    incident: Incident,
    *,
    diagnosis: Diagnosis,
    planner: Planner,
    playbooks: Mapping[str, Playbook],
    workload: Workload,
    snapshot: MetricsSnapshot,
    tried: Sequence[str] = (),
) -> Plan | None:
    options = candidates(diagnosis, playbooks, tried)
    if not options:
        return None
    chosen = planner.plan(
        incident=incident,
        diagnosis=diagnosis,
        candidates=options,
        workload=workload,
        snapshot=snapshot,
    )
    if chosen is None:
        return None
    playbook = playbooks.get(chosen.playbook)
    if playbook is None or playbook not in options:
        raise RejectedPlan(f"{chosen.planner} chose {chosen.playbook!r}, which is not allowed here")
    problems = playbook.problems(chosen.params)
    if problems:
        raise RejectedPlan(f"{chosen.playbook}: " + "; ".join(problems))
    return chosen


class RulePlanner:
    """Deterministic planning: the first candidate that can be sized from the metrics."""

    name = "rules"

    def plan(
        self,
        *,
        incident: Incident,
        diagnosis: Diagnosis,
        candidates: Sequence[Playbook],
        workload: Workload,
        snapshot: MetricsSnapshot,
    ) -> Plan | None:
        for playbook in candidates:
            sized = _size(playbook, incident, diagnosis, workload, snapshot)
            if sized is not None:
                params, why = sized
                return Plan(
                    playbook=playbook.name,
                    target=_target(playbook, diagnosis, snapshot),
                    params=playbook.complete(params),
                    risk=playbook.risk,
                    rationale=why,
                    planner=self.name,
                )
        return None


Sized = tuple[dict[str, ParamValue], str] | None


def took_effect(plan: Plan, snapshot: MetricsSnapshot, workload: Workload) -> bool:
    """Whether the running service shows the size the plan asked for (the replicas ready,
    the pods rolled with the new pool): only then does "still short" mean the size was too
    small rather than not there yet. Unknown counts as shown."""
    replicas = snapshot.value(plan.target, Signal.REPLICAS)
    wanted = plan.params.get("replicas")
    if isinstance(wanted, int) and replicas is not None:
        return replicas >= wanted
    pool, size = snapshot.value(plan.target, Signal.POOL_MAX), plan.params.get("pool_size")
    pods = replicas or workload.replicas
    if isinstance(size, int) and pool is not None and pods:
        return pool / pods >= size
    return True


def still_short(plan: Plan, cause: Cause, snapshot: MetricsSnapshot) -> bool:
    """Whether the resource the plan resized is still used past what the sizing aimed for
    (CPU above its aim, a pool full or with requests waiting). A bigger change answers
    that; once a change has relieved the saturation, the diagnosis may read the service as
    merely slow, yet the measure the change was sized on still says how far it fell short."""
    target = plan.target
    if cause in (Cause.CPU_SATURATION, Cause.TRAFFIC_SURGE):
        cpu = snapshot.value(target, Signal.CPU_UTILISATION)
        return cpu is not None and cpu > TARGET_CPU
    if cause is Cause.POOL_EXHAUSTION:
        return pool_waiting(snapshot, target) or pool_full(snapshot, target)
    return False


def _size(
    playbook: Playbook,
    incident: Incident,
    diagnosis: Diagnosis,
    workload: Workload,
    snapshot: MetricsSnapshot,
) -> Sized:
    if playbook.name == "scale" and diagnosis.cause is Cause.TRAFFIC_SURGE:
        return _size_surge(playbook, diagnosis, snapshot)
    if playbook.name == "scale":
        return _size_scale(playbook, diagnosis, workload, snapshot)
    if playbook.name == "tune_pool" and diagnosis.cause is Cause.DB_MAX_CONNECTIONS:
        return _shrink_pool(playbook, workload, snapshot)
    if playbook.name == "tune_pool":
        return _size_pool(playbook, workload, snapshot)
    if playbook.name == "rollback":
        if diagnosis.cause not in ROLLBACK_ANYWAY and not _began_with_rollout(
            incident, diagnosis, workload
        ):
            return None
        return _size_rollback(playbook, workload)
    if playbook.name == "restart":
        return {}, f"fresh pods of {workload.image} start with the memory they need at rest"
    return None


def _began_with_rollout(incident: Incident, diagnosis: Diagnosis, workload: Workload) -> bool:
    onset = min((a.since for a in incident.anomalies), default=diagnosis.at)
    lookback = LEAK_LOOKBACK if diagnosis.cause is Cause.MEMORY_LEAK else DEPLOY_LOOKBACK
    return began_with_rollout(workload, onset, lookback) is not None


def _target(playbook: Playbook, diagnosis: Diagnosis, snapshot: MetricsSnapshot) -> ServiceRef:
    """The root, except that a surge is absorbed where capacity runs out."""
    if playbook.name == "scale" and diagnosis.cause is Cause.TRAFFIC_SURGE:
        return _surge_target(diagnosis, snapshot)[0]
    return diagnosis.root


def _surge_target(diagnosis: Diagnosis, snapshot: MetricsSnapshot) -> tuple[ServiceRef, float]:
    """Where a surge needs capacity first: the runner-up of the diagnosis among the
    services showing symptoms (where they start, behind the entry), else the entry."""
    behind = [h.service for h in diagnosis.ranked[1:] if h.service in diagnosis.affected]
    service = behind[0] if behind else diagnosis.root
    return service, snapshot.value(service, Signal.CPU_UTILISATION) or 0.0


def _size_surge(playbook: Playbook, diagnosis: Diagnosis, snapshot: MetricsSnapshot) -> Sized:
    """Replicas for the busiest service behind the entry: for a CPU target, and at least
    SURGE_STEP × as many, since the load is still arriving and it is not alone.

    Capacity-aware on two sides: the playbook's and the policy's bounds cap the
    replicas, and the policy refuses a scale-out that would leave its database short.
    """
    service, cpu = _surge_target(diagnosis, snapshot)
    replicas = snapshot.value(service, Signal.REPLICAS)
    if not replicas:
        return None
    current = max(round(replicas), 1)
    factor = max(cpu / TARGET_CPU, SURGE_STEP)
    wanted = _clamp(playbook, "replicas", max(current + 1, math.ceil(current * factor)))
    if wanted <= current:
        return None
    why = (
        f"a surge reaches {service.name} (CPU at {cpu:.0%} of its limit): "
        f"{current} → {wanted} replicas, for {TARGET_CPU:.0%} and at least {SURGE_STEP:g}×"
    )
    return {"replicas": wanted}, why


def _shrink_pool(playbook: Playbook, workload: Workload, snapshot: MetricsSnapshot) -> Sized:
    """A smaller pool per replica, so that all replicas fit under the database's limit."""
    env = _pool_env(playbook)
    try:
        current = int(workload.env[env])
    except (KeyError, ValueError):
        return None  # why: without the current size we cannot size a change safely
    database = _fullest_database(snapshot)
    if database is None:
        return None
    replicas = max(workload.replicas, 1)
    if replicas * current < OVERBOOKED * database.max_connections:
        return None  # why: its pools are not what fills the database; shrinking them starves it
    # The same split as the policy's headroom check: what the target's pools do not
    # hold belongs to other services. A full database refuses some of the target's
    # connections, so that split overstates its share: halving at least makes up for it.
    others = max(database.connections - replicas * current, 0.0)
    room = database.max_connections * (1 - DB_HEADROOM) - others
    size = _clamp(playbook, "pool_size", min(math.floor(room / replicas), current // 2))
    if size >= current:
        return None
    why = (
        f"{database.name} is at {database.connections:.0f} of {database.max_connections:.0f} "
        f"connections and {replicas} replicas × {env}={current} want more: lowering it to {size}"
    )
    return {"pool_size": size, "env": env}, why


def _fullest_database(snapshot: MetricsSnapshot) -> DatabaseStats | None:
    full = full_databases(snapshot).values()
    return max(full, key=lambda d: (d.connections / d.max_connections, d.name), default=None)


def _pool_env(playbook: Playbook) -> str:
    env_spec = playbook.param("env")
    return str(env_spec.default) if env_spec and env_spec.default else "DB_POOL_SIZE"


def _clamp(playbook: Playbook, name: str, value: int) -> int:
    spec = playbook.param(name)
    if spec is not None and spec.maximum is not None:
        value = min(value, int(spec.maximum))
    if spec is not None and spec.minimum is not None:
        value = max(value, math.ceil(spec.minimum))
    return value


def _size_scale(
    playbook: Playbook, diagnosis: Diagnosis, workload: Workload, snapshot: MetricsSnapshot
) -> tuple[dict[str, ParamValue], str] | None:
    current = max(workload.replicas, 1)
    cpu = snapshot.value(diagnosis.root, Signal.CPU_UTILISATION)
    if diagnosis.cause is Cause.CPU_SATURATION and cpu is not None and cpu > TARGET_CPU:
        factor, why = (
            cpu / TARGET_CPU,
            f"CPU at {cpu:.0%} of its limit; aiming for {TARGET_CPU:.0%}",
        )
    else:
        factor, why = 2.0, "doubling capacity to absorb the slowdown"
    replicas = _clamp(playbook, "replicas", max(current + 1, math.ceil(current * factor)))
    if replicas <= workload.replicas:
        return None
    return {"replicas": replicas}, f"{why}: {workload.replicas} → {replicas} replicas"


def _size_pool(
    playbook: Playbook, workload: Workload, snapshot: MetricsSnapshot
) -> tuple[dict[str, ParamValue], str] | None:
    env = _pool_env(playbook)
    try:
        current = int(workload.env[env])
    except (KeyError, ValueError):
        return None  # why: without the current size we cannot size a change safely
    replicas = max(workload.replicas, 1)
    used = snapshot.value(workload.service, Signal.POOL_USED) or 0.0
    pending = snapshot.value(workload.service, Signal.POOL_PENDING) or 0.0
    demand = (used + pending) / replicas
    # Waiting requests pile up while the pool is short, overstating demand; growing at
    # most 4× per step keeps the change proportionate, and verification says if it was
    # enough. A pool cut to one or two connections may still come back to a usual size
    # (the common defaults are about ten): ×4 of almost nothing is still almost nothing.
    step = max(MAX_POOL_STEP * current, USUAL_POOL)
    wanted = min(max(2 * current, math.ceil(demand / TARGET_POOL)), step)
    size = _clamp(playbook, "pool_size", wanted)
    if size <= current:
        return None
    why = (
        f"{used:.0f} connections in use and {pending:.0f} waiting across {replicas} replicas "
        f"with {env}={current}: raising it to {size}"
    )
    return {"pool_size": size, "env": env}, why


def _size_rollback(
    playbook: Playbook, workload: Workload
) -> tuple[dict[str, ParamValue], str] | None:
    earlier = [r for r in workload.history if r.revision < workload.revision]
    if not earlier:
        return None
    previous = max(earlier, key=lambda r: r.revision)
    why = f"revision {workload.revision} ({workload.image}) → back to {previous.image}"
    # An explicit revision keeps the step absolute, so re-sending it after a crash is safe.
    params: dict[str, ParamValue] = {}
    if playbook.param("to_revision") is not None:
        params["to_revision"] = previous.revision
    return params, why
