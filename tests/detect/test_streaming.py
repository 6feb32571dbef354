"""The streaming detector: quiet on noise, firing once on spikes, dips, level shifts,
changes in variance and broken seasonality, then learning the new normal."""

from __future__ import annotations

import math
import random

import pytest

from healer.detect.streaming import (
    SortedWindow,
    StreamingDetector,
    StreamingSettings,
    View,
    seasonal_period,
)

WARMUP = 300


def run(values: list[float], warmup: int = WARMUP) -> tuple[list[int], list[float]]:
    """The rows where the detector fired, and every score."""
    detector = StreamingDetector(warmup=warmup)
    fired, scores = [], []
    for row, value in enumerate(values):
        scores.append(detector.update(value))
        if detector.fired:
            fired.append(row)
    return fired, scores


def gauss(seed: int, rows: int, sigma: float = 1.0, centre: float = 100.0) -> list[float]:
    rng = random.Random(seed)
    return [centre + rng.gauss(0, sigma) for _ in range(rows)]


def daily(seed: int, rows: int, period: int = 96) -> list[float]:
    rng = random.Random(seed)
    return [50 + 30 * math.sin(2 * math.pi * i / period) + rng.gauss(0, 1) for i in range(rows)]


# --- building blocks -----------------------------------------------------------------


def test_the_sorted_window_forgets_the_oldest_value() -> None:
    window = SortedWindow(3)
    for value in (5.0, 1.0, 3.0, 2.0):
        window.add(value)
    assert window.sorted == [1.0, 2.0, 3.0]  # 5 was first in, first out
    assert window.quantile(0.5) == 2.0
    assert window.quantile(0.75) == 2.5


def test_a_view_fires_beyond_its_extreme_by_the_margin_not_at_it() -> None:
    view = View(100, margin=0.5, z=0.0)
    for value in [10.0] * 10 + [20.0] + [10.0] * 10:  # median 10, maximum 20
        view.strength(value)
    view.strength(10.0)  # the last value waits a row before joining the memory
    assert view.strength(24.0) < 1.0  # beyond 20, but not by half of 20 - 10
    assert view.strength(26.0) >= 1.0
    assert view.strength(-1.0) >= 1.0  # far below the minimum too


def test_a_view_also_wants_the_value_far_from_its_median() -> None:
    # Quartiles 9 and 11: a robust standard deviation of 2 / 1.349 = 1.48.
    values = [9.0] * 30 + [11.0] * 30 + [10.0] * 20
    loose, strict = View(100, margin=0.0, z=0.0), View(100, margin=0.0, z=5.0)
    for value in [*values, 10.0]:
        loose.strength(value)
        strict.strength(value)
    assert loose.strength(12.0) >= 1.0  # a new maximum
    # ...but only 1.35 robust standard deviations out, and 5 are wanted: 10 + 7.4.
    assert strict.strength(12.0) < 1.0
    assert strict.strength(17.5) >= 1.0


def test_the_period_is_found_only_where_there_is_one() -> None:
    assert seasonal_period(daily(1, 400), 0.3) == 96
    assert seasonal_period(gauss(2, 400), 0.3) == 0
    assert seasonal_period([7.0] * 50, 0.3) == 0


# --- behaviour on series -------------------------------------------------------------


def test_noise_does_not_fire() -> None:
    fired, scores = run(gauss(3, 3000))
    assert len(fired) <= 1  # a new extreme of pure noise by a margin is rare, not impossible
    assert all(0.0 <= s <= 1.0 for s in scores)


def test_nothing_fires_during_the_warm_up() -> None:
    values = gauss(4, 400)
    values[100] = 1000.0
    fired, _ = run(values)
    assert fired == []


@pytest.mark.parametrize("jump", [15.0, -15.0])
def test_a_spike_either_way_fires_once_at_the_spike(jump: float) -> None:
    values = gauss(5, 1000)
    values[600] += jump
    fired, scores = run(values)
    assert fired == [600]
    assert scores[600] >= 0.5


def test_a_level_shift_fires_once_then_becomes_the_new_normal() -> None:
    values = gauss(6, 2500)
    values[700:] = [v + 4 for v in values[700:]]  # within the old extremes, but it stays
    fired, _ = run(values)
    assert fired and 700 <= fired[0] <= 720
    assert all(row < 700 + 2 * WARMUP for row in fired)  # learnt, not an alarm for ever


def test_a_rise_in_variance_fires() -> None:
    values = gauss(7, 1200)
    values[800:] = [100 + (v - 100) * 3 for v in values[800:]]
    fired, _ = run(values)
    assert fired and 800 <= fired[0] <= 830


def test_a_series_gone_flat_fires() -> None:
    values = gauss(8, 1200, sigma=2.0)
    values[800:] = [100.0] * 400  # a stuck sensor, at the median
    fired, _ = run(values)
    assert fired and 800 <= fired[0] <= 830


def test_a_broken_daily_pattern_fires_where_the_value_alone_is_ordinary() -> None:
    values = daily(9, 1500)
    # Two periods hold the value at its daily mean: no value is out of range.
    values[1000:1192] = [50.0 + random.Random(10).gauss(0, 1) for _ in range(192)]
    detector = StreamingDetector(warmup=WARMUP)
    fired = []
    for row, value in enumerate(values):
        detector.update(value)
        if detector.fired:
            fired.append(row)
    assert abs(detector.period - 96) <= 1  # estimated from three noisy periods
    # The change since one period ago shows it at once; the running median would take
    # several rows to move.
    assert fired and 1000 <= fired[0] <= 1002


def test_one_event_one_detection_then_quiet() -> None:
    values = gauss(11, 1200)
    for row in range(600, 640, 4):  # a burst of spikes, one event
        values[row] += 30
    fired, scores = run(values)
    assert fired == [600]
    # While quiet the score stays under the firing level: scores ≥ 0.5 are detections.
    assert [i for i, s in enumerate(scores) if s >= 0.5] == fired


def test_settings_are_general_and_change_the_verdict() -> None:
    values = gauss(12, 1000)
    values[600] += 6  # six standard deviations: a new maximum, not an enormous one
    strict = StreamingDetector(StreamingSettings(z=8.0), warmup=WARMUP)
    loose = StreamingDetector(StreamingSettings(z=4.0), warmup=WARMUP)
    strict_fired = loose_fired = False
    for row, value in enumerate(values):
        strict.update(value)
        loose.update(value)
        strict_fired |= strict.fired and row == 600
        loose_fired |= loose.fired and row == 600
    assert loose_fired and not strict_fired
