"""Diagnosis and planning for memory leaks, traffic surges, an overbooked database and a
failing dependency, each on hand-made facts."""

from __future__ import annotations

from datetime import timedelta

from healer.detect.detector import TemplateCount
from healer.detect.logclass import LogClass
from healer.domain.model import (
    AnomalyKind,
    Cause,
    DatabaseStats,
    MetricsSnapshot,
    Rollout,
    Signal,
    Topology,
    Workload,
)
from healer.pipeline.correlation import group
from healer.pipeline.diagnosis import Facts, diagnose
from healer.pipeline.planning import RulePlanner, plan

from .test_stages import (
    ADS,
    CATALOG,
    CHECKOUT,
    FRONT,
    NOW,
    PLAYBOOKS,
    TOPOLOGY,
    anomaly,
    facts,
    ids,
    incident_of,
)

CALM = {Signal.CPU_UTILISATION: 0.3, Signal.MEMORY_UTILISATION: 0.4}


def catalog_workload(deployed_ago: timedelta | None, replicas: int = 3) -> Workload:
    history = [Rollout(7, "catalog:1.7", NOW - timedelta(days=3))]
    if deployed_ago is not None:
        history.append(Rollout(8, "catalog:1.8", NOW - deployed_ago))
    latest = history[-1]
    return Workload(CATALOG, replicas, latest.revision, latest.image, {}, tuple(history))


def leaking(restarts: float, oom: float, share: float) -> dict[Signal, float]:
    return {
        Signal.CPU_UTILISATION: 0.5,
        Signal.MEMORY_UTILISATION: share,
        Signal.RESTARTS: restarts,
        Signal.OOM_KILLED: oom,
    }


def chosen_plan(d, found, workload, snapshot, tried=()):  # type: ignore[no-untyped-def]
    return plan(
        incident_of(*found),
        diagnosis=d,
        planner=RulePlanner(),
        playbooks=PLAYBOOKS,
        workload=workload,
        snapshot=snapshot,
        tried=tried,
    )


def leak_plan(deployed_ago: timedelta):  # type: ignore[no-untyped-def]
    found = [anomaly(CATALOG, AnomalyKind.ERRORS)]
    snapshot = {CATALOG: leaking(4, 3, 0.9)}
    workload = catalog_workload(deployed_ago)
    f = facts(snapshot, found, workloads={CATALOG: workload})
    d = diagnose(incident_of(*found), facts=f, now=NOW)
    assert d.cause is Cause.MEMORY_LEAK
    return chosen_plan(d, found, workload, f.snapshot)


# --- memory leak ---


def test_oom_kills_with_memory_near_the_limit_are_a_leak_citing_the_evidence() -> None:
    found = [anomaly(FRONT, AnomalyKind.ERRORS), anomaly(CATALOG, AnomalyKind.ERRORS)]
    workloads = {CATALOG: catalog_workload(timedelta(minutes=45))}
    f = facts({FRONT: CALM, CATALOG: leaking(3, 2, 0.92)}, found, workloads=workloads)
    d = diagnose(incident_of(*found), facts=f, now=NOW)
    assert (d.root, d.cause) == (CATALOG, Cause.MEMORY_LEAK)
    text = " | ".join(e.summary for e in d.evidence)
    assert "3 container restarts" in text and "out of memory" in text
    assert "92% of its memory limit" in text
    assert "revision 8" in text, "a rollout 45 min before still counts for a leak"


def test_a_single_restart_with_memory_at_rest_is_no_leak() -> None:
    found = [anomaly(CATALOG)]
    f = facts({CATALOG: leaking(1, 1, 0.45)}, found)
    d = diagnose(incident_of(*found), facts=f, now=NOW)
    assert d.cause is not Cause.MEMORY_LEAK


def test_a_leak_that_came_with_a_rollout_is_rolled_back_first() -> None:
    chosen = leak_plan(timedelta(minutes=30))
    assert chosen is not None and (chosen.playbook, chosen.target) == ("rollback", CATALOG)


