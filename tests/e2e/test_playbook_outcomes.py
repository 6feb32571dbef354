"""Playbooks judged on the simulated cluster: an action that cannot help is undone, and
capacity the database cannot give is never asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from healer.bench.run import run_scenario
from healer.bootstrap import build_simulated
from healer.config import Settings
from healer.domain.model import EventKind
from healer.sim import load_scenario
from healer.sim.scenario import SCENARIO_DIR

pytestmark = pytest.mark.slow
MORE = SCENARIO_DIR / "more"


def run(name: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    scenario = load_scenario(MORE / f"{name}.yaml")
    runtime = build_simulated(Settings(), scenario, store_url=f"sqlite:///{tmp_path}/h.db")
    record = run_scenario(scenario, runtime, baselines=False).record
    return runtime, record


def run_text(text: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    file = tmp_path / "scenario.yaml"
    file.write_text(text)
    scenario = load_scenario(file)
    runtime = build_simulated(Settings(), scenario, store_url=f"sqlite:///{tmp_path}/h.db")
    return runtime, run_scenario(scenario, runtime, baselines=False).record


def test_scaling_that_cannot_help_an_injected_delay_is_reverted(tmp_path: Path) -> None:
    runtime, record = run("latency-injection", tmp_path)
    kube = runtime.simulation.kube
    scaled = [m for m in kube.mutations if m.action == "scale"]
    assert len(scaled) == 2, "scaled out, then back; not again when the delay comes back"
    assert scaled[1].args["replicas"] < scaled[0].args["replicas"]
    with runtime.store.unit() as uow:
        [incident] = [i for i in uow.list_incidents() if i.tried]
        later = [i for i in uow.list_incidents() if not i.tried]
        escalated = [e for i in later for e in uow.events(i.id) if e.kind is EventKind.ESCALATED]
        kinds = [e.kind for e in uow.events(incident.id)]
        record_of = {(r.playbook, r.cause): r for r in uow.outcomes()}
    assert EventKind.NOT_RECOVERED in kinds and EventKind.REVERTED in kinds
    assert kinds[-1] in (EventKind.ESCALATED, EventKind.RESOLVED)
    assert record_of[("scale", str(incident.diagnosis.cause))].failed == 1  # type: ignore[union-attr]
    assert not record["mitigated"]
    assert escalated, "the delay came back: the healer said so instead of scaling again"
    why = f"scale: it did not help the same problem in {incident.id}"
    assert all(why in e.summary for e in escalated)


@pytest.mark.parametrize("name", ["db-max-connections", "train-ticket-db-max-connections"])
def test_a_full_database_is_never_given_more_connections(name: str, tmp_path: Path) -> None:
    runtime, record = run(name, tmp_path)
    kube = runtime.simulation.kube
    pooled = {
        s
        for s in runtime.simulation.cluster.deployments
        if runtime.simulation.cluster.deployments[s].spec.pool
    }
    assert not [m for m in kube.mutations if m.action == "scale" and m.service.name in pooled]
    assert record["playbook"] == "tune_pool" and record["mitigated"], record


STEEP = """
name: cpu-steep
seed: 5
duration: 1h40m
tick: 15s
topology: online-boutique
traffic: {base_rps: 300, diurnal_amplitude: 0.3, noise: 0.05}
faults:
  - {at: 80m, kind: cpu_saturation, target: productcatalogservice, params: {factor: 8}}
expect:
  incident: true
  root_cause: {service: productcatalogservice, cause: cpu_saturation}
  remediation: [scale]
"""


def test_a_change_that_went_the_right_way_but_not_far_enough_is_taken_further(
    tmp_path: Path,
) -> None:
    runtime, record = run_text(STEEP, tmp_path)
    kube = runtime.simulation.kube
    replicas = [m.args["replicas"] for m in kube.mutations if m.action == "scale"]
    assert replicas == [6, 11], "kept the first step and went further, never back in between"
    assert record["mitigated"] and record["playbook"] == "scale", record
    with runtime.store.unit() as uow:
        [incident] = uow.list_incidents()
        events = uow.events(incident.id)
    kinds = [e.kind for e in events]
    assert EventKind.NOT_RECOVERED in kinds and EventKind.REVERTED not in kinds
    further = [e for e in events if e.kind is EventKind.PLANNED][1]
    assert "still cpu_saturation on productcatalogservice, so one step further" in further.summary
    assert incident.attempts == 2


DEARER = """
name: cpu-dearer
seed: 101
duration: 1h35m
tick: 15s
topology: online-boutique
traffic: {base_rps: 300, diurnal_amplitude: 0.3, noise: 0.05}
faults:
  - {at: 80m, kind: cpu_saturation, target: currencyservice, ramp: 2m, params: {factor: 4}}
expect:
  incident: true
  root_cause: {service: currencyservice, cause: cpu_saturation}
  remediation: [scale]
"""


def test_a_change_that_relieved_saturation_but_left_cpu_above_its_aim_is_taken_further(
    tmp_path: Path,
) -> None:
    """Once scaling ends the throttling, every request being dearer reads as a slow service
    (no longer saturated); CPU still above what the change aimed for says it fell short."""
    runtime, record = run_text(STEEP, tmp_path)
    kube = runtime.simulation.kube
    replicas = [m.args["replicas"] for m in kube.mutations if m.action == "scale"]
    assert len(replicas) == 2 and replicas[0] < replicas[1], replicas
    assert record["mitigated"], record
    with runtime.store.unit() as uow:
        [incident] = uow.list_incidents()
        events = uow.events(incident.id)
    assert EventKind.REVERTED not in [e.kind for e in events]
    further = [e for e in events if e.kind is EventKind.PLANNED][1]
    assert "one step further: CPU at" in further.summary


SURGE = """
name: surge-runs-on
seed: 206
duration: 2h05m
tick: 15s
topology: sock-shop
traffic: {base_rps: 300, diurnal_amplitude: 0.3, noise: 0.05}
faults:
  - {at: 110m, kind: traffic_surge, target: front-end, ramp: 10m, params: {factor: 2.5}}
expect:
  incident: true
  root_cause: {service: front-end, cause: traffic_surge}
  remediation: [scale]
"""


def test_a_surge_that_outgrew_the_first_step_is_met_where_it_runs_out_next(
    tmp_path: Path,
) -> None:
    """The entry scaled out, the surge kept growing into a service behind it: the next step
    adds capacity there, keeping the first (same replica count, another service)."""
    runtime, _ = run_text(SURGE, tmp_path)
    kube = runtime.simulation.kube
    scaled = [(m.service.name, m.args["replicas"]) for m in kube.mutations]
    assert scaled[:2] == [("front-end", 4), ("carts", 4)], scaled
    with runtime.store.unit() as uow:
        first = min(uow.list_incidents(), key=lambda i: i.opened_at)
        events = uow.events(first.id)
    assert EventKind.REVERTED not in [e.kind for e in events]
    [step] = [e for e in events if e.kind is EventKind.PLANNED][1:]
    assert "still traffic_surge on front-end, so one step further" in step.summary
