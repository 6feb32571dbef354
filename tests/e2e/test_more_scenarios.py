"""The later fault kinds end to end: each is traced to the service and cause its
scenario file names, and only an expected playbook (or none) is run against it."""

from __future__ import annotations

from pathlib import Path

import pytest

from healer.bench.run import run_scenario
from healer.bootstrap import build_simulated
from healer.config import Settings
from healer.sim import load_scenario
from healer.sim.scenario import SCENARIO_DIR

pytestmark = pytest.mark.slow

# Where the healer does not get it right yet; each with the reason, kept honest here
# rather than left out of the suite.
KNOWN_MISSES = {
    # the surge is first seen as one slow service, before several run hot together:
    # without a request-rate baseline the entry's extra traffic is not yet evidence
    "traffic-surge.yaml": "root cause",
}


SCENARIOS = [
    pytest.param(
        path,
        id=path.stem,
        marks=[pytest.mark.xfail(reason=KNOWN_MISSES[path.name], strict=True)]
        if path.name in KNOWN_MISSES
        else [],
    )
    for path in sorted((SCENARIO_DIR / "more").glob("*.yaml"))
]


@pytest.mark.parametrize("path", SCENARIOS)
def test_the_right_root_cause_and_no_wrong_playbook(path: Path, tmp_path: Path) -> None:
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
