"""The healer reading only through the real adapters: a real Prometheus scraping
`healer sim serve`, and the Elasticsearch emulator fed by the simulator's log shipper.

All four foundation faults run side by side in real time (one simulated cluster each,
told apart by a `cluster` target label), and each must end with the same diagnosis,
playbook and verified recovery as the in-process run of the same fault.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from healer.bootstrap import REPO, Runtime, build
from healer.config import Settings
from healer.domain.model import EventKind, ServiceRef, Workload
from healer.pipeline.tick import tick
from healer.sim.serve import SimServer, scenario_named
from healer.sim.shipping import LogShipper
from tests.emulators.elasticsearch import ElasticsearchEmulator
from tests.integration.conftest import PrometheusFactory

pytestmark = pytest.mark.slow

FAULTS = {  # real-time scenario → (root service, cause, playbook)
    "pool-exhaustion-rt": ("checkoutservice", "pool_exhaustion", "tune_pool"),
    "cpu-saturation-rt": ("recommendationservice", "cpu_saturation", "scale"),
    "bad-deploy-rt": ("cartservice", "bad_deploy", "rollback"),
    "slow-dependency-rt": ("productcatalogservice", "slow_dependency", "scale"),
}
DEADLINE_S = 9 * 60
POLL_S = 2


class LockedKube:
    """The simulated cluster's API, taken under the server's lock: its clock ticks in a thread."""

    def __init__(self, server: SimServer) -> None:
        self._server = server
        self._kube = server.simulation.kube

    @contextmanager
    def acting_for(self, incident_id: str, reason: str = "") -> Iterator[None]:
        yield

    def workload(self, service: ServiceRef) -> Workload:
        with self._server.lock:
            return self._kube.workload(service)

    def scale(self, service: ServiceRef, replicas: int, *, dry_run: bool = False) -> None:
        with self._server.lock:
            self._kube.scale(service, replicas, dry_run=dry_run)

    def set_env(self, service: ServiceRef, name: str, value: str, *, dry_run: bool = False) -> None:
        with self._server.lock:
            self._kube.set_env(service, name, value, dry_run=dry_run)

    def rollback(
        self, service: ServiceRef, to_revision: int | None = None, *, dry_run: bool = False
    ) -> None:
        with self._server.lock:
            self._kube.rollback(service, to_revision, dry_run=dry_run)

    def restart(self, service: ServiceRef, *, at: str, dry_run: bool = False) -> None:
        with self._server.lock:
            self._kube.restart(service, at=at, dry_run=dry_run)

    def delete_pod(self, service: ServiceRef, pod: str, *, dry_run: bool = False) -> str:
        with self._server.lock:
            return self._kube.delete_pod(service, pod, dry_run=dry_run)


@dataclass
class Cell:
    """One fault: its simulated cluster, and a healer reading it through the adapters."""

    name: str
    server: SimServer
    runtime: Runtime | None = None


@pytest.fixture
def elasticsearch() -> Iterator[ElasticsearchEmulator]:
    with ElasticsearchEmulator() as emulator:
        yield emulator


def settings_for(tag: str, prometheus_url: str, es_url: str, store: Path) -> Settings:
    return Settings.model_validate(
        {
            "store": {"url": f"sqlite:///{store}"},
            "sources": {
                "metrics": {
                    "kind": "prometheus",
                    "prometheus": {
                        "url": prometheus_url,
                        "selector": f'cluster="{tag}"',
                        # Pool metrics do not say which database they draw on; without
                        # this, policy cannot check headroom and refuses to grow a pool.
                        "databases": {
                            "boutique/checkoutservice": "orders",
                            "boutique/recommendationservice": "recommendations",
                        },
                    },
                },
                "logs": {
                    "kind": "elasticsearch",
                    "elasticsearch": {"hosts": [es_url], "index": f"logs-{tag}"},
                },
            },
            # Two-second polls over a ten-second rate window: the window clears within the
            # playbooks' verification polls after a fix, as a minute does for 15 s polls.
            "poll": {"interval": POLL_S, "window": 10},
            "paths": {"policy": str(REPO / "examples" / "policy-auto.yaml")},
        }
    )


def test_real_sources_reach_the_in_process_diagnosis(
    prometheus: PrometheusFactory, elasticsearch: ElasticsearchEmulator, tmp_path: Path
) -> None:
    cells = [
        Cell(
            name,
            SimServer(scenario_named(name), shipper=LogShipper([elasticsearch.url], f"logs-c{i}")),
        )
        for i, name in enumerate(FAULTS)
    ]
    for cell in cells:
        cell.server.start()
    try:
        server = prometheus.start(
            scrape_configs=[_scrape(i, c.server) for i, c in enumerate(cells)]
        )
        for i, cell in enumerate(cells):
            settings = settings_for(f"c{i}", server.url, elasticsearch.url, tmp_path / f"c{i}.db")
            cell.runtime = build(settings, simulation=cell.server.simulation)
            cell.runtime.healer.cluster = LockedKube(cell.server)
        outcomes = _poll_until_resolved(cells)
    finally:
        for cell in cells:
            cell.server.stop()
    for cell in cells:
        root, cause, playbook = FAULTS[cell.name]
        found = outcomes[cell.name]
        assert found["diagnosis"] == (root, cause), (cell.name, found)
        assert found["playbook"] == playbook, (cell.name, found)
        assert found["recovered"], (cell.name, found)
        assert found["held"] == 0, "the sources answered throughout"


def _scrape(index: int, server: SimServer) -> dict[str, Any]:
    host, port = server.address
    return {
        "job_name": f"sim-c{index}",
        "honor_labels": True,
        "static_configs": [{"targets": [f"{host}:{port}"], "labels": {"cluster": f"c{index}"}}],
    }


def _poll_until_resolved(cells: list[Cell]) -> dict[str, dict[str, Any]]:
    outcomes: dict[str, dict[str, Any]] = {}
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline and len(outcomes) < len(cells):
        started = time.monotonic()
        for cell in cells:
            assert cell.runtime is not None
            if cell.name not in outcomes:
                tick(cell.runtime.healer)
                found = _outcome(cell.runtime, FAULTS[cell.name][0])
                if found is not None:
                    outcomes[cell.name] = found
        time.sleep(max(0.0, POLL_S - (time.monotonic() - started)))
    missing = [c.name for c in cells if c.name not in outcomes]
    assert not missing, f"not resolved within {DEADLINE_S}s: {missing}"
    return outcomes


def _outcome(runtime: Runtime, root: str) -> dict[str, Any] | None:
    """The closed incident on the faulty service: diagnosis, playbook, recovery."""
    with runtime.store.unit() as uow:
        for incident in uow.list_incidents():
            if not incident.status.is_closed or root not in {s.name for s in incident.services}:
                continue
            if incident.diagnosis is None:
                continue
            kinds = [e.kind for e in uow.events(incident.id)]
            return {
                "diagnosis": (incident.diagnosis.root.name, str(incident.diagnosis.cause)),
                "playbook": incident.plan.playbook if incident.plan else None,
                "recovered": EventKind.RECOVERED in kinds,
                "held": kinds.count(EventKind.HELD),
            }
    return None