def test_a_leak_in_a_long_running_version_is_restarted() -> None:
    chosen = leak_plan(timedelta(days=2))
    assert chosen is not None and chosen.playbook == "restart"


# --- traffic surge ---


def test_several_services_saturating_behind_the_entry_is_a_surge_at_the_entry() -> None:
    found = [anomaly(FRONT), anomaly(CHECKOUT), anomaly(CATALOG)]
    snapshot = {
        FRONT: {Signal.CPU_UTILISATION: 0.65, Signal.REQUEST_RATE: 640.0, Signal.REPLICAS: 3},
        CHECKOUT: {Signal.CPU_UTILISATION: 0.97, Signal.REPLICAS: 2},
        CATALOG: {Signal.CPU_UTILISATION: 1.2, Signal.REPLICAS: 3},
    }
    surging = facts(snapshot, found, load={FRONT: 2.1})
    d = diagnose(incident_of(*found), facts=surging, now=NOW)
    assert (d.root, d.cause) == (FRONT, Cause.TRAFFIC_SURGE)
    assert any(
        "catalog, checkout" in e.summary and "640 req/s, 2.1× its usual" in e.summary
        for e in d.evidence
    )
    usual = diagnose(incident_of(*found), facts=facts(snapshot, found, load={FRONT: 1.05}), now=NOW)
    assert usual.cause is Cause.CPU_SATURATION, "busy callees under the usual traffic got slower"
    chosen = chosen_plan(
        d, found, Workload(FRONT, 3, 1, "front:1", {}), MetricsSnapshot(NOW, snapshot)
    )
    assert chosen is not None and chosen.playbook == "scale"
    assert chosen.target == CATALOG, "capacity is added where it runs out"
    assert chosen.params == {"replicas": 6}  # 3 × 1.2 / 0.6


def test_a_surge_that_first_overwhelms_a_service_deep_behind_the_entry_is_named_at_the_entry() -> (
    None
):
    found = [anomaly(CHECKOUT)]  # the first to run out; the entry still looks fine
    snapshot = {
        FRONT: {Signal.CPU_UTILISATION: 0.7, Signal.REQUEST_RATE: 600.0},
        CHECKOUT: {Signal.CPU_UTILISATION: 0.98, Signal.REPLICAS: 1},
        CATALOG: {Signal.CPU_UTILISATION: 0.75},
    }
    d = diagnose(incident_of(*found), facts=facts(snapshot, found, load={FRONT: 2.2}), now=NOW)
    assert (d.root, d.cause) == (FRONT, Cause.TRAFFIC_SURGE)
    chosen = chosen_plan(
        d, found, Workload(FRONT, 3, 1, "front:1", {}), MetricsSnapshot(NOW, snapshot)
    )
    assert chosen is not None and chosen.target == CHECKOUT, "capacity where it runs out"
    # the same saturation behind an entry at its usual traffic is the service's own
    usual = diagnose(incident_of(*found), facts=facts(snapshot, found, load={FRONT: 1.1}), now=NOW)
    assert (usual.root, usual.cause) == (CHECKOUT, Cause.CPU_SATURATION)


def test_one_saturated_service_is_cpu_saturation_not_a_surge() -> None:
    found = [anomaly(FRONT), anomaly(CATALOG)]
    snapshot = {FRONT: {Signal.CPU_UTILISATION: 0.4}, CATALOG: {Signal.CPU_UTILISATION: 1.3}}
    d = diagnose(incident_of(*found), facts=facts(snapshot, found), now=NOW)
    assert (d.root, d.cause) == (CATALOG, Cause.CPU_SATURATION)


