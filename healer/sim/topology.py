"""What the simulated cluster is made of: services, their call graph and their databases.

Specs are static facts (the Deployment's template, the code's cost per request); what
changes while a scenario runs (replicas, revisions, pool size) lives in `healer.sim.model`.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from itertools import pairwise

from healer.domain.model import Edge, ServiceRef, Topology

BOUTIQUE = "boutique"
POOL_ENV = "DB_POOL_SIZE"
OVERFLOW_ENV = "DB_MAX_OVERFLOW"


@dataclass(frozen=True)
class PoolSpec:
    """A client-side connection pool against one database."""

    database: str
    size: int  # connections per replica, unless the env var says otherwise
    queries: int = 2  # queries per request, run in one transaction on one connection
    hold_ms: float = 10.0  # per query, while the connection is checked out
    driver: str = "sqlalchemy"  # or "hikaricp": decides the log lines and how eagerly it opens
    env: str = POOL_ENV
    timeout_s: float = 30.0  # how long a request waits for a connection before failing
    overflow: int = 0  # SQLAlchemy's max_overflow: extra connections beyond `size`
    overflow_env: str = OVERFLOW_ENV  # where the running pods read it from


@dataclass(frozen=True)
class ServiceSpec:
    """One Deployment and the cost of serving one request on it."""

    name: str
    namespace: str = "default"
    language: str = "go"
    replicas: int = 2
    cpu_limit: float = 0.5  # cores per replica
    cpu_ms: float = 2.0  # CPU per request
    io_ms: float = 2.0  # waiting per request on things that are not services or pools
    workers: int = 64  # requests one replica serves at once
    spread: float = 3.0  # healthy p99 / mean of its own work (the heavy tail)
    timeout_s: float = 3.0  # the deadline its callers give it
    pool: PoolSpec | None = None
    traffic_share: float = 0.0  # share of the entry traffic it receives directly
    memory_limit_mb: float = 512.0  # the container's memory limit; above it the kernel kills

    @property
    def ref(self) -> ServiceRef:
        return ServiceRef(self.namespace, self.name)


@dataclass(frozen=True)
class DatabaseSpec:
    name: str
    max_connections: int = 100
    reserved: int = 3  # connections held by replication, monitoring and admins
    engine: str = "postgresql"  # or "mysql": decides how it refuses a connection


@dataclass(frozen=True)
class EdgeSpec:
    caller: str
    callee: str
    calls: float = 1.0  # calls per request of the caller


@dataclass(frozen=True)
class TopologySpec:
    """A call graph without cycles; `order` lists callers before their callees."""

    name: str
    services: tuple[ServiceSpec, ...]
    edges: tuple[EdgeSpec, ...] = ()
    databases: tuple[DatabaseSpec, ...] = ()
    order: tuple[str, ...] = field(default=(), compare=False)

    def __post_init__(self) -> None:
        problem = self.problem()
        if problem:
            raise ValueError(problem)
        if not self.order:
            object.__setattr__(self, "order", _callers_first(self))

    def problem(self) -> str | None:
        """Why this graph cannot be simulated, or None."""
        names = [s.name for s in self.services]
        if len(set(names)) != len(names):
            return "service names must be unique"
        known, dbs = set(names), {d.name for d in self.databases}
        for edge in self.edges:
            if edge.caller not in known or edge.callee not in known:
                return f"edge {edge.caller} -> {edge.callee} names an unknown service"
        for spec in self.services:
            if spec.pool is not None and spec.pool.database not in dbs:
                return f"{spec.name} has a pool against unknown database {spec.pool.database}"
        if _has_cycle(self):
            return "the call graph has a cycle"
        return None

    def service(self, name: str) -> ServiceSpec:
        for spec in self.services:
            if spec.name == name:
                return spec
        raise KeyError(name)

    def names(self) -> tuple[str, ...]:
        return tuple(s.name for s in self.services)

    def callees(self, name: str) -> tuple[EdgeSpec, ...]:
        return self._by_caller().get(name, ())

    def callers(self, name: str) -> tuple[EdgeSpec, ...]:
        return tuple(e for e in self.edges if e.callee == name)

    def _by_caller(self) -> dict[str, tuple[EdgeSpec, ...]]:
        index: dict[str, tuple[EdgeSpec, ...]] | None = self.__dict__.get("_index")
        if index is None:  # why: generated topologies have thousands of edges
            grouped: dict[str, list[EdgeSpec]] = {}
            for edge in self.edges:
                grouped.setdefault(edge.caller, []).append(edge)
            index = {caller: tuple(out) for caller, out in grouped.items()}
            object.__setattr__(self, "_index", index)
        return index

    def database(self, name: str) -> DatabaseSpec:
        return next(d for d in self.databases if d.name == name)

    def entry_shares(self) -> dict[str, float]:
        """Entry traffic shares; services nobody calls share it when none is declared."""
        shares = {s.name: s.traffic_share for s in self.services if s.traffic_share > 0}
        if shares:
            return shares
        called = {e.callee for e in self.edges}
        roots = [s.name for s in self.services if s.name not in called]
        return {name: 1.0 / len(roots) for name in roots}

    def as_topology(self) -> Topology:
        refs = {s.name: s.ref for s in self.services}
        return Topology(
            services=frozenset(refs.values()),
            edges=frozenset(Edge(refs[e.caller], refs[e.callee]) for e in self.edges),
            databases={s.ref: s.pool.database for s in self.services if s.pool is not None},
        )


def _adjacency(spec: TopologySpec) -> dict[str, list[str]]:
    out: dict[str, list[str]] = {s.name: [] for s in spec.services}
    for edge in spec.edges:
        out[edge.caller].append(edge.callee)
    return out


def _has_cycle(spec: TopologySpec) -> bool:
    return len(_kahn(spec)) != len(spec.services)


def _kahn(spec: TopologySpec) -> list[str]:
    adjacency = _adjacency(spec)
    indegree = {name: 0 for name in adjacency}
    for callees in adjacency.values():
        for callee in callees:
            indegree[callee] += 1
    ready = deque(name for name in adjacency if indegree[name] == 0)
    order: list[str] = []
    while ready:
        name = ready.popleft()
        order.append(name)
        for callee in adjacency[name]:
            indegree[callee] -= 1
            if indegree[callee] == 0:
                ready.append(callee)
    return order


def _callers_first(spec: TopologySpec) -> tuple[str, ...]:
    return tuple(_kahn(spec))


def _edges(calls: Mapping[str, Mapping[str, float]]) -> tuple[EdgeSpec, ...]:
    return tuple(
        EdgeSpec(caller, callee, n) for caller, out in calls.items() for callee, n in out.items()
    )


# Cost model of online-boutique, one row per service:
# name, language, replicas, cpu_limit (cores), cpu_ms, io_ms, workers, spread, timeout_s
_BOUTIQUE = (
    ("frontend", "go", 3, 1.0, 4.0, 3.0, 200, 2.5, 10.0),
    ("productcatalogservice", "go", 3, 0.5, 0.8, 22.0, 10, 6.0, 2.0),
    ("currencyservice", "nodejs", 2, 0.5, 1.0, 1.0, 100, 3.0, 2.0),
    ("cartservice", "csharp", 2, 0.5, 1.5, 0.5, 64, 3.0, 3.0),
    ("redis-cart", "c", 1, 0.25, 0.3, 0.2, 64, 3.0, 1.0),
    ("recommendationservice", "python", 2, 0.5, 4.0, 5.0, 32, 2.5, 4.0),
    ("adservice", "java", 2, 0.5, 2.5, 2.0, 50, 3.5, 2.0),
    ("shippingservice", "go", 1, 0.35, 1.5, 1.0, 64, 3.0, 2.0),
    ("paymentservice", "nodejs", 1, 0.3, 4.0, 25.0, 100, 2.5, 5.0),
    ("emailservice", "python", 1, 0.4, 5.0, 12.0, 32, 3.0, 5.0),
    ("checkoutservice", "java", 1, 0.2, 6.0, 3.0, 200, 1.6, 8.0),
)
_BOUTIQUE_POOLS = {
    "checkoutservice": PoolSpec(
        "orders", size=10, queries=4, hold_ms=70.0, driver="hikaricp", timeout_s=5.0
    ),
    "recommendationservice": PoolSpec(
        "recommendations", size=5, queries=2, hold_ms=10.0, overflow=10, timeout_s=3.0
    ),
}
_BOUTIQUE_CALLS = {
    "frontend": {
        "adservice": 0.5,
        "cartservice": 0.6,
        "checkoutservice": 0.05,
        "currencyservice": 1.2,
        "productcatalogservice": 1.5,
        "recommendationservice": 0.3,
        "shippingservice": 0.1,
    },
    "checkoutservice": {
        "cartservice": 2.0,
        "currencyservice": 2.0,
        "emailservice": 1.0,
        "paymentservice": 1.0,
        "productcatalogservice": 2.0,
        "shippingservice": 2.0,
    },
    "recommendationservice": {"productcatalogservice": 1.0},
    "cartservice": {"redis-cart": 1.5},
}


# name, language, replicas, cpu_limit (cores), cpu_ms, io_ms, workers, spread, timeout_s
Row = tuple[str, str, int, float, float, float, int, float, float]


def specs(
    namespace: str, rows: Iterable[Row], entry: str, pools: Mapping[str, PoolSpec]
) -> tuple[ServiceSpec, ...]:
    """Service specs from table rows; the `entry` service takes all outside traffic."""
    return tuple(
        ServiceSpec(
            name=name,
            namespace=namespace,
            language=language,
            replicas=replicas,
            cpu_limit=cpu_limit,
            cpu_ms=cpu_ms,
            io_ms=io_ms,
            workers=workers,
            spread=spread,
            timeout_s=timeout_s,
            pool=pools.get(name),
            traffic_share=1.0 if name == entry else 0.0,
        )
        for name, language, replicas, cpu_limit, cpu_ms, io_ms, workers, spread, timeout_s in rows
    )


def online_boutique() -> TopologySpec:
    """Google's microservices-demo: 11 services and its real call graph.

    Sized for about 300 requests/s at the frontend: CPU around 40 % of the limits, so
    daily peaks and bursts fit, while productcatalogservice already keeps a fair share of
    its few workers busy waiting on its store (a 1.4× burst on the evening peak keeps
    them 70 % busy; with 8 workers a pod it ran them out, a real overload). In
    this variant checkoutservice is a JVM service that stores orders in PostgreSQL
    through HikariCP, and recommendationservice reads from its own PostgreSQL through
    SQLAlchemy, so pool faults have somewhere to be.
    """
    services = specs(BOUTIQUE, _BOUTIQUE, "frontend", _BOUTIQUE_POOLS)
    databases = (DatabaseSpec("orders", 100), DatabaseSpec("recommendations", 50))
    return TopologySpec("online-boutique", services, _edges(_BOUTIQUE_CALLS), databases)


def chain(n: int) -> TopologySpec:
    """svc-0 → svc-1 → … → svc-(n-1); the last one holds a pool against `db`."""
    if n < 1:
        raise ValueError("chain-N needs N >= 1")
    names = [f"svc-{i}" for i in range(n)]
    services = [
        ServiceSpec(
            name,
            replicas=2,
            cpu_limit=1.0,
            cpu_ms=2.0,
            io_ms=2.0,
            workers=64,
            timeout_s=2.0 + 0.5 * (n - i),
            traffic_share=1.0 if i == 0 else 0.0,
        )
        for i, name in enumerate(names)
    ]
    last = services[-1]
    services[-1] = replace(last, pool=PoolSpec("db", size=10))
    edges = tuple(EdgeSpec(a, b) for a, b in pairwise(names))
    return TopologySpec(f"chain-{n}", tuple(services), edges, (DatabaseSpec("db", 200),))


def fanout(n: int) -> TopologySpec:
    """`gateway` spreads each request over a few of `n` backends (about four per request)."""
    if n < 1:
        raise ValueError("fanout-N needs N >= 1")
    gateway = ServiceSpec(
        "gateway",
        replicas=3,
        cpu_limit=1.0,
        cpu_ms=2.0,
        io_ms=1.0,
        workers=400,
        timeout_s=5.0,
        traffic_share=1.0,
    )
    per_call = min(1.0, 4.0 / n)
    # why: a backend takes `per_call` of the gateway's traffic; sized like a real team
    # would, so the usual peak leaves headroom (one 0.5-CPU pod serves about 250 req/s)
    replicas = max(1, math.ceil(per_call * 2.5))
    backends = tuple(
        ServiceSpec(
            f"backend-{i}", replicas=replicas, cpu_limit=0.5, cpu_ms=2.0, io_ms=3.0, workers=64
        )
        for i in range(1, n + 1)
    )
    edges = tuple(EdgeSpec("gateway", b.name, per_call) for b in backends)
    return TopologySpec(f"fanout-{n}", (gateway, *backends), edges)


BUILTIN_TOPOLOGIES = ("online-boutique", "sock-shop", "train-ticket", "chain-N", "fanout-N")


def builtin_topology(name: str) -> TopologySpec:
    """A built-in topology by name: `online-boutique`, `sock-shop`, `train-ticket`,
    `chain-N` or `fanout-N`."""
    # why: the demo applications are data built on this module's specs, so they import it
    from healer.sim.reference_apps import sock_shop, train_ticket

    if name == "online-boutique":
        return online_boutique()
    if name == "sock-shop":
        return sock_shop()
    if name == "train-ticket":
        return train_ticket()
    kind, _, size = name.rpartition("-")
    if kind in ("chain", "fanout") and size.isdigit() and 1 <= int(size) <= 10_000:
        return chain(int(size)) if kind == "chain" else fanout(int(size))
    raise KeyError(f"unknown topology {name!r}; built-in: {', '.join(BUILTIN_TOPOLOGIES)}")
