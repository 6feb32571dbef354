"""Each service's request rate against its usual rate: what tells a surge of arriving
traffic from a service that merely got slower."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from healer.detect.detector import DetectionSettings, Detector
from healer.domain.model import MetricsSnapshot, ServiceRef, Signal

T0 = datetime(2026, 1, 1, tzinfo=UTC)
FRONT = ServiceRef("shop", "frontend")


def poll(detector: Detector, i: int, rate: float) -> float | None:
    signals = {Signal.REQUEST_RATE: rate, Signal.LATENCY_P99: 0.05}
    snapshot = MetricsSnapshot(T0 + i * timedelta(seconds=15), {FRONT: signals})
    return detector.observe(snapshot, None).load.get(FRONT)


def test_the_load_is_unknown_until_the_usual_rate_is_learned_then_a_ratio() -> None:
    detector = Detector(DetectionSettings(warmup=5))
    loads = [poll(detector, i, 100.0 + (i % 3)) for i in range(6)]
    assert loads[:5] == [None] * 5
    assert loads[5] is not None and abs(loads[5] - 1.0) < 0.03


def test_a_surge_is_measured_against_the_rate_before_it_not_learned_as_usual() -> None:
    detector = Detector(DetectionSettings(warmup=5))
    for i in range(30):
        poll(detector, i, 100.0 + (i % 3))
    surge = [poll(detector, 30 + i, 250.0) for i in range(40)]
    assert all(load is not None and 2.4 < load < 2.6 for load in surge)


def test_seeded_history_gives_the_usual_rate_at_once() -> None:
    detector = Detector(DetectionSettings(warmup=5))
    history = [
        MetricsSnapshot(T0 - timedelta(minutes=i), {FRONT: {Signal.REQUEST_RATE: 80.0}})
        for i in range(10)
    ]
    detector.seed(history)
    load = poll(detector, 0, 160.0)
    assert load is not None and abs(load - 2.0) < 1e-9
