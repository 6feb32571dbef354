"""The operator's alerting rules as Prometheus rules, and their evaluation as Prometheus does it.

Each rule's expression is a small tree: `promql()` writes the PromQL text a rule file
holds, `at(ctx, t)` evaluates that same tree at one evaluation time over a `History`
with Prometheus 2.x semantics (closed ranges, `rate()` extrapolated to the range's ends,
`histogram_quantile` with its bucket fix-ups, IEEE division). `fire` runs the `for:`
clause across evaluation steps: pending when the expression first returns a series,
firing once it has returned it at every step for the hold time.
"""

from __future__ import annotations

import bisect
import math
import statistics
from array import array
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import yaml

from healer.bench.openmetrics import History, Labels, Matcher, Samples

Vector = dict[Labels, float]  # one evaluation's answer: a value per label set
Selected = tuple[Labels, Samples, "array[float]"]  # a series, its samples and running resets
BUCKET = "http_server_request_duration_seconds_bucket"
COUNT = "http_server_request_duration_seconds_count"
BY = ("namespace", "service")
FIVE_XX = Matcher("http_response_status_code", "=~", "5..")
SLO_AVAILABILITY = 0.999
BURN_WINDOWS = ((3600.0, 300.0, "14.4"), (6 * 3600.0, 1800.0, "6"))  # long, short, factor
HOLD = 300.0  # the static rules' `for: 5m`
WARMUP = 3600.0  # the hour whose p99 sets each service's latency SLO


@dataclass
class Context:
    """One history being evaluated; remembers selections and rates already computed."""

    history: History
    _selected: dict[str, list[Selected]] = field(default_factory=dict)
    _groups: dict[tuple[Labels, tuple[str, ...]], Labels] = field(default_factory=dict)
    _memo: dict[tuple[str, float], Vector] = field(default_factory=dict)
    _memo_at: float = math.nan

    def select(self, name: str, matchers: Sequence[Matcher]) -> list[Selected]:
        """The series a selector picks, named as `rate()` names them (without `__name__`)."""
        key = name + "".join(m.promql() for m in matchers)
        if key not in self._selected:
            self._selected[key] = [
                (_nameless(labels), samples, self._resets(samples))
                for labels, samples in self.history.select(name, matchers)
            ]
        return self._selected[key]

    def group(self, labels: Labels, by: tuple[str, ...]) -> Labels:
        """The labels `sum by (by)` keeps of `labels` (asked again at every step)."""
        key = (labels, by)
        found = self._groups.get(key)
        if found is None:
            found = self._groups[key] = tuple(p for p in labels if p[0] in by and p[1] != "")
        return found

    def remember(self, key: tuple[str, float], compute: Callable[[], Vector]) -> Vector:
        """A rate already computed at this evaluation time; older times are forgotten."""
        if key[1] != self._memo_at:
            self._memo.clear()  # why: steps run in order, and a 3 h run's rates fill memory
            self._memo_at = key[1]
        if key not in self._memo:
            self._memo[key] = compute()
        return self._memo[key]

    @staticmethod
    def _resets(samples: Samples) -> array[float]:
        """Running sum of the value before each drop, so a window's resets are a subtraction."""
        found, total, previous = array("d"), 0.0, 0.0
        for value in samples.values:
            total += previous if value < previous else 0.0
            found.append(total)
            previous = value
        return found


class Expr(Protocol):
    """A PromQL expression: its text, and its answer at one evaluation time."""

    def promql(self) -> str: ...

    def at(self, ctx: Context, t: float) -> Vector: ...


@dataclass(frozen=True)
class Rate:
    """`rate(metric{matchers}[window])`: per series, its labels without the name."""

    metric: str
    window: float  # seconds
    matchers: tuple[Matcher, ...] = ()

    def promql(self) -> str:
        inside = ",".join(m.promql() for m in self.matchers)
        selector = f"{self.metric}{{{inside}}}" if inside else self.metric
        return f"rate({selector}[{_duration(self.window)}])"

    def at(self, ctx: Context, t: float) -> Vector:
        return ctx.remember((self.promql(), t), lambda: self._compute(ctx, t))

    def _compute(self, ctx: Context, t: float) -> Vector:
        out: Vector = {}
        end = round(t * 1000)
        start = end - round(self.window * 1000)
        for labels, samples, resets in ctx.select(self.metric, self.matchers):
            value = _rate(samples, resets, start, end, self.window)
            if value is not None:
                out[labels] = value
        return out


def extrapolated_rate(
    samples: Samples, resets: Sequence[float], t: float, window: float
) -> float | None:
    """`rate()` of one counter over [t - window, t], extrapolated as Prometheus does."""
    end = round(t * 1000)
    return _rate(samples, resets, end - round(window * 1000), end, window)


