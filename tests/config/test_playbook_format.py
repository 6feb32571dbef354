"""The fuller playbook format: relative limits, preconditions, revert, cooldown."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healer.domain.model import AnomalyKind, Pod, Rollout, ServiceRef, Workload
from healer.domain.playbook import ActionKind, RevertMode
from healer.errors import PlaybookError
from healer.playbooks import load_playbook, load_playbooks

FULL = """\
name: grow-pool
description: Raise the pool, at most doubling it.
risk: medium
fixes: [pool_exhaustion]
params:
  pool_size: {type: integer, minimum: 1, maximum: 100, max_factor: 2, current: "env:{env}"}
  env: {type: string, default: DB_POOL_SIZE}
preconditions:
  rolled_out_within: 2h
  previous_revision: true
  min_ready_pods: 2
steps:
  - action: set_env
    name: "{env}"
    value: "{pool_size}"
revert:
  - action: rollback
verify: {within_polls: 8, healthy_polls: 3, signals: [errors, log_pattern]}
cooldown: 15m
"""
NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SVC = ServiceRef("shop", "checkout")


def workload(
    pool: str = "10", rolled: timedelta = timedelta(minutes=30), ready: int = 3
) -> Workload:
    history = (Rollout(1, "c:1", NOW - timedelta(days=3)), Rollout(2, "c:2", NOW - rolled))
    pods = tuple(Pod(f"p{i}", i < ready) for i in range(3))
    return Workload(SVC, 3, 2, "c:2", {"DB_POOL_SIZE": pool}, history, pods=pods)


def load(tmp_path: Path, text: str) -> object:
    path = tmp_path / "p.yaml"
    path.write_text(text)
    return load_playbook(path)


def test_every_field_becomes_a_typed_value(tmp_path: Path) -> None:
    playbook = load(tmp_path, FULL)
    assert playbook.cooldown == timedelta(minutes=15)  # type: ignore[attr-defined]
    assert playbook.verify.signals == {AnomalyKind.ERRORS, AnomalyKind.LOG_PATTERN}  # type: ignore[attr-defined]
    assert playbook.revert_mode is RevertMode.STEPS  # type: ignore[attr-defined]
    assert [s.action for s in playbook.revert] == [ActionKind.ROLLBACK]  # type: ignore[attr-defined]
    pre = playbook.preconditions  # type: ignore[attr-defined]
    assert (pre.rolled_out_within, pre.previous_revision, pre.min_ready_pods) == (
        timedelta(hours=2),
        True,
        2,
    )


def test_a_relative_limit_is_judged_on_the_live_workload(tmp_path: Path) -> None:
    playbook = load(tmp_path, FULL)
    assert playbook.bound_problems({"pool_size": 20}, workload("10")) == []  # type: ignore[attr-defined]
    [problem] = playbook.bound_problems({"pool_size": 21}, workload("10"))  # type: ignore[attr-defined]
    assert "more than 2× the current 10" in problem
    [unknown] = playbook.bound_problems({"pool_size": 5}, workload("lots"))  # type: ignore[attr-defined]
    assert "unknown" in unknown


def test_preconditions_name_what_does_not_hold(tmp_path: Path) -> None:
    pre = load(tmp_path, FULL).preconditions  # type: ignore[attr-defined]
    assert pre.unmet(workload(), NOW) == []
    stale = pre.unmet(workload(rolled=timedelta(hours=5), ready=1), NOW)
    assert len(stale) == 2
    assert "no rollout" in stale[0] and "1 ready pods" in stale[1]


@pytest.mark.parametrize(
    ("old", "new", "field", "reason"),
    [
        ("max_factor: 2, ", "", "params.pool_size.max_factor", "go together"),
        ('"env:{env}"', '"pods"', "params.pool_size.current", "current is `replicas`"),
        ("integer, minimum", "string, minimum", "params.pool_size.minimum", "has no minimum"),
        ("within: 2h", "within: soon", "preconditions.rolled_out_within", "duration"),
        ("pods: 2", "pods: 0", "preconditions.min_ready_pods", "greater than or equal to 1"),
        ("previous_revision: true", "previous: true", "preconditions.previous", "unknown field"),
        ("cooldown: 15m", "cooldown: a while", "cooldown", "duration"),
        ("log_pattern]", "throughput]", "verify.signals[1]", "Input should be"),
        ("revert:\n  - action: rollback", "revert: sometimes", "revert", "auto, none or"),
        ("revert:\n  - action: rollback", "revert: []", "revert", "auto, none or"),
        ("  - action: rollback", "  - action: rewind", "revert[0].action", "Input should be"),
        ("  - action: rollback", "  - action: rollback\n    pod: x", "revert[0].pod", "takes no"),
    ],
)
def test_mistakes_in_the_new_fields_are_refused_precisely(
    tmp_path: Path, old: str, new: str, field: str, reason: str
) -> None:
    assert old in FULL
    with pytest.raises(PlaybookError) as caught:
        load(tmp_path, FULL.replace(old, new))
    assert caught.value.field == field, caught.value
    assert reason in caught.value.reason, caught.value
    assert caught.value.line is not None and caught.value.line > 1, caught.value


def test_a_teams_own_directory_loads_beside_the_shipped_one(tmp_path: Path) -> None:
    shipped = Path(__file__).resolve().parents[2] / "playbooks"
    own = tmp_path / "own"
    own.mkdir()
    (own / "grow.yaml").write_text(FULL)
    loaded = load_playbooks(shipped, own)
    assert "grow-pool" in loaded and "scale" in loaded
    (own / "scale.yaml").write_text((shipped / "scale.yaml").read_text())
    with pytest.raises(PlaybookError, match=r"already defined in .*playbooks/scale\.yaml"):
        load_playbooks(shipped, own)


def test_steps_may_name_the_incidents_facts_but_not_take_their_names(tmp_path: Path) -> None:
    second = (
        '\n  - action: set_env\n    name: HEALED_BY\n    value: "{incident}: {service} ({cause})"'
    )
    text = FULL.replace('value: "{pool_size}"', 'value: "{pool_size}"' + second)
    playbook = load(tmp_path, text)
    args = playbook.steps[1].render(  # type: ignore[attr-defined]
        {"incident": "inc-7", "service": "checkout", "cause": "pool_exhaustion"}
    )
    assert args == {"name": "HEALED_BY", "value": "inc-7: checkout (pool_exhaustion)"}
    with pytest.raises(PlaybookError, match="names what the incident provides"):
        load(tmp_path, FULL.replace("  env: {type", "  service: {type: string}\n  env: {type"))
    with pytest.raises(PlaybookError, match=r"nor one of the incident's \(service"):
        load(tmp_path, FULL.replace('value: "{pool_size}"', 'value: "{pod}"'))
