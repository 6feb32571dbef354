from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from healer.domain.model import Cause, ServiceRef
from healer.errors import ScenarioError
from healer.sim import builtin_scenarios, load_scenario, scenario_by_name

GOOD = """\
name: test
seed: 3
duration: 1h30m
tick: 15s
topology: online-boutique
faults:
  - at: 20m
    kind: bad_deploy
    target: cartservice
expect:
  incident: true
  root_cause: {service: cartservice, cause: bad_deploy}
  remediation: [rollback]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "scenario.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(tmp_path: Path, text: str) -> ScenarioError:
    path = write(tmp_path, text)
    with pytest.raises(ScenarioError) as info:
        load_scenario(path)
    assert info.value.path == str(path)
    return info.value


def test_builtin_scenarios_load_with_their_expectations() -> None:
    names = set(builtin_scenarios())
    assert names == {
        "steady-state",
        "cpu-saturation",
        "pool-exhaustion",
        "bad-deploy",
        "slow-dependency",
    }
    expected = {
        "cpu-saturation": (Cause.CPU_SATURATION, ("scale",)),
        "pool-exhaustion": (Cause.POOL_EXHAUSTION, ("tune_pool",)),
        "bad-deploy": (Cause.BAD_DEPLOY, ("rollback",)),
        "slow-dependency": (Cause.SLOW_DEPENDENCY, ("scale",)),
    }
    for name in names:
        scenario = scenario_by_name(name)
        assert scenario.duration == timedelta(hours=3)
        assert scenario.tick == timedelta(seconds=15)
        assert scenario.ticks == 720
        assert len(scenario.topology.services) == 11
        if name == "steady-state":
            assert not scenario.expect.incident and not scenario.faults
            continue
        (incident,) = scenario.expect.incidents
        (fault,) = scenario.faults
        assert (incident.cause, incident.remediation) == expected[name]
        assert incident.service == ServiceRef("boutique", fault.target)
        assert timedelta(minutes=85) <= fault.at <= timedelta(minutes=105)


def test_a_good_file_loads_with_defaults(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, GOOD))
    assert scenario.duration == timedelta(minutes=90)
    (fault,) = scenario.faults
    assert fault.at == timedelta(minutes=20)
    assert fault.params == {"error_rate": 0.25}
    assert scenario.traffic.base_rps == 300
    assert scenario.policy == "auto"


def test_unknown_field_names_its_line(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace("seed: 3", "seed: 3\nseeed: 4"))
    assert (error.line, error.field) == (3, "seeed")
    assert "unknown field" in error.reason


def test_nested_unknown_field(tmp_path: Path) -> None:
    error = refused(
        tmp_path, GOOD.replace("    target: cartservice", "    target: cartservice\n    rmap: 2m")
    )
    assert (error.line, error.field) == (10, "faults[0].rmap")


def test_bad_duration(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace("duration: 1h30m", "duration: 3 hours"))
    assert (error.line, error.field) == (3, "duration")
    assert "expected a duration" in error.reason


def test_bad_fault_time(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace("at: 20m", "at: soon"))
    assert (error.line, error.field) == (7, "faults[0].at")


def test_unknown_fault_kind(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace("kind: bad_deploy", "kind: gremlins"))
    assert (error.line, error.field) == (8, "faults[0].kind")
    assert "unknown fault kind 'gremlins'" in error.reason


def test_unknown_fault_kind_lists_the_simulated_ones(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace("kind: bad_deploy", "kind: disk_full"))
    assert error.field == "faults[0].kind"
    assert "unknown fault kind 'disk_full'" in error.reason
    assert "memory_leak" in error.reason and "latency_injection" in error.reason


def test_unknown_target(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace("target: cartservice", "target: basketservice"))
    assert (error.line, error.field) == (9, "faults[0].target")
    assert "basketservice" in error.reason


def test_unknown_expected_service(tmp_path: Path) -> None:
    text = GOOD.replace("{service: cartservice,", "{service: cart,")
    error = refused(tmp_path, text)
    assert (error.line, error.field) == (12, "expect.root_cause.service")


def test_unknown_cause(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace("cause: bad_deploy}", "cause: gremlins}"))
    assert error.field == "expect.root_cause.cause"


def test_unknown_fault_param(tmp_path: Path) -> None:
    text = GOOD.replace("    target: cartservice", "    target: cartservice\n    params: {rate: 2}")
    error = refused(tmp_path, text)
    assert (error.line, error.field) == (10, "faults[0].params.rate")
    assert error.reason == "unknown parameter"


def test_pool_fault_needs_a_pool(tmp_path: Path) -> None:
    text = GOOD.replace("kind: bad_deploy", "kind: pool_exhaustion")
    error = refused(tmp_path, text)
    assert error.field == "faults[0].params"
    assert "no connection pool" in error.reason


def test_unknown_topology(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace("online-boutique", "pet-store"))
    assert (error.line, error.field) == (5, "topology")
    assert "sock-shop" in error.reason and "train-ticket" in error.reason


def test_fault_after_the_end(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace("at: 20m", "at: 2h"))
    assert error.field == "faults[0].at"


def test_syntax_error_names_its_line(tmp_path: Path) -> None:
    error = refused(tmp_path, GOOD.replace("tick: 15s", "tick: [15s"))
    assert error.field == "<syntax>"
    assert error.line is not None


INLINE = """\
name: inline
duration: 30m
services:
  - name: api
    traffic_share: 1
    calls: {worker: 2}
  - name: worker
    language: python
    pool: {database: main, size: 4, hold_ms: 20}
