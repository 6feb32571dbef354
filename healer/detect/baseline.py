"""Robust per-series baselines and the persistence rule that turns outliers into anomalies.

A baseline is the median and MAD of the recent values seen while the series was normal,
so an incident never teaches the detector that the incident is normal. A value is out
when it is far from the median in robust standard deviations *and* by a relative margin
(a tiny MAD on a quiet series must not make every wobble an outlier); it becomes an
anomaly only when it stays out for k of the last n polls, which absorbs GC pauses,
deploy blips and missed scrapes.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from statistics import median

# MAD × 1.4826 estimates the standard deviation of normally distributed data.
_MAD_TO_SIGMA = 1.4826


@dataclass(frozen=True)
class Thresholds:
    """When a value counts as out of its baseline."""

    z: float = 6.0  # robust standard deviations above the median
    ratio: float = 1.6  # and at least this multiple of the median
    floor: float = 0.0  # and at least this absolute value (e.g. a 2% error ratio)
    min_delta: float = 0.0  # and at least this far above the median (e.g. 30 ms of p99)
    log_scale: bool = False  # compare logarithms: right for latencies (multiplicative noise)


@dataclass(frozen=True)
class Persistence:
    """Out in `k` of the last `n` polls opens; in for `clear` polls in a row closes."""

    k: int = 3
    n: int = 4
    clear: int = 3
    # Sooner for the unmistakable: the last `fast` polls all out by `strong` × the
    # threshold. A blip that far out also lasts a whole query window, but a fault that
    # strong is worth the odd early page; 0 turns it off.
    fast: int = 0
    strong: float = 3.0
    # Sooner when another signal vouches for it: the last `vouched` polls all out while
    # the service's own logs or gauges report the trouble (`Baseline.vouch`); 0: never.
    vouched: int = 0


@dataclass(frozen=True)
class Verdict:
    value: float
    baseline: float
    threshold: float
    score: float  # robust z of the value
    out: bool  # this value alone is out of the baseline
    firing: bool  # the persistence rule holds: an anomaly
    since: datetime | None  # first out value of the current firing streak


class Baseline:
    """One series: its recent normal values and its firing state."""

    def __init__(
        self,
        thresholds: Thresholds,
        persistence: Persistence,
        *,
        window: int = 240,
        warmup: int = 20,
    ) -> None:
        self._t = thresholds
        self._p = persistence
        self._normal: deque[float] = deque(maxlen=window)
        self._recent: deque[tuple[datetime, bool]] = deque(maxlen=persistence.n)
        self._strong: deque[bool] = deque(maxlen=max(persistence.fast, 1))
        self._warmup = warmup
        self._firing_since: datetime | None = None
        self._in_streak = 0
        self._stats: tuple[float, float] | None = None

    @property
    def ready(self) -> bool:
        return len(self._normal) >= self._warmup

    @property
    def firing(self) -> bool:
        return self._firing_since is not None

    def seed(self, values: list[float]) -> None:
        """Start from history (e.g. a range query at start-up) instead of a cold warm-up."""
        for value in values:
            if math.isfinite(value):
                self._normal.append(self._scale(value))
        self._stats = None

    @property
    def centre(self) -> float:
        """The median of the recent normal values (0 before any)."""
        centre, _ = self._centre_sigma()
        return self._unscale(centre) if self._normal else 0.0

    def above(self, value: float) -> bool:
        """Whether `value` is past this baseline's threshold, whatever its persistence."""
        centre, sigma = self._centre_sigma()
        return self.ready and value > self._threshold(centre, sigma)

    def observe(self, value: float, at: datetime, *, significant: bool = True) -> Verdict:
        """Judge one value; `significant=False` says other evidence shows it is chance."""
        centre, sigma = self._centre_sigma()
        threshold = self._threshold(centre, sigma)
        out = self.ready and significant and value > threshold
        score = (self._scale(value) - centre) / sigma if sigma > 0 else 0.0
        self._recent.append((at, out))
        self._strong.append(out and value >= threshold * self._p.strong)
        self._update_state(out)
        if not out and not self.firing:
            # Only normal values teach the baseline; outliers and incidents do not.
            self._normal.append(self._scale(value))
            self._stats = None
        return Verdict(
            value=value,
            baseline=self._unscale(centre),
            threshold=threshold,
            score=score,
            out=out,
            firing=self.firing,
            since=self._firing_since,
        )

    def vouch(self) -> datetime | None:
        """Fire now if the last `vouched` polls were all out; the start of the streak.

        Called when independent evidence (the service's error lines or gauges) backs this
        series: two signals agreeing for two polls are worth the polls persistence waits.
        """
        wanted = self._p.vouched
        recent = list(self._recent)[-wanted:] if wanted > 0 else []
        if not self.firing and recent and len(recent) == wanted and all(o for _, o in recent):
            self._firing_since = recent[0][0]
            self._in_streak = 0
        return self._firing_since

    def _update_state(self, out: bool) -> None:
        outs = [at for at, was_out in self._recent if was_out]
        if not self.firing:
            fast = self._p.fast > 0 and len(self._strong) == self._p.fast and all(self._strong)
            if len(outs) >= self._p.k or fast:
                self._firing_since = outs[0]
                self._in_streak = 0
            return
        self._in_streak = 0 if out else self._in_streak + 1
        if self._in_streak >= self._p.clear:
            self._firing_since = None
            self._recent.clear()
            self._strong.clear()

    def _centre_sigma(self) -> tuple[float, float]:
        if self._stats is None:
            if not self._normal:
                self._stats = (0.0, 0.0)
            else:
                values = list(self._normal)
                centre = median(values)
                mad = median(abs(v - centre) for v in values)
                self._stats = (centre, mad * _MAD_TO_SIGMA)
        return self._stats

    def _threshold(self, centre: float, sigma: float) -> float:
        by_z = self._unscale(centre + self._t.z * sigma)
        by_ratio = self._unscale(centre) * self._t.ratio
        by_delta = self._unscale(centre) + self._t.min_delta
        return max(by_z, by_ratio, by_delta, self._t.floor)

    def _scale(self, value: float) -> float:
        return math.log(max(value, 1e-6)) if self._t.log_scale else value

    def _unscale(self, value: float) -> float:
        return math.exp(value) if self._t.log_scale else value
