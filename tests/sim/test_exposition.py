"""The Prometheus exposition of the simulated cluster: format, labels, and numbers that
agree with the in-process PromQL (`SimMetrics`) over the same window."""

from __future__ import annotations

import dataclasses
import itertools
import math
import re
from collections import defaultdict
from collections.abc import Iterable
from datetime import timedelta

import pytest

from healer.domain.model import Signal
from healer.sim import SimMetrics, Simulation, scenario_by_name
from healer.sim import telemetry as t
from healer.sim.exposition import FAMILIES, HTTP, Exposition
from healer.sim.promql import histogram_quantile
from healer.sim.serve import REALTIME_DIR as REALTIME

Labels = frozenset[tuple[str, str]]
Samples = dict[str, dict[Labels, float]]  # sample name → labels → value

_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)\{(.*)\} (\S+)$")
_PAIR = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"(,|$)')
_SUFFIXES = {"histogram": ("_bucket", "_sum", "_count"), "counter": ("",), "gauge": ("",)}
PER_POD = {
    name
    for name in FAMILIES
    if not name.startswith(("pg_", "traces_", "kube_deployment"))
}  # fmt: skip


def parse(text: str) -> tuple[Samples, dict[str, str]]:
    """A strict reading of format 0.0.4: HELP then TYPE, then that family's samples only."""
    samples: Samples = defaultdict(dict)
    types: dict[str, str] = {}
    family, kind = "", ""
    lines = text.splitlines()
    assert text.endswith("\n")
    for i, line in enumerate(lines):
        if line.startswith("# HELP "):
            family = line.split(" ")[2]
            assert family not in types, f"{family} written twice"
            assert lines[i + 1].startswith(f"# TYPE {family} ")
            continue
        if line.startswith("# TYPE "):
            kind = line.split(" ")[3]
            types[family] = kind
            continue
        match = _SAMPLE.match(line)
        assert match, line
        name, pairs, value = match.groups()
        assert name in {family + s for s in _SUFFIXES[kind]}, (family, line)
        labels = frozenset((k, v) for k, v, _ in _PAIR.findall(pairs))
        assert ",".join(f'{k}="{v}"' for k, v, _ in _PAIR.findall(pairs)) == pairs, line
        assert labels not in samples[name], f"duplicate series {line}"
        samples[name][labels] = float(value)
    return samples, types


def fresh(name: str, minutes: float, **realism: float) -> Simulation:
    scenario = scenario_by_name(name)
    calm = {"missed_scrapes": 0.0, "restarts_per_day": 0.0, "deploys_per_day": 0.0} | realism
    scenario = dataclasses.replace(scenario, realism=dataclasses.replace(scenario.realism, **calm))
    sim = Simulation(scenario)
    sim.run_until(sim.start + timedelta(minutes=minutes))
    return sim


def by(samples: dict[Labels, float], *names: str, where: Iterable[tuple[str, str]] = ()):
    """sum by (names) over the series that carry every label of `where`."""
    out: dict[tuple[str, ...], float] = defaultdict(float)
    for labels, value in samples.items():
        if set(where) <= labels:
            found = dict(labels)
            out[tuple(found[n] for n in names)] += value
    return out


# --- format ---


def test_parses_with_the_prometheus_client_parser() -> None:
    parser = pytest.importorskip("prometheus_client.parser")
    sim = fresh("pool-exhaustion", 100)
    sim.cluster.restart_pod(sim.cluster.deployments["cartservice"].ref)
    sim.advance()  # why: a last termination reason exists only once a container has ended
    text = Exposition(sim.cluster).render()
    families = {f.name: f for f in parser.text_string_to_metric_families(text)}
    assert families["http_server_request_duration_seconds"].type == "histogram"
    assert families["container_cpu_usage_seconds"].type == "counter"
    assert families["hikaricp_connections_active"].type == "gauge"
    assert families["traces_service_graph_request"].type == "counter"
    assert len(families) == len(FAMILIES)
    buckets = [
        s
        for s in families[HTTP].samples
        if s.name.endswith("_bucket") and s.labels["service"] == "checkoutservice"
    ]
    assert {s.labels["le"] for s in buckets} >= {"0.005", "1.0", "+Inf"}


