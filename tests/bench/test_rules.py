"""The baselines' Prometheus rules: PromQL arithmetic worked by hand, and the `for:` clause."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import pytest
import yaml

from healer.bench.baselines import from_history
from healer.bench.openmetrics import History, Recorder, Samples, parse_sample
from healer.bench.rules import (
    AlertRule,
    Context,
    bucket_quantile,
    burn_rate_rule,
    error_ratio,
    extrapolated_rate,
    fire,
    p99,
    rule_file,
    static_rules,
)
from healer.sim.simulation import Simulation

T0 = 1_700_000_000.0
SVC = (("namespace", "shop"), ("service", "checkout"))


def counter(times: list[float], values: list[float]) -> tuple[Samples, list[float]]:
    samples = Samples([round((T0 + t) * 1000) for t in times], values)
    return samples, Context._resets(samples)


def rate(times: list[float], values: list[float], at: float, window: float) -> float | None:
    samples, resets = counter(times, values)
    return extrapolated_rate(samples, resets, T0 + at, window)


def test_rate_extrapolates_to_the_counters_zero_and_the_ranges_end() -> None:
    # 30 over 30 s sampled; the start would reach 10 s back but the counter hits 0 after 5 s,
    # the end is 10 s away (under 1.1 × the 10 s spacing): 45 s covered of a 50 s range
    assert rate([10, 20, 30, 40], [5, 15, 25, 35], at=50, window=50) == pytest.approx(0.9)


def test_rate_adds_back_what_a_reset_lost() -> None:
    assert rate([0, 10, 20, 30], [10, 20, 5, 15], at=30, window=30) == pytest.approx(25 / 30)


def test_rate_extrapolates_half_a_spacing_past_a_gap() -> None:
    # the last sample is 30 s before the range's end: only 5 s (half of 10) is added there
    got = rate([0, 10, 20, 30], [100, 110, 120, 130], at=60, window=60)
    assert got == pytest.approx(30 * (30 + 0 + 5) / 30 / 60)


def test_rate_needs_two_samples_in_a_closed_range() -> None:
    assert rate([0, 10], [1, 2], at=30, window=19) is None  # only t=10 in [11, 30]
    assert rate([0, 10], [1, 2], at=30, window=30) is not None  # t=0 is on the boundary


def test_bucket_quantile_interpolates_inside_its_bucket() -> None:
    buckets = [(0.1, 50.0), (0.5, 90.0), (math.inf, 100.0)]
    assert bucket_quantile(0.5, buckets) == pytest.approx(0.1)
    assert bucket_quantile(0.7, buckets) == pytest.approx(0.3)
    assert bucket_quantile(0.99, buckets) == 0.5  # in +Inf: the highest finite bound


def test_bucket_quantile_lifts_a_dipping_bucket_and_needs_inf() -> None:
    assert bucket_quantile(0.58, [(0.1, 60.0), (0.5, 55.0), (math.inf, 100.0)]) == pytest.approx(
        0.1 * 58 / 60
    )
    assert math.isnan(bucket_quantile(0.5, [(0.1, 1.0), (0.5, 2.0)]))
    assert math.isnan(bucket_quantile(0.5, [(0.1, 0.0), (math.inf, 0.0)]))


def test_rules_read_as_promql() -> None:
    assert error_ratio(300.0).promql() == (
        "(sum by (namespace, service) (rate(http_server_request_duration_seconds_count"
        '{http_response_status_code=~"5.."}[5m]))) / (sum by (namespace, service) '
        "(rate(http_server_request_duration_seconds_count[5m])))"
    )
    assert p99().promql().startswith("histogram_quantile(0.99, sum by (namespace, service, le)")
    burn = burn_rate_rule().expr.promql()
    assert "[1h]" in burn and "[6h]" in burn and "(14.4 * 0.001)" in burn and " or " in burn


def test_rule_file_is_a_prometheus_rule_group() -> None:
    rules = static_rules({SVC: 0.2})
    doc = yaml.safe_load(rule_file({"static": rules}, 15.0))
    group = doc["groups"][0]
    assert group["interval"] == "15s"
    latency = group["rules"][1]
    assert latency["for"] == "5m"
    assert latency["expr"].endswith("> 0.4")
    assert 'namespace="shop",service="checkout"' in latency["expr"]


def test_for_clause_fires_after_holding_at_every_step() -> None:
    rule = AlertRule("x", error_ratio(300.0), hold=60.0)
    steps = [float(t) for t in range(0, 300, 15)]
    present = {15.0, 30.0, 45.0, 90.0, 105.0, 120.0, 135.0, 150.0, 165.0, 240.0, 255.0}
    answers = [(t, {SVC} if t in present else set()) for t in steps]
    # 15–45 never held a minute; 90 went pending, fired at 150 and stays one alert to 165
    assert [f.at for f in fire(rule, answers)] == [150.0]


def test_no_for_clause_fires_at_once_and_again_after_resolving() -> None:
    rule = AlertRule("x", error_ratio(300.0))
    answers = [(0.0, {SVC}), (15.0, {SVC}), (30.0, set()), (45.0, {SVC})]
    assert [f.at for f in fire(rule, answers)] == [0.0, 45.0]


def histogram(h: History, t: float, total: float, errors: float, slow: float) -> None:
    """Cumulative checkout histograms at t: `slow` of the 200s and all 500s above 1 s."""
    for code, count in (("200", total - errors), ("500", errors)):
        labels = {"namespace": "shop", "service": "checkout", "pod": "checkout-0"}
        labels["http_response_status_code"] = code
        fast = count if code == "500" else count * (1 - slow)
        fast = 0.0 if code == "500" else fast
        for le, value in (("0.1", fast), ("1.0", fast), ("+Inf", count)):
            name = "http_server_request_duration_seconds_bucket"
            h.add({"__name__": name, **labels, "le": le}, t, value)
        h.add({"__name__": "http_server_request_duration_seconds_count", **labels}, t, count)


def test_from_history_alerts_on_errors_with_both_baselines() -> None:
    h = History()
    total = errors = 0.0
    times = [T0 + 15 * i for i in range(480)]  # two hours
    for t in times:
        failing = t >= T0 + 90 * 60
        total += 150.0
        errors += 30.0 if failing else 0.0
        histogram(h, t - 0.4, total, errors, 0.0)
    alerts = from_history(h, [datetime.fromtimestamp(t, UTC) for t in times])
    onset = T0 + 90 * 60
    burn = [a.at.timestamp() - onset for a in alerts["burn_rate"]]
    static = [a.at.timestamp() - onset for a in alerts["static_rule"]]
    # 20% errors: the 6h window (only 1.5 h of history) passes 0.6% first, after 11 steps
    assert len(burn) == 1 and burn[0] == 165.0
    # p99 reaches the failing 500s (above 1 s) with the first 1%: HighLatency, 5m later;
    # the 5m ratio passes 5% four steps in: HighErrorRatio, 5m after that
    assert static == [300.0, 360.0]
    assert {a.service for a in alerts["static_rule"]} == {"checkout"}


def test_openmetrics_text_round_trips_a_sample() -> None:
    h = History()
    labels, value = parse_sample('m_bucket{a="x\\"y",le="+Inf"} 12')
    assert labels == {"__name__": "m_bucket", "a": 'x"y', "le": "+Inf"} and value == 12.0
    name = "http_server_request_duration_seconds_count"
    h.add({"__name__": name, "service": "a"}, 1_700_000_000.1234, 3.5)
    text = h.openmetrics()
    assert text.startswith("# TYPE http_server_request_duration_seconds histogram\n")
    assert f'{name}{{service="a"}} 3.5 1700000000.123\n' in text
    assert text.endswith("# EOF\n")


def test_recorder_keeps_the_http_histogram_at_each_scrapes_time() -> None:
    simulation = Simulation.named("bad-deploy")
    recorder = Recorder(simulation.cluster)
    for _ in range(4):
        simulation.advance()
        recorder.capture()
    scraped = [round(s.at * 1000) for s in simulation.cluster.scrapes.scrapes][1:]
    names = {dict(labels)["__name__"] for labels in recorder.history.series}
    assert names == {
        f"http_server_request_duration_seconds_{s}" for s in ("bucket", "count", "sum")
    }
    assert all(
        list(s.times) == scraped for s in recorder.history.series.values() if len(s.times) == 4
    )
