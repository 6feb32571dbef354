"""The later fault kinds end to end: each is traced to the service and cause its
scenario file names, and mitigated by an expected playbook, or left to people where
nothing in the cluster cures it."""

from __future__ import annotations

from pathlib import Path

import pytest

from healer.bench.run import run_scenario
from healer.bootstrap import build_simulated
from healer.config import Settings
from healer.sim import load_scenario
from healer.sim.scenario import SCENARIO_DIR

pytestmark = pytest.mark.slow

SCENARIOS = sorted((SCENARIO_DIR / "more").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=lambda p: p.stem)
def test_the_right_root_cause_and_an_honest_outcome(path: Path, tmp_path: Path) -> None:
    scenario = load_scenario(path)
    runtime = build_simulated(Settings(), scenario, store_url=f"sqlite:///{tmp_path}/h.db")
    record = run_scenario(scenario, runtime, baselines=False).record
    assert record["detected"], record
    assert record["unsafe_actions"] == 0
    assert record["root_cause_at1"], record["diagnosis"]
    expected = record["expected"]["remediation"]
    if expected:
        assert record["playbook"] in expected and record["mitigated"], record
    else:
        assert not record["mitigated"], "nothing in the cluster cures it: escalated"
