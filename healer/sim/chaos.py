"""The harmless mess of a real cluster: latency noise, GC pauses, cold starts after a
release, healthy releases at random and containers that restart now and then.

None of it is an incident; all of it is what a detector must not mistake for one.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

from healer.sim.scenario import Realism
from healer.sim.workloads import Deployment

GC_PRONE = {"java": 2.0, "csharp": 2.0, "go": 0.7, "nodejs": 1.0, "python": 1.0, "c": 0.2}
COLD = (1.0, 1.3, 1.8)  # slowdown by ticks of warm-up left


@dataclass(frozen=True)
class Noise:
    jitter: float  # multiplier on the mean
    tail: float  # multiplier on the tail
    cold: float  # slowdown of the work itself (cold caches, JIT warm-up)


class Chaos:
    def __init__(
        self, realism: Realism, tick_s: float, noise: random.Random, ops: random.Random
    ) -> None:
        self._realism = realism
        self._tick_s = tick_s
        self._noise = noise
        self._ops = ops

    def noise(self, dep: Deployment) -> Noise:
        """This tick's noise for one service; the same draws every tick, whatever happens."""
        rng = self._noise
        jitter = math.exp(rng.gauss(0.0, 0.03))
        tail = math.exp(rng.gauss(0.0, 0.12))
        heavy, gc, gc_size = rng.random(), rng.random(), rng.uniform(2.5, 5.0)
        if heavy < 0.03:  # why: latency noise is heavy-tailed, not Gaussian
            tail *= 1.3 + 0.7 * heavy / 0.03
        gc_chance = self._realism.gc_pauses_per_hour * self._tick_s / 3600.0
        if gc < gc_chance * GC_PRONE.get(dep.spec.language, 1.0):
            tail *= gc_size  # a stop-the-world pause lands in this tick's tail
        cold = COLD[min(dep.cold, len(COLD) - 1)]
        dep.cold = max(dep.cold - 1, 0)
        return Noise(jitter, tail * cold, cold)

    def release(
        self, deployments: Mapping[str, Deployment], frozen: Collection[str], now: datetime
    ) -> None:
        """Now and then a healthy release goes out (never onto a service under a fault)."""
        chance = self._realism.deploys_per_day * self._tick_s / 86400.0
        roll, pick = self._ops.random(), self._ops.random()
        names = [n for n in deployments if n not in frozen]
        if roll < chance and names:
            deployments[names[int(pick * len(names))]].deploy(now)

    def restart(self, deployments: Mapping[str, Deployment]) -> None:
        """Now and then a container restarts (OOM kill, failed liveness probe)."""
        chance = self._realism.restarts_per_day * self._tick_s / 86400.0
        roll, pick, pod = self._ops.random(), self._ops.random(), self._ops.randrange(1000)
        deps = list(deployments.values())
        dep = deps[int(pick * len(deps))]
        if roll < chance and dep.pods:
            dep.restart_container(pod)
