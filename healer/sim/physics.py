"""How one service behaves for one tick, given its load, its state and its callees.

Per request: CPU (queueing once the replicas' CPU limits fill), waiting on I/O, a
transaction on a pooled connection (queueing for one when the pool is busy), the calls
to its callees; all of it holds a worker, and workers queue too. Failures come from
timeouts in any of those queues, from the code itself (a bad version), and from callees
(after one retry for the unavailable ones).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from healer.sim.faults import NONE, Effects
from healer.sim.queueing import NO_WAIT, LogNormal, Wait, any_of, combine_excess, wait
from healer.sim.topology import ServiceSpec

CPU_SERVERS = 2.0  # a replica's CPU quota queues like a small multi-server queue
TAIL_FOLLOWS_WORK = 0.1  # how much of the healthy tail scales with slower own work
BACKGROUND_500 = 0.0001  # the odd bug that fails a request now and then
BACKGROUND_503 = 0.0005  # connection resets and the like; callers retry these
# Callers retry an unavailable callee once (gRPC UNAVAILABLE; the 503 and connect
# failures of Envoy's and Istio's default retry policy), never one that timed out: the
# deadline is spent, so a retry would only double the load on a service already too slow.
RETRYABLE = (503,)


@dataclass(frozen=True)
class Conditions:
    """A service's state for this tick, as the cluster and the faults make it."""

    spec: ServiceSpec
    pods: int
    effects: Effects = NONE
    pool_caps: tuple[int, ...] = ()  # connections each ready pod obtained
    pool_size: int = 0  # configured connections per pod (its env var)
    pool_overflow: int = 0  # configured overflow per pod (SQLAlchemy's max_overflow)
    defect: float = 0.0  # share of requests the running version fails by itself
    cold: float = 1.0  # >1 right after pods restart: cold caches, JIT warm-up
    jitter: float = 1.0  # this tick's multiplier on the mean
    tail: float = 1.0  # this tick's multiplier on the tail (GC pauses, noisy neighbours)
    crashed: float = 0.0  # share of requests lost to containers killed this tick


@dataclass(frozen=True)
class Callee:
    """A call to a callee as its caller sees it, with the tick's result of the callee."""

    name: str
    calls: float
    z: float | None  # where the callee's distribution reaches the caller's p99
    tick: ServiceTick


@dataclass(frozen=True)
class PoolTick:
    used: float = 0.0  # connections checked out per pod
    pending: float = 0.0  # requests waiting for one, per pod
    failed: float = 0.0  # share of requests that timed out waiting
    wait: Wait = NO_WAIT
    starved_pods: int = 0  # pods that could not open all their connections


@dataclass
class ServiceTick:
    """What one service did in one tick; shares are of all its requests."""

    rate: float
    mean: float
    p99: float
    timeout_s: float
    codes: dict[int, float] = field(default_factory=dict)
    reasons: dict[str, float] = field(default_factory=dict)
    timed_out: float = 0.0  # share that ended at the timeout (counted in the +Inf tail)
    cpu_used: float = 0.0
    cpu_limit: float = 0.0
    throttled: float = 0.0
    pool: PoolTick = PoolTick()
    up: bool = True

    @property
    def error_ratio(self) -> float:
        return sum(self.codes.values())

    @property
    def retryable(self) -> float:
        return sum(self.codes.get(code, 0.0) for code in RETRYABLE)

    @property
    def distribution(self) -> LogNormal:
        return LogNormal.fit(self.mean, self.p99)


def down(spec: ServiceSpec, rate: float) -> ServiceTick:
    """No ready pod: callers get connection failures at once."""
    return ServiceTick(rate, 0.001, 0.002, spec.timeout_s, {503: 1.0}, {"down": 1.0}, up=False)


