"""The baselines' rules answered by a real Prometheus, against our evaluation of them.

A small simulated cluster runs 100 minutes (injected latency, then a bad deploy; two
container restarts reset counters, missed scrapes leave gaps) with its start shifted
five hours into the past; its HTTP histogram is backfilled with
`promtool tsdb create-blocks-from openmetrics`, and each rule's expression is asked with
`query_range` at the rules' evaluation steps. Our values must be Prometheus's, and the
`for:` clause run over Prometheus's answers must fire when ours does.
"""

from __future__ import annotations

import itertools
import json
import math
import subprocess
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from healer.bench.baselines import baseline_rules, from_history
from healer.bench.openmetrics import Labels, Recorder
from healer.bench.promserver import PrometheusFactory, PrometheusServer
from healer.bench.rules import AlertRule, Context, Expr, error_ratio, evaluate, fire, p99, rule_file
from healer.sim.scenario import load_scenario
from healer.sim.simulation import Simulation

pytestmark = pytest.mark.slow

STEP = 15.0
SCENARIO = """\
name: rules-against-prometheus
seed: 11
duration: 100m
tick: 15s
traffic: {base_rps: 60, diurnal_amplitude: 0.0, weekly_amplitude: 0.0, noise: 0.05}
realism: {restarts_per_day: 60, missed_scrapes: 0.01}
services:
  - name: web
    traffic_share: 1
    calls: {cart: 1, catalog: 1}
  - name: cart
  - name: catalog
faults:
  - {at: 62m, kind: latency_injection, target: catalog, params: {delay_ms: 250}}
  - {at: 75m, kind: bad_deploy, target: cart, params: {error_rate: 0.3}}
"""


@pytest.fixture(scope="module")
def backfilled(
    prometheus: PrometheusFactory, tmp_path_factory: pytest.TempPathFactory
) -> tuple[PrometheusServer, Context, list[float], dict[str, list[AlertRule]]]:
    """The run's history in our evaluator and in a real Prometheus, and the rules."""
    folder = tmp_path_factory.mktemp("rules")
    path = folder / "scenario.yaml"
    path.write_text(SCENARIO)
    start = (time.time() // STEP) * STEP - 5 * 3600  # why: backfill must be past the head block
    simulation = Simulation(load_scenario(path), start=datetime.fromtimestamp(start, UTC))
    recorder = Recorder(simulation.cluster)
    times = []
    while not simulation.finished:
        times.append(simulation.advance().timestamp())
        recorder.capture()
        if len(times) in (100, 180):  # why: counters that reset must be read as Prometheus does
            simulation.cluster.restart_pod(simulation.scenario.ref("web"))
            simulation.cluster.restart_pod(simulation.scenario.ref("cart"), 1)
    data = folder / "data"
    prometheus.backfill(recorder.history.openmetrics(), data)
    server = prometheus.start(data_dir=data)
    ctx = Context(recorder.history)
    return server, ctx, times, baseline_rules(ctx, times)


def query_range(
    server: PrometheusServer, expr: Expr, times: list[float]
) -> dict[Labels, dict[float, float]]:
    """Prometheus's answer at each evaluation step, per series."""
    params = {"query": expr.promql(), "start": times[0], "end": times[-1], "step": STEP}
    url = f"{server.url}/api/v1/query_range?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=60) as answer:
        body: dict[str, Any] = json.load(answer)
    assert body["status"] == "success", body
    return {
        tuple(sorted(item["metric"].items())): {float(t): float(v) for t, v in item["values"]}
        for item in body["data"]["result"]
    }


def ours(ctx: Context, expr: Expr, times: list[float]) -> dict[Labels, dict[float, float]]:
    out: dict[Labels, dict[float, float]] = {}
    for t in times:
        for labels, value in expr.at(ctx, t).items():
            out.setdefault(labels, {})[t] = value
    return out


def assert_same_values(
    mine: dict[Labels, dict[float, float]], theirs: dict[Labels, dict[float, float]]
) -> None:
    assert mine.keys() == theirs.keys()
    for labels, steps in mine.items():
        assert steps.keys() == theirs[labels].keys(), labels
        for t, value in steps.items():
            other = theirs[labels][t]
            same = (math.isnan(value) and math.isnan(other)) or math.isclose(
                value, other, rel_tol=1e-9, abs_tol=1e-12
            )
            assert same, (labels, t, value, other)


def dropped(values: list[float] | list[int], by: float) -> bool:
    """Whether any value is more than `by` below the one before it."""
    return any(b < a - by for a, b in itertools.pairwise(values))


def test_rule_expressions_are_prometheus_answers(backfilled: Any) -> None:
    server, ctx, times, _ = backfilled
    series = ctx.history.series.values()
    assert any(dropped(s.values, 0.0) for s in series)  # counters that reset
    assert any(dropped([-t for t in s.times], 20_000) for s in series)  # scrapes missed
    for expr in (p99(), error_ratio(300.0), error_ratio(1800.0), error_ratio(3600.0)):
        assert_same_values(ours(ctx, expr, times), query_range(server, expr, times))


def test_alerts_fire_when_prometheus_would_fire_them(backfilled: Any) -> None:
    server, ctx, times, groups = backfilled
    fired = 0
    for rules in groups.values():
        for rule in rules:
            answers = query_range(server, rule.expr, times)
            theirs = fire(rule, ((t, {k for k, v in answers.items() if t in v}) for t in times))
            mine = evaluate([rule], ctx, times)
            assert [f.labels for f in mine] == [f.labels for f in theirs], rule.name
            for a, b in zip(mine, theirs, strict=True):
                assert abs(a.at - b.at) <= STEP, (rule.name, a, b)  # within one evaluation step
            fired += len(mine)
    assert fired >= 5  # why: the faults must have made the comparison about something


def test_the_faults_are_what_the_rules_catch(backfilled: Any) -> None:
    _, ctx, times, _ = backfilled
    stamps = [datetime.fromtimestamp(t, UTC) for t in times]
    alerts = from_history(ctx.history, stamps)
    start = times[0] - STEP
    assert {a.service for a in alerts["static_rule"]} >= {"catalog", "cart"}
    assert all(a.at.timestamp() >= start + 62 * 60 for a in alerts["static_rule"])
    assert {a.service for a in alerts["burn_rate"]} == {"cart", "web"}  # web calls cart
    assert all(a.at.timestamp() >= start + 75 * 60 for a in alerts["burn_rate"])


def test_the_rule_file_loads_in_promtool(
    prometheus: PrometheusFactory, backfilled: Any, tmp_path: Path
) -> None:
    _, _, _, groups = backfilled
    path = tmp_path / "rules.yml"
    path.write_text(rule_file(groups, STEP))
    checked = subprocess.run(
        [str(prometheus.binaries.promtool), "check", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