def test_saturation_after_a_rollout_is_not_counted_as_load() -> None:
    found = [anomaly(FRONT), anomaly(CHECKOUT), anomaly(CATALOG)]
    snapshot = {
        FRONT: {Signal.CPU_UTILISATION: 0.5},
        CHECKOUT: {Signal.CPU_UTILISATION: 0.97},
        CATALOG: {Signal.CPU_UTILISATION: 1.2},
    }
    workloads = {CATALOG: catalog_workload(timedelta(minutes=3))}
    d = diagnose(incident_of(*found), facts=facts(snapshot, found, workloads=workloads), now=NOW)
    assert d.cause is not Cause.TRAFFIC_SURGE


# --- database at max_connections ---

ORDERS = "orders"
DB_TOPOLOGY = Topology(TOPOLOGY.services, TOPOLOGY.edges, {CHECKOUT: ORDERS})


def overbooked_facts(found):  # type: ignore[no-untyped-def]
    pooled = {
        Signal.CPU_UTILISATION: 0.3,
        Signal.POOL_USED: 70.0,
        Signal.POOL_MAX: 130.0,
        Signal.POOL_PENDING: 12.0,
        Signal.POOL_TIMEOUTS: 0.4,
        Signal.REPLICAS: 13.0,
    }
    snapshot = MetricsSnapshot(
        NOW, {FRONT: CALM, CHECKOUT: pooled}, {ORDERS: DatabaseStats(ORDERS, 97.0, 97.0)}
    )
    base = facts({}, found)
    return Facts(snapshot, base.observation, DB_TOPOLOGY, {})


def test_pools_larger_than_the_database_accepts_are_db_max_connections() -> None:
    found = [anomaly(FRONT, AnomalyKind.ERRORS), anomaly(CHECKOUT, AnomalyKind.ERRORS)]
    d = diagnose(incident_of(*found), facts=overbooked_facts(found), now=NOW)
    assert (d.root, d.cause) == (CHECKOUT, Cause.DB_MAX_CONNECTIONS)
    text = " | ".join(e.summary for e in d.evidence)
    assert "97 of 97 connections" in text and "130 connections" in text


def test_db_max_connections_lowers_the_pool_to_fit_the_database() -> None:
    found = [anomaly(CHECKOUT, AnomalyKind.ERRORS)]
    f = overbooked_facts(found)
    d = diagnose(incident_of(*found), facts=f, now=NOW)
    workload = Workload(CHECKOUT, 13, 4, "checkout:1", {"DB_POOL_SIZE": "10"})
    chosen = chosen_plan(d, found, workload, f.snapshot)
    assert chosen is not None and chosen.playbook == "tune_pool"
    assert chosen.params["pool_size"] == 5  # at most half of 10, under 97 × 0.85 / 13
    assert 13 * int(chosen.params["pool_size"]) < 97


def test_db_max_connections_never_scales_out() -> None:
    found = [anomaly(CHECKOUT, AnomalyKind.ERRORS)]
    f = overbooked_facts(found)
    d = diagnose(incident_of(*found), facts=f, now=NOW)
    workload = Workload(CHECKOUT, 13, 4, "checkout:1", {})  # pool size unknown
    assert chosen_plan(d, found, workload, f.snapshot) is None, "escalate, never add replicas"


# --- a failing dependency ---


def test_errors_with_nothing_local_are_the_dependency_and_escalate_without_a_rollout() -> None:
    found = [anomaly(FRONT, AnomalyKind.ERRORS), anomaly(CATALOG, AnomalyKind.ERRORS)]
    snapshot = {FRONT: CALM, CATALOG: CALM}
    workload = catalog_workload(timedelta(days=2))
    failing = TemplateCount(
        9, "HTTPError: <*> Server Error for url: https://api.partner.example/<*>",
        LogClass.UPSTREAM, 25.0, NOW - timedelta(minutes=2), True,
    )  # fmt: skip
    f = facts(snapshot, found, {CATALOG: (failing,)}, workloads={CATALOG: workload})
    d = diagnose(incident_of(*found), facts=f, now=NOW)
    assert (d.root, d.cause) == (CATALOG, Cause.DEPENDENCY_ERRORS)
    assert any("api.partner.example" in e.summary for e in d.evidence), "the logs are cited"
    assert chosen_plan(d, found, workload, MetricsSnapshot(NOW, snapshot)) is None


