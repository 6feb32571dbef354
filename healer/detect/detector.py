"""The detector: every poll's metrics and logs in, the anomalies firing now out.

It owns one `Baseline` per (service, signal) and per (service, log template), and says
for each service whether it looks healthy, unhealthy, or cannot be told (no data).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from healer.detect.baseline import Baseline, Persistence, Thresholds, Verdict
from healer.detect.growth import Growth, GrowthSettings, GrowthVerdict
from healer.detect.logclass import LogClass, classify
from healer.detect.logpatterns import PatternMiner
from healer.domain.model import (
    Anomaly,
    AnomalyKind,
    LogBatch,
    MetricsSnapshot,
    ServiceRef,
    Signal,
)
from healer.ports import TemplateMiner

# The log classes in which a service itself reports what its 5xx ratio or its p99 shows:
# any failure explains 5xx; only waiting (deadlines, pools, refused connections) explains
# a slow p99, since a stack trace or a failed call is usually quick.
_VOUCH_ERRORS = frozenset(LogClass) - {LogClass.OTHER}
_VOUCH_LATENCY = frozenset({LogClass.TIMEOUT, LogClass.POOL_TIMEOUT, LogClass.DB_CONNECTIONS})
# ...and the gauges that explain a slow p99 as well: CPU throttled in 3 of 4 periods (a
# burst at a usual peak stays under it), or requests queueing for a pooled connection.
SHORT_THROTTLED = 0.75
SHORT_PENDING = 2.0  # requests waiting on average: more than the odd one at a peak


@dataclass(frozen=True)
class DetectionSettings:
    warmup: int = 20  # polls of history before a series may fire
    window: int = 240  # polls of normal history a baseline keeps
    # A p99 that doubles by at least 30 ms: smaller moves are noise to a user.
    latency: Thresholds = Thresholds(z=6.0, ratio=2.0, min_delta=0.03, log_scale=True)
    errors: Thresholds = Thresholds(z=6.0, ratio=3.0, floor=0.02)
    logs: Thresholds = Thresholds(z=6.0, ratio=5.0, floor=5.0)
    # 4 of 5: a one-tick blip stays in a 1-minute rate window for 4 polls, so fewer
    # would page on every deploy blip and GC pause.
    # ...or 3 in a row at 3× the threshold: a fault that strong pages a poll sooner
    # ...or 2 in a row while the service's own error lines or gauges back it
    persistence: Persistence = Persistence(k=4, n=5, clear=3, fast=3, strong=3.0, vouched=2)
    min_rate: float = 0.2  # req/s: below this an error ratio is too noisy to judge
    # Seconds each poll's ratios and rates are measured over (the PromQL range), which
    # turns a 5xx ratio and a request rate back into a count of failed requests.
    count_window_s: float = 60.0
    # The failed requests above what the baseline ratio predicts must exceed this many
    # Poisson standard deviations: on a service taking one request a second, two 5xx in
    # a minute are a 3% ratio and mean nothing; on a busy one, 3% is thousands of users.
    error_count_z: float = 3.0
    # A p99 whose top 1 % holds fewer requests than this in the query window is one or two
    # slow requests: it only counts once it has stayed high for longer than the window,
    # since a single slow request holds it up for exactly one window.
    min_tail_requests: float = 2.0
    growth: GrowthSettings = GrowthSettings()
    # Request rates are never anomalies by themselves; this only keeps a surge out of the
    # usual rate it is compared with.
    load: Thresholds = Thresholds(z=6.0, ratio=1.3, log_scale=True)


@dataclass(frozen=True)
class TemplateCount:
    """One log template's lines of one service in this poll (estimated from the sample)."""

    template_id: int
    text: str
    cls: LogClass
    count: float
    since: datetime  # first seen, or the start of the current firing streak
    firing: bool


