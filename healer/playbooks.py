"""Load `playbooks/*.yaml` into typed `Playbook` values, refusing anything doubtful.

The pydantic models mirror the file; the checks after them hold what a schema cannot
(arguments each action needs, `{param}` references, bounds that agree with defaults).
Every refusal is a `PlaybookError` naming the file, the line and the field.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictStr,
    ValidationError,
)

from healer.domain.model import AnomalyKind, Cause, Risk
from healer.domain.playbook import (
    CONTEXT,
    ActionKind,
    ParamSpec,
    ParamType,
    Playbook,
    Preconditions,
    RevertMode,
    Step,
    VerifySpec,
)
from healer.errors import PlaybookError
from healer.yamlfile import Duration, Key, YamlDoc, config_error, field_name, load_yaml

# (required, optional) arguments of each action; an action missing here takes none.
_ARGUMENTS: dict[ActionKind, tuple[frozenset[str], frozenset[str]]] = {
    ActionKind.SCALE: (frozenset({"replicas"}), frozenset()),
    ActionKind.SET_ENV: (frozenset({"name", "value"}), frozenset()),
    ActionKind.ROLLBACK: (frozenset(), frozenset({"to_revision"})),
    ActionKind.RESTART: (frozenset(), frozenset()),
    ActionKind.DELETE_POD: (frozenset(), frozenset({"pod"})),
    ActionKind.OPEN_PR: (frozenset({"setting", "to"}), frozenset()),
}
_INTEGER_ARGUMENTS = frozenset({"replicas", "to_revision", "to"})
_STRING_ARGUMENTS = frozenset({"name", "setting"})
_NAME = re.compile(r"^[a-z][a-z0-9_-]*$")
_PARAM_NAME = re.compile(r"^\w+$")
_REFERENCE = re.compile(r"\{(\w+)\}")
_WHOLE_REFERENCE = re.compile(r"^\{(\w+)\}$")
_CURRENT = re.compile(r"^(replicas|env:(\w+|\{\w+\}))$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamFile(_Section):
    type: ParamType
    description: str = ""
    minimum: StrictFloat | None = None
    maximum: StrictFloat | None = None
    choices: list[StrictStr] | None = None
    default: Any = None  # checked against the declared type once parsed
    max_factor: StrictFloat | None = Field(None, gt=0)
    current: StrictStr | None = None


class StepFile(BaseModel):
    """`action` plus that action's arguments, checked per action after parsing."""

    model_config = ConfigDict(extra="allow", frozen=True)

    action: ActionKind


class VerifyFile(_Section):
    within_polls: int = Field(VerifySpec.within_polls, ge=1)
    healthy_polls: int = Field(VerifySpec.healthy_polls, ge=1)
    signals: list[AnomalyKind] = []  # latency, errors, log_pattern, memory; empty: all


class PreconditionsFile(_Section):
    rolled_out_within: Duration | None = None
    previous_revision: bool = False
    min_ready_pods: int | None = Field(None, ge=1)


class PlaybookFile(_Section):
    name: str
    description: str = Field(min_length=1)
    risk: Risk
    fixes: list[Cause] = Field(min_length=1)
    params: dict[str, ParamFile] = {}
    steps: list[StepFile] = Field(min_length=1)
    verify: VerifyFile | None = None
    preconditions: PreconditionsFile = PreconditionsFile()
    revert: Any = "auto"  # auto, none, or steps: checked after parsing, to name it well
    cooldown: Duration | None = None


def load_playbooks(directory: str | Path, *more: str | Path | None) -> dict[str, Playbook]:
    """Every playbook in `directory` and then `more` directories (`*.yaml`, `*.yml`), by
    name; names must be unique across all of them."""
    files: list[Path] = []
    for where in (directory, *(m for m in more if m is not None)):
        files += _files(Path(where))
    loaded: dict[str, Playbook] = {}
    for path in files:
        doc = load_yaml(path, PlaybookError)
        playbook = _playbook(doc)
        if playbook.name in loaded:
            first = loaded[playbook.name].source
            reason = f"playbook {playbook.name!r} is already defined in {first}"
            raise PlaybookError(doc.path, doc.line("name"), "name", reason)
        loaded[playbook.name] = playbook
    return loaded


def _files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        raise PlaybookError(str(folder), None, "<directory>", "not a directory")
    files = sorted([*folder.glob("*.yaml"), *folder.glob("*.yml")])
    if not files:
        raise PlaybookError(str(folder), None, "<directory>", "no playbooks (*.yaml) in it")
    return files


def load_playbook(path: str | Path) -> Playbook:
    """One playbook file, checked."""
    return _playbook(load_yaml(path, PlaybookError))


def _playbook(doc: YamlDoc) -> Playbook:
    try:
        parsed = PlaybookFile.model_validate(doc.data)
    except ValidationError as exc:
        raise config_error(doc, exc, PlaybookError) from exc
    if not _NAME.match(parsed.name):
        reason = f"{parsed.name!r} is not a playbook name (lower case, digits, - and _)"
        raise _fail(doc, ("name",), reason)
    params = tuple(_param(doc, name, spec) for name, spec in parsed.params.items())
    steps = tuple(_step(doc, index, step, params) for index, step in enumerate(parsed.steps))
    verify = parsed.verify
    if verify is not None and verify.healthy_polls > verify.within_polls:
        reason = (
            f"healthy_polls {verify.healthy_polls} cannot fit in within_polls {verify.within_polls}"
        )
        raise _fail(doc, ("verify", "healthy_polls"), reason)
    mode, undo = _revert(doc, parsed.revert, params)
    pre = parsed.preconditions
    return Playbook(
        name=parsed.name,
        description=parsed.description.strip(),
        risk=parsed.risk,
        fixes=frozenset(parsed.fixes),
        params=params,
        steps=steps,
        verify=(
            VerifySpec(verify.within_polls, verify.healthy_polls, frozenset(verify.signals))
            if verify
            else None
        ),
        source=doc.path,
        preconditions=Preconditions(
            pre.rolled_out_within, pre.previous_revision, pre.min_ready_pods
        ),
        revert_mode=mode,
        revert=undo,
        cooldown=parsed.cooldown,
    )


