"""The simulated cluster: one `step(now)` advances every service by one tick.

Order of a tick: faults that start now ship their rollouts, a random healthy release or
container restart may happen, controllers start and restart pods, traffic arrives and
flows down the call graph (with retries), pools claim database connections, every
service is served callees first, and the pods' counters, the scrape, the logs and the
ground truth are written.
"""

from __future__ import annotations

import random
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta

from healer.domain.model import Cause, ServiceRef
from healer.sim import faults
from healer.sim.chaos import Chaos
from healer.sim.database import claim_connections
from healer.sim.injection import Injections
from healer.sim.logs import LogContext, LogTick, count_lines
from healer.sim.physics import Callee, Conditions, ServiceTick, serve
from healer.sim.queueing import z_score
from healer.sim.scenario import FaultSpec, Scenario
from healer.sim.telemetry import (
    Draws,
    PodSample,
    Scrape,
    ScrapeLog,
    gauges,
    memory,
    record,
    restarts,
)
from healer.sim.traffic import EntryTraffic
from healer.sim.workloads import Deployment

SIM_START = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)  # a Monday morning: traffic is climbing


@dataclass(frozen=True)
class InjectedFault:
    """A scenario's fault with its ground truth: where, when it began, when it was cured."""

    index: int
    fault: FaultSpec
    service: ServiceRef
    onset: datetime
    cause: Cause
    cured: datetime | None = None  # when a rollout fault stopped running (rollback, fix)


@dataclass(frozen=True)
class TruthTick:
    """The true state of one tick, before any scrape or query blurs it."""

    at: datetime
    p99: Mapping[ServiceRef, float]
    error_ratio: Mapping[ServiceRef, float]
    rate: Mapping[ServiceRef, float]