databases:
  - {name: main, max_connections: 20}
faults:
  - {at: 10m, kind: pool_exhaustion, target: worker, params: {pool_size: 1}}
expect:
  root_cause: {service: worker, cause: pool_exhaustion}
  remediation: [tune_pool]
"""


def test_inline_services(tmp_path: Path) -> None:
    scenario = load_scenario(write(tmp_path, INLINE))
    topology = scenario.topology
    assert topology.order == ("api", "worker")
    assert topology.service("worker").pool is not None
    assert scenario.expect.incident
    assert scenario.ref("worker") == ServiceRef("default", "worker")


def test_inline_unknown_callee(tmp_path: Path) -> None:
    error = refused(tmp_path, INLINE.replace("calls: {worker: 2}", "calls: {wrker: 2}"))
    assert (error.line, error.field) == (6, "services[0].calls.wrker")


def test_inline_cycle(tmp_path: Path) -> None:
    text = INLINE.replace("    language: python", "    language: python\n    calls: {api: 1}")
    error = refused(tmp_path, text)
    assert error.field == "services"
    assert "cycle" in error.reason


def test_topology_and_services_are_exclusive(tmp_path: Path) -> None:
    error = refused(tmp_path, INLINE.replace("duration: 30m", "duration: 30m\ntopology: chain-3"))
    assert error.field == "topology"


def test_several_expected_incidents(tmp_path: Path) -> None:
    text = GOOD.replace(
        "expect:\n  incident: true\n  root_cause: {service: cartservice, cause: bad_deploy}\n"
        "  remediation: [rollback]\n",
        "expect:\n  incidents:\n"
        "    - {root_cause: {service: cartservice, cause: bad_deploy}, remediation: [rollback]}\n"
        "    - {root_cause: {service: adservice, cause: cpu_saturation}, remediation: [scale]}\n",
    )
    scenario = load_scenario(write(tmp_path, text))
    assert [i.service.name for i in scenario.expect.incidents] == ["cartservice", "adservice"]


def test_generated_topologies(tmp_path: Path) -> None:
    chain = load_scenario(
        write(tmp_path, GOOD.replace("online-boutique", "chain-4").replace("cartservice", "svc-3"))
    )
    assert chain.topology.order == ("svc-0", "svc-1", "svc-2", "svc-3")
    fanout = load_scenario(
        write(
            tmp_path,
            GOOD.replace("online-boutique", "fanout-5").replace("cartservice", "backend-2"),
        )
    )
    assert len(fanout.topology.services) == 6


def test_scenario_by_name_unknown() -> None:
    with pytest.raises(ScenarioError) as info:
        scenario_by_name("no-such-scenario")
    assert "steady-state" in info.value.reason
