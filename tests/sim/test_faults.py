"""Each fault shows the right symptoms and log lines, and the right playbook cures it."""

from __future__ import annotations

import dataclasses
import random
import re
from datetime import timedelta

import pytest

from healer.domain.model import Signal
from healer.sim import Simulation, stacks
from healer.sim.scenario import FaultSpec

from .helpers import ONSET_MIN, Cure, errors, p99, ref, simulate, truth, uncured

HEALTHY = (60.0, 94.0)
FAULTY = (102.0, 180.0)
AFTER_CURE = (110.0, 180.0)


def sick_share(sim: Simulation, name: str, a: float, b: float) -> float:
    """Share of ticks in [a, b) where the service has p99 ≥ 3× healthy or ≥ 5 % errors."""
    service = ref(sim, name)
    healthy = p99(sim, service, *HEALTHY)
    ticks = truth(sim, a, b)
    sick = [t for t in ticks if t.p99[service] >= 3 * healthy or t.error_ratio[service] >= 0.05]
    return len(sick) / len(ticks)


def log_lines(sim: Simulation, name: str, a: float, b: float) -> list[str]:
    start = sim.start
    batch = sim.logs.read(start + timedelta(minutes=a), start + timedelta(minutes=b))
    return [r.message for r in batch.records if r.service.name == name]


def assert_cured(sim: Simulation, names: list[str]) -> None:
    for name in names:
        service = ref(sim, name)
        healthy, after = p99(sim, service, *HEALTHY), p99(sim, service, *AFTER_CURE)
        assert after <= 1.5 * healthy, f"{name}: p99 {after:.3f}s vs healthy {healthy:.3f}s"
        assert errors(sim, service, *AFTER_CURE) < 0.005, name


def double(name: str) -> Cure:
    def cure(sim: Simulation) -> None:
        service = ref(sim, name)
        sim.kube.scale(service, 2 * sim.kube.workload(service).replicas)

    return cure


AFFECTED = ["frontend", "checkoutservice", "recommendationservice", "productcatalogservice"]


def test_cpu_saturation_symptoms() -> None:
    sim = uncured("cpu-saturation")
    assert sick_share(sim, "recommendationservice", *FAULTY) >= 0.95
    assert sick_share(sim, "recommendationservice", *HEALTHY) == 0
    service = ref(sim, "recommendationservice")
    snap = sim.metrics.snapshot(sim.start + timedelta(minutes=120))
    assert (snap.value(service, Signal.CPU_UTILISATION) or 0) >= 0.95
    assert (snap.value(service, Signal.CPU_THROTTLING) or 0) >= 0.5
    assert any(
        "WORKER TIMEOUT" in line for line in log_lines(sim, "recommendationservice", 110, 112)
    )
    frontend = log_lines(sim, "frontend", 110, 115)
    assert any("recommendationservice" in line for line in frontend)


def test_cpu_saturation_cured_by_doubling_replicas() -> None:
    sim = simulate("cpu-saturation", cure=double("recommendationservice"))
    assert_cured(sim, AFFECTED)


def test_pool_exhaustion_symptoms() -> None:
    sim = uncured("pool-exhaustion")
    assert sick_share(sim, "checkoutservice", *FAULTY) >= 0.95
    service = ref(sim, "checkoutservice")
    workload = sim.kube.workload(service)
    assert workload.env["DB_POOL_SIZE"] == "3"
    latest = workload.history[-1]
    assert latest.revision == workload.revision
    assert latest.at == sim.start + timedelta(minutes=ONSET_MIN)
    snap = sim.metrics.snapshot(sim.start + timedelta(minutes=120))
    assert snap.value(service, Signal.POOL_MAX) == 3
    assert snap.value(service, Signal.POOL_USED) == 3
    assert (snap.value(service, Signal.POOL_PENDING) or 0) > 5
    assert (snap.value(service, Signal.POOL_TIMEOUTS) or 0) > 0.5
    hikari = re.compile(
        r"HikariPool-1 - Connection is not available, request timed out after \d+ms "
        r"\(total=3, active=3, idle=0, waiting=\d+\)"
    )
    lines = log_lines(sim, "checkoutservice", 110, 115)
    assert sum(1 for line in lines if hikari.fullmatch(line)) >= 10
    assert len({line for line in lines if hikari.fullmatch(line)}) > 1  # numbers vary
    quiet = sim.metrics.snapshot(sim.start + timedelta(minutes=80))
    assert quiet.value(service, Signal.POOL_TIMEOUTS) == 0


def test_pool_exhaustion_cured_by_a_bigger_pool() -> None:
    def cure(sim: Simulation) -> None:
        sim.kube.set_env(ref(sim, "checkoutservice"), "DB_POOL_SIZE", "10")

    sim = simulate("pool-exhaustion", cure=cure)
    assert_cured(sim, ["checkoutservice", "frontend"])
    assert not sim.cluster.active_faults()


def test_bad_deploy_symptoms() -> None:
    sim = uncured("bad-deploy")
    cart = ref(sim, "cartservice")
    assert 0.2 <= errors(sim, cart, *FAULTY) <= 0.3
    assert errors(sim, cart, *HEALTHY) < 0.005
    assert sick_share(sim, "cartservice", *FAULTY) >= 0.95
    workload = sim.kube.workload(cart)
    before = [r for r in workload.history if r.revision < workload.revision][-1]
    assert workload.history[-1].at == sim.start + timedelta(minutes=ONSET_MIN)
    assert workload.image != before.image
    batch = sim.logs.read(sim.start + timedelta(minutes=110), sim.start + timedelta(minutes=111))
    traces = [r for r in batch.records if r.error_type == "System.NullReferenceException"]
    assert traces and all(r.service == cart and r.status_code == 500 for r in traces)
    assert all("\n   at cartservice." in r.message and r.trace_id for r in traces)
    upstream = [r for r in batch.records if r.service.name in ("frontend", "checkoutservice")]
    assert any("cartservice" in r.message for r in upstream)
    # why: the callers fail too, checkout (two cart calls per order) more than cart itself
    assert errors(sim, ref(sim, "checkoutservice"), *FAULTY) > errors(sim, cart, *FAULTY)


