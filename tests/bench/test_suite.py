"""The shipped scenario suite runs through `healer bench scenarios` and its numbers are computed."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from healer.bench.suite import run_files
from healer.bench.summary import summarise
from healer.cli import app
from healer.config import load_settings
from healer.sim.scenario import load_scenario

SUITE = Path(__file__).parents[2] / "bench" / "scenarios"
# Two of the shortest files: a bad release at a chain's entry, a leak in its middle.
SHORT = [SUITE / "chain-10-bad-deploy-entry.yaml", SUITE / "chain-4-memory-leak-middle.yaml"]


def test_suite_files_all_load() -> None:
    files = sorted(SUITE.glob("*.yaml"))
    assert len(files) >= 40
    names = [load_scenario(f).name for f in files]
    assert len(set(names)) == len(names)


def test_bench_scenarios_scores_suite_files() -> None:
    result = CliRunner().invoke(app, ["bench", "scenarios", *map(str, SHORT), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    records = report["scenarios"]
    assert [r["name"] for r in records] == [f.stem for f in SHORT]
    for record in records:
        assert isinstance(record["detected"], bool)
        assert record["ttd_s"] is None or record["ttd_s"] >= 0
        assert record["unsafe_actions"] == 0
        assert set(record["baselines"]) == {"static_rule", "burn_rate"}
    summary = report["summary"]
    assert 0.0 <= summary["recall"] <= 1.0
    assert summary["false_incidents"] == sum(r["false_incidents"] for r in records)
    # the runner's worker processes give the very records the sequential command gives
    assert run_files(SHORT, load_settings(None), jobs=2) == records


def test_summary_counts_each_fault_of_a_scenario() -> None:
    both = {"detected": True, "ttd_s": 30.0, "root_cause_at1": True, "false_incidents": 0}
    missed = {"detected": False, "ttd_s": None, "root_cause_at1": False}
    record = {**both, "faults": [both, missed], "baselines": {}}
    assert summarise([record])["recall"] == 0.5
    assert summarise([record])["rca_at1"] == 0.5