def test_every_family_has_help_and_type_and_strict_syntax() -> None:
    sim = fresh("steady-state", 5)
    sim.cluster.restart_pod(sim.cluster.deployments["cartservice"].ref)
    sim.advance()  # why: a last termination reason exists only once a container has ended
    samples, types = parse(Exposition(sim.cluster).render())
    assert types == {name: kind for name, (kind, _) in FAMILIES.items()}
    assert samples  # and `parse` checked every line


def test_every_pod_series_names_namespace_service_and_pod() -> None:
    sim = fresh("steady-state", 5)
    samples, _ = parse(Exposition(sim.cluster).render())
    pods = {
        (d.spec.namespace, n, p.name) for n, d in sim.cluster.deployments.items() for p in d.pods
    }
    for name, series in samples.items():
        if name.removesuffix("_bucket").removesuffix("_sum").removesuffix("_count") in PER_POD:
            for labels in series:
                found = dict(labels)
                assert (found["namespace"], found["service"], found["pod"]) in pods, name
    replicas = by(samples["kube_deployment_status_replicas_available"], "deployment")
    assert replicas == {(n,): float(len(d.pods)) for n, d in sim.cluster.deployments.items()}


def test_before_the_first_tick_there_is_no_traffic_yet() -> None:
    sim = Simulation(scenario_by_name("steady-state"))
    samples, _ = parse(Exposition(sim.cluster).render())
    assert f"{HTTP}_count" not in samples
    assert set(samples["container_cpu_usage_seconds_total"].values()) == {0.0}
    assert samples["pg_settings_max_connections"]


# --- histograms ---


def test_histograms_are_cumulative_and_count_equals_the_inf_bucket() -> None:
    sim = fresh("pool-exhaustion", 100)
    samples, _ = parse(Exposition(sim.cluster).render())
    buckets: dict[Labels, list[tuple[float, float]]] = defaultdict(list)
    for labels, value in samples[f"{HTTP}_bucket"].items():
        le = dict(labels)["le"]
        buckets[labels - {("le", le)}].append((float(le), value))
    assert buckets.keys() == samples[f"{HTTP}_count"].keys() == samples[f"{HTTP}_sum"].keys()
    for series, points in buckets.items():
        counts = [v for _, v in sorted(points)]
        assert len(counts) == len(t.BUCKETS)
        assert all(a <= b for a, b in itertools.pairwise(counts)), series
        assert counts[-1] == samples[f"{HTTP}_count"][series]
        assert samples[f"{HTTP}_sum"][series] >= 0
    codes = {dict(s)["http_response_status_code"] for s in buckets}
    assert {"200", "500"} <= codes  # the exhausted pool fails checkout


def test_counts_per_code_are_the_pods_own_counters() -> None:
    sim = fresh("bad-deploy", 100)
    samples, _ = parse(Exposition(sim.cluster).render())
    counts = by(samples[f"{HTTP}_count"], "pod", "http_response_status_code")
    for dep in sim.cluster.deployments.values():
        for pod in dep.pods:
            for code, slot in t.REQ.items():
                assert counts.get((pod.name, str(code)), 0.0) == pod.counters[slot]


def test_counters_only_grow_while_no_pod_restarts() -> None:
    sim = fresh("steady-state", 3)
    exposition = Exposition(sim.cluster)
    before, _ = parse(exposition.render())
    for _ in range(3):
        sim.advance()
        after, _ = parse(exposition.render())
        for name, series in after.items():
            if FAMILIES.get(name.removesuffix("_bucket"), ("",))[0] == "counter" or name.startswith(
                HTTP
            ):
                for labels, value in series.items():
                    assert value >= before.get(name, {}).get(labels, 0.0), (name, labels)
        before = after


