"""A simulated run's scrapes as the time series a Prometheus scraping it would hold.

`Recorder` renders the cluster's exposition after every tick (exactly what `healer sim
serve` answers on /metrics) and keeps the HTTP histogram's samples, stamped with the
scrape's own time. `History.openmetrics()` writes them for `promtool tsdb
create-blocks-from openmetrics`, so a real Prometheus and our evaluator read one series.
"""

from __future__ import annotations

import math
import re
from array import array
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from healer.sim.exposition import HTTP, Exposition
from healer.sim.model import SimCluster

Labels = tuple[tuple[str, str], ...]  # sorted (name, value) pairs, `__name__` among them
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
_KINDS = {HTTP: "histogram"}  # the families kept, with their OpenMetrics type


@dataclass
class Samples:
    """One series: timestamps (unix milliseconds, as Prometheus keeps them) and values.

    Typed arrays, not lists: a day's scrapes of every series would otherwise take
    gigabytes (a Python float in a list costs about four times its eight bytes).
    """

    times: array[int] = field(default_factory=lambda: array("q"))
    values: array[float] = field(default_factory=lambda: array("d"))

    def __post_init__(self) -> None:
        self.times = array("q", self.times)
        self.values = array("d", self.values)

    def append(self, at: float, value: float) -> None:
        # why: Prometheus keeps integer milliseconds, and rate() measures from those
        self.times.append(round(at * 1000))
        self.values.append(value)


@dataclass
class History:
    """Every series by its label set (metric name included), samples oldest first."""

    series: dict[Labels, Samples] = field(default_factory=dict)

    def add(self, labels: Mapping[str, str], at: float, value: float) -> None:
        self.samples(labels).append(at, value)

    def samples(self, labels: Mapping[str, str]) -> Samples:
        """The series of these labels, new and empty if none is held yet."""
        return self.series.setdefault(tuple(sorted(labels.items())), Samples())

    def select(self, name: str, matchers: Iterable[Matcher] = ()) -> list[tuple[Labels, Samples]]:
        wanted = tuple(matchers)
        return [
            (labels, samples)
            for labels, samples in self.series.items()
            if dict(labels)["__name__"] == name and all(m.matches(labels) for m in wanted)
        ]

    def openmetrics(self) -> str:
        """The whole history as OpenMetrics text, one family after another."""
        out: list[str] = []
        for family, kind in _KINDS.items():
            out.append(f"# TYPE {family} {kind}")
            for labels, samples in self.series.items():
                if dict(labels)["__name__"].startswith(family):
                    out += _lines(labels, samples)
        out.append("# EOF")
        return "\n".join(out) + "\n"


@dataclass(frozen=True)
class Matcher:
    """A label matcher: `=` or `=~` (anchored, as PromQL anchors it)."""

    label: str
    op: str
    value: str

    def matches(self, labels: Labels) -> bool:
        have = dict(labels).get(self.label, "")
        if self.op == "=":
            return have == self.value
        return re.fullmatch(self.value, have) is not None

    def promql(self) -> str:
        return f'{self.label}{self.op}"{self.value}"'


class Recorder:
    """Keeps the HTTP histogram of every scrape, as a Prometheus scraping each tick would."""

    def __init__(self, cluster: SimCluster) -> None:
        self._cluster = cluster
        self._exposition = Exposition(cluster)
        self._known: dict[str, Samples] = {}  # a sample line's series text → its series
        self.history = History()

    def capture(self) -> None:
        """Call after each tick: reads the latest scrape, stamped with its own time."""
        at = self._cluster.scrapes.scrapes[-1].at
        for line in self._exposition.render().splitlines():
            if line.startswith(HTTP):
                series, _, value = line.rpartition(" ")
                samples = self._known.get(series)
                if samples is None:  # why: parse each series once, not at every tick
                    samples = self._known[series] = self.history.samples(parse_sample(line)[0])
                samples.append(at, float(value))


def parse_sample(line: str) -> tuple[dict[str, str], float]:
    """One sample line of the text format: `name{labels} value`."""
    name, _, rest = line.partition("{")
    body, _, value = rest.rpartition("} ")
    labels = {k: v.replace('\\"', '"').replace("\\\\", "\\") for k, v in _LABEL.findall(body)}
    return {"__name__": name, **labels}, float(value)


def _lines(labels: Labels, samples: Samples) -> list[str]:
    name = dict(labels)["__name__"]
    body = ",".join(f'{k}="{v}"' for k, v in labels if k != "__name__")
    return [
        f"{name}{{{body}}} {_number(v)} {t // 1000}.{t % 1000:03d}"
        for t, v in zip(samples.times, samples.values, strict=True)
    ]


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if value == int(value) else repr(value)
