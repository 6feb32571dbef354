"""The faults beyond the first four: symptoms on the root and its callers, log lines, cures."""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from datetime import timedelta
from functools import cache

from healer.domain.model import Cause, Signal
from healer.sim import Simulation, scenario_by_name, telemetry
from healer.sim.faults import check_params
from healer.sim.scenario import FaultSpec

from .helpers import ONSET_MIN, Cure, errors, p99, ref

HEALTHY = (60.0, 94.0)
FAULTY = (102.0, 150.0)
AFTER_CURE = (112.0, 150.0)


def faulted(
    kind: str,
    target: str,
    params: Mapping[str, float | int | str] | None = None,
    *,
    cure: Cure | None = None,
    until_min: float = 150.0,
) -> Simulation:
    """The steady-state scenario with one fault at minute 95, optionally cured at 105."""
    base = scenario_by_name("steady-state")
    checked = check_params(kind, dict(params or {}), base.topology.service(target))
    fault = FaultSpec(at=timedelta(minutes=ONSET_MIN), kind=kind, target=target, params=checked)
    sim = Simulation(dataclasses.replace(base, faults=(fault,)))
    if cure is not None:
        sim.run_until(sim.start + timedelta(minutes=105))
        cure(sim)
    sim.run_until(sim.start + timedelta(minutes=until_min))
    return sim


@cache
def uncured(kind: str, target: str) -> Simulation:
    return faulted(kind, target)


def messages(sim: Simulation, name: str, a: float, b: float) -> list[str]:
    batch = sim.logs.read(sim.start + timedelta(minutes=a), sim.start + timedelta(minutes=b))
    return [r.message for r in batch.records if r.service.name == name]


def value(sim: Simulation, name: str, signal: Signal, minute: float) -> float:
    snap = sim.metrics.snapshot(sim.start + timedelta(minutes=minute))
    return snap.value(ref(sim, name), signal) or 0.0


# --- traffic_surge ---


def test_traffic_surge_doubles_the_entry_traffic_and_a_cluster_at_40_percent_absorbs_it() -> None:
    sim = uncured("traffic_surge", "frontend")
    before = value(sim, "frontend", Signal.REQUEST_RATE, 90)
    during = value(sim, "frontend", Signal.REQUEST_RATE, 120)
    assert 1.7 * before <= during <= 2.4 * before
    assert 0.6 <= value(sim, "frontend", Signal.CPU_UTILISATION, 120) < 0.95
    assert errors(sim, ref(sim, "frontend"), *FAULTY) < 0.005


def test_traffic_surge_tripling_the_entry_traffic_saturates() -> None:
    sim = faulted("traffic_surge", "frontend", {"factor": 3.0})
    before = value(sim, "frontend", Signal.REQUEST_RATE, 90)
    during = value(sim, "frontend", Signal.REQUEST_RATE, 120)
    assert 2.6 * before <= during <= 3.6 * before
    assert value(sim, "frontend", Signal.CPU_UTILISATION, 120) >= 0.95
    assert value(sim, "productcatalogservice", Signal.CPU_UTILISATION, 120) >= 0.85
    assert errors(sim, ref(sim, "frontend"), *FAULTY) > 0.05
    assert errors(sim, ref(sim, "frontend"), *HEALTHY) < 0.005
    (fault,) = sim.cluster.fault_onsets()
    assert fault.cause == Cause.TRAFFIC_SURGE  # what a perfect diagnosis would say


def scale_the_saturated(sim: Simulation) -> None:
    snap = sim.metrics.snapshot(sim.clock.now())
    for service, values in snap.services.items():
        if values.get(Signal.CPU_UTILISATION, 0.0) >= 0.85:
            sim.kube.scale(service, 3 * sim.kube.workload(service).replicas)


