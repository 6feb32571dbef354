"""PromQL for one poll: one query per signal, whatever the number of services.

Each profile's alternative for a signal is tagged with a `healer_profile` label and the
alternatives are joined with `or`, so a single query answers for every service under
every listed profile; the reader then keeps, per service, the first profile's answer.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from string import Template

from healer.adapters.prometheus.profiles import EdgeQuery, Profile
from healer.domain.model import Signal

PROFILE_LABEL = "healer_profile"
STAT_LABEL = "healer_stat"  # on database results: "connections" or "max_connections"


@dataclass(frozen=True)
class Labels:
    """The result labels that name the service and its namespace for one alternative."""

    order: int  # position of the profile in the settings: lower wins
    service: str
    namespace: str


@dataclass(frozen=True)
class SignalQuery:
    signal: Signal
    promql: str
    labels: Mapping[str, Labels]  # by profile name


@dataclass(frozen=True)
class DatabaseQuery:
    promql: str
    labels: Mapping[str, tuple[int, str]]  # by profile name: order, database label


@dataclass(frozen=True)
class Scope:
    """What every query of a poll shares."""

    selector: str
    window: timedelta
    service_label: str
    namespace_label: str

    def render(self, template: str, by: Sequence[str]) -> str:
        matchers = self.selector.strip().rstrip(",")
        # why the trailing comma: templates write `{code=~"5..",$selector}`, and PromQL
        # accepts `{a="b",}`, so an empty selector needs no special case.
        return Template(template).substitute(
            selector=f"{matchers}," if matchers else "",
            window=duration(self.window),
            by=", ".join(by),
        )


def duration(span: timedelta) -> str:
    """A PromQL duration: whole seconds when exact, else milliseconds."""
    millis = round(span.total_seconds() * 1000)
    return f"{millis // 1000}s" if millis % 1000 == 0 else f"{millis}ms"


def signal_queries(profiles: Sequence[Profile], scope: Scope) -> list[SignalQuery]:
    """One query per signal that at least one listed profile provides."""
    out = []
    for signal in Signal:
        parts, labels = [], {}
        for order, profile in enumerate(profiles):
            spec = profile.signals.get(signal)
            if spec is None:
                continue
            names = Labels(
                order,
                spec.service_label or scope.service_label,
                spec.namespace_label or scope.namespace_label,
            )
            labels[profile.name] = names
            expr = scope.render(spec.template, (names.service, names.namespace))
            parts.append(_tag(expr, PROFILE_LABEL, profile.name))
        if parts:
            out.append(SignalQuery(signal, " or ".join(parts), labels))
    return out


def database_query(profiles: Sequence[Profile], scope: Scope) -> DatabaseQuery | None:
    """Connections and their limit per database server, both in one query."""
    parts, labels = [], {}
    for order, profile in enumerate(profiles):
        spec = profile.databases
        if spec is None:
            continue
        labels[profile.name] = (order, spec.label)
        for stat, template in (
            ("connections", spec.connections),
            ("max_connections", spec.max_connections),
        ):
            expr = _tag(scope.render(template, (spec.label,)), STAT_LABEL, stat)
            parts.append(_tag(expr, PROFILE_LABEL, profile.name))
    return DatabaseQuery(" or ".join(parts), labels) if parts else None


def edge_query(edges: EdgeQuery, scope: Scope) -> str:
    return scope.render(edges.template, edges.labels)


def _tag(expr: str, label: str, value: str) -> str:
    # label_replace with an empty source label and regex matches every series, which
    # sets a constant label; values are profile names checked to need no escaping.
    return f'label_replace({expr}, "{label}", "{value}", "", "")'
