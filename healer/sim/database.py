"""Databases and the connections the pools claim from them each tick."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from healer.sim.physics import Conditions, wanted_connections
from healer.sim.topology import TopologySpec
from healer.sim.workloads import Deployment


def claim_connections(
    topology: TopologySpec,
    deployments: Mapping[str, Deployment],
    conditions: dict[str, Conditions],
    rates: Mapping[str, float],
) -> dict[str, int]:
    """Pools open connections, oldest pods first, until the database says no more.

    Sets each pooled service's per-pod capacity in `conditions`; returns the connections
    each database holds for the pools. A pod that got fewer than it wanted logs
    "too many clients" and, with none at all, fails every request that needs one.
    """
    left = {d.name: d.max_connections - d.reserved for d in topology.databases}
    held = dict.fromkeys(left, 0)
    # why: a database shared by several services turns away whoever connects last,
    # so the pods that have been running longest keep theirs, whatever their service
    queue = []
    for name in sorted(conditions):
        c = conditions[name]
        if c.spec.pool is None or c.pods == 0:
            continue
        pods = sorted(deployments[name].pods, key=lambda p: p.started)
        queue += [(pod.started, name, i) for i, pod in enumerate(pods)]
    caps: dict[str, list[int]] = {}
    wants = {name: wanted_connections(conditions[name], rates[name]) for _, name, _ in queue}
    for _, name, _ in sorted(queue):
        pool = conditions[name].spec.pool
        assert pool is not None
        want = wants[name]
        got = min(want, left[pool.database])
        left[pool.database] -= got
        held[pool.database] += got
        # why: SQLAlchemy opens lazily, so a pod that got all it wanted may grow to its
        # limit; HikariCP opened its whole pool up front and has what it got
        lazy = got >= want and pool.driver == "sqlalchemy"
        caps.setdefault(name, []).append(
            conditions[name].pool_size + conditions[name].pool_overflow if lazy else got
        )
    for name, got_caps in caps.items():
        conditions[name] = replace(conditions[name], pool_caps=tuple(got_caps))
    return held
