"""The built-in scenarios end to end: the healer against the simulated cluster.

Each fault must be detected, traced to the right service and cause, fixed with the
right playbook and verified recovered; the fault-free soak must open nothing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from healer.bench.run import Run, run_scenario
from healer.bootstrap import build_simulated, scenario_from
from healer.config import Settings
from healer.domain.model import EventKind

pytestmark = pytest.mark.slow

FAULTS = {
    "cpu-saturation": ("scale", "cpu_saturation"),
    "pool-exhaustion": ("tune_pool", "pool_exhaustion"),
    "bad-deploy": ("rollback", "bad_deploy"),
    "slow-dependency": ("scale", "slow_dependency"),
}


def run(name: str, tmp_path: Path) -> Run:
    scenario = scenario_from(name)
    runtime = build_simulated(Settings(), scenario, store_url=f"sqlite:///{tmp_path}/h.db")
    return run_scenario(scenario, runtime)


@pytest.mark.parametrize("name", sorted(FAULTS))
def test_fault_is_found_fixed_and_verified(name: str, tmp_path: Path) -> None:
    playbook, cause = FAULTS[name]
    result = run(name, tmp_path)
    record: dict[str, Any] = result.record
    expected = record["expected"]
    assert record["detected"], record
    assert record["diagnosis"] == {"service": expected["service"], "cause": cause}, record
    assert record["root_cause_at1"] and record["cause_at1"]
    assert record["playbook"] == playbook
    assert record["mitigated"], record
    assert 0 <= record["ttd_s"] <= 600, "detected within ten simulated minutes"
    assert record["ttm_s"] > record["ttd_s"]
    assert record["false_incidents"] == 0
    assert record["unsafe_actions"] == 0
    [incident] = [
        i for i in result.incidents if i.diagnosis and i.diagnosis.root.name == expected["service"]
    ]
    kinds = [e.kind for e in result.events[incident.id]]
    order = [
        EventKind.DETECTED,
        EventKind.DIAGNOSED,
        EventKind.PLANNED,
        EventKind.DECIDED,
        EventKind.ACTION_SUCCEEDED,
        EventKind.RECOVERED,
        EventKind.RESOLVED,
    ]
    assert [k for k in kinds if k in order] == order or all(k in kinds for k in order)
    positions = [kinds.index(k) for k in order]
    assert positions == sorted(positions), kinds


def test_fault_free_soak_opens_no_incident(tmp_path: Path) -> None:
    result = run("steady-state", tmp_path)
    assert result.incidents == [], [i.title for i in result.incidents]
    assert result.record["actions"] == 0
    assert result.record["detected"] is None
