"""A scenario ready to run: the cluster, its ports and a clock that moves tick by tick."""

from __future__ import annotations

from datetime import datetime, timedelta

from healer.domain.clock import ManualClock
from healer.sim.adapters import SimKube, SimLogs, SimMetrics
from healer.sim.model import SIM_START, SimCluster
from healer.sim.scenario import Scenario, scenario_by_name


class Simulation:
    """Bundles a scenario with its `SimCluster`, adapters and `ManualClock`.

    `advance()` moves the clock one tick and steps the cluster to it, so whatever runs
    between two calls (the healer's poll) sees the cluster as of `clock.now()`.
    """

    def __init__(
        self,
        scenario: Scenario,
        *,
        start: datetime = SIM_START,
        window: timedelta = timedelta(minutes=1),
    ) -> None:
        self.scenario = scenario
        self.clock = ManualClock(start)
        self.cluster = SimCluster(scenario, start)
        self.metrics = SimMetrics(self.cluster, window=window)
        self.logs = SimLogs(self.cluster)
        self.kube = SimKube(self.cluster)
        self.start = start
        self.end = start + scenario.duration

    @classmethod
    def named(cls, name: str) -> Simulation:
        """A built-in scenario by name, or a scenario file by path."""
        return cls(scenario_by_name(name))

    @property
    def finished(self) -> bool:
        return self.clock.now() >= self.end

    def advance(self) -> datetime:
        """One tick: move the clock, then the cluster; returns the new time."""
        now = self.clock.advance(self.scenario.tick)
        self.cluster.step(now)
        return now

    def run_until(self, when: datetime) -> None:
        """Advance tick by tick until `when` (or the scenario's end)."""
        while self.clock.now() < min(when, self.end):
            self.advance()
