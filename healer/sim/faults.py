"""The faults a scenario can inject: their parameters, onset shape and effect on physics.

Some change what a request costs or returns on the target (`cpu_saturation`,
`slow_dependency`, `dependency_errors`, `latency_injection`), one changes how much
arrives (`traffic_surge`); the rest arrive the way they do in life, through the cluster
(`healer.sim.model` makes them): `bad_deploy` and `memory_leak` ship a new version,
`pool_exhaustion` ships a pool size too small for the load, and `db_max_connections`
scales a pooled service out past what its database accepts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from healer.domain.model import Cause
from healer.sim.topology import ServiceSpec
from healer.yamlfile import Key

if TYPE_CHECKING:
    from healer.sim.scenario import FaultSpec

CPU_SATURATION = "cpu_saturation"
TRAFFIC_SURGE = "traffic_surge"
POOL_EXHAUSTION = "pool_exhaustion"
DB_MAX_CONNECTIONS = "db_max_connections"
BAD_DEPLOY = "bad_deploy"
SLOW_DEPENDENCY = "slow_dependency"
DEPENDENCY_ERRORS = "dependency_errors"
MEMORY_LEAK = "memory_leak"
LATENCY_INJECTION = "latency_injection"
RAMPED = frozenset(
    {
        CPU_SATURATION,
        SLOW_DEPENDENCY,
        BAD_DEPLOY,
        TRAFFIC_SURGE,
        DEPENDENCY_ERRORS,
        LATENCY_INJECTION,
    }
)
# why: these change the cluster's spec (a rollout, a replica count); they stay until
# someone changes it back, so they cannot come and go on a timer
PERSISTENT = frozenset({POOL_EXHAUSTION, MEMORY_LEAK, DB_MAX_CONNECTIONS})
SHIPPED = frozenset({BAD_DEPLOY, POOL_EXHAUSTION, MEMORY_LEAK})  # cured once not running
# The diagnosis a perfect healer gives, where the healer has no cause of the fault's name:
# injected latency looks like (and is) a slow dependency to every one of its callers
CAUSES = {
    LATENCY_INJECTION: Cause.SLOW_DEPENDENCY,
}


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CpuParams(_Strict):
    factor: float = Field(3.5, gt=1, le=100)  # CPU per request ×: ~40 % busy → ~1.3


class SurgeParams(_Strict):
    factor: float = Field(2.0, gt=1, le=100)  # entry traffic at the target ×


class PoolParams(_Strict):
    pool_size: int = Field(3, ge=1, le=10_000)  # connections per replica


class DbMaxParams(_Strict):
    # replicas the service is scaled out to; default: 30 % more connections than the
    # database accepts (`healer.sim.model` works it out from the pool and the database)
    replicas: int | None = Field(None, ge=1, le=1000)


class DeployParams(_Strict):
    error_rate: float = Field(0.25, gt=0, le=1)  # share of requests the new version fails
    image: str | None = None  # the new image; default: the next tag


class SlowParams(_Strict):
    factor: float = Field(2.0, gt=1, le=1000)  # waiting per request ×


class DependencyErrorParams(_Strict):
    error_rate: float = Field(0.3, gt=0, le=1)  # share of requests whose external call fails
    status: Literal[500, 503] = 500  # what the target answers its callers then
    api: str | None = None  # host of the failing external API; default: derived from the name


class LeakParams(_Strict):
    minutes_to_oom: float = Field(40.0, ge=2, le=10_000)  # fresh pod to OOM kill, at usual load
    image: str | None = None  # the leaking version's image; default: the next tag


class LatencyParams(_Strict):
    delay_ms: float = Field(400.0, gt=0, le=60_000)  # added to each inbound call


PARAMS: dict[str, type[_Strict]] = {
    CPU_SATURATION: CpuParams,
    TRAFFIC_SURGE: SurgeParams,
    POOL_EXHAUSTION: PoolParams,
    DB_MAX_CONNECTIONS: DbMaxParams,
    BAD_DEPLOY: DeployParams,
    SLOW_DEPENDENCY: SlowParams,
    DEPENDENCY_ERRORS: DependencyErrorParams,
    MEMORY_LEAK: LeakParams,
    LATENCY_INJECTION: LatencyParams,
}


class ParamError(Exception):
    def __init__(self, loc: tuple[Key, ...], reason: str) -> None:
        super().__init__(reason)
        self.loc = loc
        self.reason = reason


def kind_problem(kind: str) -> str | None:
    """Why a scenario may not use this fault kind, or None."""
    if kind in PARAMS:
        return None
    return f"unknown fault kind {kind!r} (simulated: {', '.join(PARAMS)})"


def cause(kind: str) -> Cause:
    """The root cause a perfect diagnosis names for a fault of this kind."""
    return CAUSES.get(kind) or Cause(kind)


def check_params(
    kind: str, params: Mapping[str, Any], target: ServiceSpec
) -> dict[str, float | int | str]:
    """The parameters with defaults filled in; raises `ParamError` naming the bad one."""
    try:
        model = PARAMS[kind].model_validate(dict(params))
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = tuple(p for p in first["loc"] if isinstance(p, str | int))
        reason = "unknown parameter" if first["type"] == "extra_forbidden" else first["msg"]
        raise ParamError(loc, reason) from exc
    if kind in (POOL_EXHAUSTION, DB_MAX_CONNECTIONS) and target.pool is None:
        raise ParamError((), f"{target.name} has no connection pool to exhaust")
    return {k: v for k, v in model.model_dump().items() if v is not None}


def intensity(fault: FaultSpec, elapsed: timedelta) -> float:
    """How much of the fault is in effect `elapsed` after the scenario start, 0..1."""
    since = elapsed - fault.at
    if since < timedelta(0):
        return 0.0
    if fault.every is not None and fault.duration is not None:
        since = timedelta(seconds=since.total_seconds() % fault.every.total_seconds())
    if fault.duration is not None and since >= fault.duration:
        return 0.0
    if fault.ramp > timedelta(0) and since < fault.ramp:
        return max(since / fault.ramp, 0.02)
    return 1.0


@dataclass(frozen=True)
class Effects:
    """What the active faults do to one service's requests."""

    cpu_factor: float = 1.0
    io_factor: float = 1.0
    failing: float = 0.0  # share of requests failed by a broken external dependency
    failing_status: int = 500
    delay_s: float = 0.0  # network delay added in front of every inbound call


