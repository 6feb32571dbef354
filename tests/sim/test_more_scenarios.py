"""Scenario files with the later fault kinds load, and their mistakes are refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from healer.domain.model import Cause
from healer.errors import ScenarioError
from healer.sim import load_scenario
from healer.sim.scenario import SCENARIO_DIR

MORE = SCENARIO_DIR / "more"


def test_more_scenarios_load_with_their_kinds() -> None:
    causes = {}
    for path in sorted(MORE.glob("*.yaml")):
        scenario = load_scenario(path)
        assert scenario.expect.incident, path.name
        (expected,) = scenario.expect.incidents
        assert expected.service == scenario.ref(scenario.faults[0].target), path.name
        causes.setdefault(scenario.faults[0].kind, set()).add(expected.cause)
    assert causes == {
        "traffic_surge": {Cause.TRAFFIC_SURGE},
        "db_max_connections": {Cause.DB_MAX_CONNECTIONS},
        "dependency_errors": {Cause.DEPENDENCY_ERRORS},
        "memory_leak": {Cause.MEMORY_LEAK},
        "latency_injection": {Cause.SLOW_DEPENDENCY},
    }


def test_defaults_are_filled_in() -> None:
    scenario = load_scenario(MORE / "dependency-errors.yaml")
    assert scenario.faults[0].params == {
        "error_rate": 0.3,
        "status": 500,
        "api": "api.payments-provider.example",
    }


FAULT = """\
name: test
duration: 1h
topology: online-boutique
faults:
  - at: 20m
    kind: {kind}
    target: {target}
{extra}expect:
  incident: false
"""


def refused(tmp_path: Path, kind: str, target: str, extra: str = "") -> ScenarioError:
    path = tmp_path / "scenario.yaml"
    path.write_text(FAULT.format(kind=kind, target=target, extra=extra), encoding="utf-8")
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    return info.value


def test_a_surge_must_enter_where_traffic_enters(tmp_path: Path) -> None:
    error = refused(tmp_path, "traffic_surge", "cartservice")
    assert error.field == "faults[0].target"
    assert "no traffic from outside" in error.reason


def test_db_max_connections_needs_a_pool(tmp_path: Path) -> None:
    error = refused(tmp_path, "db_max_connections", "cartservice")
    assert "no connection pool" in error.reason


@pytest.mark.parametrize("kind", ["memory_leak", "db_max_connections"])
def test_persistent_faults_cannot_come_and_go(tmp_path: Path, kind: str) -> None:
    extra = "    duration: 5m\n    every: 10m\n"
    error = refused(tmp_path, kind, "checkoutservice", extra)
    assert error.field == "faults[0].every"


def test_a_leak_does_not_ramp(tmp_path: Path) -> None:
    error = refused(tmp_path, "memory_leak", "cartservice", "    ramp: 5m\n")
    assert error.field == "faults[0].ramp"


@pytest.mark.parametrize(
    ("kind", "params", "field"),
    [
        ("dependency_errors", "{status: 502}", "faults[0].params.status"),
        ("latency_injection", "{delay_ms: 0}", "faults[0].params.delay_ms"),
        ("traffic_surge", "{factor: 0.5}", "faults[0].params.factor"),
        ("memory_leak", "{minutes_to_oom: 1}", "faults[0].params.minutes_to_oom"),
    ],
)
def test_bad_params_are_named(tmp_path: Path, kind: str, params: str, field: str) -> None:
    target = "frontend" if kind == "traffic_surge" else "cartservice"
    error = refused(tmp_path, kind, target, f"    params: {params}\n")
    assert error.field == field


INLINE = """\
name: inline
duration: 1h
services:
  - {name: api, language: java, traffic_share: 1, memory_limit_mb: 1024, calls: {store: 1},
     pool: {database: main, driver: hikaricp, size: 10}}
  - {name: store}
databases:
  - {name: main, max_connections: 151, engine: mysql}
faults:
  - {at: 10m, kind: memory_leak, target: api}
  - {at: 20m, kind: db_max_connections, target: api}
"""


def test_inline_services_take_a_memory_limit_and_a_mysql_database(tmp_path: Path) -> None:
    path = tmp_path / "inline.yaml"
    path.write_text(INLINE, encoding="utf-8")
    scenario = load_scenario(path)
    assert scenario.topology.service("api").memory_limit_mb == 1024
    assert scenario.topology.database("main").engine == "mysql"
    assert [f.kind for f in scenario.faults] == ["memory_leak", "db_max_connections"]
