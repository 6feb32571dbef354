"""The harmless mess of a real cluster: latency noise, GC pauses, cold starts after a
release, healthy releases at random and containers that restart now and then.

None of it is an incident; all of it is what a detector must not mistake for one. A spell
of noise lasts `NOISE_PERIOD_S` whatever the tick, so a minute of telemetry is as noisy
with 1 s ticks as with 15 s ones.
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
COLD = (1.0, 1.3, 1.8)  # slowdown by periods of warm-up left
NOISE_PERIOD_S = 15.0  # how long a slow spell (GC pause, noisy neighbour, load swing) lasts


def held_ticks(tick_s: float) -> int:
    """Ticks one draw of noise is held for: a spell lasts about `NOISE_PERIOD_S`."""
    return max(1, round(NOISE_PERIOD_S / tick_s))


@dataclass(frozen=True)
class Noise:
    jitter: float  # multiplier on the mean
    tail: float  # multiplier on the tail
    cold: float  # slowdown of the work itself (cold caches, JIT warm-up)


@dataclass
class _Spell:
    """One service's noise for one period, held over the ticks of that period."""

    ticks_left: int
    jitter: float
    tail: float
    cold: float


class Chaos:
    def __init__(
        self, realism: Realism, tick_s: float, noise: random.Random, ops: random.Random
    ) -> None:
        self._realism = realism
        self._tick_s = tick_s
        self._noise = noise
        self._ops = ops
        self._hold = held_ticks(tick_s)
        self._spells: dict[str, _Spell] = {}

    def noise(self, dep: Deployment) -> Noise:
        """This tick's noise for one service; the same draws every tick, whatever happens."""
        jitter, tail = self._draw(dep)
        spell = self._spells.get(dep.spec.name)
        level = COLD[min(dep.cold, len(COLD) - 1)]
        if spell is None or spell.ticks_left <= 0:
            spell = _Spell(self._hold, jitter, tail, level)
            self._spells[dep.spec.name] = spell
            dep.cold = max(dep.cold - 1, 0)  # why: warm-up is counted in periods, not ticks
        elif level > spell.cold:  # why: pods that restart within a spell are cold at once,
            spell.cold = level  # and the rest of the spell is their first period of warm-up
            dep.cold = max(dep.cold - 1, 0)
        spell.ticks_left -= 1
        return Noise(spell.jitter, spell.tail * spell.cold, spell.cold)

    def _draw(self, dep: Deployment) -> tuple[float, float]:
        rng = self._noise
        jitter = math.exp(rng.gauss(0.0, 0.03))
        tail = math.exp(rng.gauss(0.0, 0.12))
        heavy, gc, gc_size = rng.random(), rng.random(), rng.uniform(2.5, 5.0)
        if heavy < 0.03:  # why: latency noise is heavy-tailed, not Gaussian
            tail *= 1.3 + 0.7 * heavy / 0.03
        gc_chance = self._realism.gc_pauses_per_hour * self._tick_s * self._hold / 3600.0
        if gc < gc_chance * GC_PRONE.get(dep.spec.language, 1.0):
            tail *= gc_size  # a stop-the-world pause lands in this period's tail
        return jitter, tail

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
