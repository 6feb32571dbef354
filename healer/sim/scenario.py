"""Scenario files: what to simulate, what goes wrong when, and what a perfect healer does.

A file is refused at load, naming its line and field, rather than half-run: a benchmark
number computed on a mistyped scenario would be worse than none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from healer.domain.model import Cause, ServiceRef
from healer.errors import ScenarioError
from healer.sim import faults
from healer.sim.inline import DatabaseModel, ServiceModel, inline_topology
from healer.sim.topology import TopologySpec, builtin_topology
from healer.yamlfile import (
    Duration,
    Key,
    YamlDoc,
    config_error,
    field_name,
    load_yaml,
)

SCENARIO_DIR = Path(__file__).parent / "scenarios"


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class TrafficModel(_Strict):
    base_rps: float = Field(300.0, gt=0)
    diurnal_amplitude: float = Field(0.3, ge=0, lt=1)
    weekly_amplitude: float = Field(0.1, ge=0, lt=1)
    noise: float = Field(0.05, ge=0, le=1)
    bursts_per_hour: float = Field(1.0, ge=0)


class RealismModel(_Strict):
    """The harmless mess of a real cluster; turn parts off only to test the simulator."""

    deploys_per_day: float = Field(6.0, ge=0)
    restarts_per_day: float = Field(4.0, ge=0)
    missed_scrapes: float = Field(0.003, ge=0, le=1)
    gc_pauses_per_hour: float = Field(0.6, ge=0)
    log_noise: float = Field(1.0, ge=0)


class FaultModel(_Strict):
    at: Duration
    kind: str
    target: str
    params: dict[str, Any] = Field(default_factory=dict)
    ramp: Duration | None = None
    duration: Duration | None = None
    every: Duration | None = None


class RootCauseModel(_Strict):
    service: str
    cause: Cause


class IncidentModel(_Strict):
    root_cause: RootCauseModel
    remediation: list[str] = Field(default_factory=list)


class ExpectModel(_Strict):
    incident: bool | None = None
    root_cause: RootCauseModel | None = None
    remediation: list[str] | None = None
    incidents: list[IncidentModel] | None = None


class ScenarioModel(_Strict):
    name: str = Field(min_length=1)
    seed: int = 0
    duration: Duration
    tick: Duration = timedelta(seconds=15)
    topology: str | None = None
    services: list[ServiceModel] | None = None
    databases: list[DatabaseModel] = Field(default_factory=list)
    traffic: TrafficModel = TrafficModel()
    realism: RealismModel = RealismModel()
    faults: list[FaultModel] = Field(default_factory=list)
    expect: ExpectModel = ExpectModel()
    policy: str = "auto"


@dataclass(frozen=True)
class Traffic:
    base_rps: float = 300.0
    diurnal_amplitude: float = 0.3
    weekly_amplitude: float = 0.1
    noise: float = 0.05
    bursts_per_hour: float = 1.0


@dataclass(frozen=True)
class Realism:
    deploys_per_day: float = 6.0
    restarts_per_day: float = 4.0  # container restarts across the cluster
    missed_scrapes: float = 0.003
    gc_pauses_per_hour: float = 0.6
    log_noise: float = 1.0


@dataclass(frozen=True)
class FaultSpec:
    """One injected fault; times are offsets from the scenario's start."""

    at: timedelta
    kind: str
    target: str
    params: Mapping[str, float | int | str] = field(default_factory=dict)
    ramp: timedelta = timedelta(0)
    duration: timedelta | None = None  # None: until cured (or forever)
    every: timedelta | None = None  # repeats `duration` of fault every `every`


@dataclass(frozen=True)
class ExpectedIncident:
    service: ServiceRef
    cause: Cause
    remediation: tuple[str, ...]


@dataclass(frozen=True)
class Expect:
    incident: bool
    incidents: tuple[ExpectedIncident, ...] = ()


@dataclass(frozen=True)
class Scenario:
    name: str
    seed: int
    duration: timedelta
    tick: timedelta
    topology: TopologySpec
    traffic: Traffic = Traffic()
    faults: tuple[FaultSpec, ...] = ()
    expect: Expect = Expect(incident=False)
    policy: str = "auto"
    realism: Realism = Realism()
    path: str = ""

    @property
    def ticks(self) -> int:
        return int(self.duration / self.tick)

    def ref(self, service: str) -> ServiceRef:
        return self.topology.service(service).ref


def load_scenario(path: str | Path) -> Scenario:
    """Read and check one scenario file; raises `ScenarioError(path, line, field, reason)`."""
    doc = load_yaml(path, ScenarioError)
    if not isinstance(doc.data, dict):
        raise ScenarioError(doc.path, 1, "<document>", "a scenario is a mapping of fields")
    try:
        model = ScenarioModel.model_validate(doc.data)
    except ValidationError as exc:
        raise config_error(doc, exc, ScenarioError) from exc
    return _build(model, doc)


def _fail(doc: YamlDoc, loc: tuple[Key, ...], reason: str) -> ScenarioError:
    return ScenarioError(doc.path, doc.line(*loc), field_name(loc), reason)


