"""The in-process ports: PromQL-like metrics, logs, and the cluster API."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest

from healer.domain.model import ServiceRef, Signal
from healer.errors import ActionFailed, ClusterUnavailable, SourceUnavailable
from healer.sim import Simulation, scenario_by_name
from healer.sim import telemetry as t
from healer.sim.promql import Window, histogram_quantile, rates
from healer.sim.topology import fanout

from .helpers import ref


def fresh(minutes: float = 5, **realism: float) -> Simulation:
    scenario = scenario_by_name("steady-state")
    if realism:
        scenario = dataclasses.replace(
            scenario, realism=dataclasses.replace(scenario.realism, **realism)
        )
    sim = Simulation(scenario)
    sim.run_until(sim.start + timedelta(minutes=minutes))
    return sim


# --- PromQL arithmetic ---


def test_histogram_quantile_interpolates_like_prometheus() -> None:
    counts = [0, 0, 0, 0, 50, 90, 100, 100, 100, 100, 100, 100]  # le 0.005 … +Inf
    assert histogram_quantile(0.5, counts) == pytest.approx(0.1)
    assert histogram_quantile(0.7, counts) == pytest.approx(0.1 + 0.15 * 0.5)
    assert histogram_quantile(0.99, counts) == pytest.approx(0.25 + 0.25 * 0.9)
    assert histogram_quantile(0.99, [0] * 11 + [10]) == 10.0  # all in +Inf
    assert histogram_quantile(0.99, [0] * 12) is None


def test_rate_handles_counter_resets() -> None:
    def sample(value: float) -> tuple[float, ...]:
        return (value,) + (0.0,) * (t.COUNTERS - 1)

    window = Window(
        series={"svc": {"pod": [(0, sample(100)), (15, sample(130)), (30, sample(12))]}}
    )
    # 30 before the restart, 12 after it: 42 over 30 s, never negative
    assert rates(window, (0,))["svc"] == [pytest.approx(42 / 30)]


def test_restarts_never_make_rates_negative() -> None:
    sim = fresh(10, missed_scrapes=0.0)
    checkout = ref(sim, "checkoutservice")
    for minute in range(11, 30, 2):
        sim.kube.set_env(checkout, "LOG_LEVEL", "debug" if minute % 4 else "info")
        sim.kube.scale(ref(sim, "frontend"), 2 + minute % 3)
        sim.run_until(sim.start + timedelta(minutes=minute - 0.5))
        for name in ("cartservice", "productcatalogservice", "redis-cart"):
            sim.cluster.restart_pod(ref(sim, name), minute)  # same pod, counters to zero
        sim.run_until(sim.start + timedelta(minutes=minute))
        snap = sim.metrics.snapshot(sim.clock.now())
        for service, values in snap.services.items():
            for signal in (Signal.REQUEST_RATE, Signal.POOL_TIMEOUTS, Signal.CPU_UTILISATION):
                assert values.get(signal, 0.0) >= 0, (service, signal)
            assert 0 <= values.get(Signal.ERROR_RATIO, 0.0) <= 1
        for name in ("checkoutservice", "cartservice", "redis-cart"):
            service = ref(sim, name)
            rate = snap.value(service, Signal.REQUEST_RATE)
            true = sim.cluster.truth[-1].rate[service]
            assert rate is not None and abs(rate / true - 1) < 0.4, name


def test_missed_scrapes_leave_services_out() -> None:
    sim = fresh(1, missed_scrapes=0.5)
    seen = []
    for _ in range(20):
        now = sim.advance()
        seen.append(len(sim.metrics.snapshot(now).services))
    assert min(seen) < 11 and max(seen) > 0
    sim = fresh(1, missed_scrapes=0.0)
    assert len(sim.metrics.snapshot(sim.advance()).services) == 11


def test_queries_do_not_grow_with_services() -> None:
    counts = []
    for size in (10, 300):
        scenario = dataclasses.replace(
            scenario_by_name("steady-state"),
            topology=fanout(size),
            faults=(),
        )
        sim = Simulation(scenario)
        sim.advance()
        sim.advance()
        before = sim.metrics.queries
        snap = sim.metrics.snapshot(sim.clock.now())
        counts.append(sim.metrics.queries - before)
        assert len(snap.services) >= size * 0.9
    # one query per signal, plus one for the databases
    assert counts[0] == counts[1] <= len(Signal) + 1


def test_failing_sources_raise_then_recover() -> None:
    sim = fresh(2)
    now = sim.clock.now()
    sim.metrics.fail_next(2)
    sim.logs.fail_next()
    sim.kube.fail_next()
    for _ in range(2):
        with pytest.raises(SourceUnavailable):
            sim.metrics.snapshot(now)
    with pytest.raises(SourceUnavailable):
        sim.logs.read(now - timedelta(minutes=1), now)
    with pytest.raises(ClusterUnavailable):
        sim.kube.workload(ref(sim, "frontend"))
    assert sim.metrics.snapshot(now).services
    assert sim.logs.read(now - timedelta(minutes=1), now).totals
    assert sim.kube.workload(ref(sim, "frontend")).replicas == 3


def test_topology_and_databases() -> None:
    sim = fresh(1)
    topology = sim.metrics.topology(sim.clock.now())
    assert len(topology.services) == 11 and len(topology.edges) == 15
    catalog = ServiceRef("boutique", "productcatalogservice")
    assert topology.callers(catalog) == {
        ServiceRef("boutique", n) for n in ("frontend", "checkoutservice", "recommendationservice")
    }
    assert topology.databases[ServiceRef("boutique", "checkoutservice")] == "orders"
    snap = sim.metrics.snapshot(sim.clock.now())
    assert set(snap.databases) == {"orders", "recommendations"}


def test_logs_are_sampled_with_true_totals() -> None:
    sim = fresh(20)
    now = sim.clock.now()
    batch = sim.logs.read(now - timedelta(minutes=10), now)
    for service, total in batch.totals.items():
        sampled = [r for r in batch.records if r.service == service]
        assert total >= len(sampled)
        assert len(sampled) <= 40 * 30  # at most 30 per tick
    assert all(now - timedelta(minutes=10) < r.at <= now for r in batch.records)
    failed = [r for r in batch.records if r.status_code and r.status_code >= 500]
    assert failed and all(r.trace_id and len(r.trace_id) == 32 for r in failed)


# --- the cluster API ---


def test_dry_run_changes_nothing() -> None:
    sim = fresh(2)
    cart = ref(sim, "cartservice")
    before = sim.kube.workload(cart)
    sim.kube.scale(cart, 5, dry_run=True)
    sim.kube.set_env(cart, "LOG_LEVEL", "debug", dry_run=True)
    sim.kube.rollback(cart, dry_run=True)
    assert sim.kube.workload(cart) == before
    assert not sim.kube.mutations
    pods = [p.name for p in sim.cluster.deployment(cart).pods]
    sim.advance()
    assert [p.name for p in sim.cluster.deployment(cart).pods] == pods


@pytest.mark.parametrize(
    ("action", "reason"),
    [
        (lambda k, s: k.scale(ServiceRef("boutique", "nope"), 2), "not found"),
        (lambda k, s: k.scale(s, -1), "between 0 and 1000"),
        (lambda k, s: k.scale(s, 1001), "between 0 and 1000"),
        (lambda k, s: k.scale(s, "3"), "integer"),
        (lambda k, s: k.set_env(s, "DB_POOL_SIZE", "ten"), "integer pool size"),
        (lambda k, s: k.set_env(s, "DB_POOL_SIZE", "0"), "between 1"),
        (lambda k, s: k.set_env(s, "bad name", "1"), "not a valid"),
        (lambda k, s: k.rollback(s, 99), "no revision 99"),
        (lambda k, s: k.rollback(ServiceRef("default", "checkoutservice")), "not found"),
    ],
)
def test_bad_requests_fail(action: Callable[[Any, ServiceRef], None], reason: str) -> None:
    sim = fresh(1)
    checkout = ref(sim, "checkoutservice")
    for kube in (_DryKube(sim), sim.kube):
        with pytest.raises(ActionFailed, match=reason):
            action(kube, checkout)
    assert not sim.kube.mutations


class _DryKube:
    """The same calls with dry_run=True: validation must not depend on mutating."""

    def __init__(self, sim: Simulation) -> None:
        self._k = sim.kube

    def scale(self, service: ServiceRef, replicas: int) -> None:
        self._k.scale(service, replicas, dry_run=True)

    def set_env(self, service: ServiceRef, name: str, value: str) -> None:
        self._k.set_env(service, name, value, dry_run=True)

    def rollback(self, service: ServiceRef, to_revision: int | None = None) -> None:
        self._k.rollback(service, to_revision, dry_run=True)


def test_rollback_needs_a_previous_revision() -> None:
    sim = fresh(1)
    cart = ref(sim, "cartservice")
    dep = sim.cluster.deployment(cart)
    del dep.history[:-1]
    with pytest.raises(ActionFailed, match="no previous revision"):
        sim.kube.rollback(cart, dry_run=True)


def test_scale_lands_one_tick_later_with_fresh_pods() -> None:
    sim = fresh(5, missed_scrapes=0.0)
    frontend = ref(sim, "frontend")
    old = {p.name for p in sim.cluster.deployment(frontend).pods}
    sim.kube.scale(frontend, 6)
    assert sim.kube.workload(frontend).replicas == 6
    assert sim.metrics.snapshot(sim.clock.now()).value(frontend, Signal.REPLICAS) == 3
    sim.advance()
    pods = sim.cluster.deployment(frontend).pods
    assert len(pods) == 6 and old < {p.name for p in pods}
    assert sim.metrics.snapshot(sim.clock.now()).value(frontend, Signal.REPLICAS) == 6
    new = [p for p in pods if p.name not in old]
    assert all(p.counters[t.HIST_COUNT] < pods[0].counters[t.HIST_COUNT] for p in new)
    assert sim.kube.mutations[-1].action == "scale"


def test_set_env_rolls_out_a_revision_and_restarts_pods() -> None:
    sim = fresh(5)
    checkout = ref(sim, "checkoutservice")
    before = sim.kube.workload(checkout)
    pods = {p.name for p in sim.cluster.deployment(checkout).pods}
    sim.kube.set_env(checkout, "DB_POOL_SIZE", "20")
    after = sim.kube.workload(checkout)
    assert after.revision == before.revision + 1 and after.image == before.image
    assert after.env["DB_POOL_SIZE"] == "20" and before.env["DB_POOL_SIZE"] == "10"
    sim.advance()
    assert pods.isdisjoint(p.name for p in sim.cluster.deployment(checkout).pods)
    assert sim.metrics.snapshot(sim.clock.now()).value(checkout, Signal.POOL_MAX) == 20


def test_rollback_restores_the_previous_template_as_a_new_revision() -> None:
    sim = fresh(5)
    cart = ref(sim, "cartservice")
    before = sim.kube.workload(cart)
    previous = before.history[-2]
    sim.kube.rollback(cart)
    after = sim.kube.workload(cart)
    assert after.revision == before.revision + 1
    assert after.image == previous.image
    assert previous.revision not in {r.revision for r in after.history}
    sim.kube.rollback(cart, to_revision=before.revision)
    assert sim.kube.workload(cart).image == before.image


def test_scale_to_zero_fails_the_callers() -> None:
    sim = fresh(5)
    sim.kube.scale(ref(sim, "currencyservice"), 0)
    sim.run_until(sim.start + timedelta(minutes=8))
    snap = sim.metrics.snapshot(sim.clock.now())
    assert snap.value(ref(sim, "currencyservice"), Signal.REQUEST_RATE) is None
    frontend = snap.value(ref(sim, "frontend"), Signal.ERROR_RATIO)
    assert frontend is not None and frontend > 0.5
    assert not math.isnan(frontend)