def test_traffic_surge_cured_by_scaling_the_saturated_services() -> None:
    sim = faulted("traffic_surge", "frontend", {"factor": 3.0}, cure=scale_the_saturated)
    for name in ("frontend", "checkoutservice", "productcatalogservice"):
        assert errors(sim, ref(sim, name), *AFTER_CURE) < 0.005, name
        healthy, after = p99(sim, ref(sim, name), *HEALTHY), p99(sim, ref(sim, name), *AFTER_CURE)
        assert after <= 2 * healthy, name


# --- db_max_connections ---

TOO_MANY = "FATAL: sorry, too many clients already"
RESERVED = "remaining connection slots are reserved for non-replication superuser connections"


def test_db_max_connections_refuses_the_pods_over_the_limit() -> None:
    sim = uncured("db_max_connections", "checkoutservice")
    checkout = ref(sim, "checkoutservice")
    assert sim.kube.workload(checkout).replicas == 13  # 130 connections wanted, 97 allowed
    snap = sim.metrics.snapshot(sim.start + timedelta(minutes=120))
    orders = snap.databases["orders"]
    assert orders.connections == orders.max_connections == 100
    assert errors(sim, checkout, *FAULTY) > 0.1
    assert errors(sim, ref(sim, "frontend"), *FAULTY) > 0.005
    lines = messages(sim, "checkoutservice", 110, 115)
    assert any(line.endswith(TOO_MANY) for line in lines)
    assert any(line.endswith(RESERVED) for line in lines)
    assert not any(RESERVED in line for line in messages(sim, "checkoutservice", 60, 94))


def test_db_max_connections_made_worse_by_scaling() -> None:
    def scale_out(sim: Simulation) -> None:
        sim.kube.scale(ref(sim, "checkoutservice"), 20)

    worse = faulted("db_max_connections", "checkoutservice", cure=scale_out)
    checkout = ref(worse, "checkoutservice")
    plain = uncured("db_max_connections", "checkoutservice")
    assert errors(worse, checkout, *AFTER_CURE) > errors(plain, checkout, *AFTER_CURE) + 0.05


def test_db_max_connections_cured_by_a_smaller_pool() -> None:
    def smaller(sim: Simulation) -> None:
        sim.kube.set_env(ref(sim, "checkoutservice"), "DB_POOL_SIZE", "5")

    sim = faulted("db_max_connections", "checkoutservice", cure=smaller)
    assert errors(sim, ref(sim, "checkoutservice"), *AFTER_CURE) < 0.005
    assert errors(sim, ref(sim, "frontend"), *AFTER_CURE) < 0.005
    assert not sim.cluster.active_faults()


def test_db_max_connections_cured_by_fewer_replicas() -> None:
    def fewer(sim: Simulation) -> None:
        sim.kube.scale(ref(sim, "checkoutservice"), 2)

    sim = faulted("db_max_connections", "checkoutservice", cure=fewer)
    assert errors(sim, ref(sim, "checkoutservice"), *AFTER_CURE) < 0.005
    (fault,) = sim.cluster.fault_onsets()
    assert fault.cured is not None and fault.cured > sim.start + timedelta(minutes=105)


# --- dependency_errors ---


def test_dependency_errors_fail_the_target_and_its_callers() -> None:
    sim = uncured("dependency_errors", "paymentservice")
    payment = ref(sim, "paymentservice")
    assert 0.25 <= errors(sim, payment, *FAULTY) <= 0.35
    assert errors(sim, payment, *HEALTHY) < 0.005
    assert errors(sim, ref(sim, "checkoutservice"), *FAULTY) >= 0.25
    assert errors(sim, ref(sim, "frontend"), *FAULTY) > 0.005
    assert p99(sim, payment, *FAULTY) < 1.5 * p99(sim, payment, *HEALTHY)
    axios = re.compile(
        r"AxiosError: Request failed with status code 50[234] \(POST "
        r"https://api\.payment-partner\.net/\S+, request [0-9a-f-]{36}, \d+ms\)"
    )
    lines = [line for line in messages(sim, "paymentservice", 110, 112) if axios.fullmatch(line)]
    assert len(lines) >= 10 and len(set(lines)) == len(lines)
    assert any("paymentservice" in line for line in messages(sim, "checkoutservice", 110, 112))
    (fault,) = sim.cluster.fault_onsets()
    assert fault.cause == Cause.DEPENDENCY_ERRORS


