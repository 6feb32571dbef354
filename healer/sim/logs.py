"""Error-level log lines, as the services of a real cluster write them.

Each tick a service writes some harmless errors (clients hanging up, retried calls,
cache misses, deprecation warnings logged at the wrong level) in bursty volume, plus one
line per real failure: pool timeouts, refused database connections, upstream errors,
timeouts under saturation, stack traces of a broken version. Ids, numbers and hosts
change from line to line, so a reader has to mine templates. Only a sample of the lines
is kept; the true count goes into the totals. Rates that are not per request are per
noise period (`healer.sim.chaos.NOISE_PERIOD_S`), so they do not depend on the tick.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from healer.domain.model import LogRecord, ServiceRef
from healer.sim import stacks
from healer.sim.chaos import NOISE_PERIOD_S
from healer.sim.physics import ServiceTick
from healer.sim.telemetry import Draws
from healer.sim.topology import ServiceSpec

SAMPLE = 30  # records kept per service per tick
NOISE_PER_PERIOD = 1.2  # harmless error lines per service per noise period, on average
NOISE_BURST = 0.03  # chance per period that a service's harmless noise bursts
TOO_MANY_PER_POD = 6.0  # refused connection attempts logged per starved pod per period


@dataclass(frozen=True)
class LogContext:
    """What a service's logs of one tick are about."""

    ref: ServiceRef
    spec: ServiceSpec
    tick: ServiceTick
    requests: int
    since: datetime
    until: datetime
    pool_size: int = 0
    pool_overflow: int = 0
    pool_per_pod: int = 0  # connections a pod holds (fewer than its size when starved)
    noise: float = 1.0
    oom_kills: int = 0  # containers OOMKilled this tick; each dies with one line
    overbooked: bool = False  # its database refuses it because a fault scaled it out
    api: tuple[str, int] = ("", 500)  # a failing external API's host, and the code it causes
    db_engine: str = "postgresql"  # of the database its pool connects to


def count_lines(ctx: LogContext, rng: random.Random) -> dict[str, int]:
    """How many error lines of each kind the service wrote this tick."""
    return _counts(ctx, Draws(rng), rng)


def sample_lines(ctx: LogContext, counts: dict[str, int], seed: int) -> list[LogRecord]:
    """Up to `SAMPLE` of those lines, rendered (on demand: rendering is the costly part)."""
    total = sum(counts.values())
    if total == 0:
        return []
    rng = random.Random(seed)
    kinds = list(counts)
    picked = rng.choices(kinds, weights=[counts[k] for k in kinds], k=min(SAMPLE, total))
    span = (ctx.until - ctx.since).total_seconds()
    records = [
        _render(kind, ctx, rng, ctx.since + timedelta(seconds=rng.uniform(0.001, span)))
        for kind in picked
    ]
    records.sort(key=lambda r: r.at)
    return records


def _counts(ctx: LogContext, draws: Draws, rng: random.Random) -> dict[str, int]:
    part = (ctx.until - ctx.since).total_seconds() / NOISE_PERIOD_S  # of a period
    # why: a burst writes a period's worth of lines several times over, all in this tick
    burst = rng.uniform(5.0, 40.0) if rng.random() < NOISE_BURST * part else part
    counts = {"noise": draws.count(NOISE_PER_PERIOD * ctx.noise * burst)}
    n = ctx.requests
    for reason, share in ctx.tick.reasons.items():
        if reason == "oom":  # why: a killed container writes nothing about the requests
            continue
        per_failure = 0.5 if reason in ("cpu", "workers", "reset") else 1.0
        counts[reason] = draws.count(n * share * per_failure)
    starved = ctx.tick.pool.starved_pods
    if starved:
        counts["too_many_clients"] = draws.count(starved * TOO_MANY_PER_POD * part)
    if ctx.oom_kills:
        counts["oom"] = ctx.oom_kills
    return {k: v for k, v in counts.items() if v > 0}


