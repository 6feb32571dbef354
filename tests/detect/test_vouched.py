"""A service logging its own failure vouches for its metrics: they fire polls sooner."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

from healer.detect.baseline import Baseline, Persistence, Thresholds
from healer.detect.detector import DetectionSettings, Detector
from healer.domain.model import (
    AnomalyKind,
    LogBatch,
    LogRecord,
    MetricsSnapshot,
    ServiceRef,
    Signal,
)

T0 = datetime(2026, 3, 2, tzinfo=UTC)
POLL = timedelta(seconds=15)
SVC = ServiceRef("shop", "cart")
PANIC = "panic recovered: runtime error: invalid memory address or nil pointer dereference"
HARMLESS = "client disconnected before the response was written"


def test_vouch_fires_only_on_a_full_streak_and_dates_it_from_its_start() -> None:
    rule = Persistence(k=4, n=5, clear=3, vouched=2)
    baseline = Baseline(Thresholds(z=6.0, ratio=3.0, floor=0.02), rule, warmup=5)
    for i in range(30):
        baseline.observe(0.001, T0 + i * POLL)
    first = T0 + 30 * POLL
    baseline.observe(0.10, first)
    assert baseline.vouch() is None, "one poll out is no streak"
    baseline.observe(0.10, first + POLL)
    assert baseline.vouch() == first
    assert baseline.firing


def test_vouching_off_never_fires_early() -> None:
    baseline = Baseline(Thresholds(z=6.0, ratio=3.0), Persistence(k=4, n=5), warmup=5)
    for i in range(30):
        baseline.observe(0.001, T0 + i * POLL)
    for i in range(3):
        baseline.observe(0.10, T0 + (30 + i) * POLL)
    assert baseline.vouch() is None
    assert not baseline.firing


def _polls(errors_from: int, lines: str | None, polls: int) -> list[set[AnomalyKind]]:
    """Each poll's anomaly kinds: 5xx at 4 % from poll `errors_from`, logging `lines`."""
    rng = random.Random(7)
    detector = Detector(DetectionSettings(warmup=10))
    seen = []
    for i in range(polls):
        at = T0 + i * POLL
        failing = i >= errors_from
        ratio = 0.04 if failing else 0.001 * rng.uniform(0.5, 1.5)
        signals = {Signal.ERROR_RATIO: ratio, Signal.REQUEST_RATE: 300.0}
        count = 200 if failing and lines else 1
        records = tuple(LogRecord(at, SVC, "error", lines or HARMLESS) for _ in range(count))
        batch = LogBatch(at - POLL, at, records, {SVC: count})
        seen.append(
            {a.kind for a in detector.observe(MetricsSnapshot(at, {SVC: signals}), batch).anomalies}
        )
    return seen


def _first(seen: list[set[AnomalyKind]], kind: AnomalyKind) -> int:
    return next(i for i, kinds in enumerate(seen) if kind in kinds)


def test_a_new_stack_trace_with_the_5xx_fires_the_errors_sooner() -> None:
    told = _polls(errors_from=40, lines=PANIC, polls=50)
    alone = _polls(errors_from=40, lines=None, polls=50)
    # 4 % is over the 2 % threshold but not 3 × it: alone it waits for 4 polls of 5
    assert _first(alone, AnomalyKind.ERRORS) == 43
    # the new trace fires on its third far-out poll, and the 5xx with it, a poll sooner
    assert _first(told, AnomalyKind.LOG_PATTERN) == 42
    assert _first(told, AnomalyKind.ERRORS) == 42


def test_harmless_lines_vouch_for_nothing() -> None:
    seen = _polls(errors_from=40, lines=None, polls=50)
    assert all(AnomalyKind.LOG_PATTERN not in kinds for kinds in seen)
    assert _first(seen, AnomalyKind.ERRORS) == 43


def _slow_polls(extra: dict[Signal, float]) -> int:
    """The poll at which a p99 of 250 ms (usual 100 ms) fires, with these gauges alongside."""
    rng = random.Random(11)
    detector = Detector(DetectionSettings(warmup=10))
    for i in range(60):
        slow = i >= 40
        signals = {Signal.LATENCY_P99: 0.25 if slow else 0.1 * rng.uniform(0.9, 1.1)}
        signals[Signal.REQUEST_RATE] = 300.0
        if slow:
            signals |= extra
        snapshot = MetricsSnapshot(T0 + i * POLL, {SVC: signals})
        if detector.observe(snapshot, None).anomalies:
            return i
    raise AssertionError("never fired")


def test_a_throttled_cpu_or_a_queue_for_connections_vouches_for_a_slow_p99() -> None:
    assert _slow_polls({}) == 43  # 2.5x the usual: under 3x the threshold, so 4 of 5
    assert _slow_polls({Signal.CPU_THROTTLING: 0.9}) == 41
    assert _slow_polls({Signal.POOL_PENDING: 3.0}) == 41
    assert _slow_polls({Signal.POOL_TIMEOUTS: 0.2}) == 41
    # a CPU busy but rarely throttled, or the odd request waiting, is no shortage
    assert _slow_polls({Signal.CPU_THROTTLING: 0.2, Signal.POOL_PENDING: 0.3}) == 43