def _build(model: ScenarioModel, doc: YamlDoc) -> Scenario:
    if model.tick <= timedelta(0) or model.tick > model.duration:
        raise _fail(doc, ("tick",), "must be positive and no longer than the duration")
    topology = _topology(model, doc)
    checked = tuple(_fault(f, i, model, topology, doc) for i, f in enumerate(model.faults))
    return Scenario(
        name=model.name,
        seed=model.seed,
        duration=model.duration,
        tick=model.tick,
        topology=topology,
        traffic=Traffic(**model.traffic.model_dump()),
        faults=checked,
        expect=_expect(model, topology, doc),
        policy=model.policy,
        realism=Realism(**model.realism.model_dump()),
        path=doc.path,
    )


def _topology(model: ScenarioModel, doc: YamlDoc) -> TopologySpec:
    if (model.topology is None) == (model.services is None):
        raise _fail(doc, ("topology",), "give either a built-in `topology` or a `services` list")
    if model.services is not None:
        topology, problem = inline_topology(model.name, model.services, model.databases)
        if problem is not None:
            loc, reason = problem
            raise _fail(doc, loc, reason)
        assert topology is not None
        return topology
    try:
        return builtin_topology(str(model.topology))
    except KeyError as exc:
        raise _fail(doc, ("topology",), str(exc.args[0])) from exc


def _fault(
    fault: FaultModel, index: int, model: ScenarioModel, topology: TopologySpec, doc: YamlDoc
) -> FaultSpec:
    loc: tuple[Key, ...] = ("faults", index)
    reason = faults.kind_problem(fault.kind)
    if reason:
        raise _fail(doc, (*loc, "kind"), reason)
    if fault.target not in topology.names():
        raise _fail(doc, (*loc, "target"), f"no service {fault.target!r} in {topology.name}")
    if fault.at >= model.duration:
        raise _fail(doc, (*loc, "at"), "the fault would start after the scenario ends")
    try:
        params = faults.check_params(fault.kind, fault.params, topology.service(fault.target))
    except faults.ParamError as exc:
        raise _fail(doc, (*loc, "params", *exc.loc), exc.reason) from exc
    if fault.every is not None and (fault.duration is None or fault.duration >= fault.every):
        raise _fail(doc, (*loc, "every"), "an intermittent fault needs a duration below `every`")
    if fault.ramp and fault.kind not in faults.RAMPED:
        raise _fail(doc, (*loc, "ramp"), f"{fault.kind} happens at once; it cannot ramp")
    if fault.every is not None and fault.kind in faults.PERSISTENT:
        raise _fail(doc, (*loc, "every"), f"{fault.kind} stays until someone changes it back")
    if fault.kind == faults.TRAFFIC_SURGE and fault.target not in topology.entry_shares():
        raise _fail(doc, (*loc, "target"), f"{fault.target} gets no traffic from outside")
    return FaultSpec(
        at=fault.at,
        kind=fault.kind,
        target=fault.target,
        params=params,
        ramp=fault.ramp or timedelta(0),
        duration=fault.duration,
        every=fault.every,
    )


def _expect(model: ScenarioModel, topology: TopologySpec, doc: YamlDoc) -> Expect:
    spec = model.expect
    pairs: list[tuple[tuple[Key, ...], RootCauseModel, list[str]]] = []
    if spec.incidents is not None:
        if spec.root_cause is not None or spec.remediation is not None:
            raise _fail(doc, ("expect", "incidents"), "give `incidents` or one `root_cause`")
        pairs = [
            (("expect", "incidents", i, "root_cause"), item.root_cause, item.remediation)
            for i, item in enumerate(spec.incidents)
        ]
    elif spec.root_cause is not None:
        pairs = [(("expect", "root_cause"), spec.root_cause, spec.remediation or [])]
    expected = []
    for loc, cause, remediation in pairs:
        if cause.service not in topology.names():
            raise _fail(doc, (*loc, "service"), f"no service {cause.service!r} in {topology.name}")
        ref = topology.service(cause.service).ref
        expected.append(ExpectedIncident(ref, cause.cause, tuple(remediation)))
    incident = spec.incident if spec.incident is not None else bool(expected)
    if incident and not expected and model.faults:
        raise _fail(doc, ("expect",), "an expected incident needs its root_cause")
    return Expect(incident=incident, incidents=tuple(expected))


def builtin_scenarios() -> dict[str, Path]:
    """The scenarios shipped with the healer, by name (the file's stem)."""
    return {p.stem: p for p in sorted(SCENARIO_DIR.glob("*.yaml"))}


def scenario_by_name(name: str) -> Scenario:
    """A built-in scenario by name, or any scenario file by path."""
    builtin = builtin_scenarios()
    if name in builtin:
        return load_scenario(builtin[name])
    if Path(name).is_file():
        return load_scenario(name)
    known = ", ".join(builtin) or "none"
    raise ScenarioError(name, None, "name", f"no such scenario file or built-in ({known})")
