"""Memory leaks: a leaking version's containers grow until the kernel kills them.

Each container of the leaking revision grows a little every tick; at its limit it is
OOMKilled and restarts in place (same pod, counters from zero, cold caches, memory back
to resting). Close to the limit a garbage-collected runtime spends more and more CPU
collecting, so latency creeps up before each kill.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from healer.sim.workloads import Deployment, baseline_mb

GC_BOUND = frozenset({"java", "csharp", "go", "nodejs"})
PRESSURE_FROM = 0.85  # share of the limit above which the collector works hard
GC_COST = 2.0  # extra CPU per request at the limit, × the usual
DOWNTIME_S = 5.0  # a killed container's restart and readiness, with requests reset


@dataclass(frozen=True)
class LeakTick:
    """What a leak did to one service this tick."""

    kills: int = 0
    crashed: float = 0.0  # share of the tick's requests lost with the killed containers
    gc_factor: float = 1.0  # CPU per request × from collecting near the limit


def grow(dep: Deployment, *, minutes_to_oom: float, tick_s: float, rng: random.Random) -> LeakTick:
    """Grow every container by one tick of leak; kill and restart those over the limit."""
    spec = dep.spec
    per_s = (spec.memory_limit_mb - baseline_mb(spec)) / (minutes_to_oom * 60.0)
    kills = 0
    for index, pod in enumerate(dep.pods):
        # why: a leak follows the requests a pod happens to serve, so pods drift apart
        pod.memory_mb += per_s * tick_s * rng.uniform(0.7, 1.3)
        if pod.memory_mb >= spec.memory_limit_mb:
            dep.restart_container(index)
            kills += 1
    pods = len(dep.pods)
    crashed = kills / pods * min(1.0, DOWNTIME_S / tick_s) if pods else 0.0
    return LeakTick(kills, crashed, gc_factor(dep))


def gc_factor(dep: Deployment) -> float:
    """CPU per request × over the service's pods, from their collectors' extra work."""
    if dep.spec.language not in GC_BOUND or not dep.pods:
        return 1.0
    limit = dep.spec.memory_limit_mb
    extra = 0.0
    for pod in dep.pods:
        over = max(0.0, (pod.memory_mb / limit - PRESSURE_FROM) / (1.0 - PRESSURE_FROM))
        extra += GC_COST * min(over, 1.0) ** 2
    return 1.0 + extra / len(dep.pods)
