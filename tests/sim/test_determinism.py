from __future__ import annotations

import dataclasses
from datetime import timedelta

from healer.sim import Simulation, scenario_by_name


def run(seed: int) -> tuple[list[object], list[str], object]:
    scenario = dataclasses.replace(scenario_by_name("bad-deploy"), seed=seed)
    sim = Simulation(scenario)
    sim.run_until(sim.start + timedelta(minutes=100))
    now = sim.clock.now()
    logs = [r.message for r in sim.logs.read(now - timedelta(minutes=30), now).records]
    return list(sim.cluster.truth), logs, sim.metrics.snapshot(now)


def test_same_seed_same_run() -> None:
    assert run(4) == run(4)


def test_other_seed_other_run() -> None:
    a, b = run(4), run(5)
    assert a[0] != b[0] and a[1] != b[1] and a[2] != b[2]