def test_dependency_errors_with_503s_are_retried_by_callers() -> None:
    sim = faulted("dependency_errors", "paymentservice", {"status": 503, "api": "pay.example"})
    payment, checkout = ref(sim, "paymentservice"), ref(sim, "checkoutservice")
    # why: one retry turns a 30 % failure into about 9 % at the caller, at 1.3× the load
    assert errors(sim, checkout, *FAULTY) < errors(sim, payment, *FAULTY) / 2
    rate = value(sim, "paymentservice", Signal.REQUEST_RATE, 120)
    assert rate > 1.2 * value(sim, "checkoutservice", Signal.REQUEST_RATE, 120)
    assert any("https://pay.example/" in line for line in messages(sim, "paymentservice", 110, 112))


# --- memory_leak ---


def restarts(sim: Simulation, name: str) -> int:
    return sum(pod.restarts for pod in sim.cluster.deployment(ref(sim, name)).pods)


def test_memory_leak_grows_until_the_pods_are_killed() -> None:
    sim = faulted("memory_leak", "cartservice", {"minutes_to_oom": 15})
    cart = ref(sim, "cartservice")
    dep = sim.cluster.deployment(cart)
    assert restarts(sim, "cartservice") >= 4  # two pods, about every 15 minutes
    oom = [m for m in messages(sim, "cartservice", 95, 150) if "OutOfMemoryException" in m]
    assert len(oom) >= 2
    # why: the working set climbs towards the limit between kills, as cAdvisor shows it
    used = [
        max(sample.gauges[telemetry.MEMORY_USED] for sample in scrape.services["cartservice"])
        for scrape in sim.cluster.scrapes.scrapes
        if "cartservice" in scrape.services
    ]
    limit = dep.spec.memory_limit_mb * telemetry.MIB
    assert max(used) >= 0.9 * limit and min(used) <= 0.45 * limit
    assert max(errors(sim, cart, m, m + 1) for m in range(100, 150)) > 0.02  # blips
    assert errors(sim, cart, *HEALTHY) < 0.005
    assert sim.kube.workload(cart).history[-1].at == sim.start + timedelta(minutes=ONSET_MIN)


def test_memory_leak_cured_by_rollback() -> None:
    def rollback(sim: Simulation) -> None:
        sim.kube.rollback(ref(sim, "cartservice"))

    sim = faulted("memory_leak", "cartservice", {"minutes_to_oom": 15}, cure=rollback)
    before = restarts(sim, "cartservice")
    sim.run_until(sim.start + timedelta(minutes=200))
    assert restarts(sim, "cartservice") == before == 0  # new pods, and none killed since
    assert not sim.cluster.active_faults()
    assert errors(sim, ref(sim, "cartservice"), 112, 200) < 0.005


def test_memory_leak_on_a_jvm_logs_heap_space() -> None:
    sim = faulted("memory_leak", "adservice", {"minutes_to_oom": 10}, until_min=130)
    lines = messages(sim, "adservice", 95, 130)
    assert any("java.lang.OutOfMemoryError: Java heap space" in line for line in lines)
    assert value(sim, "adservice", Signal.CPU_UTILISATION, 90) < 0.5


# --- latency_injection ---


def test_latency_injection_slows_the_target_and_its_callers() -> None:
    sim = uncured("latency_injection", "productcatalogservice")
    catalog = ref(sim, "productcatalogservice")
    assert p99(sim, catalog, *FAULTY) >= 0.3 + p99(sim, catalog, *HEALTHY)
    for caller in ("frontend", "checkoutservice", "recommendationservice"):
        service = ref(sim, caller)
        assert p99(sim, service, *FAULTY) >= 1.5 * p99(sim, service, *HEALTHY), caller
    assert value(sim, "productcatalogservice", Signal.CPU_UTILISATION, 120) < 0.5
    assert errors(sim, catalog, *FAULTY) < 0.005  # slow, not failing
    (fault,) = sim.cluster.fault_onsets()
    assert fault.cause == Cause.SLOW_DEPENDENCY