NONE = Effects()


def effects(active: Iterable[tuple[FaultSpec, float]]) -> dict[str, Effects]:
    """Per target, every active fault combined, each scaled by its intensity."""
    out: dict[str, Effects] = {}
    for fault, level in active:
        out[fault.target] = _apply(out.get(fault.target, NONE), fault, level)
    return out


def _apply(now: Effects, fault: FaultSpec, level: float) -> Effects:
    factor = float(fault.params.get("factor", 1.0))
    scaled = 1.0 + (factor - 1.0) * level
    if fault.kind == CPU_SATURATION:
        return replace(now, cpu_factor=now.cpu_factor * scaled)
    if fault.kind == SLOW_DEPENDENCY:
        return replace(now, io_factor=now.io_factor * scaled)
    if fault.kind == DEPENDENCY_ERRORS and level > 0:
        share = float(fault.params["error_rate"]) * level
        failing = 1.0 - (1.0 - now.failing) * (1.0 - share)
        return replace(now, failing=failing, failing_status=int(fault.params["status"]))
    if fault.kind == LATENCY_INJECTION:
        return replace(now, delay_s=now.delay_s + float(fault.params["delay_ms"]) / 1000 * level)
    return now


def surges(active: Iterable[tuple[FaultSpec, float]]) -> dict[str, float]:
    """Per entry service, the factor on the traffic arriving there from outside."""
    out: dict[str, float] = {}
    for fault, level in active:
        if fault.kind == TRAFFIC_SURGE and level > 0:
            factor = 1.0 + (float(fault.params["factor"]) - 1.0) * level
            out[fault.target] = out.get(fault.target, 1.0) * factor
    return out


def external_apis(specs: Iterable[FaultSpec]) -> dict[str, tuple[str, int]]:
    """Per target of a dependency_errors fault, the failing API's host and what it answers."""
    return {
        f.target: (
            str(f.params.get("api") or f"api.{f.target.removesuffix('service')}-partner.net"),
            int(f.params["status"]),
        )
        for f in specs
        if f.kind == DEPENDENCY_ERRORS
    }
