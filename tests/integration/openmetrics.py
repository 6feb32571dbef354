"""OpenMetrics history for `promtool tsdb create-blocks-from openmetrics`.

Series are sampled every `step` seconds like a scrape would; counters integrate a rate
over time, histograms spread each step's requests over the buckets by a latency
distribution. Steady inputs give counters that grow linearly, so PromQL's rate() and
histogram_quantile() over them are exact and tests can predict their answers.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

Value = float | Callable[[float], float]  # a constant, or a function of unix time
Labels = Mapping[str, str]
Span = tuple[float, float]  # first and last sample time, unix seconds

# the Prometheus client libraries' default buckets (seconds)
DEFAULT_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


def lognormal(median: float, sigma: float = 0.5) -> Callable[[float], float]:
    """The share of requests faster than `le` seconds."""

    def cdf(le: float) -> float:
        return 0.5 * (1 + math.erf(math.log(le / median) / (sigma * math.sqrt(2))))

    return cdf


def quantile(q: float, bounds: Sequence[float], cdf: Callable[[float], float]) -> float:
    """What histogram_quantile answers for a steady histogram of `cdf` over `bounds`."""
    lower, below = 0.0, 0.0
    for le in bounds:
        share = cdf(le)
        if share >= q:
            return lower + (le - lower) * (q - below) / (share - below)
        lower, below = le, share
    return bounds[-1]  # in the +Inf bucket: the highest finite bound


def _at(value: Value, t: float) -> float:
    return value(t) if callable(value) else value


def _format(name: str, labels: Labels, value: float, t: float) -> str:
    body = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    return f"{name}{{{body}}} {value!r} {t:.3f}"


@dataclass
class History:
    """Families of series from `start` to `end` (unix seconds) every `step`."""

    start: float
    end: float
    step: float = 15.0
    _families: dict[str, tuple[str, list[str]]] = field(default_factory=dict)

    def times(self, span: Span | None = None) -> list[float]:
        first, last = span or (self.start, self.end)
        count = round((last - first) / self.step)
        return [first + i * self.step for i in range(count + 1)]

    def gauge(self, name: str, labels: Labels, value: Value, span: Span | None = None) -> None:
        lines = self._family(name, "gauge")
        lines += [_format(name, labels, _at(value, t), t) for t in self.times(span)]

    def counter(self, name: str, labels: Labels, rate: Value, span: Span | None = None) -> None:
        """`name` without `_total`; the counter starts at 0 and grows by rate × step."""
        lines, total = self._family(name, "counter"), 0.0
        for t in self.times(span):
            lines.append(_format(f"{name}_total", labels, total, t))
            total += _at(rate, t) * self.step

    def histogram(
        self,
        name: str,
        labels: Labels,
        rate: Value,
        cdf: Callable[[float, float], float],
        *,
        buckets: Sequence[float] = DEFAULT_BUCKETS,
        span: Span | None = None,
    ) -> None:
        """Requests at `rate` per second; `cdf(le, t)` is the share faster than `le` at t."""
        lines = self._family(name, "histogram")
        counts, total, seconds = [0.0] * len(buckets), 0.0, 0.0
        for t in self.times(span):
            for le, count in zip(buckets, counts, strict=True):
                lines.append(_format(f"{name}_bucket", {**labels, "le": repr(le)}, count, t))
            lines.append(_format(f"{name}_bucket", {**labels, "le": "+Inf"}, total, t))
            lines.append(_format(f"{name}_count", labels, total, t))
            lines.append(_format(f"{name}_sum", labels, seconds, t))
            n = _at(rate, t) * self.step
            counts = [c + n * cdf(le, t) for le, c in zip(buckets, counts, strict=True)]
            total += n
            seconds += n * buckets[0]  # why: only _count and _bucket are ever queried

    def text(self) -> str:
        out = []
        for name, (kind, lines) in self._families.items():
            out.append(f"# TYPE {name} {kind}")
            out += lines
        out.append("# EOF")
        return "\n".join(out) + "\n"

    def _family(self, name: str, kind: str) -> list[str]:
        known = self._families.setdefault(name, (kind, []))
        assert known[0] == kind, f"{name} is a {known[0]}, not a {kind}"
        return known[1]