def test_bad_deploy_cured_by_rollback() -> None:
    def cure(sim: Simulation) -> None:
        sim.kube.rollback(ref(sim, "cartservice"))

    sim = simulate("bad-deploy", cure=cure)
    assert_cured(sim, ["cartservice", "checkoutservice", "frontend"])
    assert not sim.cluster.active_faults()
    (fault,) = sim.cluster.fault_onsets()
    assert fault.cured == sim.start + timedelta(minutes=105, seconds=15)  # pods replaced
    assert sim.cluster.active_faults(sim.start + timedelta(minutes=100)) == (fault,)
    assert not sim.cluster.active_faults(sim.start + timedelta(minutes=106))
    workload = sim.kube.workload(ref(sim, "cartservice"))
    assert workload.history[-1].at == sim.start + timedelta(minutes=105)


def test_slow_dependency_symptoms() -> None:
    sim = uncured("slow-dependency")
    catalog = ref(sim, "productcatalogservice")
    assert sick_share(sim, "productcatalogservice", *FAULTY) >= 0.95
    for caller in ("frontend", "checkoutservice", "recommendationservice"):
        service = ref(sim, caller)
        assert p99(sim, service, *FAULTY) >= 2 * p99(sim, service, *HEALTHY), caller
        lines = log_lines(sim, caller, 110, 115)
        assert any("productcatalogservice" in line for line in lines), caller
    snap = sim.metrics.snapshot(sim.start + timedelta(minutes=120))
    assert (snap.value(catalog, Signal.CPU_UTILISATION) or 1) < 0.6  # it waits, not computes


def test_slow_dependency_shows_on_the_root_first() -> None:
    sim = uncured("slow-dependency")
    names = ["productcatalogservice", "frontend", "checkoutservice", "recommendationservice"]
    healthy = {n: p99(sim, ref(sim, n), *HEALTHY) for n in names}
    first: dict[str, float] = {}
    for tick in truth(sim, ONSET_MIN, 110):
        for name in names:
            if name not in first and tick.p99[ref(sim, name)] >= 1.4 * healthy[name]:
                first[name] = tick.at.timestamp()
    assert first["productcatalogservice"] == min(first.values())
    assert first["productcatalogservice"] < first["checkoutservice"]


def test_slow_dependency_cured_by_doubling_replicas() -> None:
    sim = simulate("slow-dependency", cure=double("productcatalogservice"))
    assert_cured(sim, [n for n in AFFECTED if n != "productcatalogservice"])
    # why: more replicas give back the concurrency, not the store's speed: its own p99
    # stays above healthy by the slower waits, but no longer queues towards the timeout
    catalog = ref(sim, "productcatalogservice")
    assert p99(sim, catalog, *AFTER_CURE) <= 2.0 * p99(sim, catalog, *HEALTHY)
    assert p99(sim, catalog, *AFTER_CURE) < 0.25 * p99(uncured("slow-dependency"), catalog, *FAULTY)
    assert errors(sim, catalog, *AFTER_CURE) < 0.005


def test_fault_ground_truth() -> None:
    sim = uncured("cpu-saturation")
    onset = sim.start + timedelta(minutes=ONSET_MIN)
    (scheduled,) = sim.cluster.fault_onsets()
    assert scheduled.onset == onset
    assert scheduled.service == ref(sim, "recommendationservice")
    assert not sim.cluster.active_faults(onset - timedelta(seconds=15))
    assert sim.cluster.active_faults(onset + timedelta(minutes=1)) == (scheduled,)


def test_intermittent_fault_comes_and_goes() -> None:
    sim = uncured("steady-state")
    scenario = sim.scenario
    fault = FaultSpec(
        at=timedelta(minutes=30),
        kind="cpu_saturation",
        target="adservice",
        params={"factor": 4.0},
        duration=timedelta(minutes=5),
        every=timedelta(minutes=20),
    )
    sim = Simulation(dataclasses.replace(scenario, faults=(fault,)))
    sim.run_until(sim.start + timedelta(minutes=80))
    ad = ref(sim, "adservice")
    for a, b, sick in [(20, 30, False), (31, 35, True), (36, 50, False), (51, 55, True)]:
        assert (errors(sim, ad, a, b) > 0.05) is sick, (a, b)
        active = bool(sim.cluster.active_faults(sim.start + timedelta(minutes=a + 1)))
        assert active is sick


@pytest.mark.parametrize(
    ("language", "marker", "error_type"),
    [
        ("java", "\tat hipstershop.", "java.lang.NullPointerException"),
        ("python", "Traceback (most recent call last):", "KeyError"),
        ("go", "goroutine ", "runtime.Error"),
        ("nodejs", "    at convert (", "TypeError"),
        ("csharp", "   at cartservice.", "System.NullReferenceException"),
    ],
)
def test_stack_traces_by_language(language: str, marker: str, error_type: str) -> None:
    message, kind = stacks.crash("adservice", language, random.Random(1))
    assert marker in message and kind == error_type
    assert "\n" in message