def _rate(
    samples: Samples, resets: Sequence[float], start: int, end: int, window: float
) -> float | None:
    """The same over [start, end] in milliseconds, as Prometheus holds its times."""
    times, values = samples.times, samples.values
    lo, hi = bisect.bisect_left(times, start), bisect.bisect_right(times, end) - 1
    if hi <= lo:
        return None  # why: no slope from fewer than two samples; Prometheus drops it
    first = values[lo]
    increase = values[hi] - first + resets[hi] - resets[lo]
    sampled = (times[hi] - times[lo]) / 1000
    average = sampled / (hi - lo)
    to_start = (times[lo] - start) / 1000
    to_end = (end - times[hi]) / 1000
    if increase > 0 and first >= 0:
        # why: a counter is never negative, so it cannot have started before its zero
        to_start = min(to_start, sampled * (first / increase))
    threshold = average * 1.1  # why: a next sample is expected within this, noise allowed
    covered = sampled + (to_start if to_start < threshold else average / 2)
    covered += to_end if to_end < threshold else average / 2
    return increase * (covered / sampled) / window


@dataclass(frozen=True)
class SumBy:
    """`sum by (labels) (inner)`: the series added up within each group."""

    labels: tuple[str, ...]
    inner: Expr

    def promql(self) -> str:
        return f"sum by ({', '.join(self.labels)}) ({self.inner.promql()})"

    def at(self, ctx: Context, t: float) -> Vector:
        out: Vector = {}
        for labels, value in self.inner.at(ctx, t).items():
            key = ctx.group(labels, self.labels)
            out[key] = out.get(key, 0.0) + value
        return out


@dataclass(frozen=True)
class HistogramQuantile:
    """`histogram_quantile(q, inner)`: inner grouped without `le`, one quantile each."""

    q: float
    inner: Expr

    def promql(self) -> str:
        return f"histogram_quantile({self.q}, {self.inner.promql()})"

    def at(self, ctx: Context, t: float) -> Vector:
        groups: dict[Labels, list[tuple[float, float]]] = {}
        for labels, value in self.inner.at(ctx, t).items():
            le = dict(labels).get("le")
            if le is not None:
                rest = tuple(p for p in labels if p[0] != "le")
                groups.setdefault(rest, []).append((float(le), value))
        return {labels: bucket_quantile(self.q, buckets) for labels, buckets in groups.items()}


def bucket_quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """Prometheus's quantile of cumulative (upper bound, count) buckets, fix-ups included."""
    merged: dict[float, float] = {}
    for upper, count in buckets:  # why: equal bounds (e.g. "1" and "1.0") are one bucket
        merged[upper] = merged.get(upper, 0.0) + count
    ordered = sorted(merged.items())
    if not ordered or not math.isinf(ordered[-1][0]) or len(ordered) < 2:
        return math.nan
    counts, highest = [], -math.inf
    for _, count in ordered:  # why: rates of buckets scraped apart can dip; Prometheus lifts them
        highest = max(highest, count)
        counts.append(highest)
    if counts[-1] == 0:
        return math.nan
    rank = q * counts[-1]
    b = next((i for i in range(len(counts) - 1) if counts[i] >= rank), len(counts) - 1)
    if b == len(counts) - 1:
        return ordered[-2][0]
    if b == 0 and ordered[0][0] <= 0:
        return ordered[0][0]
    start, count = (ordered[b - 1][0], counts[b] - counts[b - 1]) if b else (0.0, counts[0])
    below = counts[b - 1] if b else 0.0
    return start + (ordered[b][0] - start) * ((rank - below) / count)


@dataclass(frozen=True)
class Divide:
    """`top / bottom`, one-to-one on the full label set."""

    top: Expr
    bottom: Expr

    def promql(self) -> str:
        return f"({self.top.promql()}) / ({self.bottom.promql()})"

    def at(self, ctx: Context, t: float) -> Vector:
        bottom = self.bottom.at(ctx, t)
        return {k: _div(v, bottom[k]) for k, v in self.top.at(ctx, t).items() if k in bottom}


@dataclass(frozen=True)
class Above:
    """`expr > threshold`: keeps the series whose value is greater (never NaN)."""

    inner: Expr
    threshold: float
    text: str = ""  # how the threshold is written, when not as a plain number

    def promql(self) -> str:
        return f"{self.inner.promql()} > {self.text or repr(self.threshold)}"

    def at(self, ctx: Context, t: float) -> Vector:
        return {k: v for k, v in self.inner.at(ctx, t).items() if v > self.threshold}


@dataclass(frozen=True)
class Both:
    """`a and b`: a's series that b also has."""

    left: Expr
    right: Expr

    def promql(self) -> str:
        return f"({self.left.promql()}) and ({self.right.promql()})"

    def at(self, ctx: Context, t: float) -> Vector:
        right = self.right.at(ctx, t)
        return {k: v for k, v in self.left.at(ctx, t).items() if k in right}


@dataclass(frozen=True)
class Either:
    """`a or b`: all of a, and b's series that a lacks."""

    left: Expr
    right: Expr

    def promql(self) -> str:
        return f"({self.left.promql()}) or ({self.right.promql()})"

    def at(self, ctx: Context, t: float) -> Vector:
        return {**self.right.at(ctx, t), **self.left.at(ctx, t)}


def _nameless(labels: Labels) -> Labels:
    return tuple(p for p in labels if p[0] != "__name__")