class SimCluster:
    """Services, pods, databases and faults of one scenario, in simulated time."""

    def __init__(
        self, scenario: Scenario, start: datetime = SIM_START, *, retention: timedelta | None = None
    ) -> None:
        self.scenario = scenario
        self.topology = scenario.topology
        self.start = self.now = start
        self.tick_s = scenario.tick.total_seconds()
        master = random.Random(scenario.seed)
        streams = [random.Random(master.getrandbits(64)) for _ in range(7)]
        self._traffic_rng, self._noise, self._counts, self._logs, self._ops = streams[:5]
        self._scrape_rng, pods_rng = streams[5:]
        self.traffic = EntryTraffic(scenario.traffic, self._traffic_rng, self.tick_s)
        self.chaos = Chaos(scenario.realism, self.tick_s, self._noise, self._ops)
        self.deployments = {s.name: Deployment(s, start, pods_rng) for s in self.topology.services}
        self._by_ref = {d.ref: d for d in self.deployments.values()}
        self._callees = {name: self._edges(name) for name in self.topology.names()}
        self.injections = Injections(scenario, self.deployments)
        keep = retention or max(timedelta(hours=2), scenario.tick * 8)
        self.scrapes = ScrapeLog(keep.total_seconds())
        self.log_ticks: deque[LogTick] = deque()
        self._log_keep = keep
        self.truth: list[TruthTick] = []
        self.last: dict[str, ServiceTick] = {}
        self.ticks = 0
        self._held: dict[str, int] = {}
        self._engines = {
            s.name: self.topology.database(s.pool.database).engine
            for s in self.topology.services
            if s.pool is not None
        }
        self.scrapes.add(Scrape(start.timestamp(), self._samples({}), self._db_stats()))

    def _edges(self, name: str) -> list[tuple[str, float, float | None]]:
        out = []
        for edge in self.topology.callees(name):
            reach = min(edge.calls, 1.0)
            z = z_score(1.0 - 0.01 / reach) if reach > 0.011 else None
            out.append((edge.callee, edge.calls, z))
        return out

    # --- reading ---

    def deployment(self, service: ServiceRef) -> Deployment:
        return self._by_ref[service]

    def has(self, service: ServiceRef) -> bool:
        return service in self._by_ref

    def active_faults(self, when: datetime | None = None) -> tuple[InjectedFault, ...]:
        """The faults in effect at `when` (default now), as far as the run has got.

        A cost fault (CPU, slow dependency) stays in effect even when scaling hides it;
        a fault that shipped as a rollout ends when its revision stops running.
        """
        at = when or self.now
        return tuple(
            f
            for f in self.fault_onsets()
            if faults.intensity(f.fault, at - self.start) > 0 and (f.cured is None or at < f.cured)
        )

    def fault_onsets(self) -> tuple[InjectedFault, ...]:
        """Every fault of the scenario, with its onset and (once cured) its cure."""
        return tuple(
            InjectedFault(
                i,
                f,
                self.topology.service(f.target).ref,
                self.start + f.at,
                faults.cause(f.kind),
                self.injections.cured.get(i),
            )
            for i, f in enumerate(self.scenario.faults)
        )

    # --- time ---

    def step(self, now: datetime) -> None:
        """Advance to `now`, one tick after the previous step."""
        since, self.now = self.now, now
        self.ticks += 1
        self.injections.launch(now, now - self.start)
        frozen = {f.fault.target for f in self.active_faults(now)}
        frozen |= {n for n, d in self.deployments.items() if d.current.fault is not None}
        self.chaos.release(self.deployments, frozen, now)
        self.chaos.restart(self.deployments)
        for dep in self.deployments.values():
            dep.reconcile(now)
        self.injections.note_cures(now)
        self.injections.grow_leaks(self.tick_s)
        rates = self._rates(now)
        conditions = self._conditions(rates, now)
        results: dict[str, ServiceTick] = {}
        for name in reversed(self.topology.order):
            callees = [Callee(c, n, z, results[c]) for c, n, z in self._callees[name]]
            results[name] = serve(conditions[name], rates[name], callees)
        self.injections.note_connections(results, now)
        self._write(results, conditions, since, now)
        self.last = results

    def restart_pod(self, service: ServiceRef, index: int = 0) -> None:
        """Restart one pod's container now, as an OOM kill would (for tests and chaos)."""
        dep = self.deployment(service)
        if dep.pods:
            dep.restart_container(index)

    def _rates(self, now: datetime) -> dict[str, float]:
        entry = self.traffic.rate(now)
        rates = dict.fromkeys(self.topology.names(), 0.0)
        surges = faults.surges(self._levels(now))
        for name, share in self.topology.entry_shares().items():
            rates[name] += entry * share * surges.get(name, 1.0)
        for name in self.topology.order:
            if not self.deployments[name].pods:
                continue  # why: a service with no pods calls nobody
            for callee, calls, _ in self._callees[name]:
                previous = self.last.get(callee)
                retry = previous.retryable if previous else 0.0
                rates[callee] += rates[name] * calls * (1.0 + retry)
        return rates

    def _conditions(self, rates: dict[str, float], now: datetime) -> dict[str, Conditions]:
        elapsed = now - self.start
        effects = faults.effects(self._levels(now))
        out = {}
        for name, dep in self.deployments.items():
            defect = dep.running.defect
            if dep.running.fault is not None:  # why: a canary ramps up its share of traffic
                defect *= faults.intensity(self.scenario.faults[dep.running.fault], elapsed)
            noise = self.chaos.noise(dep)
            leak = self.injections.leaks.get(name)
            effect = effects.get(name, faults.NONE)
            if leak is not None:  # why: a collector near its limit costs CPU on every request
                effect = replace(effect, cpu_factor=effect.cpu_factor * leak.gc_factor)
            out[name] = Conditions(
                dep.spec,
                len(dep.pods),
                effect,
                pool_size=dep.pool_size,
                pool_overflow=dep.pool_overflow,
                defect=defect,
                cold=noise.cold,
                jitter=noise.jitter,
                tail=noise.tail,
                crashed=leak.crashed if leak is not None else 0.0,
            )
        self._held = claim_connections(self.topology, self.deployments, out, rates)
        return out

    # --- what the tick leaves behind ---

    def _levels(self, now: datetime) -> list[tuple[FaultSpec, float]]:
        """Each launched fault with how much of it is in effect now."""
        elapsed = now - self.start
        return [
            (f, faults.intensity(f, elapsed))
            for i, f in enumerate(self.scenario.faults)
            if i in self.injections.launched
        ]

    def _write(
        self,
        results: dict[str, ServiceTick],
        conditions: dict[str, Conditions],
        since: datetime,
        now: datetime,
    ) -> None:
        draws = Draws(self._counts)
        requests: dict[str, int] = {}
        for name, dep in self.deployments.items():
            counters = [pod.counters for pod in dep.pods]
            requests[name] = record(counters, results[name], self.tick_s, draws, self.ticks)
        at = now.timestamp() - self._scrape_rng.uniform(0.0, 0.8)
        self.scrapes.add(Scrape(at, self._samples(results), self._db_stats()))
        self._write_logs(results, conditions, requests, since, now)
        self.truth.append(
            TruthTick(
                now,
                {d.ref: results[n].p99 for n, d in self.deployments.items()},
                {d.ref: results[n].error_ratio for n, d in self.deployments.items()},
                {d.ref: results[n].rate for n, d in self.deployments.items()},
            )
        )

    def _samples(self, results: Mapping[str, ServiceTick]) -> dict[str, tuple[PodSample, ...]]:
        """Every ready pod's counters and gauges; a missed scrape leaves its service out."""
        out: dict[str, tuple[PodSample, ...]] = {}
        missed = self.scenario.realism.missed_scrapes if results else 0.0
        for name, dep in self.deployments.items():
            if self._scrape_rng.random() < missed:
                continue
            tick = results.get(name)
            out[name] = tuple(
                PodSample(
                    pod.name,
                    tuple(pod.counters),
                    self._gauges(dep, tick) + memory(dep, pod) + restarts(pod),
                )
                for pod in dep.pods
            )
        return out

    def _gauges(self, dep: Deployment, tick: ServiceTick | None) -> tuple[float, ...]:
        if tick is None:
            return (0.0, float(dep.pool_size), 0.0, dep.spec.cpu_limit)
        return gauges(tick, dep.pool_size, len(dep.pods), self._scrape_rng)

    def _db_stats(self) -> dict[str, tuple[float, float]]:
        return {
            d.name: (float(d.reserved + self._held.get(d.name, 0)), float(d.max_connections))
            for d in self.topology.databases
        }

    def _write_logs(
        self,
        results: dict[str, ServiceTick],
        conditions: dict[str, Conditions],
        requests: dict[str, int],
        since: datetime,
        now: datetime,
    ) -> None:
        logs = LogTick(since, now)
        leaks, overbooked = self.injections.leaks, self.injections.overbooked_services()
        apis = faults.external_apis(self.scenario.faults)
        for name, dep in self.deployments.items():
            if not dep.pods:
                continue  # why: no pod, nobody to write a line
            caps = conditions[name].pool_caps
            ctx = LogContext(
                dep.ref, dep.spec, results[name], requests[name], since, now,
                pool_size=dep.pool_size,
                pool_overflow=dep.pool_overflow,
                pool_per_pod=min(caps) if caps else 0,
                noise=self.scenario.realism.log_noise,
                oom_kills=leaks[name].kills if name in leaks else 0,
                overbooked=name in overbooked,
                api=apis.get(name, ("", 500)),
                db_engine=self._engines.get(name, "postgresql"),
            )  # fmt: skip
            logs.add(ctx, count_lines(ctx, self._logs), self._logs.getrandbits(64))
        self.log_ticks.append(logs)
        while self.log_ticks and self.log_ticks[0].until < now - self._log_keep:
            self.log_ticks.popleft()
