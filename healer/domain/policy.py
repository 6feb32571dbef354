"""Approval policy: which plans run on their own, which wait for people, which never run.

`evaluate` turns a plan into a `Decision`, in a fixed order: kill switch, change freezes,
the first matching rule, that rule's bounds (replicas, pool size, database headroom),
then rate limits and cooldowns. Pure: the caller supplies the cluster's state and the time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fnmatch import fnmatchcase
from typing import TypeVar

from healer.domain.freeze import FreezeWindow
from healer.domain.model import (
    DatabaseStats,
    Decision,
    Outcome,
    Plan,
    Risk,
    ServiceRef,
    Workload,
)

DEFAULT_RULE = "default"  # the name a decision carries when no rule matched


@dataclass(frozen=True)
class Match:
    """Which plans a rule covers; an empty field matches anything.

    Patterns are shell globs (`shop-*`). A service pattern with a slash is matched
    against `namespace/name`, one without against the name alone.
    """

    namespaces: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    environments: tuple[str, ...] = ()
    playbooks: tuple[str, ...] = ()
    risks: frozenset[Risk] = frozenset()

    def covers(self, plan: Plan, environment: str) -> bool:
        target = plan.target
        return (
            _any(self.namespaces, target.namespace)
            and _any_service(self.services, target)
            and _any(self.environments, environment)
            and _any(self.playbooks, plan.playbook)
            and (not self.risks or plan.risk in self.risks)
        )


def _any(patterns: tuple[str, ...], value: str) -> bool:
    return not patterns or any(fnmatchcase(value, pattern) for pattern in patterns)


def _any_service(patterns: tuple[str, ...], target: ServiceRef) -> bool:
    return not patterns or any(
        fnmatchcase(str(target) if "/" in pattern else target.name, pattern) for pattern in patterns
    )


@dataclass(frozen=True)
class Bounds:
    """Limits on a plan's parameters; None leaves a limit to the policy-wide bounds.

    `db_headroom` is the fraction of the database's max_connections that must stay
    free after a change that adds connections (a bigger pool, or more replicas).
    """

    min_replicas: int | None = None
    max_replicas: int | None = None
    max_scale_factor: float | None = None
    max_pool_size: int | None = None
    db_headroom: float | None = None

    def over(self, defaults: Bounds) -> Bounds:
        """These bounds, each unset one taken from `defaults`."""
        return Bounds(
            min_replicas=_first(self.min_replicas, defaults.min_replicas),
            max_replicas=_first(self.max_replicas, defaults.max_replicas),
            max_scale_factor=_first(self.max_scale_factor, defaults.max_scale_factor),
            max_pool_size=_first(self.max_pool_size, defaults.max_pool_size),
            db_headroom=_first(self.db_headroom, defaults.db_headroom),
        )


_T = TypeVar("_T")


def _first(value: _T | None, fallback: _T | None) -> _T | None:
    return value if value is not None else fallback


@dataclass(frozen=True)
class Rule:
    """One line of policy: plans it covers, what happens to them, within which bounds.

    `approvers` applies to `ask`; None means one person, two for a high-risk plan.
    """

    name: str
    outcome: Outcome
    match: Match = Match()
    approvers: int | None = None
    bounds: Bounds = Bounds()


@dataclass(frozen=True)
class RateLimit:
    """At most `max_actions` in any `window` across the cluster, and a quiet `cooldown`
    after each action on a service before the next one on the same service."""

    max_actions: int | None = None
    window: timedelta = timedelta(hours=1)
    cooldown: timedelta = timedelta(0)


@dataclass(frozen=True)
class Policy:
    """The whole approval policy, as loaded from one file.

    `dry_run` and `shadow` both mark every decision `dry_run`: the healer decides and
    records every step of the incident, and changes nothing in the cluster.
    """

    default: Outcome = Outcome.ASK
    rules: tuple[Rule, ...] = ()
    bounds: Bounds = Bounds()
    rate_limit: RateLimit = RateLimit()
    freezes: tuple[FreezeWindow, ...] = ()
    kill_switch: bool = False
    dry_run: bool = False
    shadow: bool = False
    environment: str = "production"
    source: str = ""

    def rule_for(self, plan: Plan) -> Rule | None:
        """The first rule that covers the plan (rules are read top to bottom)."""
        return next((r for r in self.rules if r.match.covers(plan, self.environment)), None)


@dataclass(frozen=True)
class PolicyContext:
    """What the cluster looks like for the plan's target, as far as bounds need to know.

    `database` is the one the target holds a pool against (None when it has none), and
    `pool_size` the current per-replica pool size (the value of its pool env variable).
    `recent_actions` are (when, target) of the actions already taken, for rate limits;
    `own_actions` those taken for this very incident, which its cooldown lets pass: the
    next playbook after a failed, reverted one is the plan, not a flap.
    """

    workload: Workload | None = None
    database: DatabaseStats | None = None
    pool_size: int | None = None
    recent_actions: tuple[tuple[datetime, ServiceRef], ...] = ()
    own_actions: tuple[tuple[datetime, ServiceRef], ...] = ()


def evaluate(plan: Plan, *, policy: Policy, context: PolicyContext, now: datetime) -> Decision:
    """Decide whether `plan` runs on its own (auto), waits for approval (ask), or not (deny)."""
    decision = _decide(plan, policy, context, now)
    if policy.shadow:
        return replace(
            decision, dry_run=True, reason=f"{decision.reason} (shadow mode: not acted on)"
        )
    if policy.dry_run:
        return replace(decision, dry_run=True, reason=f"{decision.reason} (dry run)")
    return decision


def _decide(plan: Plan, policy: Policy, context: PolicyContext, now: datetime) -> Decision:
    what = f"{plan.playbook} on {plan.target}"
    if policy.kill_switch:
        return Decision(Outcome.DENY, f"kill switch is on: {what} is not run", rule="kill-switch")
    for freeze in policy.freezes:
        until = freeze.until(now)
        if until is not None:
            reason = f"change freeze '{freeze.name}' is on until {until.isoformat()}: {what} waits"
            return Decision(Outcome.DENY, reason, rule=f"freeze:{freeze.name}")
    rule = policy.rule_for(plan) or Rule(DEFAULT_RULE, policy.default)
    if rule.outcome is Outcome.DENY:
        return Decision(Outcome.DENY, f"rule '{rule.name}' denies {what}", rule=rule.name)
    checks = check_bounds(plan, rule.bounds.over(policy.bounds), context)
    broken = [text for ok, text in checks if not ok]
    if broken:
        reason = f"rule '{rule.name}': {what} is out of bounds: {'; '.join(broken)}"
        return Decision(Outcome.DENY, reason, rule=rule.name)
    limited = _rate_limited(plan, policy.rate_limit, context, now)
    if limited is not None:
        gate, reason = limited
        return Decision(Outcome.DENY, f"{reason}: {what} waits", rule=gate)
    return _allow(plan, rule, what, [text for _, text in checks])


def _allow(plan: Plan, rule: Rule, what: str, notes: list[str]) -> Decision:
    detail = f": {'; '.join(notes)}" if notes else ""
    if rule.outcome is Outcome.AUTO:
        reason = f"rule '{rule.name}' runs {what} automatically ({plan.risk} risk){detail}"
        return Decision(Outcome.AUTO, reason, rule=rule.name)
    approvers = rule.approvers or (2 if plan.risk is Risk.HIGH else 1)
    people = "1 approver" if approvers == 1 else f"{approvers} approvers"
    reason = f"rule '{rule.name}' asks {people} for {what} ({plan.risk} risk){detail}"
    return Decision(Outcome.ASK, reason, rule=rule.name, approvers_required=approvers)


Check = tuple[bool, str]  # (within bounds?, what was checked, with the numbers)


def check_bounds(plan: Plan, bounds: Bounds, context: PolicyContext) -> list[Check]:
    """Every bound that applies to the plan, checked.

    Bounds follow parameter names rather than playbook names, so any playbook that
    sets `replicas` or `pool_size` is held to them.
    """
    checks: list[Check] = []
    replicas = plan.params.get("replicas")
    pool_size = plan.params.get("pool_size")
    if replicas is not None:
        checks += _replica_checks(replicas, bounds, context)
    if pool_size is not None:
        checks += _pool_checks(pool_size, bounds)
    if bounds.db_headroom is not None and (replicas is not None or pool_size is not None):
        checks.append(_headroom_check(replicas, pool_size, bounds.db_headroom, context))
    return checks


def _replica_checks(replicas: object, bounds: Bounds, context: PolicyContext) -> list[Check]:
    if not isinstance(replicas, int) or isinstance(replicas, bool):
        return [(False, f"replicas must be a whole number, got {replicas!r}")]
    low = bounds.min_replicas if bounds.min_replicas is not None else 1
    high = bounds.max_replicas
    within = low <= replicas and (high is None or replicas <= high)
    span = f"[{low}, {high}]" if high is not None else f"at least {low}"
    checks: list[Check] = [
        (within, f"replicas {replicas} {'within' if within else 'outside'} {span}")
    ]
    if bounds.max_scale_factor is not None:
        checks.append(_scale_factor_check(replicas, bounds.max_scale_factor, context))
    return checks


def _scale_factor_check(replicas: int, factor: float, context: PolicyContext) -> Check:
    if context.workload is None:
        return (False, "current replicas unknown, so max_scale_factor cannot be checked")
    current = context.workload.replicas
    # From zero replicas any factor allows nothing; measure from one instead.
    ceiling = math.floor(max(current, 1) * factor)
    ok = replicas <= ceiling
    relation = "≤" if ok else ">"
    return (
        ok,
        f"replicas {current} → {replicas} {relation} {factor:g} × {max(current, 1)} = {ceiling}",
    )


def _pool_checks(pool_size: object, bounds: Bounds) -> list[Check]:
    if not isinstance(pool_size, int) or isinstance(pool_size, bool):
        return [(False, f"pool_size must be a whole number, got {pool_size!r}")]
    if bounds.max_pool_size is None:
        return []
    ok = pool_size <= bounds.max_pool_size
    relation = "≤" if ok else "above"
    return [(ok, f"pool_size {pool_size} {relation} max_pool_size {bounds.max_pool_size}")]


def _headroom_check(
    replicas: object, pool_size: object, headroom: float, context: PolicyContext
) -> Check:
    """Connections the database would hold after the change, against its limit.

    Pools keep their connections open (HikariCP's default, and most drivers'), so the
    target's current share of the database is its replicas × its pool size, and the
    rest of `connections` belongs to other services.
    """
    database, workload, pool = context.database, context.workload, context.pool_size
    if database is None:
        if pool_size is None:
            return (True, "no database pool, so no connection headroom to keep")
        return (False, "the target's database is unknown, so its headroom cannot be checked")
    if workload is None or pool is None:
        return (False, f"current replicas or pool size unknown: database {database.name} unchecked")
    new_replicas = replicas if isinstance(replicas, int) else workload.replicas
    new_pool = pool_size if isinstance(pool_size, int) else pool
    others = max(database.connections - workload.replicas * pool, 0.0)
    projected = others + new_replicas * new_pool
    if projected <= database.connections:
        return (True, f"database {database.name}: the change adds no connections")
    free = database.max_connections - projected
    needed = headroom * database.max_connections
    ok = free >= needed
    return (
        ok,
        f"database {database.name}: {others:g} other + {new_replicas} × {new_pool} = "
        f"{projected:g} of {database.max_connections:g} connections leaves {free:g} free "
        f"({'≥' if ok else '<'} {needed:g}, {headroom:.0%} headroom)",
    )


def _rate_limited(
    plan: Plan, limit: RateLimit, context: PolicyContext, now: datetime
) -> tuple[str, str] | None:
    """(gate, why) when a rate limit or cooldown holds the plan back, else None."""
    past = [(at, service) for at, service in context.recent_actions if at <= now]
    if limit.cooldown > timedelta(0):
        others = [a for a in past if a not in context.own_actions]
        last = max((at for at, service in others if service == plan.target), default=None)
        if last is not None and now - last < limit.cooldown:
            again = (last + limit.cooldown).isoformat()
            why = (
                f"cooldown: {plan.target} was changed at {last.isoformat()}, "
                f"{duration_text(limit.cooldown)} cooldown, may run again at {again}"
            )
            return ("cooldown", why)
    if limit.max_actions is not None:
        recent = sorted(at for at, _ in past if at > now - limit.window)
        if len(recent) >= limit.max_actions:
            again = (recent[len(recent) - limit.max_actions] + limit.window).isoformat()
            why = (
                f"rate limit: {len(recent)} actions in the last {duration_text(limit.window)} "
                f"(max {limit.max_actions}), may run again at {again}"
            )
            return ("rate-limit", why)
    return None


def duration_text(delta: timedelta) -> str:
    """`1h30m`, `5m`, `45s`: durations the way the policy file writes them."""
    seconds = int(delta.total_seconds())
    parts = []
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, seconds = divmod(seconds, size)
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
