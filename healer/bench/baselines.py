"""The alert rules an operator would otherwise rely on, evaluated on the same series.

Both only alert; they are what the healer's detection is compared with.
- static threshold: p99 > 2 × its SLO `for: 5m`, or 5xx ratio > 5% `for: 5m`;
- multiwindow multi-burn-rate (SRE Workbook): error budget burning 14.4× over 1h and
  5m, or 6× over 6h and 30m, against a 99.9% availability SLO.
`for:` means the condition held at every evaluation for that long, as Prometheus does.

`from_history` is the faithful one: the rules of `healer.bench.rules` evaluated over the
series a Prometheus scraping the cluster would hold (`healer.bench.openmetrics`), checked
against a real Prometheus by the integration tests. `static_rule` and `burn_rate` read
only the healer's own per-poll points: an approximation, for runs without the scrapes.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from healer.bench.openmetrics import History
from healer.bench.rules import (
    SLO_AVAILABILITY,
    AlertRule,
    Context,
    Firing,
    burn_rate_rule,
    evaluate,
    latency_slos,
    static_rules,
)


@dataclass(frozen=True)
class Point:
    """One poll of one service: p99 seconds, 5xx ratio and request rate (None: no data)."""

    p99: float | None
    errors: float | None
    rate: float | None


@dataclass
class Series:
    """Every poll's points, per service name."""

    step: timedelta
    times: list[datetime] = field(default_factory=list)
    points: dict[str, list[Point | None]] = field(default_factory=dict)

    def add(self, at: datetime, values: Mapping[str, Point]) -> None:
        index = len(self.times)
        self.times.append(at)
        for name, point in values.items():
            self.points.setdefault(name, [None] * index).append(point)
        for column in self.points.values():
            if len(column) == index:
                column.append(None)


@dataclass(frozen=True)
class Alert:
    service: str
    at: datetime


BURN_RULES = (  # (long window, short window, burn factor)
    (timedelta(hours=1), timedelta(minutes=5), 14.4),
    (timedelta(hours=6), timedelta(minutes=30), 6.0),
)


def baseline_rules(ctx: Context, times: Sequence[float]) -> dict[str, list[AlertRule]]:
    """Each baseline's Prometheus rules; the latency SLOs come from the first hour of `ctx`."""
    return {
        "static_rule": static_rules(latency_slos(ctx, times)),
        "burn_rate": [burn_rate_rule()],
    }


def from_history(history: History, times: Sequence[datetime]) -> dict[str, list[Alert]]:
    """Each baseline's alerts: its rules evaluated at `times` (the evaluation steps)."""
    ctx = Context(history)
    stamps = [t.timestamp() for t in times]
    return {
        name: _alerts(evaluate(rules, ctx, stamps))
        for name, rules in baseline_rules(ctx, stamps).items()
    }


def _alerts(firings: Iterable[Firing]) -> list[Alert]:
    found = (Alert(dict(f.labels).get("service", ""), _time(f.at)) for f in firings)
    return sorted(found, key=lambda a: (a.at, a.service))


def _time(stamp: float) -> datetime:
    return datetime.fromtimestamp(stamp, UTC)


def slo_latency(series: Series, warmup: timedelta = timedelta(hours=1)) -> dict[str, float]:
    """Each service's latency SLO: 1.5 × its median p99 over the first hour, as teams set it."""
    polls = max(1, int(warmup / series.step))
    found = {}
    for name, column in series.points.items():
        values = sorted(p.p99 for p in column[:polls] if p is not None and p.p99 is not None)
        if values:
            found[name] = 1.5 * values[len(values) // 2]
    return found


def static_rule(series: Series, hold: timedelta = timedelta(minutes=5)) -> list[Alert]:
    slo = slo_latency(series)
    need = max(1, int(hold / series.step))
    alerts = []
    for name, column in series.points.items():
        limit = 2 * slo.get(name, float("inf"))
        streak = 0
        for at, point in zip(series.times, column, strict=True):
            bad = point is not None and (
                (point.p99 is not None and point.p99 > limit)
                or (point.errors is not None and point.errors > 0.05)
            )
            streak = streak + 1 if bad else 0
            if streak == need + 1:  # held for the whole `for:` duration
                alerts.append(Alert(name, at))
    return sorted(alerts, key=lambda a: a.at)


def burn_rate(series: Series) -> list[Alert]:
    budget = 1 - SLO_AVAILABILITY
    alerts = []
    for name, column in series.points.items():
        errors, requests = _cumulative(column)
        firing = False
        for index, at in enumerate(series.times):
            now = any(
                _ratio(errors, requests, index, int(long / series.step)) > factor * budget
                and _ratio(errors, requests, index, int(short / series.step)) > factor * budget
                for long, short, factor in BURN_RULES
            )
            if now and not firing:
                alerts.append(Alert(name, at))
            firing = now
    return sorted(alerts, key=lambda a: a.at)


def _cumulative(column: Sequence[Point | None]) -> tuple[list[float], list[float]]:
    """Running totals of failed and all requests, so any window is one subtraction."""
    errors, requests = [0.0], [0.0]
    for point in column:
        ok = point is not None and point.rate is not None and point.errors is not None
        rate = point.rate if ok and point and point.rate else 0.0
        ratio = point.errors if ok and point and point.errors else 0.0
        errors.append(errors[-1] + rate * ratio)
        requests.append(requests[-1] + rate)
    return errors, requests


def _ratio(errors: list[float], requests: list[float], end: int, polls: int) -> float:
    start = max(0, end + 1 - polls)
    total = requests[end + 1] - requests[start]
    return (errors[end + 1] - errors[start]) / total if total > 0 else 0.0
