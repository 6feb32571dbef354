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
    Diagnosis,
    Incident,
    MetricsSnapshot,
    Plan,
    Signal,
    Workload,
)
from healer.domain.playbook import ParamValue, Playbook
from healer.ports import Planner

# What an engineer reaches for first, per cause. Playbooks not listed come after.
PREFERENCE: Mapping[Cause, tuple[str, ...]] = {
    Cause.CPU_SATURATION: ("scale",),
    Cause.POOL_EXHAUSTION: ("tune_pool", "scale"),
    Cause.BAD_DEPLOY: ("rollback",),
    Cause.SLOW_DEPENDENCY: ("scale",),
}
TARGET_CPU = 0.6  # scale so that CPU use lands here
TARGET_POOL = 0.7  # size the pool so that demand fills this share of it
MAX_POOL_STEP = 4  # never grow a pool more than this many times in one change


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
            sized = _size(playbook, diagnosis, workload, snapshot)
            if sized is not None:
                params, why = sized
                return Plan(
                    playbook=playbook.name,
                    target=diagnosis.root,
                    params=playbook.complete(params),
                    risk=playbook.risk,
                    rationale=why,
                    planner=self.name,
                )
        return None


def _size(
    playbook: Playbook, diagnosis: Diagnosis, workload: Workload, snapshot: MetricsSnapshot
) -> tuple[dict[str, ParamValue], str] | None:
    if playbook.name == "scale":
        return _size_scale(playbook, diagnosis, workload, snapshot)
    if playbook.name == "tune_pool":
        return _size_pool(playbook, workload, snapshot)
    if playbook.name == "rollback":
        return _size_rollback(playbook, workload)
    return None


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
    env_spec = playbook.param("env")
    env = str(env_spec.default) if env_spec and env_spec.default else "DB_POOL_SIZE"
    try:
        current = int(workload.env[env])
    except (KeyError, ValueError):
        return None  # why: without the current size we cannot size a change safely
    replicas = max(workload.replicas, 1)
    used = snapshot.value(workload.service, Signal.POOL_USED) or 0.0
    pending = snapshot.value(workload.service, Signal.POOL_PENDING) or 0.0
    demand = (used + pending) / replicas
    # Waiting requests pile up while the pool is short, overstating demand; growing at
    # most 4× per step keeps the change proportionate, and verification says if it was enough.
    wanted = min(max(2 * current, math.ceil(demand / TARGET_POOL)), MAX_POOL_STEP * current)
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
