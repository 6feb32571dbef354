"""`healer run` as a process, with nothing simulated on its side.

Each foundation fault runs in its own `healer sim serve` process; a real Prometheus
scrapes them all (told apart by a `cluster` label), their logs go to the Elasticsearch
emulator, and one `healer run` process per cluster reads Prometheus and Elasticsearch
and changes the cluster through its Kubernetes API with the official client, from a
settings file and a kubeconfig. Each must heal its fault in real time, the timeline
showing every step, the cluster showing the change (annotated and explained).
"""

from __future__ import annotations

import signal
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client, config

from healer.adapters.store import SqlStore
from healer.bootstrap import AUTO_POLICY
from healer.domain.model import EventKind
from tests.emulators.elasticsearch import ElasticsearchEmulator
from tests.integration.conftest import PrometheusFactory
from tests.integration.processes import Replica, Sim, settings_for

pytestmark = pytest.mark.slow

FAULTS = {  # real-time scenario → (root service, cause, playbook, what the cluster shows)
    "pool-exhaustion-rt": ("checkoutservice", "pool_exhaustion", "tune_pool", "set_env"),
    "cpu-saturation-rt": ("recommendationservice", "cpu_saturation", "scale", "scale"),
    "bad-deploy-rt": ("cartservice", "bad_deploy", "rollback", "rollback"),
    "slow-dependency-rt": ("productcatalogservice", "slow_dependency", "scale", "scale"),
}
STEPS = [  # every incident's timeline holds these, in this order
    EventKind.DETECTED,
    EventKind.DIAGNOSED,
    EventKind.PLANNED,
    EventKind.DECIDED,
    EventKind.ACTION_STARTED,
    EventKind.ACTION_SUCCEEDED,
    EventKind.RECOVERED,
    EventKind.RESOLVED,
]
DEADLINE_S = 10 * 60


@pytest.fixture
def elasticsearch() -> Iterator[ElasticsearchEmulator]:
    with ElasticsearchEmulator() as emulator:
        yield emulator


def test_healer_run_heals_each_fault_through_the_real_adapters(
    prometheus: PrometheusFactory, elasticsearch: ElasticsearchEmulator, tmp_path: Path
) -> None:
    sims = {
        name: Sim(name, tmp_path, elasticsearch.url, f"logs-c{i}") for i, name in enumerate(FAULTS)
    }
    replicas: dict[str, Replica] = {}
    try:
        for sim in sims.values():
            sim.start()
        server = prometheus.start(
            scrape_configs=[s.scrape_config(f"c{i}") for i, s in enumerate(sims.values())]
        )
        for i, (name, sim) in enumerate(sims.items()):
            settings = settings_for(
                sim,
                prometheus=server.url,
                store=f"sqlite:///{tmp_path / f'c{i}.db'}",
                cluster=f"c{i}",
                poll=2,
                window=10,
                policy=AUTO_POLICY,
                # why: Prometheus starts with the test, so there is no history to seed
                # baselines from; learn them over 90 s of polls instead
                extra={"detection": {"warmup_polls": 45}},
            )
            replicas[name] = Replica(f"c{i}", settings, tmp_path).start()
        outcomes = _until_resolved(replicas, tmp_path)
        changes = {name: sim.state()["changes"] for name, sim in sims.items()}
        described = {name: _healer_events(sim) for name, sim in sims.items()}
    finally:
        for replica in replicas.values():
            replica.stop(signal.SIGTERM)
        for sim in sims.values():
            sim.stop()
    for name, (root, cause, playbook, change) in FAULTS.items():
        found = outcomes[name]
        assert found["diagnosis"] == (root, cause), (name, found)
        assert found["playbook"] == playbook, (name, found)
        assert _in_order(found["kinds"], STEPS), (name, found["kinds"])
        assert found["held"] == 0, (name, "the sources answered throughout")
        made = [(c["action"], c["service"]) for c in changes[name]]
        assert (change, root) in made, (name, made)
        assert all(service == root for _, service in made), (name, made)
        reasons, incidents = described[name]
        assert reasons, (name, "the change is explained in an Event on the object")
        assert incidents == {found["id"]}, (name, "the Event and annotation name the incident")
    for replica in replicas.values():
        assert "stopped after" in replica.text(), "SIGTERM ends the daemon cleanly"


def _until_resolved(replicas: dict[str, Replica], workdir: Path) -> dict[str, dict[str, Any]]:
    outcomes: dict[str, dict[str, Any]] = {}
    stores = {
        name: SqlStore(f"sqlite:///{workdir / f'{r.name}.db'}") for name, r in replicas.items()
    }
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and len(outcomes) < len(replicas):
        for name, replica in replicas.items():
            assert replica.alive, f"healer run for {name} exited:\n{replica.text()[-3000:]}"
            if name not in outcomes and (workdir / f"{replica.name}.db").exists():
                found = _outcome(stores[name], FAULTS[name][0])
                if found is not None:
                    outcomes[name] = found
        time.sleep(2)
    missing = sorted(set(replicas) - set(outcomes))
    tails = {n: replicas[n].text()[-2000:] for n in missing}
    assert not missing, f"not healed within {DEADLINE_S}s: {missing}\n{tails}"
    return outcomes


def _outcome(store: SqlStore, root: str) -> dict[str, Any] | None:
    """The resolved incident on the faulty service, from the healer's own store."""
    try:
        with store.unit() as uow:
            incidents = uow.list_incidents()
            for incident in incidents:
                closed = incident.status.is_closed and incident.diagnosis is not None
                if not closed or root not in {s.name for s in incident.services}:
                    continue
                assert incident.diagnosis is not None
                kinds = [e.kind for e in uow.events(incident.id)]
                return {
                    "id": incident.id,
                    "diagnosis": (incident.diagnosis.root.name, str(incident.diagnosis.cause)),
                    "playbook": incident.plan.playbook if incident.plan else None,
                    "kinds": kinds,
                    "held": kinds.count(EventKind.HELD),
                }
    except Exception:  # why: the store may not be migrated yet when the daemon is starting
        return None
    return None


def _in_order(kinds: list[EventKind], steps: list[EventKind]) -> bool:
    rest = iter(kinds)
    return all(step in rest for step in steps)


def _healer_events(sim: Sim) -> tuple[set[str], set[str]]:
    """The healer's Events in the cluster: their reasons, and the incidents they name."""
    api = config.new_client_from_config(config_file=str(sim.kubeconfig()))
    try:
        events = client.CoreV1Api(api).list_namespaced_event("boutique").items
    finally:
        api.close()
    mine = [e for e in events if e.source and e.source.component == "healer"]
    incidents = {(e.metadata.annotations or {}).get("healer.io/incident", "") for e in mine}
    return {e.reason for e in mine}, incidents