@dataclass(frozen=True)
class Observation:
    at: datetime
    anomalies: tuple[Anomaly, ...]
    health: Mapping[ServiceRef, bool | None]  # None: no data this poll, so no verdict
    templates: Mapping[ServiceRef, tuple[TemplateCount, ...]] = field(default_factory=dict)
    # Each service's request rate over its usual rate (where a usual one is known yet): the
    # one fact that tells more load arriving from a service that got slower.
    load: Mapping[ServiceRef, float] = field(default_factory=dict)

    def for_service(self, service: ServiceRef) -> list[Anomaly]:
        return [a for a in self.anomalies if a.service == service]


@dataclass
class _TemplateSeries:
    baseline: Baseline
    text: str
    cls: LogClass
    first_seen: datetime


class Detector:
    def __init__(
        self, settings: DetectionSettings | None = None, miner: TemplateMiner | None = None
    ) -> None:
        self.settings = settings or DetectionSettings()
        self._metric: dict[tuple[ServiceRef, Signal], Baseline] = {}
        self._logs: dict[ServiceRef, dict[int, _TemplateSeries]] = {}
        self._miner: TemplateMiner = miner or PatternMiner()
        self._polls = 0
        self._sparse_since: dict[ServiceRef, datetime] = {}
        self._growth: dict[ServiceRef, Growth] = {}

    def seed(self, history: Sequence[MetricsSnapshot]) -> int:
        """Learn baselines from past snapshots (a restarted healer is not blind for an hour).

        Returns how many series now have a usable baseline. The median and MAD shrug off
        the odd incident inside the history; errors on quiet services are skipped as in
        `observe`.
        """
        values: dict[tuple[ServiceRef, Signal], list[float]] = {}
        for snapshot in history:
            for service, signals in snapshot.services.items():
                for signal in (Signal.LATENCY_P99, Signal.ERROR_RATIO, Signal.REQUEST_RATE):
                    if self._judged(signals, signal):
                        values.setdefault((service, signal), []).append(signals[signal])
        for (service, signal), found in values.items():
            self._series(service, signal).seed(found)
        return sum(1 for b in self._metric.values() if b.ready)

    def _judged(self, signals: Mapping[Signal, float], signal: Signal) -> bool:
        if signal not in signals:
            return False
        rate = signals.get(Signal.REQUEST_RATE)
        return signal is not Signal.ERROR_RATIO or rate is None or rate >= self.settings.min_rate

    def baseline(self, service: ServiceRef, signal: Signal) -> Baseline | None:
        return self._metric.get((service, signal))

    def observe(self, snapshot: MetricsSnapshot, logs: LogBatch | None) -> Observation:
        self._polls += 1
        anomalies: list[Anomaly] = []
        health: dict[ServiceRef, bool | None] = {}
        load: dict[ServiceRef, float] = {}
        # Logs first: a service logging its failure vouches for its metrics this poll.
        templates = self._observe_logs(logs, snapshot.at) if logs is not None else {}
        for service, signals in snapshot.services.items():
            told = frozenset(c.cls for c in templates.get(service, ()) if c.firing)
            found = self._observe_metrics(service, signals, snapshot.at, told)
            if (ratio := self._load(service, signals, snapshot.at)) is not None:
                load[service] = ratio
            anomalies.extend(found)
            health[service] = None if not _has_golden(signals) else not found
        for service, counts in templates.items():
            for count in counts:
                if count.firing:
                    anomalies.append(self._log_anomaly(service, count, snapshot.at))
                    if health.get(service):
                        health[service] = False
        return Observation(snapshot.at, tuple(anomalies), health, templates, load)

    def _load(
        self, service: ServiceRef, signals: Mapping[Signal, float], at: datetime
    ) -> float | None:
        rate = signals.get(Signal.REQUEST_RATE)
        if rate is None:
            return None
        series = self._series(service, Signal.REQUEST_RATE)
        usual = series.centre
        ready = series.ready and usual > 0
        series.observe(rate, at)
        return rate / usual if ready else None

    def _observe_metrics(
        self,
        service: ServiceRef,
        signals: Mapping[Signal, float],
        at: datetime,
        told: frozenset[LogClass] = frozenset(),
    ) -> list[Anomaly]:
        found = []
        latency = signals.get(Signal.LATENCY_P99)
        if latency is not None:
            series = self._series(service, Signal.LATENCY_P99)
            lasting = self._outlasts_window(service, series, latency, signals, at)
            verdict = series.observe(latency, at, significant=lasting)
            verdict = _vouched(series, verdict, bool(told & _VOUCH_LATENCY) or short(signals))
            if verdict.firing:
                found.append(_anomaly(service, AnomalyKind.LATENCY, verdict, at, "p99 latency"))
        errors, rate = signals.get(Signal.ERROR_RATIO), signals.get(Signal.REQUEST_RATE)
        if errors is not None and (rate is None or rate >= self.settings.min_rate):
            series = self._series(service, Signal.ERROR_RATIO)
            counted = self._beyond_chance(errors, rate, series.centre)
            verdict = series.observe(errors, at, significant=counted)
            verdict = _vouched(series, verdict, bool(told & _VOUCH_ERRORS))
            if verdict.firing:
                found.append(_anomaly(service, AnomalyKind.ERRORS, verdict, at, "5xx ratio"))
        memory = signals.get(Signal.MEMORY_UTILISATION)
        if memory is not None:
            growth = self._growth.setdefault(service, Growth(self.settings.growth))
            climb = growth.observe(memory, at)
            if climb.firing:
                found.append(_memory_anomaly(service, climb, at))
        return found

    def _outlasts_window(
        self,
        service: ServiceRef,
        series: Baseline,
        p99: float,
        signals: Mapping[Signal, float],
        at: datetime,
    ) -> bool:
        """Whether a high p99 is more than a few slow requests passing through the window."""
        rate = signals.get(Signal.REQUEST_RATE)
        window = self.settings.count_window_s
        if rate is None or rate * window * 0.01 >= self.settings.min_tail_requests:
            self._sparse_since.pop(service, None)
            return True  # why: enough requests in the tail for the p99 to mean itself
        if not series.above(p99):
            self._sparse_since.pop(service, None)
            return False
        since = self._sparse_since.setdefault(service, at)
        return (at - since).total_seconds() >= window

    def _beyond_chance(self, ratio: float, rate: float | None, usual: float) -> bool:
        """Whether this poll's 5xx are more than the usual ratio gives by chance on its traffic."""
        if rate is None:
            return True  # why: without the traffic, the ratio's own baseline must judge
        requests = rate * self.settings.count_window_s
        expected = usual * requests
        excess = (ratio - usual) * requests
        # why: +1 keeps a service that never failed from firing on its first failure
        return excess >= self.settings.error_count_z * math.sqrt(expected + 1.0)

    def _series(self, service: ServiceRef, signal: Signal) -> Baseline:
        key = (service, signal)
        if key not in self._metric:
            thresholds = {
                Signal.LATENCY_P99: self.settings.latency,
                Signal.REQUEST_RATE: self.settings.load,
            }.get(signal, self.settings.errors)
            self._metric[key] = self._new_baseline(thresholds)
        return self._metric[key]

    def _new_baseline(self, thresholds: Thresholds) -> Baseline:
        s = self.settings
        return Baseline(thresholds, s.persistence, window=s.window, warmup=s.warmup)

    def _observe_logs(
        self, logs: LogBatch, at: datetime
    ) -> dict[ServiceRef, tuple[TemplateCount, ...]]:
        counts = self._count_templates(logs)
        out: dict[ServiceRef, tuple[TemplateCount, ...]] = {}
        for service, series_by_id in self._logs.items():
            rows = []
            for template_id, series in series_by_id.items():
                count = counts.get((service, template_id), 0.0)
                verdict = series.baseline.observe(count, at)
                if count or verdict.firing:
                    since = verdict.since or series.first_seen
                    row = TemplateCount(
                        template_id, series.text, series.cls, count, since, verdict.firing
                    )
                    rows.append(row)
            if rows:
                out[service] = tuple(rows)
        return out

    def _count_templates(self, logs: LogBatch) -> dict[tuple[ServiceRef, int], float]:
        sampled: dict[ServiceRef, int] = {}
        raw: dict[tuple[ServiceRef, int], int] = {}
        for record in logs.records:
            template = self._miner.add(record.message)
            key = (record.service, template.id)
            raw[key] = raw.get(key, 0) + 1
            sampled[record.service] = sampled.get(record.service, 0) + 1
            known = self._logs.setdefault(record.service, {})
            if template.id not in known:
                known[template.id] = self._new_template(template.text, logs.until)
            else:
                known[template.id].text = template.text
        # The sample is scaled up to the true line count the source reported.
        return {
            key: n * max(1.0, logs.totals.get(key[0], 0) / sampled[key[0]])
            for key, n in raw.items()
        }

    def _new_template(self, text: str, at: datetime) -> _TemplateSeries:
        baseline = self._new_baseline(self.settings.logs)
        if self._polls > self.settings.warmup:
            # We have been reading this service's logs all along: a template never seen
            # before was absent, which is a real baseline of zero, not a cold start.
            baseline.seed([0.0] * self.settings.warmup)
        return _TemplateSeries(baseline, text, classify(text), at)

    @staticmethod
    def _log_anomaly(service: ServiceRef, count: TemplateCount, at: datetime) -> Anomaly:
        return Anomaly(
            service=service,
            kind=AnomalyKind.LOG_PATTERN,
            since=count.since,
            at=at,
            value=count.count,
            baseline=0.0,
            threshold=0.0,
            score=count.count,
            template=count.text,
            detail=f"{count.count:.0f} '{count.cls}' lines: {count.text[:160]}",
        )


