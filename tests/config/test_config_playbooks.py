"""Playbook files: the shipped ones load, and every kind of mistake is refused with
the file, the line and the field at fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from healer.domain.model import Cause, Risk
from healer.domain.playbook import ActionKind, ParamType
from healer.errors import PlaybookError
from healer.playbooks import load_playbook, load_playbooks

SHIPPED = Path(__file__).resolve().parents[2] / "playbooks"

GOOD = """\
name: widen
description: Scale out a little.
risk: low
fixes: [cpu_saturation]
params:
  replicas:
    type: integer
    minimum: 1
    maximum: 10
steps:
  - action: scale
    replicas: "{replicas}"
verify:
  within_polls: 8
  healthy_polls: 3
"""


def write(folder: Path, text: str, name: str = "playbook.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def refused(path: Path) -> PlaybookError:
    with pytest.raises(PlaybookError) as caught:
        load_playbook(path)
    return caught.value


def test_shipped_playbooks_load() -> None:
    playbooks = load_playbooks(SHIPPED)
    assert set(playbooks) == {"scale", "tune_pool", "rollback", "restart", "open_pr"}
    scale = playbooks["scale"]
    assert scale.risk is Risk.LOW
    assert {Cause.CPU_SATURATION, Cause.SLOW_DEPENDENCY, Cause.POOL_EXHAUSTION} <= scale.fixes
    assert scale.param("replicas") is not None
    assert scale.steps[0].render({"replicas": 4}) == {"replicas": 4}
    assert scale.verify is not None
    assert (scale.verify.within_polls, scale.verify.healthy_polls) == (16, 4)
    assert scale.source == str(SHIPPED / "scale.yaml")
    tune = playbooks["tune_pool"]
    assert tune.risk is Risk.MEDIUM
    assert tune.steps[0].action is ActionKind.SET_ENV
    assert tune.steps[0].render(tune.complete({"pool_size": 20})) == {
        "name": "DB_POOL_SIZE",
        "value": 20,
    }
    assert tune.problems({"pool_size": 500}) == ["pool_size=500 is above the maximum 200"]
    rollback = playbooks["rollback"]
    assert Cause.BAD_DEPLOY in rollback.fixes
    assert rollback.problems({}) == []
    assert all(p.description for p in playbooks.values())


def test_a_good_file_becomes_typed_values(tmp_path: Path) -> None:
    playbook = load_playbook(write(tmp_path, GOOD))
    assert playbook.name == "widen"
    assert playbook.params[0].type is ParamType.INTEGER
    assert (playbook.params[0].minimum, playbook.params[0].maximum) == (1, 10)
    assert playbook.source == str(tmp_path / "playbook.yaml")


def test_missing_verify_takes_the_defaults(tmp_path: Path) -> None:
    text = GOOD[: GOOD.index("verify:")]
    playbook = load_playbook(write(tmp_path, text))
    assert playbook.verify is None, "the healer's configured default applies"


@pytest.mark.parametrize(
    "case",
    [
        ("risk: low", "risk: low: high", 3, "<syntax>", "not allowed here"),
        ("risk: low\n", "risk: low\ncolour: red\n", 4, "colour", "unknown field"),
        ("risk: low", "risk: extreme", 3, "risk", "'low', 'medium' or 'high'"),
        (
            "fixes: [cpu_saturation]",
            "fixes: [cpu_saturation, gremlins]",
            4,
            "fixes[1]",
            "cpu_saturation",
        ),
        ("fixes: [cpu_saturation]", "fixes: []", 4, "fixes", "at least 1"),
        ("  - action: scale", "  - action: explode", 11, "steps[0].action", "'scale'"),
        (
            '    replicas: "{replicas}"',
            '    replicas: "{replica}"',
            12,
            "steps[0].replicas",
            "{replica} is not a declared parameter",
        ),
        (
            '    replicas: "{replicas}"\n',
            "    replicas: 2\n    count: 3\n",
            13,
            "steps[0].count",
            "takes no argument 'count'",
        ),
        (
            '    replicas: "{replicas}"',
            "    replicas: many",
            12,
            "steps[0].replicas",
            "whole number",
        ),
        (
            '    replicas: "{replicas}"',
            "    replicas: 2.5",
            12,
            "steps[0].replicas",
            "whole number",
        ),
        ("    minimum: 1\n", "    minimum: 11\n", 8, "params.replicas.minimum", "above maximum 10"),
        (
            "    maximum: 10\n",
            "    maximum: 10\n    default: 12\n",
            10,
            "params.replicas.default",
            "above the maximum",
        ),
        (
            "    maximum: 10\n",
            '    maximum: 10\n    default: "3"\n',
            10,
            "params.replicas.default",
            "must be an integer",
        ),
        (
            "    maximum: 10\n",
            "    maximum: 10\n    default: [3]\n",
            10,
            "params.replicas.default",
            "number or a string",
        ),
        (
            "    maximum: 10\n",
            "    maximum: 10\n    default: true\n",
            10,
            "params.replicas.default",
            "number or a string",
        ),
        ("    type: integer", "    type: whole", 7, "params.replicas.type", "'integer'"),
        ("    minimum: 1", "    minimum: one", 8, "params.replicas.minimum", "valid"),
        ("  healthy_polls: 3", "  healthy_polls: 9", 15, "verify.healthy_polls", "within_polls 8"),
        (
            "  within_polls: 8",
            "  within_polls: 0",
            14,
            "verify.within_polls",
            "greater than or equal to 1",
        ),
        ("  within_polls: 8", "  within_polls: soon", 14, "verify.within_polls", "valid integer"),
        ("name: widen", "name: Widen It", 1, "name", "not a playbook name"),
        ("description: Scale out a little.\n", "", 1, "description", "required"),
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


def test_empty_steps_are_refused(tmp_path: Path) -> None:
    text = GOOD.replace('  - action: scale\n    replicas: "{replicas}"\n', "").replace(
        "steps:", "steps: []"
    )
    error = refused(write(tmp_path, text))
    assert (error.line, error.field) == (10, "steps")
    assert "at least 1" in error.reason


@pytest.mark.parametrize(
    ("step", "field", "reason"),
    [
        ("  - action: scale\n", "steps[0].replicas", "scale needs the argument 'replicas'"),
        ("  - action: set_env\n    name: X\n", "steps[0].value", "needs the argument 'value'"),
        ("  - action: set_env\n    value: 3\n", "steps[0].name", "needs the argument 'name'"),
        ("  - action: set_env\n    name: 7\n    value: 3\n", "steps[0].name", "must be a string"),
        ("  - action: rollback\n    to_revision: last\n", "steps[0].to_revision", "whole number"),
        (
            "  - action: rollback\n    to_revision: [1]\n",
            "steps[0].to_revision",
            "number or a string",
        ),
    ],
)
def test_actions_get_exactly_their_arguments(
    tmp_path: Path, step: str, field: str, reason: str
) -> None:
    text = GOOD.replace('  - action: scale\n    replicas: "{replicas}"\n', step)
    error = refused(write(tmp_path, text))
    assert error.field == field
    assert error.line is not None and error.line >= 11
    assert reason in error.reason


def test_rollback_takes_an_optional_revision(tmp_path: Path) -> None:
    text = GOOD.replace(
        '  - action: scale\n    replicas: "{replicas}"\n',
        '  - action: rollback\n    to_revision: "{replicas}"\n  - action: rollback\n',
    )
    playbook = load_playbook(write(tmp_path, text))
    assert [s.action for s in playbook.steps] == [ActionKind.ROLLBACK, ActionKind.ROLLBACK]


def test_an_integer_argument_needs_an_integer_parameter(tmp_path: Path) -> None:
    text = GOOD.replace(
        "params:\n", "params:\n  label:\n    type: string\n    default: x\n"
    ).replace('replicas: "{replicas}"', 'replicas: "{label}"')
    error = refused(write(tmp_path, text))
    assert (error.line, error.field) == (15, "steps[0].replicas")
    assert "{label} is not one" in error.reason


def test_bounds_and_choices_fit_the_type(tmp_path: Path) -> None:
    text = GOOD.replace("params:\n", "params:\n  env:\n    type: string\n    minimum: 3\n")
    error = refused(write(tmp_path, text))
    assert (error.line, error.field) == (8, "params.env.minimum")
    text = GOOD.replace("    maximum: 10\n", "    maximum: 10\n    choices: [a]\n")
    error = refused(write(tmp_path, text))
    assert (error.line, error.field) == (10, "params.replicas.choices")


def test_a_string_default_must_be_a_choice(tmp_path: Path) -> None:
    text = GOOD.replace(
        "params:\n",
        "params:\n  mode:\n    type: string\n    choices: [fast, safe]\n    default: wild\n",
    )
    error = refused(write(tmp_path, text))
    assert (error.line, error.field) == (9, "params.mode.default")
    assert "not one of fast, safe" in error.reason


def test_not_a_mapping_is_refused(tmp_path: Path) -> None:
    error = refused(write(tmp_path, "- just\n- a list\n"))
    assert (error.line, error.field) == (1, "<document>")


def test_duplicate_names_across_files_are_refused(tmp_path: Path) -> None:
    write(tmp_path, GOOD, "a.yaml")
    second = write(tmp_path, "# the same again\n" + GOOD, "b.yaml")
    with pytest.raises(PlaybookError) as caught:
        load_playbooks(tmp_path)
    error = caught.value
    assert (error.path, error.line, error.field) == (str(second), 2, "name")
    assert "already defined in" in error.reason and "a.yaml" in error.reason


def test_a_directory_without_playbooks_is_refused(tmp_path: Path) -> None:
    with pytest.raises(PlaybookError) as caught:
        load_playbooks(tmp_path)
    assert caught.value.path == str(tmp_path)
    with pytest.raises(PlaybookError, match="not a directory"):
        load_playbooks(tmp_path / "missing")


def test_a_missing_file_is_refused(tmp_path: Path) -> None:
    error = refused(tmp_path / "nope.yaml")
    assert (error.path, error.line, error.field) == (str(tmp_path / "nope.yaml"), None, "<file>")
