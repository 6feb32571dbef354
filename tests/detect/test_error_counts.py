"""A 5xx ratio is judged with its traffic: a few failures on a quiet service are noise."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from healer.detect.detector import DetectionSettings, Detector
from healer.domain.model import AnomalyKind, MetricsSnapshot, ServiceRef, Signal

T0 = datetime(2026, 1, 5, tzinfo=UTC)
SERVICE = ServiceRef("shop", "admin")


def fires(rate: float, ratio: float, settings: DetectionSettings | None = None) -> bool:
    """Thirty clean polls, then ten at `ratio`: did the 5xx ratio fire?"""
    detector = Detector(settings)
    fired = False
    for i in range(40):
        errors = 0.0 if i < 30 else ratio
        signals = {Signal.ERROR_RATIO: errors, Signal.REQUEST_RATE: rate, Signal.LATENCY_P99: 0.05}
        snapshot = MetricsSnapshot(T0 + timedelta(seconds=15 * i), {SERVICE: signals}, {})
        found = detector.observe(snapshot, None).for_service(SERVICE)
        fired |= any(a.kind is AnomalyKind.ERRORS for a in found)
    return fired


def test_two_failures_a_minute_on_a_quiet_service_do_not_fire() -> None:
    # 1 request/s, 3.3 % of them failing: two 5xx a minute
    assert not fires(rate=1.0, ratio=0.033)


def test_the_same_ratio_on_a_busy_service_fires() -> None:
    assert fires(rate=50.0, ratio=0.033)


def test_many_failures_on_a_quiet_service_fire() -> None:
    assert fires(rate=1.0, ratio=0.25)


def test_without_the_count_check_the_quiet_service_fires() -> None:
    # the check is what keeps it quiet, not the ratio thresholds
    assert fires(1.0, 0.033, DetectionSettings(error_count_z=0.0))