def test_a_late_exposition_catches_up_to_the_same_counts() -> None:
    sim = fresh("steady-state", 2)
    early = Exposition(sim.cluster)
    early.render()
    sim.run_until(sim.start + timedelta(minutes=6))
    late = Exposition(sim.cluster)
    a, _ = parse(early.render())
    b, _ = parse(late.render())
    assert a[f"{HTTP}_count"] == b[f"{HTTP}_count"]
    assert (
        a["traces_service_graph_request_total"].keys()
        == b["traces_service_graph_request_total"].keys()
    )


# --- the numbers agree with the in-process PromQL ---


def _rates(first: Samples, second: Samples, name: str, span: float) -> dict[Labels, float]:
    return {k: (v - first[name].get(k, 0.0)) / span for k, v in second[name].items()}


@pytest.mark.parametrize(
    ("name", "at_min", "minutes"),
    [("pool-exhaustion", 97, 5), (str(REALTIME / "pool-exhaustion-rt.yaml"), 3.5, 2)],
)
def test_rates_from_two_renders_agree_with_sim_metrics(
    name: str, at_min: float, minutes: float
) -> None:
    sim = fresh(name, at_min)
    exposition = Exposition(sim.cluster)
    first, _ = parse(exposition.render())
    t1 = sim.clock.now()
    sim.run_until(t1 + timedelta(minutes=minutes))
    second, _ = parse(exposition.render())
    t2 = sim.clock.now()
    span = (t2 - t1).total_seconds()
    # why the extra 0.9 s: the scrape taken at t1 lies up to 0.8 s before t1
    window = timedelta(seconds=span + 0.9)
    snap = SimMetrics(sim.cluster, window=window).snapshot(t2)

    counts = _rates(first, second, f"{HTTP}_count", span)
    buckets = _rates(first, second, f"{HTTP}_bucket", span)
    cpu = by(_rates(first, second, "container_cpu_usage_seconds_total", span), "service")
    limits = by(
        second["kube_pod_container_resource_limits"], "service", where={("resource", "cpu")}
    )
    periods = by(_rates(first, second, "container_cpu_cfs_periods_total", span), "service")
    throttled = by(
        _rates(first, second, "container_cpu_cfs_throttled_periods_total", span), "service"
    )
    for dep in sim.cluster.deployments.values():
        name, values = dep.spec.name, snap.services[dep.ref]
        mine = {("service", name)}
        total = sum(by(counts, "service", where=mine).values())
        assert total == pytest.approx(values[Signal.REQUEST_RATE], rel=0.01), name
        errors = sum(
            v for (code,), v in by(counts, "http_response_status_code", where=mine).items()
            if code.startswith("5")
        )  # fmt: skip
        assert errors / total == pytest.approx(values[Signal.ERROR_RATIO], abs=1e-4), name
        per_le = by(buckets, "le", where=mine)
        cumulative = [
            per_le[(le,)] for le in ("+Inf" if math.isinf(b) else repr(b) for b in t.BUCKETS)
        ]
        p99 = histogram_quantile(0.99, cumulative)
        assert p99 == pytest.approx(values[Signal.LATENCY_P99], rel=0.02), name
        assert cpu[(name,)] / limits[(name,)] == pytest.approx(
            values[Signal.CPU_UTILISATION], rel=0.01
        )
        assert throttled[(name,)] / periods[(name,)] == pytest.approx(
            values[Signal.CPU_THROTTLING], rel=0.01, abs=1e-6
        )
    checkout = sim.scenario.ref("checkoutservice")
    assert snap.value(checkout, Signal.ERROR_RATIO) > 0.05  # the window holds the fault


