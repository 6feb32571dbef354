"""Each shipped playbook that changes the cluster, run by the pipeline through the real
Kubernetes client against the simulated cluster's API: the simulation really changes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from healer.bootstrap import REPO
from healer.domain.clock import ManualClock
from healer.domain.model import Incident, IncidentStatus
from healer.pipeline.execution import run_playbook
from healer.playbooks import load_playbooks
from tests.adapters.test_kubernetes_sim import CART, CHECKOUT, FRONTEND, Setup, running
from tests.fakes import MemoryStore

__all__ = ["running"]  # the fixture, shared with the adapter's own tests
PLAYBOOKS = load_playbooks(REPO / "playbooks")
NOW = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def incident(name: str) -> Incident:
    return Incident(f"INC-{name}", name, NOW, NOW, IncidentStatus.DIAGNOSED, set(), [])


@pytest.mark.parametrize(
    ("name", "target", "params", "changed"),
    [
        ("scale", CART, {"replicas": 4}, lambda w, before: w.replicas == 4),
        ("tune_pool", CHECKOUT, {"pool_size": 12}, lambda w, b: w.env["DB_POOL_SIZE"] == "12"),
        ("rollback", CART, {}, lambda w, before: w.revision == before.revision + 1),
        ("restart", FRONTEND, {}, lambda w, before: w.restarted_at == "2026-03-02T09:00:00Z"),
    ],
)
def test_each_shipped_playbook_changes_the_cluster_through_the_api(
    running: Callable[..., Setup],
    name: str,
    target: object,
    params: dict[str, int],
    changed: Callable[..., bool],
) -> None:
    k = running()
    before = k.kube.workload(target)  # type: ignore[arg-type]
    playbook = PLAYBOOKS[name]
    with k.kube.acting_for(f"INC-{name}", "test"):
        results = run_playbook(
            incident(name), playbook=playbook, params=playbook.complete(params),
            target=target, cluster=k.kube, store=MemoryStore(), clock=ManualClock(NOW),
            dry_run=False,
        )  # type: ignore[arg-type]  # fmt: skip
    assert [r.ok for r in results] == [True] * len(playbook.steps), [r.detail for r in results]
    after = k.kube.workload(target)  # type: ignore[arg-type]
    assert changed(after, before), (before, after)
    assert k.mutations(), "the simulation recorded the change"
    writes = k.requests.writes()
    real = [w for w in writes if "dryRun" not in w and "/events" not in w]
    assert all(f"{w}?dryRun=All" in writes for w in real), "each write rehearsed first"
