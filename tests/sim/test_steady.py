"""A healthy cluster is quiet (no incident to find) yet noisy (nothing to overfit)."""

from __future__ import annotations

import statistics
from datetime import timedelta
from itertools import pairwise

from healer.domain.model import Signal

from .helpers import errors, p99, ref, truth, uncured


def test_quiet_every_service_stays_within_its_noise() -> None:
    sim = uncured("steady-state")
    assert not sim.cluster.active_faults()
    for dep in sim.cluster.deployments.values():
        service = dep.ref
        assert errors(sim, service, 0, 180) < 0.005, service
        windows = [p99(sim, service, a, a + 30) for a in range(0, 180, 30)]
        overall = p99(sim, service, 0, 180)
        assert max(windows) <= 1.25 * overall, service
        assert min(windows) >= 0.8 * overall, service


def test_noisy_tails_are_heavy() -> None:
    sim = uncured("steady-state")
    spiky = 0
    for dep in sim.cluster.deployments.values():
        series = sorted(t.p99[dep.ref] for t in sim.cluster.truth)
        median = statistics.median(series)
        assert series[len(series) // 4] < median < series[3 * len(series) // 4]
        if series[-1] >= 2 * median:
            spiky += 1  # GC pauses, cold caches after a release, bursts
    assert spiky >= 5


def test_traffic_follows_the_day_and_bursts() -> None:
    sim = uncured("steady-state")
    frontend = ref(sim, "frontend")
    early = statistics.mean(t.rate[frontend] for t in truth(sim, 0, 20))
    late = statistics.mean(t.rate[frontend] for t in truth(sim, 160, 180))
    assert late >= 1.15 * early  # a Monday morning: traffic climbs
    rates = [t.rate[frontend] for t in sim.cluster.truth]
    steps = [abs(b / a - 1) for a, b in pairwise(rates)]
    assert max(steps) > 0.15  # bursts and fat-tailed noise, not a smooth curve


def test_scrapes_are_sometimes_missed() -> None:
    sim = uncured("steady-state")
    missing = 0
    for scrape in sim.cluster.scrapes.scrapes:
        missing += len(sim.cluster.deployments) - len(scrape.services)
    assert 3 <= missing <= 100


def test_harmless_error_logs_everywhere() -> None:
    sim = uncured("steady-state")
    end = sim.clock.now()
    batch = sim.logs.read(end - timedelta(minutes=60), end)
    assert {r.service.name for r in batch.records} == set(sim.cluster.deployments)
    assert all(r.level == "error" for r in batch.records)
    assert len({r.message for r in batch.records}) > 0.9 * len(batch.records)


def test_snapshot_matches_the_truth() -> None:
    sim = uncured("steady-state")
    at = sim.start + timedelta(minutes=90)
    snap = sim.metrics.snapshot(at)
    frontend = ref(sim, "frontend")
    true_rate = statistics.mean(t.rate[frontend] for t in truth(sim, 89, 90.1))
    measured = snap.value(frontend, Signal.REQUEST_RATE)
    assert measured is not None and abs(measured / true_rate - 1) < 0.1
    assert snap.value(frontend, Signal.REPLICAS) == 3
    cpu = snap.value(frontend, Signal.CPU_UTILISATION)
    assert cpu is not None and 0.2 < cpu < 0.6