def _render(kind: str, ctx: LogContext, rng: random.Random, at: datetime) -> LogRecord:
    trace = f"{rng.getrandbits(128):032x}"
    lang = ctx.spec.language
    if kind == "noise":
        message, error_type = stacks.noise(lang, rng)
        return LogRecord(at, ctx.ref, "error", message, None, error_type, None)
    if kind == "deploy":
        message, error_type = stacks.crash(ctx.spec.name, lang, rng)
        return LogRecord(at, ctx.ref, "error", message, 500, error_type, trace)
    if kind == "pool":
        message, error_type = _pool_timeout(ctx, rng)
        return LogRecord(at, ctx.ref, "error", message, 500, error_type, trace)
    if kind == "too_many_clients":
        # why: a database at its limit refuses with one of two messages, depending on
        # whether the superuser reserve is all that is left
        reserved = ctx.overbooked and rng.random() < 0.5
        message, error_type = stacks.too_many_clients(
            lang, ctx.spec.pool, rng, reserved=reserved, engine=ctx.db_engine
        )
        return LogRecord(at, ctx.ref, "error", message, None, error_type, None)
    if kind in ("cpu", "workers"):
        message, error_type = stacks.overload(lang, kind, ctx.spec, rng)
        code = 503 if kind == "workers" and ctx.spec.language == "java" else 504
        return LogRecord(at, ctx.ref, "error", message, code, error_type, trace)
    if kind.startswith("upstream:"):
        callee = kind.partition(":")[2]
        message, error_type, code = stacks.upstream(lang, callee, ctx.tick, rng)
        return LogRecord(at, ctx.ref, "error", message, code, error_type, trace)
    if kind == "external":
        message, error_type = stacks.external_api(lang, ctx.api[0], rng)
        return LogRecord(at, ctx.ref, "error", message, ctx.api[1], error_type, trace)
    if kind == "oom":
        message, error_type = stacks.out_of_memory(lang, ctx.spec, rng)
        return LogRecord(at, ctx.ref, "error", message, None, error_type, None)
    if kind == "network":
        message = stacks.delayed_access(ctx.spec, rng, at)
        return LogRecord(at, ctx.ref, "error", message, 504, None, trace)
    if kind == "reset":
        message, error_type = stacks.reset(lang, rng)
        return LogRecord(at, ctx.ref, "error", message, 503, error_type, trace)
    if kind == "down":
        message = f"no healthy upstream for {ctx.spec.name}"
        return LogRecord(at, ctx.ref, "error", message, 503, None, trace)
    message, error_type = stacks.internal(lang, rng)
    return LogRecord(at, ctx.ref, "error", message, 500, error_type, trace)


def _pool_timeout(ctx: LogContext, rng: random.Random) -> tuple[str, str]:
    pool = ctx.spec.pool
    assert pool is not None  # why: only services with a pool fail for the pool
    if pool.driver == "hikaricp":
        total = min(ctx.pool_size, ctx.pool_per_pod) if ctx.pool_per_pod > 0 else ctx.pool_size
        waiting = max(1, round(ctx.tick.pool.pending * rng.uniform(0.5, 1.5)))
        ms = int(pool.timeout_s * 1000) + rng.randint(0, 12)
        return (
            f"HikariPool-1 - Connection is not available, request timed out after {ms}ms "
            f"(total={total}, active={total}, idle=0, waiting={waiting})",
            "java.sql.SQLTransientConnectionException",
        )
    return (
        f"sqlalchemy.exc.TimeoutError: QueuePool limit of size {ctx.pool_size} overflow "
        f"{ctx.pool_overflow} reached, connection timed out, timeout {pool.timeout_s:.2f} "
        "(Background on this error at: https://sqlalche.me/e/20/3o7r)",
        "sqlalchemy.exc.TimeoutError",
    )


class LogTick:
    """One tick of error logs: true totals now, the sampled lines rendered when read."""

    def __init__(self, since: datetime, until: datetime) -> None:
        self.since, self.until = since, until
        self.totals: dict[ServiceRef, int] = {}
        self._recipes: list[tuple[LogContext, dict[str, int], int]] = []
        self._records: tuple[LogRecord, ...] | None = None

    def add(self, ctx: LogContext, counts: dict[str, int], seed: int) -> None:
        total = sum(counts.values())
        if total:
            self.totals[ctx.ref] = total
            self._recipes.append((ctx, counts, seed))

    @property
    def records(self) -> tuple[LogRecord, ...]:
        if self._records is None:
            lines = [r for recipe in self._recipes for r in sample_lines(*recipe)]
            self._records = tuple(sorted(lines, key=lambda r: r.at))
            self._recipes = []
        return self._records
