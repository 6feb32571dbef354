"""Robust baselines: quiet on noise, firing on a sustained shift, and not poisoned by it."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from healer.detect.baseline import Baseline, Persistence, Thresholds

T0 = datetime(2026, 1, 5, tzinfo=UTC)
LATENCY = Thresholds(z=6.0, ratio=1.6, log_scale=True)


def feed(baseline: Baseline, values: list[float]) -> list[bool]:
    return [
        baseline.observe(v, T0 + timedelta(seconds=15 * i)).firing for i, v in enumerate(values)
    ]


def noisy(rng: random.Random, n: int, centre: float = 0.2) -> list[float]:
    return [centre * rng.lognormvariate(0, 0.1) for _ in range(n)]


def test_heavy_tailed_noise_does_not_fire() -> None:
    rng = random.Random(1)
    values = noisy(rng, 500)
    for i in rng.sample(range(30, 500), 15):  # lone GC-pause spikes, 4× normal
        values[i] *= 4
    assert not any(feed(Baseline(LATENCY, Persistence()), values))


def test_sustained_shift_fires_after_k_of_n_and_reports_its_start() -> None:
    rng = random.Random(2)
    baseline = Baseline(LATENCY, Persistence(k=3, n=4, clear=3))
    feed(baseline, noisy(rng, 60))
    start = T0 + timedelta(hours=1)
    verdicts = [baseline.observe(1.0, start + timedelta(seconds=15 * i)) for i in range(5)]
    assert [v.firing for v in verdicts] == [False, False, True, True, True]
    assert verdicts[-1].since == start
    assert verdicts[-1].value / verdicts[-1].baseline > 4


def test_no_firing_during_warmup() -> None:
    baseline = Baseline(LATENCY, Persistence(), warmup=20)
    assert not any(feed(baseline, [0.1] * 5 + [5.0] * 10))


def test_incident_values_do_not_become_the_baseline() -> None:
    rng = random.Random(3)
    baseline = Baseline(LATENCY, Persistence(k=3, n=4, clear=3), window=60)
    feed(baseline, noisy(rng, 60))
    firing = feed(baseline, [1.0] * 200)  # a long incident, longer than the window
    assert all(firing[2:]), "a long incident keeps firing: it is not learnt as normal"


def test_clears_after_recovery() -> None:
    rng = random.Random(4)
    baseline = Baseline(LATENCY, Persistence(k=3, n=4, clear=3))
    feed(baseline, noisy(rng, 60))
    feed(baseline, [1.0] * 10)
    assert feed(baseline, noisy(rng, 5))[-1] is False


def test_floor_keeps_tiny_error_ratios_quiet() -> None:
    errors = Baseline(Thresholds(z=6.0, ratio=3.0, floor=0.02), Persistence())
    assert not any(feed(errors, [0.0] * 40 + [0.01] * 20))
    assert any(feed(errors, [0.08] * 5))


def test_seed_skips_the_warmup() -> None:
    baseline = Baseline(LATENCY, Persistence(k=1, n=1), warmup=20)
    baseline.seed([0.2] * 30)
    assert baseline.observe(2.0, T0).firing


def test_detector_seeded_from_history_fires_without_a_warmup() -> None:
    from healer.detect.detector import Detector
    from healer.domain.model import MetricsSnapshot, ServiceRef, Signal

    svc = ServiceRef("shop", "cart")
    rng = random.Random(5)
    history = [
        MetricsSnapshot(T0 + i * timedelta(seconds=15), {svc: {Signal.LATENCY_P99: v}})
        for i, v in enumerate(noisy(rng, 120))
    ]
    detector = Detector()
    assert detector.seed(history) == 1
    later = T0 + timedelta(hours=1)
    fired = [
        detector.observe(
            MetricsSnapshot(later + i * timedelta(seconds=15), {svc: {Signal.LATENCY_P99: 2.0}}),
            None,
        ).anomalies
        for i in range(5)
    ]
    assert fired[-1], "a seeded detector judges from its first polls"
    assert (
        not Detector()
        .observe(MetricsSnapshot(later, {svc: {Signal.LATENCY_P99: 2.0}}), None)
        .anomalies
    )


def test_the_unmistakable_fires_sooner_and_the_marginal_waits_for_k_of_n() -> None:
    rng = random.Random(3)
    history = noisy(rng, 60)
    rule = Persistence(k=4, n=5, clear=3, fast=2, strong=3.0)
    far, near = Baseline(LATENCY, rule), Baseline(LATENCY, rule)
    feed(far, history)
    feed(near, history)
    # the threshold here is about 1.6 × 0.2 = 0.32: 2.0 is over 3 × it, 0.5 is not
    assert feed(far, [2.0] * 5)[:3] == [False, True, True]
    assert feed(near, [0.5] * 5) == [False, False, False, True, True]
    # one far-out poll among marginal ones is no streak
    mixed = Baseline(LATENCY, rule)
    feed(mixed, history)
    assert feed(mixed, [2.0, 0.5, 2.0])[:3] == [False, False, False]
