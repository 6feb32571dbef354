"""PromQL's arithmetic over the simulated scrapes: rate() and histogram_quantile().

Each function below is one query of the form `... by (service)` over every service at
once, evaluated the way Prometheus does: per-pod series, counter resets handled, then
summed; gauges from the latest scrape only (a pod that is gone is stale, not zero).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from healer.sim import telemetry as t
from healer.sim.telemetry import PodSample, ScrapeLog

FIVE_XX = tuple(t.REQ[c] for c in t.CODES if 500 <= c < 600)
ALL_CODES = tuple(t.REQ.values())
BUCKET_SLOTS = tuple(range(t.BUCKET0, t.BUCKET0 + len(t.BUCKETS)))

Points = list[tuple[float, tuple[float, ...]]]


@dataclass
class Window:
    """The scrapes of one range `[at - width, at]`, grouped into per-pod series."""

    series: dict[str, dict[str, Points]] = field(default_factory=dict)
    latest: dict[str, tuple[PodSample, ...]] = field(default_factory=dict)
    databases: dict[str, tuple[float, float]] = field(default_factory=dict)


def window(log: ScrapeLog, at: float, width: float) -> Window:
    scrapes = log.window(at - width, at)
    out = Window()
    if not scrapes:
        return out
    out.latest = scrapes[-1].services  # why: a service the last scrape missed has no data
    out.databases = scrapes[-1].databases
    for scrape in scrapes:
        for service, samples in scrape.services.items():
            if service not in out.latest:
                continue
            pods = out.series.setdefault(service, {})
            for sample in samples:
                pods.setdefault(sample.pod, []).append((scrape.at, sample.counters))
    return out


def _increase(points: Points, slot: int) -> float:
    """Increase of one counter over a series; a drop means the pod restarted from zero."""
    total, previous = 0.0, None
    for _, values in points:
        value = values[slot] if values else 0.0
        if previous is not None:
            total += value - previous if value >= previous else value
        previous = value
    return total


def rates(w: Window, slots: Sequence[int]) -> dict[str, list[float]]:
    """Per service, `sum by (service) (rate(counter[w]))` for each slot."""
    out: dict[str, list[float]] = {}
    for service, pods in w.series.items():
        sums = [0.0] * len(slots)
        seen = False
        for points in pods.values():
            if len(points) < 2:
                continue  # why: rate() needs two samples of the same series
            span = points[-1][0] - points[0][0]
            if span <= 0:
                continue
            seen = True
            for i, slot in enumerate(slots):
                sums[i] += _increase(points, slot) / span
        if seen:
            out[service] = sums
    return out


def histogram_quantile(q: float, counts: Sequence[float]) -> float | None:
    """Prometheus's histogram_quantile over cumulative bucket rates (le order, +Inf last)."""
    total = counts[-1]
    if total <= 0:
        return None
    rank = q * total
    below, lower = 0.0, 0.0
    for le, raw in zip(t.BUCKETS, counts, strict=True):
        count = max(raw, below)  # why: Prometheus fixes non-monotonic buckets the same way
        if count >= rank:
            if math.isinf(le):
                return t.BUCKETS[-2]  # the highest finite bound, as Prometheus answers
            if count == below:
                return le
            return lower + (le - lower) * (rank - below) / (count - below)
        below, lower = count, le
    return t.BUCKETS[-2]


def gauge_sum(w: Window, slot: int) -> dict[str, float]:
    return {s: sum(p.gauges[slot] for p in pods) for s, pods in w.latest.items() if pods}


def gauge_increase(log: ScrapeLog, slot: int, since: float, until: float) -> dict[str, float]:
    """Per service, `sum by (service) (increase(counter[...]))` of a counter kept as a gauge
    slot (one that never resets, like kube-state-metrics' restart count).

    Each pod's increase runs from the first scrape of the range that has its service; a
    pod that appeared later counts none (a new pod starts with no restarts).
    """
    scrapes = log.window(since, until)
    if not scrapes:
        return {}
    first: dict[str, dict[str, float]] = {}
    for scrape in scrapes:
        for service, samples in scrape.services.items():
            if service not in first:
                first[service] = {p.pod: p.gauges[slot] for p in samples}
        if len(first) == len(scrapes[-1].services):
            break
    out = {}
    for service, samples in scrapes[-1].services.items():
        start = first.get(service, {})
        out[service] = sum(p.gauges[slot] - start.get(p.pod, p.gauges[slot]) for p in samples)
    return out
