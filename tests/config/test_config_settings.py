"""Settings: file plus HEALER_* environment, the environment winning; mistakes in
either are refused naming where the bad value came from."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel

from healer.config import Settings, load_settings
from healer.errors import ConfigError

REPO = Path(__file__).resolve().parents[2]

GOOD = """\
store:
  url: sqlite:///tmp/healer.db
sources:
  sim:
    scenario: checkout-pool-exhaustion
    speed: 0
poll:
  interval: 30
detection:
  persistence_polls: 5
  persistence_hits: 4
paths:
  playbooks: ../playbooks
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Settings read HEALER_* variables; the machine's own must not leak into these tests."""
    for name in os.environ:
        if name.upper().startswith("HEALER_"):
            monkeypatch.delenv(name)


def write(folder: Path, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "healer.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: str | None) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_settings(path)
    return caught.value


def test_defaults_without_a_file() -> None:
    settings = load_settings(None)
    assert settings.store.url is None
    assert settings.sources.metrics.kind == "sim"
    assert settings.sources.sim.scenario == "steady-state"
    assert settings.poll.interval == 15
    assert settings.paths.playbooks == REPO / "playbooks"
    assert settings.paths.policy == REPO / "examples" / "policy.yaml"
    assert settings.daemon.leader_election is False


def test_every_setting_says_what_it_is() -> None:
    def undocumented(model: type[BaseModel], prefix: str) -> list[str]:
        missing = []
        for name, info in model.model_fields.items():
            if not info.description:
                missing.append(prefix + name)
            if isinstance(info.annotation, type) and issubclass(info.annotation, BaseModel):
                missing += undocumented(info.annotation, f"{prefix}{name}.")
        return missing

    assert undocumented(Settings, "") == []


def test_the_file_is_read(tmp_path: Path) -> None:
    settings = load_settings(str(write(tmp_path / "conf", GOOD)))
    assert settings.store.url == "sqlite:///tmp/healer.db"
    assert settings.sources.sim.speed == 0
    assert settings.poll.interval == 30
    assert settings.poll.window == 60  # untouched keys keep their defaults
    assert (settings.detection.persistence_hits, settings.detection.persistence_polls) == (4, 5)
    # Relative paths are relative to the file, not to where the healer started.
    assert settings.paths.playbooks == tmp_path / "playbooks"


def test_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALER_POLL__INTERVAL", "5")
    monkeypatch.setenv("HEALER_SOURCES__SIM__SCENARIO", "bad-deploy")
    monkeypatch.setenv("HEALER_DAEMON__LEADER_ELECTION", "true")
    settings = load_settings(str(write(tmp_path, GOOD)))
    assert settings.poll.interval == 5
    assert settings.sources.sim.scenario == "bad-deploy"
    assert settings.sources.sim.speed == 0  # the file's sibling value survives
    assert settings.daemon.leader_election is True


def test_the_file_can_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HEALER_CONFIG", str(write(tmp_path, GOOD)))
    assert load_settings(None).poll.interval == 30


def test_the_shipped_example_loads() -> None:
    settings = load_settings(str(REPO / "examples" / "healer.yaml"))
    assert settings.sources.cluster.kind == "sim"
    assert settings.paths.playbooks.resolve() == REPO / "playbooks"
    assert settings.paths.policy.resolve() == REPO / "examples" / "policy.yaml"


@pytest.mark.parametrize(
    "case",
    [
        ("  interval: 30", "  interval: 30: 40", 8, "<syntax>", "not allowed here"),
        ("  interval: 30", "  interval: soon", 8, "poll.interval", "valid number"),
        ("  interval: 30", "  interval: 0", 8, "poll.interval", "greater than 0"),
        ("  interval: 30", "  intervall: 30", 8, "poll.intervall", "unknown field"),
        ("    speed: 0", "    speed: -1", 6, "sources.sim.speed", "greater than or equal to 0"),
        (
            "sources:\n",
            "sources:\n  metrics: {kind: graphite}\n",
            4,
            "sources.metrics.kind",
            "'sim'",
        ),
        (
            "  persistence_hits: 4",
            "  persistence_hits: 6",
            11,
            "detection.persistence_hits",
            "cannot exceed persistence_polls 5",
        ),
        ("store:\n", "stores:\n", 1, "stores", "unknown field"),
    ],
)
def test_mistakes_in_the_file_are_refused_with_line_and_field(
    tmp_path: Path, case: tuple[str, str, int, str, str]
) -> None:
    old, new, line, field, reason = case
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    error = refused(str(path))
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert reason in error.reason


def test_verification_polls_must_fit(tmp_path: Path) -> None:
    path = write(tmp_path, "verification:\n  within_polls: 3\n  healthy_polls: 4\n")
    error = refused(str(path))
    assert (error.line, error.field) == (3, "verification.healthy_polls")
    assert "cannot fit" in error.reason


def test_a_document_that_is_not_a_mapping_is_refused(tmp_path: Path) -> None:
    error = refused(str(write(tmp_path, "- poll\n")))
    assert (error.line, error.field) == (1, "<document>")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    error = refused(str(tmp_path / "absent.yaml"))
    assert (error.line, error.field) == (None, "<file>")


@pytest.mark.parametrize(
    ("variable", "value", "reason"),
    [
        ("HEALER_POLL__INTERVAL", "often", "poll.interval: Input should be a valid number"),
        ("HEALER_POLL__INTERVALL", "5", "poll.intervall: unknown setting"),
        ("HEALER_DETECTION__PERSISTENCE_HITS", "9", "cannot exceed persistence_polls"),
    ],
)
def test_mistakes_in_the_environment_name_the_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, variable: str, value: str, reason: str
) -> None:
    monkeypatch.setenv(variable, value)
    error = refused(str(write(tmp_path, GOOD)))
    assert (error.path, error.line, error.field) == ("<environment>", None, variable)
    assert reason in error.reason
