"""Ratios and quantiles are judged with the traffic behind them: a few requests are noise."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from healer.detect.detector import DetectionSettings, Detector
from healer.domain.model import AnomalyKind, MetricsSnapshot, ServiceRef, Signal

T0 = datetime(2026, 1, 5, tzinfo=UTC)
SERVICE = ServiceRef("shop", "admin")


def fired(kind: AnomalyKind, poll: Callable[[int], dict[Signal, float]], **settings: float) -> bool:
    """Forty polls of `poll(i)`'s signals: did an anomaly of `kind` fire?"""
    detector = Detector(DetectionSettings(**settings))  # type: ignore[arg-type]
    found = False
    for i in range(40):
        snapshot = MetricsSnapshot(T0 + timedelta(seconds=15 * i), {SERVICE: poll(i)}, {})
        found |= any(a.kind is kind for a in detector.observe(snapshot, None).anomalies)
    return found


def fires(rate: float, ratio: float, **settings: float) -> bool:
    """Thirty clean polls, then ten at `ratio`: did the 5xx ratio fire?"""

    def poll(i: int) -> dict[Signal, float]:
        errors = 0.0 if i < 30 else ratio
        return {Signal.ERROR_RATIO: errors, Signal.REQUEST_RATE: rate, Signal.LATENCY_P99: 0.05}

    return fired(AnomalyKind.ERRORS, poll, **settings)


def test_two_failures_a_minute_on_a_quiet_service_do_not_fire() -> None:
    # 1 request/s, 3.3 % of them failing: two 5xx a minute
    assert not fires(rate=1.0, ratio=0.033)


def test_the_same_ratio_on_a_busy_service_fires() -> None:
    assert fires(rate=50.0, ratio=0.033)


def test_many_failures_on_a_quiet_service_fire() -> None:
    assert fires(rate=1.0, ratio=0.25)


def test_without_the_count_check_the_quiet_service_fires() -> None:
    # the check is what keeps it quiet, not the ratio thresholds
    assert fires(1.0, 0.033, error_count_z=0.0)


def slow_fires(rate: float, slow_polls: int) -> bool:
    """Thirty normal polls, then `slow_polls` at 3× the p99: did the latency fire?"""

    def poll(i: int) -> dict[Signal, float]:
        p99 = 0.3 if 30 <= i < 30 + slow_polls else 0.1
        return {Signal.LATENCY_P99: p99, Signal.REQUEST_RATE: rate}

    return fired(AnomalyKind.LATENCY, poll)


def test_one_slow_request_held_for_a_window_on_a_quiet_service_does_not_fire() -> None:
    # 1 request/s: the top 1 % of a minute is less than one request
    assert not slow_fires(rate=1.0, slow_polls=4)


def test_the_same_blip_on_a_busy_service_fires() -> None:
    assert slow_fires(rate=50.0, slow_polls=4)


def test_a_quiet_service_slow_for_longer_than_the_window_fires() -> None:
    assert slow_fires(rate=1.0, slow_polls=10)