def _div(top: float, bottom: float) -> float:
    if bottom != 0:
        return top / bottom
    return math.nan if top == 0 or math.isnan(top) else math.copysign(math.inf, top)


def _duration(seconds: float) -> str:
    for unit, size in (("h", 3600), ("m", 60)):
        if seconds % size == 0:
            return f"{int(seconds // size)}{unit}"
    return f"{int(seconds)}s"


# --- the rules ---


@dataclass(frozen=True)
class AlertRule:
    """One Prometheus alerting rule: its name, expression and `for:` hold (seconds)."""

    name: str
    expr: Expr
    hold: float = 0.0
    labels: Mapping[str, str] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        rule: dict[str, Any] = {"alert": self.name, "expr": self.expr.promql()}
        if self.hold:
            rule["for"] = _duration(self.hold)
        return rule | ({"labels": dict(self.labels)} if self.labels else {})


def error_ratio(window: float) -> Expr:
    """The share of requests answered 5xx over `window`, per service."""
    everything = SumBy(BY, Rate(COUNT, window))
    return Divide(SumBy(BY, Rate(COUNT, window, (FIVE_XX,))), everything)


def p99(window: float = 300.0, matchers: tuple[Matcher, ...] = ()) -> Expr:
    return HistogramQuantile(0.99, SumBy((*BY, "le"), Rate(BUCKET, window, matchers)))


def static_rules(slos: Mapping[Labels, float]) -> list[AlertRule]:
    """5xx ratio > 5% for 5m; per service with an SLO, p99 > 2 × that SLO for 5m."""
    rules = [AlertRule("HighErrorRatio", Above(error_ratio(300.0), 0.05), HOLD)]
    for labels, slo in sorted(slos.items()):
        only = tuple(Matcher(name, "=", value) for name, value in labels)
        limit = float(f"{2 * slo:.3g}")  # why: a rule file holds a number a person wrote
        rules.append(AlertRule("HighLatency", Above(p99(300.0, only), limit), HOLD))
    return rules


def burn_rate_rule() -> AlertRule:
    """The SRE Workbook's multiwindow, multi-burn-rate page against a 99.9% SLO."""
    budget = round(1 - SLO_AVAILABILITY, 6)
    pairs: list[Expr] = []
    for long, short, factor in BURN_WINDOWS:
        limit, text = float(factor) * budget, f"({factor} * {budget})"
        pairs.append(
            Both(Above(error_ratio(long), limit, text), Above(error_ratio(short), limit, text))
        )
    return AlertRule("ErrorBudgetBurn", Either(pairs[0], pairs[1]))


def latency_slos(ctx: Context, times: Sequence[float]) -> dict[Labels, float]:
    """Each service's latency SLO: 1.5 × its median p99 over the first hour, as teams set it."""
    seen: dict[Labels, list[float]] = {}
    expr = p99()
    for t in times:
        if t - times[0] >= WARMUP:
            break
        for labels, value in expr.at(ctx, t).items():
            if not math.isnan(value):
                seen.setdefault(labels, []).append(value)
    return {labels: 1.5 * statistics.median_high(values) for labels, values in seen.items()}


def rule_file(groups: Mapping[str, Sequence[AlertRule]], interval: float) -> str:
    """A Prometheus rule file holding these groups, evaluated every `interval` seconds."""
    doc = {
        "groups": [
            {"name": name, "interval": _duration(interval), "rules": [r.as_dict() for r in rules]}
            for name, rules in groups.items()
        ]
    }
    return yaml.safe_dump(doc, sort_keys=False, width=1000)


# --- the `for:` clause ---


@dataclass(frozen=True)
class Firing:
    """An alert that went from pending to firing at `at` for the series `labels`."""

    rule: str
    labels: Labels
    at: float


def fire(rule: AlertRule, answers: Iterable[tuple[float, Iterable[Labels]]]) -> list[Firing]:
    """Run the `for:` state machine over each evaluation's answer (the series returned).

    A series that is absent at one step resolves; when it comes back it is pending anew.
    """
    active: dict[Labels, float] = {}  # series → when it went pending
    fired: set[Labels] = set()
    out = []
    for t, present in answers:
        now = set(present)
        for gone in set(active) - now:
            del active[gone]
            fired.discard(gone)
        for labels in now:
            active.setdefault(labels, t)
        for labels, since in sorted(active.items()):
            if labels not in fired and t - since >= rule.hold:
                fired.add(labels)
                out.append(Firing(rule.name, labels, t))
    return out


def evaluate(rules: Sequence[AlertRule], ctx: Context, times: Sequence[float]) -> list[Firing]:
    """Every rule evaluated at each of `times` (unix seconds), then its `for:` clause."""
    answers: list[list[tuple[float, set[Labels]]]] = [[] for _ in rules]
    for t in times:  # why: step by step, so the rules of one step share their rates
        for rule, answer in zip(rules, answers, strict=True):
            answer.append((t, set(rule.expr.at(ctx, t))))
    found = [f for rule, answer in zip(rules, answers, strict=True) for f in fire(rule, answer)]
    return sorted(found, key=lambda f: (f.at, f.rule, f.labels))
