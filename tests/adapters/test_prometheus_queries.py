"""Signal profiles and the PromQL built from them, without a server."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest

from healer.adapters.prometheus import BUILTIN, TOPOLOGIES, Scope, custom_profile
from healer.adapters.prometheus.queries import (
    database_query,
    duration,
    edge_query,
    signal_queries,
)
from healer.adapters.prometheus.source import profiles_from_settings, topology_from_settings
from healer.config import PrometheusSettings
from healer.domain.model import Signal
from healer.errors import ConfigError

SCOPE = Scope("", timedelta(minutes=1), "service", "namespace")


def test_every_signal_has_a_builtin_profile() -> None:
    covered = {signal for p in BUILTIN.values() for signal in p.signals}
    assert covered == set(Signal)
    assert BUILTIN["postgres-exporter"].databases is not None
    assert set(TOPOLOGIES) == {"service-graph", "istio"}


def test_one_query_per_signal_whatever_the_profiles() -> None:
    profiles = profiles_from_settings(PrometheusSettings())
    queries = signal_queries(profiles, SCOPE)
    assert [q.signal for q in queries] == list(Signal)
    latency = next(q for q in queries if q.signal is Signal.LATENCY_P99)
    # the three HTTP profiles are alternatives inside the one query, tagged and or-ed
    assert latency.promql.count(" or ") == 2
    assert list(latency.labels) == ["otel-http", "prometheus-client", "istio"]
    assert latency.labels["istio"].service == "destination_workload"
    assert latency.labels["otel-http"].service == "service"
    assert "label_replace(histogram_quantile(0.99, sum by (le, service, namespace) (" in (
        latency.promql
    )


def test_rendering_the_placeholders() -> None:
    template = 'sum by ($by) (rate(x_total{code=~"5..",$selector}[$window]))'
    scope = Scope(' cluster="prod", ', timedelta(seconds=90), "app", "ns")
    rendered = scope.render(template, ("app", "ns"))
    assert rendered == 'sum by (app, ns) (rate(x_total{code=~"5..",cluster="prod",}[90s]))'
    assert SCOPE.render("x{$selector}", ("a",)) == "x{}"
    assert (duration(timedelta(seconds=60)), duration(timedelta(seconds=1.5))) == ("60s", "1500ms")


def test_istio_latency_is_converted_to_seconds() -> None:
    istio = BUILTIN["istio"].signals[Signal.LATENCY_P99]
    assert istio.template.endswith(" / 1000")
    assert 'reporter!="source"' in istio.template


def test_error_ratio_counts_no_5xx_as_zero() -> None:
    template = BUILTIN["prometheus-client"].signals[Signal.ERROR_RATIO].template
    # 5xx by `code`, else by `status`, else zero times the total: never missing
    assert template.count(" or ") == 2 and "* 0" in template
    assert 'code=~"5.."' in template and 'status=~"5.."' in template


def test_database_query_tags_both_numbers() -> None:
    query = database_query([BUILTIN["postgres-exporter"]], SCOPE)
    assert query is not None
    assert query.labels == {"postgres-exporter": (0, "server")}
    assert '"healer_stat", "connections"' in query.promql
    assert '"healer_stat", "max_connections"' in query.promql
    assert database_query([BUILTIN["otel-http"]], SCOPE) is None


def test_edge_queries_group_by_both_ends() -> None:
    assert edge_query(TOPOLOGIES["service-graph"], SCOPE) == (
        "group by (client, server) (traces_service_graph_request_total{})"
    )
    assert "source_workload_namespace, destination_workload" in edge_query(
        TOPOLOGIES["istio"], SCOPE
    )


def test_a_custom_profile_with_its_own_labels() -> None:
    profile = custom_profile(
        "mine",
        {
            "service_label": "app",
            "signals": {
                "request_rate": "sum by ($by) (rate(hits_total{$selector}[$window]))",
                "replicas": {"query": "sum by ($by) (up{$selector})", "service_label": "job"},
            },
        },
    )
    assert profile.signals[Signal.REQUEST_RATE].service_label == "app"
    assert profile.signals[Signal.REPLICAS].service_label == "job"
    assert profile.signals[Signal.REPLICAS].namespace_label is None  # the settings' label


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"signals": {"latency": "x"}}, "signals.latency: unknown signal"),
        ({"signals": {"replicas": "x{$labels}"}}, "signals.replicas: unknown placeholder $labels"),
        ({"signals": {"replicas": "x{$}"}}, "signals.replicas: bad placeholder"),
        ({"signals": {"replicas": 3}}, "signals.replicas: expected PromQL or a mapping"),
        ({"signals": {"replicas": {"promql": "x"}}}, "signals.replicas.promql: unknown key"),
        ({"service_label": "app-name"}, "service_label: 'app-name' is not a Prometheus label name"),
        ({"databases": {"connections": "x"}}, "databases.max_connections: expected PromQL"),
        ({"queries": {}}, "queries: unknown key"),
    ],
)
def test_custom_profile_mistakes(data: dict[str, Any], says: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(says)}"):
        custom_profile("mine", data)


def test_settings_mistakes_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="profiles: unknown profile 'otel'"):
        profiles_from_settings(PrometheusSettings(profiles=["otel"]))
    bad = PrometheusSettings(profiles=["mine"], custom_profiles={"mine": {"signals": []}})
    with pytest.raises(ConfigError, match=r"custom_profiles\.mine: signals: expected a mapping"):
        profiles_from_settings(bad)
    with pytest.raises(ConfigError, match="edges: 'a-b' is not `caller->callee`"):
        topology_from_settings(PrometheusSettings(topology="config", edges=["a-b"]))


def test_custom_profile_names_must_be_safe_label_values() -> None:
    with pytest.raises(ValueError, match="profile name"):
        custom_profile('x", "y', {})