def serve(c: Conditions, rate: float, callees: Sequence[Callee]) -> ServiceTick:
    """One tick of a service receiving `rate` requests/s, its callees already served."""
    spec = c.spec
    if c.pods <= 0:
        return down(spec, rate)
    per_pod = rate / c.pods
    cpu_s = spec.cpu_ms / 1000.0 * c.effects.cpu_factor * c.cold
    io_s = spec.io_ms / 1000.0 * c.effects.io_factor
    cpu_limit = c.pods * spec.cpu_limit
    busy_cpu = rate * cpu_s / cpu_limit
    cpu = wait(busy_cpu, cpu_s, CPU_SERVERS, spec.timeout_s)
    pool, hold_s = _pool(c, per_pod)
    down_mean = sum(e.calls * e.tick.mean for e in callees)
    busy = cpu_s + cpu.settled + io_s + hold_s + pool.wait.settled + down_mean
    workers = wait(per_pod * busy / spec.workers, busy, spec.workers, spec.timeout_s)
    backlog = max(cpu.mean - cpu.settled, pool.wait.mean - pool.wait.settled, workers.mean)
    mean = (busy + backlog) * c.jitter
    excess = combine_excess(
        [
            _own_tail(c, cpu_s + io_s + hold_s),
            cpu.p99 - cpu.mean,
            pool.wait.p99 - pool.wait.mean,
            workers.p99 - workers.mean,
            *(_callee_tail(e) for e in callees),
        ]
    )
    tick = ServiceTick(rate, mean, min(mean + excess, spec.timeout_s), spec.timeout_s)
    late = _delay(tick, c.effects.delay_s, mean + excess) if c.effects.delay_s > 0 else 0.0
    _fail(tick, c, cpu=cpu, workers=workers, pool=pool, callees=callees, late=late)
    tick.cpu_limit = cpu_limit
    tick.cpu_used = min(rate * cpu_s, cpu_limit) + 0.01 * cpu_limit
    tick.throttled = min(1.0, max(0.0, (busy_cpu - 0.5) / 0.5)) ** 2 * 0.9
    tick.pool = pool
    return tick


def _delay(tick: ServiceTick, delay_s: float, p99: float) -> float:
    """Add a network delay in front of the service; the share it pushes past the deadline.

    The delay sits in the inbound proxy, so it holds the callers' workers, not this
    service's, and the proxy's request-duration histogram includes it.
    """
    left = tick.timeout_s - delay_s
    late = 1.0 if left <= 0 else 1.0 - LogNormal.fit(tick.mean, p99).cdf(left)
    tick.mean = min(tick.mean + delay_s, tick.timeout_s)
    tick.p99 = min(p99 + delay_s, tick.timeout_s)
    return min(max(late, 0.0), 1.0)


def _own_tail(c: Conditions, own_s: float) -> float:
    spec = c.spec
    base = (spec.cpu_ms + spec.io_ms) / 1000.0 + _hold_s(spec)
    slower = own_s / base if base > 0 else 1.0
    # why: most of a healthy tail comes from GC, cache misses and noisy neighbours,
    # which do not grow with a slower code path; only a little of it follows the work
    return (spec.spread - 1.0) * base * (1.0 + TAIL_FOLLOWS_WORK * (slower - 1.0)) * c.tail


def _hold_s(spec: ServiceSpec) -> float:
    return spec.pool.queries * spec.pool.hold_ms / 1000.0 if spec.pool else 0.0


def _callee_tail(e: Callee) -> float:
    if e.z is None or not e.tick.up:
        return 0.0
    tail = e.tick.distribution.quantile(e.z) - e.tick.mean
    return max(tail, 0.0) * math.sqrt(max(e.calls, 1.0))


