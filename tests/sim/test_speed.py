"""How long the built-in scenarios take; printed (run with -s), never asserted."""

from __future__ import annotations

import time

from healer.sim import Simulation, builtin_scenarios


def test_three_hours_of_online_boutique_take_seconds() -> None:
    for name in builtin_scenarios():
        started = time.perf_counter()
        sim = Simulation.named(name)
        while not sim.finished:
            sim.advance()
        elapsed = time.perf_counter() - started
        print(f"{name}: {sim.cluster.ticks} ticks in {elapsed:.2f}s")
        assert sim.cluster.ticks == 720