def test_pool_gauges_and_database_stats_agree_with_sim_metrics() -> None:
    sim = fresh("pool-exhaustion", 100)
    samples, _ = parse(Exposition(sim.cluster).render())
    snap = SimMetrics(sim.cluster).snapshot(sim.clock.now())
    checkout = snap.services[sim.scenario.ref("checkoutservice")]
    assert sum(samples["hikaricp_connections_active"].values()) == checkout[Signal.POOL_USED]
    assert sum(samples["hikaricp_connections_max"].values()) == checkout[Signal.POOL_MAX] == 3
    assert sum(samples["hikaricp_connections_pending"].values()) == checkout[Signal.POOL_PENDING]
    assert checkout[Signal.POOL_PENDING] > 0
    recs = snap.services[sim.scenario.ref("recommendationservice")]
    used = by(samples["db_client_connection_count"], "state")
    assert used[("used",)] == recs[Signal.POOL_USED]
    assert sum(samples["db_client_connection_max"].values()) == recs[Signal.POOL_MAX]
    assert {dict(s)["service"] for s in samples["hikaricp_connections_active"]} == {
        "checkoutservice"
    }
    assert {dict(s)["service"] for s in samples["db_client_connection_max"]} == {
        "recommendationservice"
    }
    connections = by(samples["pg_stat_activity_count"], "server")
    limits = by(samples["pg_settings_max_connections"], "server")
    for name, stats in snap.databases.items():
        assert connections[(name,)] == stats.connections
        assert limits[(name,)] == stats.max_connections


def test_service_graph_counts_calls_along_the_edges() -> None:
    sim = fresh("steady-state", 10)
    exposition = Exposition(sim.cluster)
    first, _ = parse(exposition.render())
    t1 = sim.clock.now()
    sim.run_until(t1 + timedelta(minutes=5))
    second, _ = parse(exposition.render())
    span = (sim.clock.now() - t1).total_seconds()
    calls = by(
        _rates(first, second, "traces_service_graph_request_total", span), "client", "server"
    )
    edges = {(e.caller, e.callee): e.calls for e in sim.scenario.topology.edges}
    assert set(calls) == set(edges)
    served = by(_rates(first, second, f"{HTTP}_count", span), "service")
    for (client, server), per_request in edges.items():
        expected = served[(client,)] * per_request
        assert calls[(client, server)] == pytest.approx(expected, rel=0.03), (client, server)


# --- restarts and missed scrapes ---


def test_a_restart_shows_as_a_counter_reset() -> None:
    sim = fresh("steady-state", 10)
    exposition = Exposition(sim.cluster)
    cart = sim.scenario.ref("cartservice")
    restarted = sim.cluster.deployment(cart).pods[0].name
    before, _ = parse(exposition.render())
    sim.cluster.restart_pod(cart, 0)
    sim.advance()
    after, _ = parse(exposition.render())
    for name in (f"{HTTP}_count", "container_cpu_usage_seconds_total"):
        for labels, value in after[name].items():
            pod = dict(labels)["pod"]
            if dict(labels)["service"] != "cartservice" or value == 0:
                continue
            was = before[name].get(labels, 0.0)
            assert (value < was) == (pod == restarted), (name, pod)
    # a Prometheus rate() across the reset, as SimMetrics computes it, never goes negative
    sim.run_until(sim.clock.now() + timedelta(minutes=1))
    rate = SimMetrics(sim.cluster).snapshot(sim.clock.now()).value(cart, Signal.REQUEST_RATE)
    assert rate is not None and rate > 0


def test_a_missed_scrape_leaves_the_service_out() -> None:
    sim = fresh("steady-state", 1, missed_scrapes=0.3)
    exposition = Exposition(sim.cluster)
    for _ in range(20):
        sim.advance()
        present = set(sim.cluster.scrapes.scrapes[-1].services)
        if present != set(sim.cluster.deployments):
            break
    samples, _ = parse(exposition.render())
    for name in (f"{HTTP}_count", "container_cpu_usage_seconds_total"):
        assert {dict(s)["service"] for s in samples[name]} <= present
    missing = set(sim.cluster.deployments) - present
    assert missing
    services = {dict(s)["service"] for s in samples["kube_deployment_status_replicas_available"]}
    assert services == present
    assert samples["pg_settings_max_connections"]  # postgres_exporter is not the service
