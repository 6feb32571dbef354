"""Policy files: the shipped ones load into the rules they describe, and mistakes are
refused with the file, the line and the field at fault."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healer.domain.model import Outcome, Risk
from healer.errors import PolicyError
from healer.policies import load_policy
from healer.yamlfile import parse_duration

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
PLAYBOOKS = ("scale", "tune_pool", "rollback")

GOOD = """\
environment: staging
default: ask
bounds:
  max_replicas: 10
  db_headroom: 0.2
rate_limit:
  max_actions: 5
  window: 30m
  cooldown: 90s
freeze_windows:
  - name: friday-evening
    days: [fri]
    start: "18:00"
    end: "08:00"
    timezone: Europe/Paris
rules:
  - name: scale-auto
    match:
      playbooks: [scale]
      risks: [low]
    outcome: auto
    bounds:
      max_replicas: 6
  - name: everything-else
    outcome: ask
    approvers: 2
"""


def write(folder: Path, text: str) -> Path:
    path = folder / "policy.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path, **kwargs: tuple[str, ...]) -> PolicyError:
    with pytest.raises(PolicyError) as caught:
        load_policy(path, **kwargs)
    return caught.value


def test_a_good_file_becomes_a_policy(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    policy = load_policy(path, playbooks=PLAYBOOKS)
    assert policy.source == str(path)
    assert policy.environment == "staging"
    assert policy.default is Outcome.ASK
    assert policy.rate_limit.max_actions == 5
    assert policy.rate_limit.window == timedelta(minutes=30)
    assert policy.rate_limit.cooldown == timedelta(seconds=90)
    assert policy.bounds.db_headroom == 0.2
    first, second = policy.rules
    assert first.match.playbooks == ("scale",)
    assert first.match.risks == {Risk.LOW}
    assert first.bounds.max_replicas == 6
    assert first.bounds.over(policy.bounds).db_headroom == 0.2
    assert (second.outcome, second.approvers) == (Outcome.ASK, 2)
    (freeze,) = policy.freezes
    assert freeze.days == {4}
    # Friday 19:00 in Paris is 17:00 UTC in winter; the freeze ends Saturday 08:00 there.
    until = freeze.until(datetime(2026, 1, 16, 18, 0, tzinfo=UTC))
    assert until is not None and until.astimezone(UTC) == datetime(2026, 1, 17, 7, 0, tzinfo=UTC)


def test_shipped_policies_load() -> None:
    production = load_policy(EXAMPLES / "policy.yaml", playbooks=PLAYBOOKS)
    assert production.default is Outcome.ASK
    assert production.rate_limit.max_actions is not None
    assert any(r.approvers == 2 and r.match.risks == {Risk.HIGH} for r in production.rules)
    auto = load_policy(EXAMPLES / "policy-auto.yaml", playbooks=PLAYBOOKS)
    assert auto.default is Outcome.AUTO
    assert auto.bounds.max_replicas == 20
    assert auto.bounds.max_scale_factor == 3
    assert auto.bounds.max_pool_size == 50
    assert auto.bounds.db_headroom == 0.1
    assert auto.rate_limit.cooldown == timedelta(minutes=5)
    assert (auto.rate_limit.max_actions, auto.rate_limit.window) == (10, timedelta(hours=1))


def test_an_empty_file_is_the_default_policy(tmp_path: Path) -> None:
    policy = load_policy(write(tmp_path, "# nothing yet\n"))
    assert policy.default is Outcome.ASK
    assert policy.rules == ()


def test_absolute_freeze_windows(tmp_path: Path) -> None:
    text = GOOD.replace(
        "freeze_windows:\n",
        "freeze_windows:\n  - name: year-end\n    start: 2026-12-23T18:00:00+01:00\n"
        "    end: 2027-01-04 08:00:00\n    timezone: Europe/Paris\n",
    )
    freeze = load_policy(write(tmp_path, text)).freezes[0]
    assert freeze.start == datetime(2026, 12, 23, 17, 0, tzinfo=UTC)
    assert freeze.end == datetime(2027, 1, 4, 7, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    "case",
    [
        ("default: ask", "default: ask: now", 2, "<syntax>", "not allowed here"),
        ("default: ask", "default: maybe", 2, "default", "'auto', 'ask' or 'deny'"),
        ("default: ask\n", "default: ask\nkillswitch: true\n", 3, "killswitch", "unknown field"),
        ("  max_replicas: 10", "  max_replicas: ten", 4, "bounds.max_replicas", "valid integer"),
        (
            "  max_replicas: 10",
            "  max_replicas: 0",
            4,
            "bounds.max_replicas",
            "greater than or equal to 1",
        ),
        ("  db_headroom: 0.2", "  db_headroom: 1.5", 5, "bounds.db_headroom", "less than 1"),
        (
            "  max_replicas: 10\n",
            "  max_replicas: 10\n  min_replicas: 11\n",
            5,
            "bounds.min_replicas",
            "above max_replicas 10",
        ),
        ("  window: 30m", "  window: half an hour", 8, "rate_limit.window", "duration"),
        (
            "  max_actions: 5",
            "  max_actions: -1",
            7,
            "rate_limit.max_actions",
            "greater than or equal to 1",
        ),
        ("    days: [fri]", "    days: [friyay]", 12, "freeze_windows[0].days[0]", "not a day"),
        ("    days: [fri]", "    days: []", 12, "freeze_windows[0].days", "at least one day"),
        ('    start: "18:00"', "    start: 18:00", 13, "freeze_windows[0].start", "in quotes"),
        ('    end: "08:00"', '    end: "8 am"', 14, "freeze_windows[0].end", "time of day"),
        (
            "    timezone: Europe/Paris",
            "    timezone: Mars/Olympus",
            15,
            "freeze_windows[0].timezone",
            "unknown time zone",
        ),
        ("    days: [fri]\n", "", 12, "freeze_windows[0].start", "date-time"),
        (
            "      risks: [low]",
            "      risks: [tiny]",
            20,
            "rules[0].match.risks[0]",
            "'low', 'medium' or 'high'",
        ),
        (
            "      playbooks: [scale]",
            "      playbooks: ['[scale']",
            19,
            "rules[0].match.playbooks[0]",
            "unclosed",
        ),
        (
            "      playbooks: [scale]",
            "      playbooks: ['']",
            19,
            "rules[0].match.playbooks[0]",
            "empty pattern",
        ),
        (
            "      max_replicas: 6",
            "      max_replicas: 6\n      max_pods: 3",
            24,
            "rules[0].bounds.max_pods",
            "unknown field",
        ),
        (
            "    outcome: auto",
            "    outcome: yes",
            21,
            "rules[0].outcome",
            "'auto', 'ask' or 'deny'",
        ),
        (
            "    approvers: 2",
            "    approvers: 0",
            26,
            "rules[1].approvers",
            "greater than or equal to 1",
        ),
        (
            "  - name: everything-else\n    outcome: ask",
            "  - name: everything-else\n    outcome: deny",
            26,
            "rules[1].approvers",
            "only apply to outcome ask",
        ),
        (
            "  - name: everything-else",
            "  - name: scale-auto",
            24,
            "rules[1].name",
            "already named 'scale-auto'",
        ),
        ("  - name: everything-else\n", "  - match: {}\n", 24, "rules[1].name", "required"),
    ],
)
def test_mistakes_are_refused_with_line_and_field(
    tmp_path: Path, case: tuple[str, str, int, str, str]
) -> None:
    old, new, line, field, reason = case
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new, 1))
    error = refused(path)
    assert (error.path, error.line, error.field) == (str(path), line, field)
    assert reason in error.reason


def test_a_playbook_pattern_must_match_a_known_playbook(tmp_path: Path) -> None:
    path = write(tmp_path, GOOD.replace("playbooks: [scale]", "playbooks: [scale-out]"))
    error = refused(path, playbooks=PLAYBOOKS)
    assert (error.line, error.field) == (19, "rules[0].match.playbooks[0]")
    assert "matches no playbook" in error.reason
    assert load_policy(path).rules[0].match.playbooks == ("scale-out",)


def test_an_absolute_window_must_end_after_it_starts(tmp_path: Path) -> None:
    text = GOOD.replace(
        "freeze_windows:\n",
        "freeze_windows:\n  - name: oops\n    start: 2026-12-23T18:00:00Z\n"
        "    end: 2026-12-22T18:00:00Z\n",
    )
    error = refused(write(tmp_path, text))
    assert (error.line, error.field) == (13, "freeze_windows[0].end")
    assert "before it starts" in error.reason


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path / "absent.yaml")
    assert (error.line, error.field) == (None, "<file>")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("45s", 45), ("10m", 600), ("1h", 3600), ("1h30m", 5400), ("2d", 172800), (90, 90)],
)
def test_durations(text: str | int, seconds: float) -> None:
    assert parse_duration(text) == timedelta(seconds=seconds)


@pytest.mark.parametrize("text", ["", "10", "ten minutes", "5 m", "-5m", True, -3])
def test_bad_durations(text: str | int | bool) -> None:
    with pytest.raises(ValueError, match="duration"):
        parse_duration(text)
