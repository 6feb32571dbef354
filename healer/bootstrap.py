"""The composition root: the one place that knows which class implements which port.

`build` turns `Settings` into a wired `Healer`; the daemon, the demo and the benchmarks
all call it, and tests call `wire` with fakes. Nothing here runs at import time.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

from healer.adapters.drain import DrainMiner, PersistentMiner, VarietyMiner
from healer.adapters.elasticsearch import ElasticsearchLogs
from healer.adapters.github import GitHubCodeHost
from healer.adapters.kubernetes import KubeCluster
from healer.adapters.kubernetes.connect import api_client
from healer.adapters.leader import AlwaysLeader, LeaderElector, default_identity, leadership
from healer.adapters.local import CommandLineApprover, LogNotifier
from healer.adapters.prometheus import PrometheusMetrics
from healer.adapters.store import SqlStore, default_store_url
from healer.config import Settings, secret
from healer.detect.baseline import Persistence, Thresholds
from healer.detect.detector import DetectionSettings, Detector
from healer.domain.clock import SystemClock
from healer.domain.codechange import CodeLocation
from healer.domain.model import ServiceRef
from healer.domain.playbook import Playbook, VerifySpec
from healer.domain.policy import Policy
from healer.errors import SourceError
from healer.pipeline.context import Healer, Timing
from healer.pipeline.planning import RulePlanner
from healer.pipeline.pull_requests import CodeChanges
from healer.playbooks import load_playbooks
from healer.policies import load_policy
from healer.ports import Approver, Clock, Cluster, IncidentStore, LogSource, MetricsSource, Notifier
from healer.sim.scenario import Scenario, load_scenario, scenario_by_name
from healer.sim.simulation import Simulation

log = logging.getLogger(__name__)
REPO = Path(__file__).resolve().parents[1]
AUTO_POLICY = REPO / "examples" / "policy-auto.yaml"


@dataclass
class Runtime:
    """A wired healer plus what drives it: the simulation when the sources are simulated."""

    healer: Healer
    store: SqlStore
    simulation: Simulation | None = None
    simulated_time: bool = False  # the healer's clock is the simulation's: step it per poll


def open_store(settings: Settings, url: str | None = None) -> SqlStore:
    """The configured store, migrated to the current schema."""
    store = SqlStore(url or settings.store.url or default_store_url())
    store.migrate()
    return store


def load_rules(
    settings: Settings, policy_path: Path | None = None
) -> tuple[dict[str, Playbook], Policy]:
    playbooks = load_playbooks(settings.paths.playbooks, settings.paths.user_playbooks)
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
        persistence=Persistence(
            k=d.persistence_hits,
            n=d.persistence_polls,
            clear=d.clear_polls,
            fast=d.fast_polls,
            strong=d.fast_strength,
            vouched=d.vouched_polls,
        ),
        min_rate=d.min_request_rate,
        # why: ratios and rates are measured over the poll's window; counts follow it
        count_window_s=settings.poll.window,
        error_count_z=d.error_count_z,
        min_tail_requests=d.min_tail_requests,
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
    code: CodeChanges | None = None,
) -> Healer:
    miner = _miner(settings, store)
    if miner is not None:
        miner.load()  # why: a pattern keeps its id across restarts, so "new" means new
    healer = Healer(
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
        detector=Detector(detection(settings), miner=miner),
        timing=timing(settings, interval),
        code=code,
    )
    if miner is not None:
        healer.after_poll.append(miner.save)
    return healer


def _miner(settings: Settings, store: IncidentStore) -> PersistentMiner | None:
    """The configured log miner, its state kept in the SQL store (None: the in-memory one)."""
    if not isinstance(store, SqlStore):
        return None
    chosen = DrainMiner() if settings.detection.log_miner == "drain3" else VarietyMiner()
    return PersistentMiner(chosen, store=store, name=f"logs-{settings.detection.log_miner}")


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
    simulation: Simulation | None = None,
) -> Runtime:
    """A healer against the simulated cluster running `scenario`, in simulated time."""
    simulation = simulation or Simulation(scenario)
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
    return Runtime(healer, store, simulation, simulated_time=True)


def build(settings: Settings, *, simulation: Simulation | None = None) -> Runtime:
    """The daemon's healer from the configured sources.

    Any source of kind `sim` reads the simulated cluster (`simulation`, or one made from
    `sources.sim.scenario`); with real sources time is the wall clock.
    """
    sources = settings.sources
    if simulation is None and "sim" in (
        sources.metrics.kind,
        sources.logs.kind,
        sources.cluster.kind,
    ):
        simulation = Simulation(scenario_from(sources.sim.scenario))
    if all(k == "sim" for k in (sources.metrics.kind, sources.logs.kind, sources.cluster.kind)):
        assert simulation is not None
        return build_simulated(settings, simulation.scenario, simulation=simulation)
    playbooks, policy = load_rules(settings)
    store = open_store(settings)
    interval = timedelta(seconds=settings.poll.interval)
    metrics = _metrics(settings, simulation)
    healer = wire(
        settings,
        metrics=metrics,
        logs=_logs(settings, simulation),
        cluster=_cluster(settings, simulation),
        store=store,
        clock=SystemClock(),
        playbooks=playbooks,
        policy=policy,
        interval=interval,
        code=code_changes(settings),
    )
    catch_up(healer, settings)
    return Runtime(healer, store, simulation)


def catch_up(healer: Healer, settings: Settings) -> int:
    """Seed baselines from the metrics source's history, when it keeps one: at start,
    and when a follower (which has not been polling) becomes the leader."""
    metrics = settings.sources.metrics
    if metrics.kind != "prometheus":
        return 0
    return seed_baselines(healer, timedelta(seconds=metrics.prometheus.seed_history))


def _metrics(settings: Settings, simulation: Simulation | None) -> MetricsSource:
    source = settings.sources.metrics
    if source.kind == "prometheus":
        return PrometheusMetrics.from_settings(
            source.prometheus,
            token=secret(source.prometheus.token_env),
            window=timedelta(seconds=settings.poll.window),
        )
    assert simulation is not None
    return simulation.metrics


def _logs(settings: Settings, simulation: Simulation | None) -> LogSource:
    source = settings.sources.logs
    if source.kind == "elasticsearch":
        es = source.elasticsearch
        return ElasticsearchLogs.from_settings(
            es, api_key=secret(es.api_key_env), password=secret(es.password_env)
        )
    assert simulation is not None
    return simulation.logs


def _cluster(settings: Settings, simulation: Simulation | None) -> Cluster:
    source = settings.sources.cluster
    if source.kind == "kubernetes":
        return KubeCluster.from_settings(
            source.kubernetes, clock=SystemClock(), instance=replica_identity(settings)
        )
    assert simulation is not None
    return simulation.kube


def code_changes(settings: Settings) -> CodeChanges | None:
    """The code host pull requests go to, and where each service's settings live."""
    config = settings.code_host
    if config.kind != "github":
        return None
    token = secret(config.github.token_env)
    assert token is not None  # why: secret() refuses an unset variable
    host = GitHubCodeHost(
        token=token, base_url=config.github.base_url, timeout=config.github.timeout
    )
    locations = {
        ServiceRef.parse(name): CodeLocation(
            target.repository,
            target.path,
            {k: v for k, v in (("replicas", target.replicas_key), ("pool", target.pool_key)) if v},
            target.base,
        )
        for name, target in config.repositories.items()
    }
    return CodeChanges(host, locations, config.timeline_url)


def seed_baselines(healer: Healer, span: timedelta) -> int:
    """Seed the detector from the source's recent history; a failure means a cold start."""
    if span <= timedelta(0):
        return 0
    now = healer.clock.now()
    try:
        history = healer.metrics.history(now - span, now, healer.timing.poll_interval)
    except SourceError as exc:  # why: no history is a slower start, never a reason not to run
        log.warning("baselines not seeded, starting cold: %s", exc)
        return 0
    ready = healer.detector.seed(history)
    log.info("seeded %d baselines from %d past polls", ready, len(history))
    return ready


def replica_identity(settings: Settings) -> str:
    """This replica's name: in the Lease it holds and on the Events it posts."""
    return settings.daemon.identity or default_identity()


def leadership_for(
    settings: Settings, *, on_gained: Callable[[], None] = lambda: None
) -> LeaderElector | AlwaysLeader:
    """Who may act: with `daemon.leader_election`, the holder of a Lease in the cluster."""
    return leadership(
        settings.daemon,
        lambda: api_client(settings.sources.cluster.kubernetes),
        on_gained=on_gained,
    )
