"""How faults enter the cluster and leave it: the rollouts, config changes and scale-outs
that carry them, the leaks they grow, and when each counts as cured.

A fault that changes the cluster's spec is cured when the spec no longer carries it (a
rollback, a new pool size, fewer replicas), which is what ground truth records.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from datetime import datetime, timedelta

from healer.sim import faults
from healer.sim.memory import LeakTick, grow
from healer.sim.physics import ServiceTick
from healer.sim.scenario import FaultSpec, Scenario
from healer.sim.topology import PoolSpec, TopologySpec
from healer.sim.workloads import Deployment

OVERBOOKED = 1.3  # default scale-out of db_max_connections: connections wanted / accepted
LAZY_MINIMUM = 2  # connections a lightly loaded SQLAlchemy pod holds


class Injections:
    """The scenario's faults as launched so far, their cures and the leaks they grow."""

    def __init__(self, scenario: Scenario, deployments: Mapping[str, Deployment]) -> None:
        self.faults = scenario.faults
        self.topology = scenario.topology
        self.deployments = deployments
        self.launched: set[int] = set()
        self.cured: dict[int, datetime] = {}
        self.leaks: dict[str, LeakTick] = {}
        self._seed = scenario.seed
        self._leak_rngs: dict[int, random.Random] = {}
        self._reverted: set[int] = set()

    def launch(self, now: datetime, elapsed: timedelta) -> None:
        """Ship the faults that start now; take back those whose time is up."""
        for i, fault in enumerate(self.faults):
            if i in self.launched or elapsed < fault.at:
                continue
            self.launched.add(i)
            self._ship(i, fault, now)
        for i in sorted(self.launched):
            if faults.intensity(self.faults[i], elapsed) <= 0:
                self._take_back(i, self.faults[i], now)

    def _ship(self, i: int, fault: FaultSpec, now: datetime) -> None:
        dep = self.deployments[fault.target]
        if fault.kind == faults.BAD_DEPLOY:
            image = str(fault.params.get("image", ""))
            dep.deploy(now, defect=float(fault.params["error_rate"]), fault=i, image=image)
        elif fault.kind == faults.POOL_EXHAUSTION and dep.spec.pool is not None:
            dep.reconfigure(_pool_env(dep.spec.pool, int(fault.params["pool_size"]), 0), now, i)
        elif fault.kind == faults.MEMORY_LEAK:
            dep.deploy(now, fault=i, image=str(fault.params.get("image", "")))
            # why: its own stream, so adding a leak leaves every other draw as it was
            self._leak_rngs[i] = random.Random(f"leak/{self._seed}/{i}")
        elif fault.kind == faults.DB_MAX_CONNECTIONS:
            dep.scale(int(fault.params.get("replicas", 0)) or overbooked(dep, self.topology))

    def _take_back(self, i: int, fault: FaultSpec, now: datetime) -> None:
        dep = self.deployments[fault.target]
        if fault.kind == faults.POOL_EXHAUSTION and dep.current.fault == i:
            assert dep.spec.pool is not None
            pool = dep.spec.pool
            dep.reconfigure(_pool_env(pool, pool.size, pool.overflow), now, None)
        elif fault.kind == faults.DB_MAX_CONNECTIONS and i not in self._reverted:
            self._reverted.add(i)  # why: the operator scales back in, once
            if i not in self.cured:
                dep.scale(dep.spec.replicas)

    def note_cures(self, now: datetime) -> None:
        """A shipped fault is cured once its revision no longer runs."""
        for i in self.launched - set(self.cured):
            fault = self.faults[i]
            if fault.kind in faults.SHIPPED and self.deployments[fault.target].running.fault != i:
                self.cured[i] = now

    def note_connections(self, results: Mapping[str, ServiceTick], now: datetime) -> None:
        """db_max_connections is cured once every pod of its service has its connections."""
        for i in self.launched - set(self.cured):
            fault = self.faults[i]
            tick = results.get(fault.target)
            if fault.kind == faults.DB_MAX_CONNECTIONS and tick and not tick.pool.starved_pods:
                self.cured[i] = now

    def grow_leaks(self, tick_s: float) -> None:
        """One tick of every running leak."""
        self.leaks = {}
        for i, rng in self._leak_rngs.items():
            fault = self.faults[i]
            dep = self.deployments[fault.target]
            if dep.running.fault == i:
                minutes = float(fault.params["minutes_to_oom"])
                self.leaks[fault.target] = grow(dep, minutes_to_oom=minutes, tick_s=tick_s, rng=rng)

    def overbooked_services(self) -> set[str]:
        """Services scaled past their database's limit by a fault that is not cured."""
        return {
            self.faults[i].target
            for i in self.launched - set(self.cured) - self._reverted
            if self.faults[i].kind == faults.DB_MAX_CONNECTIONS
        }


def overbooked(dep: Deployment, topology: TopologySpec) -> int:
    """Replicas whose pools want `OVERBOOKED` × the connections the database accepts."""
    pool = dep.spec.pool
    assert pool is not None  # why: checked when the scenario was loaded
    db = topology.database(pool.database)
    # why: HikariCP opens its whole pool at start; a lazy pool opens only what its load
    # needs, which on a lightly loaded pod is a connection or two
    per_pod = dep.pool_size if pool.driver == "hikaricp" else LAZY_MINIMUM
    wanted = OVERBOOKED * (db.max_connections - db.reserved) / max(per_pod, 1)
    return max(dep.desired + 1, math.ceil(wanted))


def _pool_env(pool: PoolSpec, size: int, overflow: int) -> dict[str, str]:
    """The env of a pool `size` connections a pod; a lazy pool's overflow is set with it,
    since a pool_exhaustion fault means `size` connections a pod in all (the push that
    shrank the pool also took its overflow: with overflow left, nothing would run short)."""
    env = {pool.env: str(size)}
    if pool.overflow:
        env[pool.overflow_env] = str(overflow)
    return env