def test_a_slow_dependency_that_began_with_its_rollout_may_be_rolled_back() -> None:
    found = [anomaly(FRONT), anomaly(CATALOG)]
    snapshot = {FRONT: CALM, CATALOG: CALM}
    workload = catalog_workload(timedelta(minutes=5))
    d = diagnose(
        incident_of(*found), facts=facts(snapshot, found, workloads={CATALOG: workload}), now=NOW
    )
    assert d.root == CATALOG
    # scale comes first for slowness; once it is tried, the recent rollout is next
    chosen = chosen_plan(d, found, workload, MetricsSnapshot(NOW, snapshot), ["scale"])
    assert chosen is not None and chosen.playbook == "rollback"


def test_the_service_crowding_a_full_database_is_found_outside_the_incident() -> None:
    found = [anomaly(ADS, AnomalyKind.ERRORS)]  # only a victim on the same database shows it
    shared = Topology(TOPOLOGY.services, TOPOLOGY.edges, {CHECKOUT: ORDERS, ADS: ORDERS})
    f = overbooked_facts(found)
    victim = {Signal.POOL_USED: 2.0, Signal.POOL_MAX: 10.0, Signal.POOL_TIMEOUTS: 0.2}
    snapshot = MetricsSnapshot(NOW, {**f.snapshot.services, ADS: victim}, f.snapshot.databases)
    crowded = Facts(snapshot, f.observation, shared, {})
    d = diagnose(incident_of(*found), facts=crowded, now=NOW)
    assert (d.root, d.cause) == (CHECKOUT, Cause.DB_MAX_CONNECTIONS)


def test_a_small_pool_on_a_full_database_is_not_shrunk() -> None:
    found = [anomaly(CHECKOUT, AnomalyKind.ERRORS)]
    f = overbooked_facts(found)
    d = diagnose(incident_of(*found), facts=f, now=NOW)
    workload = Workload(CHECKOUT, 2, 4, "checkout:1", {"DB_POOL_SIZE": "10"})  # 20 of 97
    assert chosen_plan(d, found, workload, f.snapshot) is None


def test_services_on_one_database_are_one_incident() -> None:
    found = [anomaly(ADS, AnomalyKind.ERRORS), anomaly(CHECKOUT, AnomalyKind.ERRORS)]
    apart = group(found, incidents=[], topology=TOPOLOGY, now=NOW, new_id=ids())
    assert len(apart.opened) == 2, "no call between them"
    shared = Topology(TOPOLOGY.services, TOPOLOGY.edges, {CHECKOUT: ORDERS, ADS: ORDERS})
    together = group(found, incidents=[], topology=shared, now=NOW, new_id=ids())
    assert [i.services for i in together.opened] == [{ADS, CHECKOUT}]


def test_a_broad_rise_in_cpu_names_the_surge_before_anything_saturates() -> None:
    found = [anomaly(FRONT), anomaly(CATALOG)]  # one slow service and its caller
    snapshot = {
        FRONT: {Signal.CPU_UTILISATION: 0.66},
        CHECKOUT: {Signal.CPU_UTILISATION: 0.7},  # busy, not (yet) anomalous
        CATALOG: {Signal.CPU_UTILISATION: 0.62, Signal.REPLICAS: 3},
    }
    d = diagnose(incident_of(*found), facts=facts(snapshot, found, load={FRONT: 1.6}), now=NOW)
    assert (d.root, d.cause) == (FRONT, Cause.TRAFFIC_SURGE)
    workload = Workload(FRONT, 3, 1, "front:1", {})
    chosen = chosen_plan(d, found, workload, MetricsSnapshot(NOW, snapshot))
    assert chosen is not None and chosen.target == CATALOG, "where the symptoms are"
    assert chosen.params == {"replicas": 5}, "at least 1.5× while the load keeps coming"
