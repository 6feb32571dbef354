"""Run one scenario: step the simulated cluster and the healer together, then score the run."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from healer.bench.baselines import from_history
from healer.bench.openmetrics import Recorder
from healer.bench.score import Expected, Outcomes, score
from healer.bootstrap import Runtime
from healer.domain.model import Incident, TimelineEvent
from healer.pipeline.tick import TickReport, tick
from healer.sim.scenario import Scenario

Progress = Callable[[int, int, TickReport], None]


@dataclass
class Run:
    """A finished run: the incidents it opened, their timelines, and its scored record."""

    record: dict[str, Any]
    incidents: list[Incident] = field(default_factory=list)
    events: dict[str, list[TimelineEvent]] = field(default_factory=dict)


def run_scenario(
    scenario: Scenario,
    runtime: Runtime,
    progress: Progress | None = None,
    *,
    baselines: bool = True,
) -> Run:
    """Step the cluster and the healer together; score the run.

    `baselines` also judges the run with the operators' alert rules (a record for
    comparison); it costs most of a run's time, so the interactive demo skips it.
    """
    simulation = runtime.simulation
    if simulation is None:
        raise ValueError("a scenario runs only against the simulated cluster")
    scraped = Recorder(simulation.cluster) if baselines else None
    steps = []
    opened: list[str] = []
    total = scenario.ticks
    for index in range(total):
        steps.append(simulation.advance())
        if scraped is not None:
            scraped.capture()  # what a Prometheus scraping each tick would hold
        report = tick(runtime.healer)
        opened += [i.id for i in report.opened]
        if progress is not None:
            progress(index + 1, total, report)
    incidents, events = _load(runtime, opened)
    alerts = from_history(scraped.history, steps) if scraped is not None else {}
    outcomes = Outcomes(incidents, events, alerts)
    return Run(
        score(scenario.name, expected(scenario, simulation.start), outcomes), incidents, events
    )


def expected(scenario: Scenario, start: Any) -> list[Expected]:
    """Each expected incident with the onset of the fault on its service."""
    found = []
    for item in scenario.expect.incidents:
        fault = next(
            (f for f in scenario.faults if scenario.ref(f.target) == item.service),
            scenario.faults[0] if scenario.faults else None,
        )
        if fault is not None:
            found.append(Expected(item.service, item.cause, item.remediation, start + fault.at))
    return found


def _load(
    runtime: Runtime, ids: list[str]
) -> tuple[list[Incident], dict[str, list[TimelineEvent]]]:
    incidents, events = [], {}
    with runtime.store.unit() as uow:
        for incident_id in ids:
            incident = uow.get_incident(incident_id)
            if incident is not None:
                incidents.append(incident)
                events[incident_id] = uow.events(incident_id)
    return incidents, events
