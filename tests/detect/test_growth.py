"""Memory growth: a steady climb toward the limit fires; warm-ups, sawtooths and flat
series do not; a kill that drops the working set closes it after a few calm samples."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from healer.detect.detector import Detector
from healer.detect.growth import Growth, GrowthSettings
from healer.domain.model import AnomalyKind, MetricsSnapshot, ServiceRef, Signal

T0 = datetime(2026, 1, 1, tzinfo=UTC)
STEP = timedelta(seconds=15)


def feed(growth: Growth, shares: list[float]) -> list[bool]:
    return [growth.observe(share, T0 + i * STEP).firing for i, share in enumerate(shares)]


def test_a_steady_climb_fires_once_span_samples_rose() -> None:
    growth = Growth(GrowthSettings(span=4, horizon_s=3600))
    # 0.4 → full in 10 minutes: 1 % of the limit per 15 s
    fired = feed(growth, [0.40, 0.41, 0.42, 0.43, 0.44])
    assert fired == [False, False, False, True, True]
    verdict = growth.observe(0.45, T0 + 5 * STEP)
    assert verdict.since == T0  # the first sample of the climb that fired
    assert verdict.eta_s is not None and 800 < verdict.eta_s < 850


def test_a_climb_too_slow_to_reach_the_limit_within_the_horizon_is_not_a_leak() -> None:
    growth = Growth(GrowthSettings(span=4, horizon_s=600, min_step=0.0001))
    # 0.1 % per 15 s from 0.4: full in about 150 minutes
    assert not any(feed(growth, [0.400, 0.401, 0.402, 0.403, 0.404, 0.405]))


def test_flat_wobbling_and_sawtooth_series_never_fire() -> None:
    flat = Growth(GrowthSettings())
    assert not any(feed(flat, [0.5] * 40))
    sawtooth = Growth(GrowthSettings())
    # a collected heap: three steep rises, then a collection drops it back
    assert not any(feed(sawtooth, [0.40, 0.45, 0.50, 0.40, 0.45, 0.50, 0.40] * 4))
    warm_up = Growth(GrowthSettings())
    # a fresh container filling its caches: fast at first, then levelling off
    assert not any(feed(warm_up, [0.10, 0.25, 0.33, 0.35, 0.355, 0.356, 0.356]))


def test_a_kill_that_drops_the_working_set_closes_it_after_the_calm_samples() -> None:
    growth = Growth(GrowthSettings(span=4, clear=3))
    fired = feed(growth, [0.80, 0.85, 0.90, 0.95, 0.40, 0.40, 0.40, 0.40])
    assert fired == [False, False, False, True, True, True, False, False]


def test_the_detector_reports_a_climbing_service_as_a_memory_anomaly_and_unhealthy() -> None:
    detector = Detector()
    leaking, steady = ServiceRef("default", "leaky"), ServiceRef("default", "steady")
    observation = None
    for i in range(6):
        shares = {leaking: 0.3 + 0.02 * i, steady: 0.3}
        services = {
            s: {Signal.MEMORY_UTILISATION: v, Signal.LATENCY_P99: 0.05} for s, v in shares.items()
        }
        observation = detector.observe(MetricsSnapshot(T0 + i * STEP, services), None)
    assert observation is not None
    found = observation.for_service(leaking)
    assert [a.kind for a in found] == [AnomalyKind.MEMORY]
    assert "from 34% to 40% of its limit" in found[0].detail
    assert observation.for_service(steady) == []
    assert observation.health == {leaking: False, steady: True}