def short(signals: Mapping[Signal, float]) -> bool:
    """Whether the service's own gauges say it runs short: its CPU throttled in most
    periods, or requests queueing for a pooled connection. Either explains a slow p99."""
    throttled = signals.get(Signal.CPU_THROTTLING, 0.0)
    waiting = signals.get(Signal.POOL_PENDING, 0.0) > SHORT_PENDING
    return throttled >= SHORT_THROTTLED or waiting or signals.get(Signal.POOL_TIMEOUTS, 0.0) > 0


def _vouched(series: Baseline, verdict: Verdict, backed: bool) -> Verdict:
    """The verdict, firing sooner where the service's own logs or gauges back it."""
    if verdict.firing or not backed:
        return verdict
    since = series.vouch()
    return verdict if since is None else replace(verdict, firing=True, since=since)


def _has_golden(signals: Mapping[Signal, float]) -> bool:
    return Signal.LATENCY_P99 in signals or Signal.ERROR_RATIO in signals


def _anomaly(
    service: ServiceRef, kind: AnomalyKind, verdict: Verdict, at: datetime, what: str
) -> Anomaly:
    ratio = verdict.value / verdict.baseline if verdict.baseline > 0 else float("inf")
    return Anomaly(
        service=service,
        kind=kind,
        since=verdict.since or at,
        at=at,
        value=verdict.value,
        baseline=verdict.baseline,
        threshold=verdict.threshold,
        score=verdict.score,
        detail=f"{what} {shown(kind, verdict.value)} is {ratio:.1f}× its baseline "
        f"{shown(kind, verdict.baseline)}",
    )


def _memory_anomaly(service: ServiceRef, climb: GrowthVerdict, at: datetime) -> Anomaly:
    eta = f"; at this rate it is full in {climb.eta_s / 60:.0f} min" if climb.eta_s else ""
    return Anomaly(
        service=service,
        kind=AnomalyKind.MEMORY,
        since=climb.since or at,
        at=at,
        value=climb.value,
        baseline=climb.start,
        threshold=1.0,
        score=climb.value,
        detail=f"memory of its fullest container climbed from {climb.start:.0%} to "
        f"{climb.value:.0%} of its limit{eta}",
    )


def shown(kind: AnomalyKind, value: float) -> str:
    """A latency or error-ratio value as the timeline shows it."""
    if kind is AnomalyKind.LATENCY:
        return f"{value * 1000:.0f} ms"
    return f"{value:.1%}"
