"""Approval: policy decides whether a plan runs, waits for people, or never runs.

The planner has no say here. The context policy needs (current replicas, the pool size,
the database's connections, recent actions) is read from the cluster, the metrics and
the store, never from the plan.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from healer.domain.model import (
    Approval,
    Decision,
    MetricsSnapshot,
    Plan,
    ServiceRef,
    Topology,
    Workload,
)
from healer.domain.policy import Policy, PolicyContext, evaluate

RATE_LIMIT_MEMORY = timedelta(days=1)  # how far back recent actions are read


def context_for(
    plan: Plan,
    *,
    workload: Workload,
    snapshot: MetricsSnapshot,
    topology: Topology,
    recent: Sequence[tuple[datetime, ServiceRef]],
    own: Sequence[tuple[datetime, ServiceRef]] = (),
    pool_env: str = "DB_POOL_SIZE",
) -> PolicyContext:
    name = topology.databases.get(plan.target)
    env = str(plan.params.get("env", pool_env))
    try:
        pool_size: int | None = int(workload.env[env])
    except (KeyError, ValueError):
        pool_size = None
    return PolicyContext(
        workload=workload,
        database=snapshot.databases.get(name) if name else None,
        pool_size=pool_size,
        recent_actions=tuple(recent),
        own_actions=tuple(own),
    )


def decide(plan: Plan, *, policy: Policy, context: PolicyContext, now: datetime) -> Decision:
    return evaluate(plan, policy=policy, context=context, now=now)


def tally(approvals: Sequence[Approval], required: int) -> bool | None:
    """True once enough different people approved, False on any rejection, else None."""
    if any(not a.approved for a in approvals):
        return False
    people = {a.approver for a in approvals if a.approved}
    return True if len(people) >= max(required, 1) else None
