"""Memory growth: a working set climbing steadily toward its limit, caught before the kill.

A leak is invisible to latency and errors until the container is nearly full (the
collector starts thrashing) or the kernel kills it, which may be an hour after the
rollout that shipped it. What does show from the first minute is the fullest container's
working set rising at every scrape. So a series is out when each of its last `span`
samples rose by at least `min_step` of the limit, without slowing down, *and* the
straight line through them reaches the limit within `horizon_s` (the way `predict_linear`
alerts read it). A working set that warms up and levels off slows down, and a
garbage-collected heap's sawtooth falls, so neither fires.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime
from itertools import pairwise


@dataclass(frozen=True)
class GrowthSettings:
    span: int = 4  # samples in a row that must each rise
    min_step: float = 0.001  # of the limit, per sample: a flat series wobbling is no climb
    horizon_s: float = 3600.0  # the climb must reach the limit within this
    # The last rise must keep this share of the first: a working set levelling off (a
    # warm-up, a cache filling) slows down within a few scrapes, while a leak keeps pace.
    keep_pace: float = 1 / 3
    clear: int = 3  # samples without a climb before the anomaly closes


@dataclass(frozen=True)
class GrowthVerdict:
    value: float  # the latest share of the limit
    start: float  # the share where the climb began
    eta_s: float | None  # seconds until the limit at the current slope
    firing: bool
    since: datetime | None


class Growth:
    """One service's fullest-container memory share, sample by sample."""

    def __init__(self, settings: GrowthSettings) -> None:
        self._s = settings
        self._points: deque[tuple[datetime, float]] = deque(maxlen=settings.span)
        self._since: datetime | None = None
        self._calm = 0

    def observe(self, share: float, at: datetime) -> GrowthVerdict:
        self._points.append((at, share))
        eta = self._eta()
        climbing = eta is not None and eta <= self._s.horizon_s
        if climbing:
            self._calm = 0
            if self._since is None:
                self._since = self._points[0][0]
        elif self._since is not None:
            self._calm += 1
            if self._calm >= self._s.clear:
                self._since = None
        start = self._points[0][1]
        return GrowthVerdict(share, start, eta, self._since is not None, self._since)

    def _eta(self) -> float | None:
        """Seconds to the limit along the climb, or None when the samples are no climb."""
        points = list(self._points)
        if len(points) < self._s.span:
            return None
        steps = [b[1] - a[1] for a, b in pairwise(points)]
        if min(steps) < self._s.min_step or steps[-1] < steps[0] * self._s.keep_pace:
            return None
        seconds = (points[-1][0] - points[0][0]).total_seconds()
        if seconds <= 0:
            return None
        slope = (points[-1][1] - points[0][1]) / seconds
        return max(0.0, 1.0 - points[-1][1]) / slope
