"""What the pods expose: cumulative counters and gauges, and the scrapes that read them.

Each pod keeps Prometheus-style counters that start at zero when it starts (so restarts
reset them), and a scrape copies every ready pod's counters a little before each tick,
unless that scrape is missed. Queries (`healer.sim.promql`) only ever see the scrapes.
"""

from __future__ import annotations

import math
import random
from collections import deque
from dataclasses import dataclass

from healer.sim.physics import ServiceTick
from healer.sim.queueing import LogNormal
from healer.sim.workloads import Deployment, Pod

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, math.inf)
CODES = (200, 404, 499, 500, 503, 504)
REQ = {code: i for i, code in enumerate(CODES)}
CPU_SECONDS = len(CODES)
CPU_PERIODS = CPU_SECONDS + 1
CPU_THROTTLED = CPU_SECONDS + 2
POOL_TIMEOUTS = CPU_SECONDS + 3
HIST_SUM = CPU_SECONDS + 4
HIST_COUNT = CPU_SECONDS + 5
BUCKET0 = CPU_SECONDS + 6
COUNTERS = BUCKET0 + len(BUCKETS)
# gauges
POOL_USED, POOL_MAX, POOL_PENDING, CPU_LIMIT, MEMORY_USED, MEMORY_LIMIT = range(6)
RESTARTS, OOM_KILLED = 6, 7  # kube-state-metrics: restarts_total, last terminated OOMKilled
MIB = 1024.0 * 1024.0
CFS_PERIOD_S = 0.1
NOT_FOUND = 0.004  # 404s: harmless, and not 5xx
CLIENT_GONE = 0.001  # 499s: clients that gave up; more of them when it is slow


@dataclass(frozen=True)
class PodSample:
    pod: str
    counters: tuple[float, ...]
    gauges: tuple[float, ...]


@dataclass(frozen=True)
class Scrape:
    """One scrape: per service the ready pods' samples; a missed service is absent."""

    at: float  # unix seconds
    services: dict[str, tuple[PodSample, ...]]
    databases: dict[str, tuple[float, float]]  # name → (connections, max_connections)


class Draws:
    """Counts drawn the way independent requests fall: Poisson or normal, never negative."""

    def __init__(self, rng: random.Random) -> None:
        self._rng = rng

    def count(self, expected: float) -> int:
        if expected <= 0:
            return 0
        if expected > 30:
            return max(0, round(self._rng.gauss(expected, math.sqrt(expected))))
        limit, k, product = math.exp(-expected), 0, self._rng.random()
        while product > limit:
            k += 1
            product *= self._rng.random()
        return k

    def binomial(self, n: int, p: float) -> int:
        """Successes among `n` independent requests of chance `p` each."""
        if n <= 0 or p <= 0:
            return 0
        if p >= 1:
            return n
        if n * p * (1 - p) > 25:
            return min(n, max(0, round(self._rng.gauss(n * p, math.sqrt(n * p * (1 - p))))))
        if p < 0.5:
            return min(n, self.count(n * p))
        return max(0, n - self.count(n * (1 - p)))


def histogram(tick: ServiceTick, n: int, draws: Draws) -> list[int]:
    """Cumulative bucket counts (le order, +Inf last) for the `n` requests of this tick."""
    dist = LogNormal.fit(tick.mean, tick.p99)
    slow = min(max(tick.timed_out, 0.0), 1.0)  # requests that ran into the timeout
    cumulative, below, total = [], 0.0, 0
    for le in BUCKETS[:-1]:
        p = (1.0 - slow) * dist.cdf(le) + (slow if le >= tick.timeout_s else 0.0)
        if p > below:  # why: draw bucket by bucket from what is left, so counts add up to n
            total += draws.binomial(n - total, (p - below) / (1.0 - below))
            below = p
        cumulative.append(total)
    cumulative.append(n)
    return cumulative


def statuses(tick: ServiceTick, n: int, draws: Draws) -> dict[int, int]:
    out = {code: draws.count(n * share) for code, share in tick.codes.items()}
    out[404] = draws.count(n * NOT_FOUND)
    out[499] = draws.count(n * (CLIENT_GONE + 0.05 * min(1.0, tick.p99 / tick.timeout_s)))
    out[200] = max(0, n - sum(out.values()))
    return out


def record(
    counters: list[list[float]], tick: ServiceTick, tick_s: float, draws: Draws, turn: int
) -> int:
    """Add one tick of traffic to each ready pod's counters; returns the request count."""
    pods = len(counters)
    if pods == 0:
        return 0
    codes = statuses(tick, draws.count(tick.rate * tick_s), draws)
    requests = sum(codes.values())
    totals = [0] * COUNTERS
    for code, count in codes.items():
        totals[REQ[code]] = count
    totals[POOL_TIMEOUTS] = draws.count(requests * tick.pool.failed)
    totals[BUCKET0:] = histogram(tick, requests, draws)
    periods = tick_s / CFS_PERIOD_S
    for i, c in enumerate(counters):
        if not c:
            c.extend([0.0] * COUNTERS)
        k = (i - turn) % pods  # why: rotate who gets the remainder, so pods stay even
        for slot, total in enumerate(totals):
            if total:
                c[slot] += (total + k) // pods  # splits `total` exactly over the pods
        c[CPU_SECONDS] += tick.cpu_used * tick_s / pods
        c[CPU_PERIODS] += periods
        c[CPU_THROTTLED] += round(periods * tick.throttled)
        count = (totals[-1] + k) // pods
        c[HIST_COUNT] += count
        c[HIST_SUM] += count * min(tick.mean, tick.timeout_s)
    return requests


def gauges(tick: ServiceTick, pool_size: int, pods: int, rng: random.Random) -> tuple[float, ...]:
    """One pod's gauges: pool checked out / size / waiting, and its CPU limit."""
    pool = tick.pool
    if pool.wait.saturated:  # why: an exhausted pool has every connection checked out
        used = float(min(pool_size, math.ceil(pool.used)))
    else:
        noisy = round(rng.gauss(pool.used, math.sqrt(pool.used + 0.1)))
        used = min(float(pool_size), max(0.0, noisy))
    pending = max(0.0, round(pool.pending * rng.uniform(0.7, 1.3)))
    return (used, float(pool_size), pending, tick.cpu_limit / max(pods, 1))


def memory(dep: Deployment, pod: Pod) -> tuple[float, float]:
    """One container's working set and memory limit, in bytes (cAdvisor's and the spec's)."""
    return (round(pod.memory_mb * MIB), dep.spec.memory_limit_mb * MIB)


def restarts(pod: Pod) -> tuple[float, float]:
    """One container's restart count and whether its last termination was an OOM kill.

    The simulator restarts a container only the way an OOM kill does (see
    `Deployment.restart_container`), so any restart leaves OOMKilled as the last reason.
    """
    return (float(pod.restarts), 1.0 if pod.restarts else 0.0)


class ScrapeLog:
    """The scrapes of the last `retention_s` seconds, oldest first."""

    def __init__(self, retention_s: float) -> None:
        self.retention_s = retention_s
        self.scrapes: deque[Scrape] = deque()

    def add(self, scrape: Scrape) -> None:
        self.scrapes.append(scrape)
        while self.scrapes and self.scrapes[0].at < scrape.at - self.retention_s:
            self.scrapes.popleft()

    def window(self, since: float, until: float) -> list[Scrape]:
        return [s for s in self.scrapes if since < s.at <= until]