def _pool(c: Conditions, per_pod: float) -> tuple[PoolTick, float]:
    pool = c.spec.pool
    if pool is None:
        return PoolTick(), 0.0
    hold_s = _hold_s(c.spec)
    timeout = min(pool.timeout_s, c.spec.timeout_s)
    total = Wait()
    used = pending = 0.0
    caps = c.pool_caps or (0,) * c.pods
    for cap in caps:
        if cap <= 0:  # why: no connection at all; every request waits out the timeout
            got = Wait(timeout, timeout, 1.0, per_pod * timeout, saturated=True)
        else:
            got = wait(per_pod * hold_s / cap, hold_s, cap, timeout)
        total = Wait(
            total.mean + got.mean / len(caps),
            max(total.p99, got.p99),
            total.failed + got.failed / len(caps),
            total.queued + got.queued / len(caps),
            total.saturated or got.saturated,
        )
        busy = cap if got.saturated else min(per_pod * hold_s * (1.0 - got.failed), cap)
        used += busy / len(caps)
        pending += got.queued / len(caps)
    starved = sum(1 for cap in caps if cap < min(c.pool_size, _wanted(c, per_pod)))
    return PoolTick(used, pending, total.failed, total, starved), hold_s


def _wanted(c: Conditions, per_pod: float) -> int:
    """Connections a pod tries to hold: HikariCP fills its pool, SQLAlchemy opens lazily."""
    pool = c.spec.pool
    if pool is None:
        return 0
    if pool.driver == "hikaricp":
        return c.pool_size
    # why: QueuePool keeps up to pool_size connections open between requests but closes
    # an overflow connection as soon as it is returned, so a pod holds its pool's share
    # of what it needs plus only the overflow its busiest moments call for
    need = math.ceil(per_pod * _hold_s(c.spec) * 1.5)
    return min(c.pool_size, need + 1) + min(c.pool_overflow, max(need - c.pool_size, 0))


def wanted_connections(c: Conditions, rate: float) -> int:
    return _wanted(c, rate / c.pods) if c.pods > 0 else 0


def _fail(
    tick: ServiceTick,
    c: Conditions,
    *,
    cpu: Wait,
    workers: Wait,
    pool: PoolTick,
    callees: Sequence[Callee],
    late: float = 0.0,
) -> None:
    # why: saturated resources are bottlenecks in series; the tightest one decides
    # how many requests get through, so only its failures count
    # a full Java thread pool rejects at once (503); elsewhere the excess waits until
    # the caller's deadline runs out (504)
    full = 503 if c.spec.language == "java" else 504
    queues = [
        ("pool", 500, pool.failed),
        ("cpu", 504, cpu.failed),
        ("workers", full, workers.failed),
    ]
    bottleneck = max(queues, key=lambda q: q[2])
    shares: list[tuple[str, int, float]] = [
        ("background", 500, BACKGROUND_500),
        ("reset", 503, BACKGROUND_503),
        ("deploy", 500, c.defect),
        bottleneck,
    ]
    if c.effects.failing > 0:  # why: the external call fails, so the request does
        shares.append(("external", c.effects.failing_status, c.effects.failing))
    if late > 0:  # why: the proxy's delay ran the caller's deadline out
        shares.append(("network", 504, late))
    if c.crashed > 0:  # why: requests in flight on a killed container are reset
        shares.append(("oom", 503, c.crashed))
    for e in callees:
        t = e.tick
        seen = t.error_ratio - t.retryable + t.retryable * t.error_ratio  # after one retry
        code = 504 if t.codes.get(504, 0.0) > t.error_ratio / 2 else (503 if not t.up else 500)
        shares.append((f"upstream:{e.name}", code, min(1.0, e.calls * seen)))
    total = any_of([s for _, _, s in shares])
    raw = sum(s for _, _, s in shares)
    if raw <= 0:
        return
    scale = total / raw
    for reason, code, share in shares:
        if share > 0:
            tick.codes[code] = tick.codes.get(code, 0.0) + share * scale
            tick.reasons[reason] = share * scale
    tick.timed_out = tick.reasons.get("cpu", 0.0) + tick.reasons.get("workers", 0.0)
    tick.timed_out += tick.reasons.get("network", 0.0)
