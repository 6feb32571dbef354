"""Playbooks as typed values: what a remediation may do, with which parameters and bounds.

Loaded from `playbooks/*.yaml` by `healer.playbooks`; the planner fills in the parameters
and the executor runs the steps. Nothing here touches a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from healer.domain.model import AnomalyKind, Cause, Risk, Workload

ParamValue = int | float | str
# What a step's arguments may name beside the parameters: the incident's own facts.
CONTEXT = ("service", "namespace", "incident", "cause")


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
    OPEN_PR = "open_pr"  # args: setting (replicas | pool), to: the value, proposed in git


@dataclass(frozen=True)
class ParamSpec:
    name: str
    type: ParamType
    description: str = ""
    minimum: float | None = None
    maximum: float | None = None
    choices: tuple[str, ...] = ()
    default: ParamValue | None = None
    max_factor: float | None = None  # at most this many times the current value
    current: str | None = None  # what "current" is: `replicas`, or `env:NAME` (may use {param})

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

    def relative_problem(
        self, value: ParamValue, workload: Workload, params: Mapping[str, ParamValue]
    ) -> str | None:
        """Why `value` is more than `max_factor` times the workload's current value."""
        if self.max_factor is None or self.current is None or not isinstance(value, int | float):
            return None
        now = current_value(str(_render(self.current, params)), workload)
        if now is None:
            why = f"the current {self.current} is unknown"
            return f"{self.name}: {why}, so ×{self.max_factor:g} cannot be checked"
        limit = self.max_factor * max(now, 1.0)
        if value > limit:
            return (
                f"{self.name}={value} is more than {self.max_factor:g}× the current "
                f"{now:g} ({self.current})"
            )
        return None


def current_value(reference: str, workload: Workload) -> float | None:
    """`replicas`, or `env:NAME` read as a number, from the workload as it is now."""
    if reference == "replicas":
        return float(workload.replicas)
    if reference.startswith("env:"):
        raw = workload.env.get(reference.removeprefix("env:"))
        try:
            return float(raw) if raw is not None else None
        except ValueError:
            return None
    return None


@dataclass(frozen=True)
class Preconditions:
    """What must hold of the target for the playbook to make sense at all."""

    rolled_out_within: timedelta | None = None  # its newest rollout is at most this old
    previous_revision: bool = False  # it has an earlier revision to go back to
    min_ready_pods: int | None = None  # at least this many pods ready (restart, delete)

    def unmet(self, workload: Workload, now: datetime) -> list[str]:
        problems = []
        newest = max(
            (r.at for r in workload.history if r.revision == workload.revision), default=None
        )
        if self.rolled_out_within is not None and (
            newest is None or now - newest > self.rolled_out_within
        ):
            problems.append(
                f"no rollout of {workload.service} in the last {self.rolled_out_within}"
            )
        if self.previous_revision and not any(
            r.revision < workload.revision for r in workload.history
        ):
            problems.append(f"{workload.service} has no earlier revision")
        ready = sum(p.ready for p in workload.pods)
        if self.min_ready_pods is not None and workload.pods and ready < self.min_ready_pods:
            problems.append(
                f"{workload.service} has {ready} ready pods, fewer than {self.min_ready_pods}"
            )
        return problems


class RevertMode(StrEnum):
    AUTO = "auto"  # undo each step from what it recorded before (the default)
    STEPS = "steps"  # run the playbook's own revert steps
    NONE = "none"  # nothing to undo (a restart), or nothing safe to undo


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
    """Recovered means `healthy_polls` healthy polls in a row within `within_polls`,
    judged on the anomaly kinds in `signals` (empty: every kind)."""

    within_polls: int = 12
    healthy_polls: int = 4
    signals: frozenset[AnomalyKind] = frozenset()


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
    preconditions: Preconditions = Preconditions()
    revert_mode: RevertMode = RevertMode.AUTO
    revert: tuple[Step, ...] = ()  # with RevertMode.STEPS
    cooldown: timedelta | None = None  # not again on the same target within this

    def bound_problems(self, params: Mapping[str, ParamValue], workload: Workload) -> list[str]:
        """Relative limits (×current) the parameters break, judged on the live workload."""
        merged = self.complete(params)
        found = (
            spec.relative_problem(merged[spec.name], workload, merged)
            for spec in self.params
            if spec.name in merged
        )
        return [problem for problem in found if problem is not None]

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


@dataclass(frozen=True)
class TrackRecord:
    """How often a playbook resolved incidents of one cause: verified recoveries against
    attempts that did not recover in time."""

    playbook: str
    cause: str
    worked: int = 0
    failed: int = 0

    def text(self) -> str:
        total = self.worked + self.failed
        if total == 0:
            return f"{self.playbook} has no record for {self.cause} yet"
        return f"{self.playbook} resolved {self.worked} of {total} {self.cause} incidents"
