"""Running built-in scenarios for the tests, with an optional cure part-way."""

from __future__ import annotations

import dataclasses
import statistics
from collections.abc import Callable
from datetime import timedelta
from functools import cache

from healer.domain.model import ServiceRef
from healer.sim import Simulation, scenario_by_name
from healer.sim.model import TruthTick

ONSET_MIN = 95.0
CURE_MIN = 105.0

Cure = Callable[[Simulation], None]


def simulate(
    name: str,
    *,
    until_min: float = 180.0,
    seed: int | None = None,
    cure: Cure | None = None,
    cure_min: float = CURE_MIN,
) -> Simulation:
    scenario = scenario_by_name(name)
    if seed is not None:
        scenario = dataclasses.replace(scenario, seed=seed)
    sim = Simulation(scenario)
    if cure is not None:
        sim.run_until(sim.start + timedelta(minutes=cure_min))
        cure(sim)
    sim.run_until(sim.start + timedelta(minutes=until_min))
    return sim


@cache
def uncured(name: str) -> Simulation:
    """Each built-in scenario run to its end once per test session, untouched."""
    return simulate(name)


def minute(sim: Simulation, tick: TruthTick) -> float:
    return (tick.at - sim.start).total_seconds() / 60.0


def truth(sim: Simulation, a: float, b: float) -> list[TruthTick]:
    return [t for t in sim.cluster.truth if a <= minute(sim, t) < b]


def p99(sim: Simulation, ref: ServiceRef, a: float, b: float) -> float:
    """Median true p99 of a service over minutes [a, b)."""
    return statistics.median(t.p99[ref] for t in truth(sim, a, b))


def errors(sim: Simulation, ref: ServiceRef, a: float, b: float) -> float:
    """Mean true 5xx ratio of a service over minutes [a, b)."""
    return statistics.mean(t.error_ratio[ref] for t in truth(sim, a, b))


def ref(sim: Simulation, name: str) -> ServiceRef:
    return sim.scenario.ref(name)
