"""The faults a scenario can inject: their parameters, onset shape and effect on physics.

`cpu_saturation` and `slow_dependency` change what a request costs on the target; the
other two arrive the way they do in life, as a rollout (`healer.sim.model` makes it):
`bad_deploy` ships a version that fails some requests, `pool_exhaustion` ships a pool
size too small for the load.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from healer.sim.topology import ServiceSpec
from healer.yamlfile import Key

if TYPE_CHECKING:
    from healer.sim.scenario import FaultSpec

CPU_SATURATION = "cpu_saturation"
POOL_EXHAUSTION = "pool_exhaustion"
BAD_DEPLOY = "bad_deploy"
SLOW_DEPENDENCY = "slow_dependency"
NOT_SIMULATED = (
    "traffic_surge",
    "db_max_connections",
    "dependency_errors",
    "memory_leak",
    "latency_injection",
)
RAMPED = frozenset({CPU_SATURATION, SLOW_DEPENDENCY, BAD_DEPLOY})


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CpuParams(_Strict):
    factor: float = Field(3.5, gt=1, le=100)  # CPU per request ×: ~40 % busy → ~1.3


class PoolParams(_Strict):
    pool_size: int = Field(3, ge=1, le=10_000)  # connections per replica


class DeployParams(_Strict):
    error_rate: float = Field(0.25, gt=0, le=1)  # share of requests the new version fails
    image: str | None = None  # the new image; default: the next tag


class SlowParams(_Strict):
    factor: float = Field(2.0, gt=1, le=1000)  # waiting per request ×


PARAMS: dict[str, type[_Strict]] = {
    CPU_SATURATION: CpuParams,
    POOL_EXHAUSTION: PoolParams,
    BAD_DEPLOY: DeployParams,
    SLOW_DEPENDENCY: SlowParams,
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
    if kind in NOT_SIMULATED:
        return f"fault kind {kind!r} is not simulated yet (simulated: {', '.join(PARAMS)})"
    return f"unknown fault kind {kind!r} (simulated: {', '.join(PARAMS)})"


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
    if kind == POOL_EXHAUSTION and target.pool is None:
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
    """What the active faults do to one service's cost per request."""

    cpu_factor: float = 1.0
    io_factor: float = 1.0


NONE = Effects()


def effects(active: Iterable[tuple[FaultSpec, float]]) -> dict[str, Effects]:
    """Per target, the product of every active cost fault, scaled by its intensity."""
    out: dict[str, Effects] = {}
    for fault, level in active:
        factor = float(fault.params.get("factor", 1.0))
        scaled = 1.0 + (factor - 1.0) * level
        now = out.get(fault.target, NONE)
        if fault.kind == CPU_SATURATION:
            out[fault.target] = Effects(now.cpu_factor * scaled, now.io_factor)
        elif fault.kind == SLOW_DEPENDENCY:
            out[fault.target] = Effects(now.cpu_factor, now.io_factor * scaled)
    return out
