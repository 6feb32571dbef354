"""Queueing approximations and latency distributions, in plain floats.

Each tick the simulator treats every resource (CPU, workers, a connection pool) as a
multi-server queue in steady state; that is crude, but it bends in the right places:
waits stay small until utilisation nears 1, then explode, and past 1 requests time out.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

Z99 = 2.3263478740408408  # standard normal quantile of 0.99
OVERLOAD = 0.98  # utilisation from which the queue is treated as never draining
_NORMAL = NormalDist()


@dataclass(frozen=True)
class Wait:
    """Time spent queueing for a resource, and the requests that gave up waiting."""

    mean: float = 0.0  # seconds
    p99: float = 0.0  # seconds
    failed: float = 0.0  # fraction of requests that timed out waiting
    queued: float = 0.0  # mean number of requests waiting (Little's law)
    saturated: bool = False  # arrivals beyond capacity: this resource is a bottleneck

    @property
    def settled(self) -> float:
        """The wait a request spends here apart from a bottleneck's backlog.

        Past saturation the backlog forms once, wherever requests queue first (usually
        for a worker); counting it again as time holding a worker would saturate the
        workers too and fail the same requests twice.
        """
        return 0.0 if self.saturated else self.mean


NO_WAIT = Wait()


def wait(utilisation: float, service_s: float, servers: float, timeout_s: float) -> Wait:
    """Queueing delay of an M/M/c queue (Sakasegawa's approximation) with impatience.

    Below saturation, P(wait) ≈ ρ^√(2(c+1)) and the wait is exponential with rate
    c(1−ρ)/S; requests waiting longer than `timeout_s` fail. Past saturation the queue
    grows until impatience balances it: the excess share 1 − 1/ρ fails and those served
    have waited most of the timeout.
    """
    if utilisation <= 0 or service_s <= 0:
        return NO_WAIT
    c = max(servers, 1.0)
    arrivals = utilisation * c / service_s
    if utilisation >= OVERLOAD:
        failed = max(1.0 - 1.0 / utilisation, 0.01)
        mean = 0.5 * timeout_s
        return Wait(mean, timeout_s, failed, arrivals * mean, saturated=True)
    p_wait = min(1.0, utilisation ** math.sqrt(2.0 * (c + 1.0)))
    drain = c * (1.0 - utilisation) / service_s  # rate at which a queued wait decays
    mean = min(p_wait / drain, timeout_s)
    p99 = math.log(p_wait / 0.01) / drain if p_wait > 0.01 else 0.0
    failed = p_wait * math.exp(-drain * timeout_s)
    return Wait(mean, min(p99, timeout_s), failed, arrivals * mean)


@dataclass(frozen=True)
class LogNormal:
    """A latency distribution fitted to a mean and a p99 (seconds)."""

    mu: float
    sigma: float

    @classmethod
    def fit(cls, mean: float, p99: float) -> LogNormal:
        mean = max(mean, 1e-6)
        ratio = math.log(max(p99, mean * 1.01) / mean)
        # why: ln(p99/mean) = zσ − σ²/2 has a root only up to z²/2; beyond it the
        # p99 is kept exact and the mean is let go (tails matter more than means here)
        sigma = Z99 if 2.0 * ratio >= Z99 * Z99 else Z99 - math.sqrt(Z99 * Z99 - 2.0 * ratio)
        return cls(math.log(max(p99, mean * 1.01)) - Z99 * sigma, sigma)

    def cdf(self, x: float) -> float:
        if x <= 0:
            return 0.0
        return 0.5 * math.erfc(-(math.log(x) - self.mu) / (self.sigma * math.sqrt(2.0)))

    def quantile(self, z: float) -> float:
        """The value at standard normal score `z` (e.g. `Z99`)."""
        return math.exp(self.mu + self.sigma * z)

    @property
    def mean(self) -> float:
        return math.exp(self.mu + self.sigma * self.sigma / 2.0)


def z_score(level: float) -> float:
    """Standard normal quantile, clamped so that certain events stay finite."""
    return _NORMAL.inv_cdf(min(max(level, 1e-6), 1.0 - 1e-9))


def combine_excess(parts: list[float], correlation: float = 0.3) -> float:
    """Tail above the mean of a sum whose parts are partly correlated.

    Fully correlated tails add; independent ones add in quadrature; real call trees
    sit between (a GC pause or a noisy neighbour slows several hops at once).
    """
    if not parts:
        return 0.0
    linear = sum(parts)
    quadrature = math.sqrt(sum(p * p for p in parts))
    return correlation * linear + (1.0 - correlation) * quadrature


def any_of(chances: list[float]) -> float:
    """Probability that at least one of several independent events happens."""
    miss = 1.0
    for chance in chances:
        miss *= 1.0 - min(max(chance, 0.0), 1.0)
    return 1.0 - miss
