"""How long the built-in scenarios take; printed (run with -s), never asserted."""

from __future__ import annotations

import dataclasses
import time
from datetime import timedelta

from healer.sim import Simulation, builtin_scenarios, builtin_topology, scenario_by_name


def test_three_hours_of_online_boutique_take_seconds() -> None:
    for name in builtin_scenarios():
        started = time.perf_counter()
        sim = Simulation.named(name)
        while not sim.finished:
            sim.advance()
        elapsed = time.perf_counter() - started
        print(f"{name}: {sim.cluster.ticks} ticks in {elapsed:.2f}s")
        assert sim.cluster.ticks == 720


def test_an_hour_of_each_topology_takes_seconds() -> None:
    base = scenario_by_name("steady-state")
    for name in ("online-boutique", "sock-shop", "train-ticket", "chain-20", "fanout-50"):
        scenario = dataclasses.replace(
            base, topology=builtin_topology(name), duration=timedelta(hours=1)
        )
        started = time.perf_counter()
        sim = Simulation(scenario)
        while not sim.finished:
            sim.advance()
        elapsed = time.perf_counter() - started
        print(f"{name}: {len(scenario.topology.services)} services, 1 h in {elapsed:.2f}s")
        assert sim.cluster.ticks == 240