def test_latency_injection_past_the_deadline_times_calls_out() -> None:
    sim = faulted("latency_injection", "shippingservice", {"delay_ms": 2500}, until_min=120)
    shipping = ref(sim, "shippingservice")
    assert errors(sim, shipping, 100, 120) > 0.9
    lines = messages(sim, "shippingservice", 110, 112)
    assert any(" 504 DI,UT response_timeout " in line for line in lines)
    frontend = messages(sim, "frontend", 110, 112)
    assert any("shippingservice" in line and "DeadlineExceeded" in line for line in frontend)


def test_memory_leak_restart_buys_time_only() -> None:
    def restart(sim: Simulation) -> None:
        # why: `kubectl rollout restart` is a template change that keeps the leaking image
        dep = sim.cluster.deployment(ref(sim, "cartservice"))
        dep.set_env("RESTARTED_AT", sim.clock.now().isoformat(), sim.clock.now())

    sim = faulted("memory_leak", "cartservice", {"minutes_to_oom": 15}, cure=restart)
    dep = sim.cluster.deployment(ref(sim, "cartservice"))
    assert all(pod.started >= sim.start + timedelta(minutes=105) for pod in dep.pods)
    assert sum(pod.restarts for pod in dep.pods) >= 2  # killed again, about 15 min later
    assert sim.cluster.active_faults()


def test_intermittent_dependency_errors_come_and_go() -> None:
    base = scenario_by_name("steady-state")
    params = check_params("dependency_errors", {}, base.topology.service("shippingservice"))
    fault = FaultSpec(
        at=timedelta(minutes=30),
        kind="dependency_errors",
        target="shippingservice",
        params=params,
        duration=timedelta(minutes=5),
        every=timedelta(minutes=20),
    )
    sim = Simulation(dataclasses.replace(base, faults=(fault,)))
    sim.run_until(sim.start + timedelta(minutes=80))
    shipping = ref(sim, "shippingservice")
    for a, b, sick in [(20, 30, False), (31, 35, True), (36, 50, False), (51, 55, True)]:
        assert (errors(sim, shipping, a, b) > 0.1) is sick, (a, b)


def test_a_ramped_surge_grows_over_its_ramp() -> None:
    base = scenario_by_name("steady-state")
    params = check_params("traffic_surge", {"factor": 3.0}, base.topology.service("frontend"))
    fault = FaultSpec(
        at=timedelta(minutes=30),
        kind="traffic_surge",
        target="frontend",
        params=params,
        ramp=timedelta(minutes=20),
    )
    sim = Simulation(dataclasses.replace(base, faults=(fault,)))
    sim.run_until(sim.start + timedelta(minutes=52))
    rates = [value(sim, "frontend", Signal.REQUEST_RATE, m) for m in (29, 35, 41, 47)]
    assert rates == sorted(rates)
    assert rates[1] < 1.6 * rates[0] and rates[3] > 2.0 * rates[0]


def test_db_max_connections_on_a_lazy_pool_scales_out_further() -> None:
    sim = faulted("db_max_connections", "recommendationservice", until_min=115)
    recs = ref(sim, "recommendationservice")
    assert sim.kube.workload(recs).replicas == 31  # two connections each, 47 allowed
    assert errors(sim, recs, 100, 115) > 0.1
    lines = messages(sim, "recommendationservice", 100, 115)
    refused = [line for line in lines if line.startswith("psycopg2.OperationalError")]
    assert any(line.endswith(f"FATAL:  {TOO_MANY[7:]}") for line in refused)
    assert any(line.endswith(f"FATAL:  {RESERVED}") for line in refused)
