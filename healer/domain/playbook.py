"""Playbooks as typed values: what a remediation may do, with which parameters and bounds.

Loaded from `playbooks/*.yaml` by `healer.playbooks`; the planner fills in the parameters
and the executor runs the steps. Nothing here touches a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from healer.domain.model import Cause, Risk

ParamValue = int | float | str


class ParamType(StrEnum):
    INTEGER = "integer"
    NUMBER = "number"
    STRING = "string"


class ActionKind(StrEnum):
    """The mutations a step may perform; each one knows how to undo itself."""

    SCALE = "scale"  # args: replicas
    SET_ENV = "set_env"  # args: name, value
    ROLLBACK = "rollback"  # args: to_revision (optional; default the previous one)
    RESTART = "restart"  # no args: every pod replaced, as `kubectl rollout restart`
    DELETE_POD = "delete_pod"  # args: pod (optional; default the least healthy one)


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: ParamType
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    default: ParamValue | None = None

    def check(self, value: ParamValue) -> str | None:
        """Return why `value` is not acceptable, or None when it is."""
        if self.type is ParamType.INTEGER and not (
            isinstance(value, int) and not isinstance(value, bool)
        ):
            return f"{self.name} must be an integer, got {value!r}"
        if self.type is ParamType.NUMBER and not isinstance(value, int | float):
            return f"{self.name} must be a number, got {value!r}"
        if self.type is ParamType.STRING and not isinstance(value, str):
            return f"{self.name} must be a string, got {value!r}"
        if isinstance(value, int | float):
            if self.minimum is not None and value < self.minimum:
                return f"{self.name}={value} is below the minimum {self.minimum:g}"
            if self.maximum is not None and value > self.maximum:
                return f"{self.name}={value} is above the maximum {self.maximum:g}"
        if self.choices and value not in self.choices:
            return f"{self.name}={value!r} is not one of {', '.join(self.choices)}"
        return None


@dataclass(frozen=True)
class Step:
    """One action with arguments; string arguments may name parameters as `{param}`."""

    action: ActionKind
    args: Mapping[str, ParamValue] = field(default_factory=dict)

    def render(self, params: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
        """Substitute parameters; a whole-string `{name}` keeps the parameter's type."""
        return {key: _render(value, params) for key, value in self.args.items()}


_WHOLE = re.compile(r"^\{(\w+)\}$")
_PART = re.compile(r"\{(\w+)\}")


def _render(value: ParamValue, params: Mapping[str, ParamValue]) -> ParamValue:
    if not isinstance(value, str):
        return value
    whole = _WHOLE.match(value)
    if whole:
        return params[whole.group(1)]
    return _PART.sub(lambda m: str(params[m.group(1)]), value)


@dataclass(frozen=True)
class VerifySpec:
    """Recovered means `healthy_polls` healthy polls in a row within `within_polls`."""

    within_polls: int = 12
    healthy_polls: int = 4


@dataclass(frozen=True)
class Playbook:
    name: str
    description: str
    risk: Risk
    fixes: frozenset[Cause]
    params: tuple[ParamSpec, ...]
    steps: tuple[Step, ...]
    verify: VerifySpec | None = None  # None: the healer's configured default
    source: str = ""  # the file it was loaded from, for error messages and the timeline

    def param(self, name: str) -> ParamSpec | None:
        return next((p for p in self.params if p.name == name), None)

    def complete(self, params: Mapping[str, ParamValue]) -> dict[str, ParamValue]:
        """The given parameters plus the defaults of those not given."""
        merged = {p.name: p.default for p in self.params if p.default is not None}
        merged.update(params)
        return merged

    def problems(self, params: Mapping[str, ParamValue]) -> list[str]:
        """Why these parameters are not acceptable to this playbook (empty when they are)."""
        merged = self.complete(params)
        problems = [f"unknown parameter {name}" for name in merged if self.param(name) is None]
        for spec in self.params:
            if spec.name not in merged:
                problems.append(f"missing parameter {spec.name}")
                continue
            problem = spec.check(merged[spec.name])
            if problem:
                problems.append(problem)
        return problems
