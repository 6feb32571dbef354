"""Policy evaluation: each gate in its order, with tiny hand-built fixtures."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from datetime import UTC, datetime, time, timedelta
from zoneinfo import ZoneInfo

from healer.domain.freeze import FreezeWindow
from healer.domain.model import DatabaseStats, Decision, Outcome, Plan, Risk, ServiceRef, Workload
from healer.domain.policy import (
    Bounds,
    Match,
    Policy,
    PolicyContext,
    RateLimit,
    Rule,
    duration_text,
    evaluate,
)

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday
CHECKOUT = ServiceRef("shop", "checkout")
CART = ServiceRef("shop", "cart")
ORDERS_DB = DatabaseStats("orders", connections=60, max_connections=100)
AUTO = Rule("auto", Outcome.AUTO)


def plan(
    playbook: str = "scale",
    params: Mapping[str, int | float | str] | None = None,
    *,
    risk: Risk = Risk.LOW,
    target: ServiceRef = CHECKOUT,
) -> Plan:
    return Plan(playbook, target, params or {}, risk, "because", "rules")


def context(
    replicas: int | None = 3,
    *,
    database: DatabaseStats | None = ORDERS_DB,
    pool_size: int | None = 10,
    recent: tuple[tuple[datetime, ServiceRef], ...] = (),
) -> PolicyContext:
    workload = (
        Workload(CHECKOUT, replicas, 7, "checkout:1.2", {"DB_POOL_SIZE": str(pool_size)})
        if replicas is not None
        else None
    )
    return PolicyContext(workload, database, pool_size, recent)


def decide(
    p: Plan, policy: Policy, ctx: PolicyContext | None = None, now: datetime = NOW
) -> Decision:
    return evaluate(p, policy=policy, context=ctx or context(), now=now)


# Gates before any rule


def test_the_kill_switch_denies_everything() -> None:
    decision = decide(plan(), Policy(rules=(AUTO,), kill_switch=True))
    assert decision.outcome is Outcome.DENY
    assert decision.rule == "kill-switch"
    assert "kill switch" in decision.reason


def test_the_kill_switch_comes_before_freezes() -> None:
    freeze = FreezeWindow("all-week", days=frozenset(range(7)))
    decision = decide(plan(), Policy(rules=(AUTO,), kill_switch=True, freezes=(freeze,)))
    assert decision.rule == "kill-switch"


def test_an_absolute_freeze_denies_and_says_until_when() -> None:
    freeze = FreezeWindow("release", start=NOW - timedelta(hours=1), end=NOW + timedelta(hours=2))
    decision = decide(plan(), Policy(rules=(AUTO,), freezes=(freeze,)))
    assert decision.outcome is Outcome.DENY
    assert decision.rule == "freeze:release"
    assert "'release'" in decision.reason and "2026-03-04T14:00:00+00:00" in decision.reason
    later = NOW + timedelta(hours=2)
    assert decide(plan(), Policy(rules=(AUTO,), freezes=(freeze,)), now=later).outcome is (
        Outcome.AUTO
    )


def test_a_weekend_freeze_covers_both_days_in_local_time() -> None:
    paris = ZoneInfo("Europe/Paris")
    weekend = FreezeWindow("weekend", days=frozenset({5, 6}), tz=paris)
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=paris)
    assert weekend.until(saturday) == datetime(2026, 3, 9, 0, 0, tzinfo=paris)
    assert weekend.until(datetime(2026, 3, 8, 23, 30, tzinfo=paris)) is not None
    # Friday 23:30 UTC is already Saturday 00:30 in Paris.
    assert weekend.until(datetime(2026, 3, 6, 23, 30, tzinfo=UTC)) is not None
    assert weekend.until(datetime(2026, 3, 6, 22, 30, tzinfo=UTC)) is None
    assert weekend.until(datetime(2026, 3, 9, 0, 0, tzinfo=paris)) is None


def test_a_weekly_window_may_cross_midnight() -> None:
    evenings = FreezeWindow(
        "friday-evening", days=frozenset({4}), start_time=time(18), end_time=time(8)
    )
    assert evenings.until(datetime(2026, 3, 6, 17, 59, tzinfo=UTC)) is None
    assert evenings.until(datetime(2026, 3, 6, 18, 0, tzinfo=UTC)) == datetime(
        2026, 3, 7, 8, 0, tzinfo=UTC
    )
    assert evenings.until(datetime(2026, 3, 7, 7, 59, tzinfo=UTC)) is not None
    assert evenings.until(datetime(2026, 3, 7, 8, 0, tzinfo=UTC)) is None


# Rules


def test_no_matching_rule_falls_to_the_default_ask_with_one_approver() -> None:
    decision = decide(plan(), Policy())
    assert (decision.outcome, decision.rule, decision.approvers_required) == (
        Outcome.ASK,
        "default",
        1,
    )
    assert "asks 1 approver" in decision.reason


def test_high_risk_asks_two_approvers_by_default() -> None:
    decision = decide(plan("rollback", risk=Risk.HIGH), Policy(rules=(Rule("r", Outcome.ASK),)))
    assert decision.approvers_required == 2
    assert "asks 2 approvers" in decision.reason


def test_a_rule_may_set_its_approvers() -> None:
    rule = Rule("three", Outcome.ASK, approvers=3)
    assert decide(plan(), Policy(rules=(rule,))).approvers_required == 3


def test_the_first_matching_rule_wins() -> None:
    rules = (
        Rule("pool-asks", Outcome.ASK, Match(playbooks=("tune_*",))),
        Rule("scale-auto", Outcome.AUTO, Match(playbooks=("scale",))),
        Rule("catch-all", Outcome.DENY),
    )
    policy = Policy(rules=rules)
    assert decide(plan(), policy).rule == "scale-auto"
    assert decide(plan("tune_pool", {"pool_size": 12}), policy).rule == "pool-asks"
    assert decide(plan("rollback"), policy).outcome is Outcome.DENY


def test_rules_match_on_namespace_service_environment_and_risk() -> None:
    def rule_for(match: Match, p: Plan, environment: str = "prod") -> str | None:
        rule = Rule("it", Outcome.AUTO, match)
        return decide(p, Policy(rules=(rule,), environment=environment)).rule

    assert rule_for(Match(namespaces=("sh*",)), plan()) == "it"
    assert rule_for(Match(namespaces=("payments",)), plan()) == "default"
    assert rule_for(Match(services=("check*",)), plan()) == "it"
    assert rule_for(Match(services=("shop/cart",)), plan()) == "default"
    assert rule_for(Match(services=("shop/cart",)), plan(target=CART)) == "it"
    assert rule_for(Match(environments=("prod*",)), plan()) == "it"
    assert rule_for(Match(environments=("prod*",)), plan(), "staging") == "default"
    assert rule_for(Match(risks=frozenset({Risk.LOW})), plan()) == "it"
    assert rule_for(Match(risks=frozenset({Risk.LOW})), plan(risk=Risk.MEDIUM)) == "default"


def test_a_deny_rule_denies_and_is_named() -> None:
    rule = Rule("no-rollbacks", Outcome.DENY, Match(playbooks=("rollback",)))
    decision = decide(plan("rollback"), Policy(rules=(rule,)))
    assert (decision.outcome, decision.rule) == (Outcome.DENY, "no-rollbacks")
    assert "no-rollbacks" in decision.reason and "shop/checkout" in decision.reason


def test_auto_names_the_rule_and_the_numbers() -> None:
    policy = Policy(rules=(AUTO,), bounds=Bounds(max_replicas=10, max_scale_factor=2))
    decision = decide(plan(params={"replicas": 6}), policy)
    assert (decision.outcome, decision.approvers_required) == (Outcome.AUTO, 0)
    assert "rule 'auto'" in decision.reason
    assert "replicas 6 within [1, 10]" in decision.reason
    assert "replicas 3 → 6 ≤ 2 × 3 = 6" in decision.reason


# Bounds on replicas


def test_replicas_outside_the_bounds_are_denied() -> None:
    policy = Policy(rules=(AUTO,), bounds=Bounds(min_replicas=2, max_replicas=8))
    for replicas in (1, 9):
        decision = decide(plan(params={"replicas": replicas}), policy, context(database=None))
        assert decision.outcome is Outcome.DENY
        assert f"replicas {replicas} outside [2, 8]" in decision.reason
        assert decision.rule == "auto"


def test_a_rule_tightens_the_policy_bounds() -> None:
    rule = Rule("small", Outcome.AUTO, bounds=Bounds(max_replicas=4))
    policy = Policy(rules=(rule,), bounds=Bounds(max_replicas=20, min_replicas=2))
    decision = decide(plan(params={"replicas": 5}), policy, context(database=None))
    assert decision.outcome is Outcome.DENY
    assert "outside [2, 4]" in decision.reason
    assert Bounds(max_replicas=4).over(Bounds(max_replicas=20, min_replicas=2)) == Bounds(
        min_replicas=2, max_replicas=4
    )


def test_scaling_faster_than_the_scale_factor_is_denied() -> None:
    policy = Policy(rules=(AUTO,), bounds=Bounds(max_scale_factor=2))
    decision = decide(plan(params={"replicas": 7}), policy, context(database=None))
    assert decision.outcome is Outcome.DENY
    assert "replicas 3 → 7 > 2 × 3 = 6" in decision.reason


def test_the_scale_factor_needs_the_current_replicas() -> None:
    policy = Policy(rules=(AUTO,), bounds=Bounds(max_scale_factor=2))
    decision = decide(plan(params={"replicas": 4}), policy, context(None, database=None))
    assert decision.outcome is Outcome.DENY
    assert "current replicas unknown" in decision.reason


def test_replicas_must_be_a_whole_number() -> None:
    decision = decide(plan(params={"replicas": "lots"}), Policy(rules=(AUTO,)))
    assert decision.outcome is Outcome.DENY
    assert "whole number" in decision.reason


# Bounds on pools and the database


def test_a_pool_above_max_pool_size_is_denied() -> None:
    policy = Policy(rules=(AUTO,), bounds=Bounds(max_pool_size=15))
    decision = decide(plan("tune_pool", {"pool_size": 16}), policy)
    assert decision.outcome is Outcome.DENY
    assert "pool_size 16 above max_pool_size 15" in decision.reason


def test_a_pool_change_keeps_the_database_headroom() -> None:
    # orders: 60 connections of 100; checkout holds 3 × 10 of them, others 30.
    policy = Policy(rules=(AUTO,), bounds=Bounds(db_headroom=0.1))
    allowed = decide(plan("tune_pool", {"pool_size": 20}), policy)
    assert allowed.outcome is Outcome.AUTO
    assert "30 other + 3 × 20 = 90 of 100 connections leaves 10 free (≥ 10" in allowed.reason
    denied = decide(plan("tune_pool", {"pool_size": 21}), policy)
    assert denied.outcome is Outcome.DENY
    assert "30 other + 3 × 21 = 93 of 100 connections leaves 7 free (< 10, 10% headroom)" in (
        denied.reason
    )


def test_scaling_a_pooled_service_keeps_the_database_headroom() -> None:
    policy = Policy(rules=(AUTO,), bounds=Bounds(db_headroom=0.1))
    assert decide(plan(params={"replicas": 6}), policy).outcome is Outcome.AUTO
    denied = decide(plan(params={"replicas": 7}), policy)
    assert denied.outcome is Outcome.DENY
    assert "30 other + 7 × 10 = 100 of 100 connections leaves 0 free" in denied.reason


def test_removing_connections_is_never_held_back_by_headroom() -> None:
    full = DatabaseStats("orders", connections=98, max_connections=100)
    policy = Policy(rules=(AUTO,), bounds=Bounds(db_headroom=0.1))
    decision = decide(plan(params={"replicas": 2}), policy, context(database=full))
    assert decision.outcome is Outcome.AUTO
    assert "adds no connections" in decision.reason


def test_a_service_without_a_database_has_no_headroom_to_keep() -> None:
    policy = Policy(rules=(AUTO,), bounds=Bounds(db_headroom=0.1))
    decision = decide(plan(params={"replicas": 9}), policy, context(database=None))
    assert decision.outcome is Outcome.AUTO


def test_unknown_pool_facts_deny_rather_than_guess() -> None:
    policy = Policy(rules=(AUTO,), bounds=Bounds(db_headroom=0.1))
    no_db = decide(plan("tune_pool", {"pool_size": 12}), policy, context(database=None))
    assert no_db.outcome is Outcome.DENY
    assert "database is unknown" in no_db.reason
    no_pool = decide(plan(params={"replicas": 4}), policy, context(pool_size=None))
    assert no_pool.outcome is Outcome.DENY
    assert "pool size unknown" in no_pool.reason


# Rate limits and cooldowns


def test_the_rate_limit_counts_actions_across_the_cluster() -> None:
    policy = Policy(rules=(AUTO,), rate_limit=RateLimit(max_actions=2, window=timedelta(hours=1)))
    recent = ((NOW - timedelta(minutes=50), CART), (NOW - timedelta(minutes=10), CART))
    decision = decide(plan(), policy, context(recent=recent))
    assert (decision.outcome, decision.rule) == (Outcome.DENY, "rate-limit")
    assert "2 actions in the last 1h (max 2)" in decision.reason
    assert "may run again at 2026-03-04T12:10:00+00:00" in decision.reason
    older = ((NOW - timedelta(minutes=70), CART), (NOW - timedelta(minutes=10), CART))
    assert decide(plan(), policy, context(recent=older)).outcome is Outcome.AUTO


def test_a_cooldown_holds_the_same_service_only() -> None:
    policy = Policy(rules=(AUTO,), rate_limit=RateLimit(cooldown=timedelta(minutes=5)))
    recent = ((NOW - timedelta(minutes=2), CHECKOUT),)
    decision = decide(plan(), policy, context(recent=recent))
    assert (decision.outcome, decision.rule) == (Outcome.DENY, "cooldown")
    assert "may run again at 2026-03-04T12:03:00+00:00" in decision.reason
    assert decide(plan(target=CART), policy, context(recent=recent)).outcome is Outcome.AUTO
    later = ((NOW - timedelta(minutes=5), CHECKOUT),)
    assert decide(plan(), policy, context(recent=later)).outcome is Outcome.AUTO


def test_an_incidents_own_earlier_attempt_passes_its_cooldown_but_not_the_rate_limit() -> None:
    own = ((NOW - timedelta(minutes=2), CHECKOUT),)
    cooling = Policy(rules=(AUTO,), rate_limit=RateLimit(cooldown=timedelta(minutes=5)))
    mine = dataclasses.replace(context(recent=own), own_actions=own)
    assert decide(plan(), cooling, mine).outcome is Outcome.AUTO
    limited = Policy(rules=(AUTO,), rate_limit=RateLimit(max_actions=1))
    assert decide(plan(), limited, mine).outcome is Outcome.DENY


def test_rate_limits_hold_plans_that_ask_too() -> None:
    policy = Policy(rate_limit=RateLimit(max_actions=1))
    decision = decide(plan(), policy, context(recent=((NOW - timedelta(minutes=1), CART),)))
    assert decision.outcome is Outcome.DENY


# Modes


def test_dry_run_and_shadow_are_carried_on_the_decision() -> None:
    assert decide(plan(), Policy(rules=(AUTO,))).dry_run is False
    dry = decide(plan(), Policy(rules=(AUTO,), dry_run=True))
    assert (dry.outcome, dry.dry_run) == (Outcome.AUTO, True)
    assert "dry run" in dry.reason
    shadow = decide(plan(), Policy(rules=(AUTO,), shadow=True))
    assert (shadow.outcome, shadow.dry_run) == (Outcome.AUTO, True)
    assert "shadow" in shadow.reason


def test_duration_text() -> None:
    assert duration_text(timedelta(minutes=90)) == "1h30m"
    assert duration_text(timedelta(0)) == "0s"
