"""The composition root: the one place that knows which class implements which port.

`build` turns `Settings` into a wired `Healer`; the daemon, the demo and the benchmarks
all call it, and tests call `wire` with fakes. Nothing here runs at import time.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from healer.adapters.local import CommandLineApprover, LogNotifier
from healer.adapters.store import SqlStore, default_store_url
from healer.config import Settings
from healer.detect.baseline import Persistence, Thresholds
from healer.detect.detector import DetectionSettings, Detector
from healer.domain.playbook import Playbook, VerifySpec
from healer.domain.policy import Policy
from healer.pipeline.context import Healer, Timing
from healer.pipeline.planning import RulePlanner
from healer.playbooks import load_playbooks
from healer.policies import load_policy
from healer.ports import Approver, Clock, Cluster, IncidentStore, LogSource, MetricsSource, Notifier
from healer.sim.scenario import Scenario, load_scenario, scenario_by_name
from healer.sim.simulation import Simulation

REPO = Path(__file__).resolve().parents[1]
AUTO_POLICY = REPO / "examples" / "policy-auto.yaml"


@dataclass
class Runtime:
    """A wired healer plus what drives it: the simulation when the sources are simulated."""

    healer: Healer
    store: SqlStore
    simulation: Simulation | None = None


def open_store(settings: Settings, url: str | None = None) -> SqlStore:
    """The configured store, migrated to the current schema."""
    store = SqlStore(url or settings.store.url or default_store_url())
    store.migrate()
    return store


def load_rules(
    settings: Settings, policy_path: Path | None = None
) -> tuple[dict[str, Playbook], Policy]:
    playbooks = load_playbooks(settings.paths.playbooks)
    policy = load_policy(policy_path or settings.paths.policy, playbooks=list(playbooks))
    return playbooks, policy


def detection(settings: Settings) -> DetectionSettings:
    d = settings.detection
    return DetectionSettings(
        warmup=d.warmup_polls,
        window=d.baseline_polls,
        latency=Thresholds(
            z=d.latency_z, ratio=d.latency_ratio, min_delta=d.latency_min_increase, log_scale=True
        ),
        errors=Thresholds(z=d.error_z, ratio=d.error_ratio, floor=d.error_floor),
        logs=Thresholds(z=d.log_z, ratio=d.log_ratio, floor=d.log_floor),
        persistence=Persistence(k=d.persistence_hits, n=d.persistence_polls, clear=d.clear_polls),
        min_rate=d.min_request_rate,
    )


def timing(settings: Settings, interval: timedelta | None = None) -> Timing:
    return Timing(
        poll_interval=interval or timedelta(seconds=settings.poll.interval),
        max_attempts=settings.verification.max_attempts,
        verify=VerifySpec(settings.verification.within_polls, settings.verification.healthy_polls),
        revert_on_failure=settings.verification.revert_on_failure,
    )


def wire(
    settings: Settings,
    *,
    metrics: MetricsSource,
    logs: LogSource,
    cluster: Cluster,
    store: IncidentStore,
    clock: Clock,
    playbooks: Mapping[str, Playbook],
    policy: Policy,
    approver: Approver | None = None,
    notifier: Notifier | None = None,
    interval: timedelta | None = None,
) -> Healer:
    return Healer(
        metrics=metrics,
        logs=logs,
        cluster=cluster,
        store=store,
        clock=clock,
        planner=RulePlanner(),
        approver=approver or CommandLineApprover(),
        notifier=notifier or LogNotifier(),
        playbooks=playbooks,
        policy=policy,
        detector=Detector(detection(settings)),
        timing=timing(settings, interval),
    )


def scenario_from(reference: str) -> Scenario:
    """A built-in scenario by name, or a scenario file by path."""
    if reference.endswith((".yaml", ".yml")) or "/" in reference:
        return load_scenario(reference)
    return scenario_by_name(reference)


def build_simulated(
    settings: Settings,
    scenario: Scenario,
    *,
    store_url: str | None = None,
    policy_path: Path | None = None,
    notifier: Notifier | None = None,
) -> Runtime:
    """A healer against the simulated cluster running `scenario`, in simulated time."""
    simulation = Simulation(scenario)
    if policy_path is None and scenario.policy == "auto":
        policy_path = AUTO_POLICY
    playbooks, policy = load_rules(settings, policy_path)
    store = open_store(settings, store_url)
    healer = wire(
        settings,
        metrics=simulation.metrics,
        logs=simulation.logs,
        cluster=simulation.kube,
        store=store,
        clock=simulation.clock,
        playbooks=playbooks,
        policy=policy,
        notifier=notifier,
        interval=scenario.tick,
    )
    return Runtime(healer, store, simulation)


def build(settings: Settings) -> Runtime:
    """The daemon's healer, from the configured sources (only the simulated ones so far)."""
    scenario = scenario_from(settings.sources.sim.scenario)
    return build_simulated(settings, scenario)
