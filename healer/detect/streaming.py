"""A streaming anomaly detector for one univariate series, fed one value at a time.

It owns the views it watches (the value, its running medians, its running step size
and its change over one period), each view's sorted memory, and the firing rule.
"""

from __future__ import annotations

import operator
from bisect import bisect_left, insort
from collections import deque
from dataclasses import dataclass
from itertools import pairwise

# Few enough values that a view's median and extremes mean nothing yet.
_MIN_HISTORY = 20
# Where the detector may not fire (warm-up, quiet after a detection) its score is held
# below the firing level, so a reader thresholding scores at 0.5 sees exactly the detections.
_HELD_SCORE = 0.49
_IQR_TO_SIGMA = 1.349
# Autocorrelation peaks within this share of the highest are as good as it.
_NEARLY = 0.9


@dataclass(frozen=True)
class StreamingSettings:
    """How the streaming detector judges a series; the same for every series."""

    memory: float = 5.0
    """Values each view remembers, as a multiple of the warm-up length."""
    margin: float = 0.1
    """How far past its memory's extreme a view must go, as a share of extreme − median."""
    z: float = 5.0
    """And how many robust standard deviations (IQR / 1.349) from its median."""
    tail: float = 0.99
    """A value beyond this quantile of its memory is moderately out..."""
    persist_k: int = 6
    """...and moderately out in `persist_k` of the last `persist_n` values is anomalous."""
    persist_n: int = 8
    level_rows: tuple[int, ...] = (8, 32, 128)
    """Values in each running median that shows a shift of level: short ones see a
    step sooner, long ones a smaller step that lasts."""
    spread_rows: int = 16
    """Steps in the running mean |step| that shows a change of variance, or a flat line."""
    min_autocorrelation: float = 0.3
    """A warm-up autocorrelation peak at least this high means the series has a period."""
    quiet: float = 0.33
    """Rows without a new detection after one, as a multiple of the warm-up length."""


class SortedWindow:
    """The last `size` values, also kept in sorted order for quantiles and extremes."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._arrival: deque[float] = deque()
        self.sorted: list[float] = []

    def __len__(self) -> int:
        return len(self.sorted)

    def add(self, value: float) -> None:
        self._arrival.append(value)
        insort(self.sorted, value)
        if len(self._arrival) > self.size:
            del self.sorted[bisect_left(self.sorted, self._arrival.popleft())]

    def quantile(self, share: float) -> float:
        """Linear interpolation between the two nearest order statistics."""
        values = self.sorted
        position = share * (len(values) - 1)
        low = int(position)
        high = min(low + 1, len(values) - 1)
        return values[low] + (values[high] - values[low]) * (position - low)


class View:
    """One derived series and its memory: how far out is a new value, then learn it."""

    def __init__(self, size: int, *, margin: float, z: float, relative: bool = False) -> None:
        self.memory = SortedWindow(size)
        # The latest value waits a row before joining the memory: an event two values
        # long must not set the bar for its own second value.
        self._pending: deque[float] = deque()
        self.margin = margin
        self.z = z
        # A relative upper margin suits non-negative quantities whose median says little
        # of their extremes, such as a mean step that is usually small and sometimes zero.
        self.relative = relative

    def strength(self, value: float) -> float:
        """≥ 1 when the value is out of its memory's band, below 1 inside it; then learn it."""
        result = self._strength(value) if len(self.memory) >= _MIN_HISTORY else 0.0
        self._pending.append(value)
        if len(self._pending) > 1:
            self.memory.add(self._pending.popleft())
        return result

    def _strength(self, value: float) -> float:
        values = self.memory.sorted
        median = self.memory.quantile(0.5)
        iqr = self.memory.quantile(0.75) - self.memory.quantile(0.25)
        # Light-tailed noise sets a new extreme now and then; it must also be far out.
        deviations = self.z * iqr / _IQR_TO_SIGMA
        if value >= median:
            upper = max(self._upper(values[-1], median), median + deviations)
            return _ratio(value - median, upper - median)
        if self.relative:
            # Towards zero a non-negative quantity has no tail worth judging: reaching zero
            # where the memory never did (a series gone flat) is what counts.
            return float("inf") if value <= 0 < values[0] else 0.0
        lower = min(self._lower(values[0], median), median - deviations)
        return _ratio(median - value, median - lower)

    def _upper(self, top: float, median: float) -> float:
        if self.relative:
            return top * (1 + self.margin)
        return top + self.margin * max(top - median, self._floor())

    def _lower(self, bottom: float, median: float) -> float:
        return bottom - self.margin * max(median - bottom, self._floor())

    def _floor(self) -> float:
        # A hundredth of the range, so a memory whose extreme is its median has a band.
        values = self.memory.sorted
        return max(0.01 * (values[-1] - values[0]), 1e-12)

    def moderately_out(self, value: float, tail: float) -> bool:
        """Beyond the `tail` quantile on either side (checked before `strength` learns it)."""
        if len(self.memory) < _MIN_HISTORY:
            return False
        return value > self.memory.quantile(tail) or value < self.memory.quantile(1 - tail)


def _ratio(distance: float, allowed: float) -> float:
    if allowed <= 0:
        return float("inf") if distance > 0 else 0.0
    return max(distance, 0.0) / allowed


