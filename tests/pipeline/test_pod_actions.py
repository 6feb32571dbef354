"""Restart and delete-pod steps: pinned before the intent is written, so sent exactly once."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from healer.domain.clock import ManualClock
from healer.domain.model import Pod, ServiceRef, Workload
from healer.domain.playbook import ActionKind
from healer.errors import ActionFailed, PermanentError, PlaybookError
from healer.pipeline import actions
from healer.pipeline.execution import Step, reconcile, run_step
from healer.playbooks import load_playbook
from tests.fakes import FakeCluster, MemoryStore

SVC = ServiceRef("shop", "cart")
NOW = datetime(2026, 3, 2, 10, 15, 30, tzinfo=UTC)
PODS = (
    Pod("cart-a", ready=True, restarts=0),
    Pod("cart-b", ready=True, restarts=4, oom_killed=True),
    Pod("cart-c", ready=True, restarts=1),
)


def world(pods: tuple[Pod, ...] = PODS) -> tuple[FakeCluster, MemoryStore, ManualClock]:
    workload = Workload(SVC, replicas=len(pods), revision=3, image="cart:1", env={}, pods=pods)
    return FakeCluster({SVC: workload}), MemoryStore(), ManualClock(NOW)


def send(cluster: FakeCluster, store: MemoryStore, clock: ManualClock, action: ActionKind) -> None:
    step = Step("inc-9:1:0", action, SVC, {})
    result = run_step(
        step, incident_id="inc-9", cluster=cluster, store=store, clock=clock, dry_run=False
    )
    assert result.ok, result.detail


def test_a_restart_carries_its_stamp_and_is_never_sent_twice() -> None:
    cluster, store, clock = world()
    send(cluster, store, clock, ActionKind.RESTART)
    assert cluster.mutations() == [("restart", SVC, "2026-03-02T10:15:30Z")]
    assert cluster.workloads[SVC].restarted_at == "2026-03-02T10:15:30Z"
    with pytest.raises(PermanentError, match="already recorded"):
        send(cluster, store, clock, ActionKind.RESTART)
    assert len(cluster.mutations()) == 1


@pytest.mark.parametrize("landed", [True, False])
def test_a_restart_cut_short_by_a_crash_is_sent_only_if_it_had_not_landed(landed: bool) -> None:
    cluster, store, clock = world()
    stamp = "2026-03-02T10:00:00Z"
    with store.unit() as uow:
        uow.record_intent(
            key="inc-9:1:0",
            incident_id="inc-9",
            action="restart",
            target=SVC,
            args={"at": stamp},
            before={"restarted_at": None},
            at=NOW,
        )
        uow.commit()
    if landed:
        cluster.restart(SVC, at=stamp)
        cluster.calls.clear()
    with store.unit() as uow:
        pending = uow.pending_intents()
    [(incident, result)] = reconcile(pending, cluster=cluster, store=store, clock=clock)
    assert (incident, result.ok) == ("inc-9", True)
    assert cluster.mutations() == ([] if landed else [("restart", SVC, stamp)])
    assert ("confirmed after a restart" in result.detail) == landed


def test_delete_pod_picks_the_least_healthy_pod_and_pins_it() -> None:
    cluster, store, clock = world()
    send(cluster, store, clock, ActionKind.DELETE_POD)
    assert cluster.mutations() == [("delete_pod", SVC, "cart-b")]
    unready = (Pod("cart-a", True), Pod("cart-x", False, restarts=0), Pod("cart-b", True, 9))
    chosen = actions.resolve(ActionKind.DELETE_POD, world(unready)[0].workloads[SVC], {}, NOW)
    assert chosen == {"pod": "cart-x"}, "a pod that is not ready goes first"


def test_delete_pod_never_takes_the_last_ready_pod() -> None:
    workload = world((Pod("cart-a", True), Pod("cart-b", False)))[0].workloads[SVC]
    with pytest.raises(ActionFailed, match="only ready pod"):
        actions.resolve(ActionKind.DELETE_POD, workload, {"pod": "cart-a"}, NOW)
    with pytest.raises(ActionFailed, match="no pod cart-z"):
        actions.resolve(ActionKind.DELETE_POD, workload, {"pod": "cart-z"}, NOW)


def test_a_pod_already_gone_counts_as_deleted() -> None:
    workload = world()[0].workloads[SVC]
    assert actions.landed(ActionKind.DELETE_POD, workload, {"pod": "cart-q"}, {})
    assert not actions.landed(ActionKind.DELETE_POD, workload, {"pod": "cart-a"}, {})
    assert actions.inverse(ActionKind.RESTART, {"restarted_at": None}) is None


def test_playbooks_may_restart_and_delete_pods(tmp_path: Path) -> None:
    path = tmp_path / "restart.yaml"
    path.write_text(
        "name: bounce\ndescription: fresh pods\nrisk: low\nfixes: [bad_deploy]\nparams: {}\n"
        "steps:\n  - action: delete_pod\n  - action: restart\n"
    )
    playbook = load_playbook(path)
    assert [s.action for s in playbook.steps] == [ActionKind.DELETE_POD, ActionKind.RESTART]
    path.write_text(path.read_text().replace("- action: restart", "- action: restart\n    at: x"))
    with pytest.raises(PlaybookError, match="at"):
        load_playbook(path)
