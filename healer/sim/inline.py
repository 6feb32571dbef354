"""An inline `services:` list in a scenario file, for topologies no built-in covers."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from healer.sim.topology import (
    POOL_ENV,
    DatabaseSpec,
    EdgeSpec,
    PoolSpec,
    ServiceSpec,
    TopologySpec,
)
from healer.yamlfile import Key

_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"  # a Kubernetes object name (RFC 1123 label)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PoolModel(_Strict):
    database: str
    size: int = Field(10, ge=1)
    queries: int = Field(2, ge=1)
    hold_ms: float = Field(10.0, gt=0)
    driver: Literal["sqlalchemy", "hikaricp"] = "sqlalchemy"
    env: str = POOL_ENV
    timeout_s: float = Field(30.0, gt=0)
    overflow: int = Field(0, ge=0)


class ServiceModel(_Strict):
    name: str = Field(pattern=_NAME, max_length=63)
    namespace: str = Field("default", pattern=_NAME)
    language: Literal["go", "java", "python", "nodejs", "csharp", "c"] = "go"
    replicas: int = Field(2, ge=0, le=1000)
    cpu_limit: float = Field(0.5, gt=0)
    cpu_ms: float = Field(2.0, gt=0)
    io_ms: float = Field(2.0, ge=0)
    workers: int = Field(64, ge=1)
    spread: float = Field(3.0, ge=1)
    timeout_s: float = Field(3.0, gt=0)
    traffic_share: float = Field(0.0, ge=0)
    memory_limit_mb: float = Field(512.0, gt=0)
    calls: dict[str, float] = Field(default_factory=dict)
    pool: PoolModel | None = None


class DatabaseModel(_Strict):
    name: str
    max_connections: int = Field(100, ge=1)
    engine: Literal["postgresql", "mysql"] = "postgresql"


Problem = tuple[tuple[Key, ...], str]


def inline_topology(
    name: str, services: list[ServiceModel], databases: list[DatabaseModel]
) -> tuple[TopologySpec | None, Problem | None]:
    """The topology a `services:` list describes, or where and why it is wrong."""
    names = {s.name for s in services}
    dbs = {d.name for d in databases}
    if not services:
        return None, (("services",), "at least one service")
    for i, svc in enumerate(services):
        for callee, calls in svc.calls.items():
            if callee not in names:
                return None, (("services", i, "calls", callee), f"no service {callee!r}")
            if calls <= 0:
                return None, (("services", i, "calls", callee), "calls per request must be > 0")
        if svc.pool is not None and svc.pool.database not in dbs:
            reason = f"no database {svc.pool.database!r} under `databases`"
            return None, (("services", i, "pool", "database"), reason)
    specs = tuple(
        ServiceSpec(
            name=s.name,
            namespace=s.namespace,
            language=s.language,
            replicas=s.replicas,
            cpu_limit=s.cpu_limit,
            cpu_ms=s.cpu_ms,
            io_ms=s.io_ms,
            workers=s.workers,
            spread=s.spread,
            timeout_s=s.timeout_s,
            traffic_share=s.traffic_share,
            memory_limit_mb=s.memory_limit_mb,
            pool=PoolSpec(**s.pool.model_dump()) if s.pool is not None else None,
        )
        for s in services
    )
    edges = tuple(EdgeSpec(s.name, callee, n) for s in services for callee, n in s.calls.items())
    databases_ = tuple(DatabaseSpec(d.name, d.max_connections, engine=d.engine) for d in databases)
    try:
        return TopologySpec(name, specs, edges, databases_), None
    except ValueError as exc:  # why: duplicates and cycles are only visible on the whole
        return None, (("services",), str(exc))