def seasonal_period(values: list[float], min_autocorrelation: float) -> int:
    """The series' period in rows, from its autocorrelation, or 0 when it has none.

    Only lags past the first negative autocorrelation are candidates, so a smooth or
    noisy series cannot pass its short-lag correlation off as a period; of the peaks
    nearly as high as the highest, the shortest wins, so a multiple of the period
    does not.
    """
    acf = _autocorrelation(values)
    negative = next((lag for lag, value in enumerate(acf) if value < 0), None)
    if negative is None:
        return 0
    peaks = [
        lag
        for lag in range(max(negative, 1), len(acf) - 1)
        if acf[lag - 1] <= acf[lag] >= acf[lag + 1] and acf[lag] >= min_autocorrelation
    ]
    if not peaks:
        return 0
    highest = max(acf[lag] for lag in peaks)
    return next(lag for lag in peaks if acf[lag] >= _NEARLY * highest)


def _autocorrelation(values: list[float]) -> list[float]:
    """For lags up to half the length; each lag's sum is divided by its own term count,
    so long lags are not penalised for having fewer terms."""
    count = len(values)
    mean = sum(values) / count if count else 0.0
    centred = [v - mean for v in values]
    variance = sum(c * c for c in centred) / count if count else 0.0
    if variance <= 0:
        return []
    return [
        sum(map(operator.mul, centred, centred[lag:])) / (count - lag) / variance
        for lag in range(count // 2)
    ]


class StreamingDetector:
    """One series: `update` each value in order; `fired` says whether it raised a detection.

    Each view is judged against its own long memory: it is out when it goes past the
    most extreme value the memory holds (by a margin scaled to how far that extreme
    already was from the median) and also far from the median in robust standard
    deviations. The first rule keeps heavy-tailed series quiet, the second light-tailed
    ones. A moderate excursion that lasts k of n values counts too, as in `Baseline`.
    Unlike `Baseline`, every value teaches the views: a new level has to become normal,
    or a series that steps up once would alarm for ever. One event raises one
    detection; then the detector stays quiet for a while.
    """

    def __init__(self, settings: StreamingSettings | None = None, *, warmup: int = 100) -> None:
        self.settings = s = settings or StreamingSettings()
        self._warmup = max(warmup, 1)
        size = max(int(s.memory * self._warmup), 2 * _MIN_HISTORY)
        self._value = View(size, margin=s.margin, z=s.z)
        self._levels = [View(size, margin=s.margin, z=s.z) for _ in s.level_rows]
        self._spread = View(size, margin=s.margin, z=s.z, relative=True)
        self._season = View(size, margin=s.margin, z=s.z)
        longest = max((*s.level_rows, s.spread_rows + 1))
        self._recent: deque[float] = deque(maxlen=longest)
        self._outs: deque[bool] = deque(maxlen=s.persist_n)
        self._warmup_values: list[float] = []
        self._period = 0
        self._ago: deque[float] = deque()
        self._rows = 0
        self._quiet_left = 0
        self._quiet_rows = max(1, round(s.quiet * self._warmup))
        self.fired = False
        self.score = 0.0

    @property
    def period(self) -> int:
        """The seasonal period found in the warm-up, in rows (0: none)."""
        return self._period

    def update(self, value: float) -> float:
        """The value's anomaly score in [0, 1]; 0.5 and above is a detection."""
        self._rows += 1
        strength = self._strength(value)
        score = strength / (1.0 + strength) if strength < float("inf") else 1.0
        self.fired = strength >= 1.0 and self._rows > self._warmup and not self._quiet_left
        if self._quiet_left:
            self._quiet_left -= 1
        if self.fired:
            self._quiet_left = self._quiet_rows
        else:
            score = min(score, _HELD_SCORE)
        self.score = score
        return score

    def _strength(self, value: float) -> float:
        """The strongest of the views' verdicts (≥ 1: out); every view learns the value."""
        s = self.settings
        self._outs.append(self._value.moderately_out(value, s.tail))
        strengths = [self._value.strength(value), sum(self._outs) / s.persist_k]
        self._recent.append(value)
        recent = list(self._recent)
        for rows, view in zip(s.level_rows, self._levels, strict=True):
            if len(recent) >= rows:
                strengths.append(view.strength(_median(recent[-rows:])))
        if len(recent) > s.spread_rows:
            steps = recent[-s.spread_rows - 1 :]
            spread = sum(abs(b - a) for a, b in pairwise(steps)) / s.spread_rows
            strengths.append(self._spread.strength(spread))
        strengths.append(self._seasonal(value))
        return max(strengths)

    def _seasonal(self, value: float) -> float:
        if self._rows <= self._warmup:
            self._warmup_values.append(value)
            if self._rows == self._warmup:
                self._start_season()
            return 0.0
        if not self._period:
            return 0.0
        strength = self._season.strength(value - self._ago[0])
        self._ago.append(value)
        self._ago.popleft()
        return strength

    def _start_season(self) -> None:
        """Find the period, then teach the seasonal view the whole warm-up at once."""
        values = self._warmup_values
        self._period = seasonal_period(values, self.settings.min_autocorrelation)
        if self._period:
            for before, now in zip(values, values[self._period :], strict=False):
                self._season.strength(now - before)
            self._ago.extend(values[-self._period :])
        self._warmup_values = []


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[len(ordered) // 2]
