"""Entry traffic: a daily and a weekly cycle, heavy-tailed noise and short bursts.

Load swings and bursts last whole noise periods (`healer.sim.chaos.NOISE_PERIOD_S`), so
they look the same whatever the tick.
"""

from __future__ import annotations

import math
import random
from datetime import datetime

from healer.sim.chaos import held_ticks
from healer.sim.scenario import Traffic

PEAK_HOUR_UTC = 15.0  # busiest hour of the day; the quietest is twelve hours away
WEEKEND_START_H = 5 * 24.0  # hours after Monday 00:00
EDGE_H = 3.0  # the weekend dip fades in and out over this many hours


def diurnal(at: datetime, amplitude: float) -> float:
    hour = at.hour + at.minute / 60.0 + at.second / 3600.0
    return 1.0 + amplitude * math.cos(2.0 * math.pi * (hour - PEAK_HOUR_UTC) / 24.0)


def weekly(at: datetime, amplitude: float) -> float:
    hours = at.weekday() * 24.0 + at.hour + at.minute / 60.0
    into = min(hours - WEEKEND_START_H, 7 * 24.0 - hours)  # distance inside the weekend
    weekend = min(max((into + EDGE_H) / (2 * EDGE_H), 0.0), 1.0)
    return 1.0 - amplitude * weekend


class EntryTraffic:
    """Requests per second arriving from outside, one draw per tick."""

    def __init__(self, traffic: Traffic, rng: random.Random, tick_s: float) -> None:
        self._t = traffic
        self._rng = rng
        self._hold = held_ticks(tick_s)
        self._burst_chance = traffic.bursts_per_hour * tick_s * self._hold / 3600.0
        self._burst_left = 0  # periods
        self._burst = 1.0
        self._ticks = 0
        self._swing = 1.0  # this period's noise
        self._surge = 1.0  # this period's burst

    def rate(self, at: datetime) -> float:
        rng, t = self._rng, self._t
        level = t.base_rps * diurnal(at, t.diurnal_amplitude) * weekly(at, t.weekly_amplitude)
        noise = math.exp(rng.gauss(0.0, t.noise))
        if rng.random() < 0.02:  # why: real load has fat tails (crawlers, retries storms)
            noise *= min(1.0 + 0.08 * rng.paretovariate(3.0), 1.35)
        if self._ticks % self._hold == 0:  # why: a new period; shorter ticks hold its draws
            self._swing = noise
            self._surge = self._next_burst()
        self._ticks += 1
        return level * self._swing * self._surge

    def _next_burst(self) -> float:
        """The burst multiplier of a new period: a burst lasts one to three periods."""
        rng = self._rng
        if self._burst_left == 0 and rng.random() < self._burst_chance:
            self._burst_left = rng.randint(1, 3)
            self._burst = rng.uniform(1.15, 1.4)
        if self._burst_left > 0:
            self._burst_left -= 1
            return self._burst
        return 1.0