def _revert(
    doc: YamlDoc, revert: Any, params: tuple[ParamSpec, ...]
) -> tuple[RevertMode, tuple[Step, ...]]:
    if revert in ("auto", "none"):
        return RevertMode(revert), ()
    if not isinstance(revert, list) or not revert:
        reason = f"expected auto, none or a list of steps, got {revert!r}"
        raise _fail(doc, ("revert",), reason)
    steps = []
    for index, item in enumerate(revert):
        try:
            parsed = StepFile.model_validate(item)
        except ValidationError as exc:
            raise config_error(doc, exc, PlaybookError, prefix=("revert", index)) from exc
        steps.append(_step(doc, index, parsed, params, at="revert"))
    return RevertMode.STEPS, tuple(steps)


def _fail(doc: YamlDoc, loc: tuple[Key, ...], reason: str) -> PlaybookError:
    return PlaybookError(doc.path, doc.line(*loc), field_name(loc), reason)


def _param(doc: YamlDoc, name: str, spec: ParamFile) -> ParamSpec:
    at: tuple[Key, ...] = ("params", name)
    if not _PARAM_NAME.match(name):
        raise _fail(doc, at, f"{name!r} is not a parameter name (letters, digits and _)")
    if name in CONTEXT:
        raise _fail(doc, at, f"{name!r} names what the incident provides; choose another name")
    numeric = spec.type is not ParamType.STRING
    for bound in ("minimum", "maximum"):
        if getattr(spec, bound) is not None and not numeric:
            raise _fail(doc, (*at, bound), f"a {spec.type} parameter has no {bound}")
    if spec.choices is not None and numeric:
        raise _fail(doc, (*at, "choices"), f"choices are for string parameters, not {spec.type}")
    if spec.minimum is not None and spec.maximum is not None and spec.minimum > spec.maximum:
        reason = f"minimum {spec.minimum} is above maximum {spec.maximum}"
        raise _fail(doc, (*at, "minimum"), reason)
    if isinstance(spec.default, bool) or not isinstance(spec.default, int | float | str | None):
        reason = f"default must be a number or a string, got {spec.default!r}"
        raise _fail(doc, (*at, "default"), reason)
    if (spec.max_factor is None) != (spec.current is None):
        missing = "current" if spec.current is None else "max_factor"
        raise _fail(doc, (*at, missing), "max_factor and current go together")
    if spec.current is not None and not _CURRENT.match(spec.current):
        reason = f"{spec.current!r}: current is `replicas` or `env:NAME` (NAME may be a {{param}})"
        raise _fail(doc, (*at, "current"), reason)
    if spec.max_factor is not None and not numeric:
        raise _fail(doc, (*at, "max_factor"), f"a {spec.type} parameter has no max_factor")
    param = ParamSpec(
        name=name,
        type=spec.type,
        description=spec.description.strip(),
        minimum=spec.minimum,
        maximum=spec.maximum,
        choices=tuple(spec.choices or ()),
        default=spec.default,
        max_factor=spec.max_factor,
        current=spec.current,
    )
    problem = param.check(spec.default) if spec.default is not None else None
    if problem is not None:
        raise _fail(doc, (*at, "default"), f"default: {problem}")
    return param


def _step(
    doc: YamlDoc, index: int, step: StepFile, params: tuple[ParamSpec, ...], at: str = "steps"
) -> Step:
    where: tuple[Key, ...] = (at, index)
    args = dict(step.model_extra or {})
    required, optional = _ARGUMENTS.get(step.action, (frozenset(), frozenset()))
    missing = sorted(required - args.keys())
    if missing:
        raise _fail(doc, (*where, missing[0]), f"{step.action} needs the argument {missing[0]!r}")
    for name, value in args.items():
        if name not in required | optional:
            allowed = ", ".join(sorted(required | optional)) or "none"
            reason = f"{step.action} takes no argument {name!r} (it takes: {allowed})"
            raise _fail(doc, (*where, name), reason)
        problem = _argument_problem(name, value, {p.name: p for p in params})
        if problem is not None:
            raise _fail(doc, (*where, name), problem)
    return Step(step.action, args)


def _argument_problem(name: str, value: object, params: dict[str, ParamSpec]) -> str | None:
    """Why an argument value is unusable: wrong type, or a `{param}` nobody declared."""
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return f"expected a number or a string, got {value!r}"
    if not isinstance(value, str):
        if name in _STRING_ARGUMENTS:
            return f"{name} must be a string, got {value!r}"
        if name in _INTEGER_ARGUMENTS and not isinstance(value, int):
            return f"{name} must be a whole number, got {value!r}"
        return None
    for reference in _REFERENCE.findall(value):
        if reference not in params and reference not in CONTEXT:
            declared = ", ".join(sorted(params)) or "none"
            return (
                f"{{{reference}}} is not a declared parameter (declared: {declared}) nor "
                f"one of the incident's ({', '.join(CONTEXT)})"
            )
    whole = _WHOLE_REFERENCE.match(value)
    if name in _INTEGER_ARGUMENTS:
        if whole is None or whole.group(1) not in params:
            return f"{name} must be a whole number or a {{parameter}}, got {value!r}"
        if params[whole.group(1)].type is not ParamType.INTEGER:
            return f"{name} needs an integer parameter, {{{whole.group(1)}}} is not one"
    return None
