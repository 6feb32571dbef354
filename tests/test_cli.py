"""The command line: the demo's JSON record, the store it leaves, refused files, the daemon."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from healer.cli import app

runner = CliRunner()


@pytest.fixture
def store(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path}/cli.db"


@pytest.mark.slow
def test_demo_json_record_then_incidents_list(store: str) -> None:
    result = runner.invoke(app, ["demo", "--scenario", "bad-deploy", "--json", "--store", store])
    assert result.exit_code == 0, result.output
    record = json.loads(result.stdout)
    for key in (
        "name",
        "detected",
        "ttd_s",
        "root_cause_at1",
        "root_cause_at3",
        "cause_at1",
        "playbook",
        "mitigated",
        "ttm_s",
        "false_incidents",
        "unsafe_actions",
        "actions",
        "baselines",
    ):
        assert key in record
    assert record["name"] == "bad-deploy" and record["playbook"] == "rollback"
    assert set(record["baselines"]) == {"static_rule", "burn_rate"}

    listed = runner.invoke(app, ["incidents", "list", "--json", "--store", store])
    assert listed.exit_code == 0, listed.output
    [incident] = json.loads(listed.stdout)
    assert incident["root_cause"] == {"service": "cartservice", "cause": "bad_deploy"}
    playbooks = runner.invoke(app, ["playbooks", "list", "--store", store])
    assert playbooks.exit_code == 0, playbooks.output
    assert "track record: rollback resolved 1 of 1 bad_deploy incidents" in playbooks.output
    assert incident["status"] == "resolved"

    shown = runner.invoke(app, ["incidents", "show", incident["id"], "--json", "--store", store])
    kinds = [e["kind"] for e in json.loads(shown.stdout)["timeline"]]
    assert kinds[0] == "detected" and kinds[-1] == "resolved"


def test_a_malformed_config_is_refused_with_file_line_and_field(tmp_path: Path) -> None:
    config = tmp_path / "healer.yaml"
    config.write_text("poll:\n  interval: 15\n  intervall: 5\n")
    result = subprocess.run(
        [sys.executable, "-m", "healer", "run", "--config", str(config)],
        check=False,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert f"{config}:3" in result.stderr and "poll.intervall" in result.stderr


def test_unknown_incident_is_an_error(store: str) -> None:
    result = runner.invoke(app, ["incidents", "show", "inc-nope", "--store", store])
    assert result.exit_code == 1


def test_daemon_runs_polls_against_the_simulated_cluster(tmp_path: Path) -> None:
    config = tmp_path / "healer.yaml"
    config.write_text(
        f"store: {{url: 'sqlite:///{tmp_path}/d.db'}}\n"
        "sources: {sim: {scenario: steady-state, speed: 0}}\n"
        f"paths: {{policy: '{Path(__file__).parents[1] / 'examples' / 'policy.yaml'}'}}\n"
    )
    result = subprocess.run(
        [sys.executable, "-m", "healer", "run", "--config", str(config), "--polls", "5"],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert "stopped after 5 polls" in result.stderr
