"""Entry traffic: a daily and a weekly cycle, heavy-tailed noise and short bursts."""

from __future__ import annotations

import math
import random
from datetime import datetime

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
        self._burst_chance = traffic.bursts_per_hour * tick_s / 3600.0
        self._burst_left = 0
        self._burst = 1.0

    def rate(self, at: datetime) -> float:
        rng, t = self._rng, self._t
        level = t.base_rps * diurnal(at, t.diurnal_amplitude) * weekly(at, t.weekly_amplitude)
        noise = math.exp(rng.gauss(0.0, t.noise))
        if rng.random() < 0.02:  # why: real load has fat tails (crawlers, retries storms)
            noise *= min(1.0 + 0.08 * rng.paretovariate(3.0), 1.35)
        if self._burst_left == 0 and rng.random() < self._burst_chance:
            self._burst_left = rng.randint(1, 3)
            self._burst = rng.uniform(1.15, 1.4)
        burst = 1.0
        if self._burst_left > 0:
            self._burst_left -= 1
            burst = self._burst
        return level * noise * burst
