"""The whole poll loop over in-memory fakes and a manual clock."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from healer.detect.detector import Detector
from healer.domain.clock import ManualClock
from healer.domain.model import (
    Approval,
    Cause,
    Edge,
    EventKind,
    IncidentStatus,
    Outcome,
    Rollout,
    ServiceRef,
    Signal,
    Topology,
    Workload,
)
from healer.domain.policy import Policy, Rule
from healer.pipeline.context import Healer
from healer.pipeline.planning import RulePlanner
from healer.pipeline.tick import tick
from healer.playbooks import load_playbooks
from tests.fakes import (
    FakeCluster,
    MemoryStore,
    RecordingApprover,
    RecordingNotifier,
    ScriptedLogs,
    ScriptedMetrics,
)

PLAYBOOKS = Path(__file__).parents[2] / "playbooks"
FRONT = ServiceRef("shop", "frontend")
CHECKOUT = ServiceRef("shop", "checkout")
START = datetime(2026, 1, 5, tzinfo=UTC)
POOL_LINE = (
    "HikariPool-1 - Connection is not available, request timed out after 30000ms "
    "(total=3, active=3, idle=0, waiting={n})"
)


class World:
    """Two services, frontend → checkout, with checkout pooling against `orders`."""

    def __init__(self, policy: Policy) -> None:
        self.rng = random.Random(3)
        topology = Topology(
            frozenset({FRONT, CHECKOUT}), frozenset({Edge(FRONT, CHECKOUT)}), {CHECKOUT: "orders"}
        )
        self.metrics = ScriptedMetrics(topology)
        self.logs = ScriptedLogs()
        at = START - timedelta(days=1)
        self.cluster = FakeCluster(
            {
                FRONT: Workload(FRONT, 3, 1, "frontend:1", {}, (Rollout(1, "frontend:1", at),)),
                CHECKOUT: Workload(
                    CHECKOUT,
                    3,
                    2,
                    "checkout:2",
                    {"DB_POOL_SIZE": "3"},
                    (Rollout(1, "checkout:1", at), Rollout(2, "checkout:2", at)),
                ),
            }
        )
        self.clock = ManualClock(START)
        self.store = MemoryStore()
        self.approver = RecordingApprover()
        self.healer = Healer(
            metrics=self.metrics,
            logs=self.logs,
            cluster=self.cluster,
            store=self.store,
            clock=self.clock,
            planner=RulePlanner(),
            approver=self.approver,
            notifier=RecordingNotifier(),
            playbooks=load_playbooks(PLAYBOOKS),
            policy=policy,
            detector=Detector(),
        )
        self.sick = False

    def poll(self, n: int = 1) -> None:
        for _ in range(n):
            self._set_metrics()
            tick(self.healer)
            self.clock.advance(timedelta(seconds=15))

    def _set_metrics(self) -> None:
        jitter = lambda: self.rng.uniform(0.9, 1.1)  # noqa: E731
        pool_size = int(self.cluster.workloads[CHECKOUT].env["DB_POOL_SIZE"])
        sick = self.sick and pool_size < 6  # 23 connections wanted over 3 replicas: 11 each at 70%
        base = {Signal.REQUEST_RATE: 50.0, Signal.CPU_UTILISATION: 0.3}
        self.metrics.values = {
            FRONT: {
                **base,
                Signal.LATENCY_P99: (0.9 if sick else 0.12) * jitter(),
                Signal.ERROR_RATIO: (0.08 if sick else 0.001) * jitter(),
            },
            CHECKOUT: {
                **base,
                Signal.LATENCY_P99: (0.8 if sick else 0.08) * jitter(),
                Signal.ERROR_RATIO: (0.1 if sick else 0.001) * jitter(),
                Signal.POOL_USED: 9.0 if sick else 4.0,
                Signal.POOL_MAX: 3.0 * 3,
                Signal.POOL_PENDING: 14.0 if sick else 0.0,
                Signal.POOL_TIMEOUTS: 2.0 if sick else 0.0,
            },
        }
        self.logs.lines = (
            [(CHECKOUT, POOL_LINE.format(n=self.rng.randint(5, 30))) for _ in range(12)]
            if sick
            else []
        )

    def incidents(self) -> list:
        with self.store.unit() as uow:
            return uow.list_incidents()

    def kinds(self, incident_id: str) -> list[EventKind]:
        with self.store.unit() as uow:
            return [e.kind for e in uow.events(incident_id)]


AUTO = Policy(default=Outcome.AUTO)


def test_quiet_cluster_opens_nothing() -> None:
    world = World(AUTO)
    world.poll(80)
    assert world.incidents() == []
    assert world.cluster.mutations() == []


def test_pool_exhaustion_is_diagnosed_tuned_and_verified() -> None:
    world = World(AUTO)
    world.poll(40)
    world.sick = True
    world.poll(30)
    [incident] = world.incidents()
    assert incident.diagnosis is not None
    assert incident.diagnosis.root == CHECKOUT
    assert incident.diagnosis.cause is Cause.POOL_EXHAUSTION
    assert incident.services == {FRONT, CHECKOUT}, "frontend's symptoms join the same incident"
    assert world.cluster.mutations() == [("set_env", CHECKOUT, ("DB_POOL_SIZE", "11"))]
    assert incident.status is IncidentStatus.RESOLVED
    assert world.cluster.acting == [incident.id], "the change is made in the incident's name"
    kinds = world.kinds(incident.id)
    for expected in (
        EventKind.DETECTED,
        EventKind.DIAGNOSED,
        EventKind.PLANNED,
        EventKind.DECIDED,
        EventKind.ACTION_SUCCEEDED,
        EventKind.RECOVERED,
        EventKind.RESOLVED,
    ):
        assert expected in kinds
    assert kinds.index(EventKind.DECIDED) < kinds.index(EventKind.ACTION_STARTED)


def test_each_action_that_does_not_help_is_reverted_then_people_are_called() -> None:
    world = World(AUTO)
    world.poll(40)
    world.sick = True
    world._set_metrics = _always_sick(world)  # type: ignore[method-assign]
    world.poll(60)
    [incident] = world.incidents()
    assert incident.status is IncidentStatus.ESCALATED
    # tune_pool first; when it does not help it is undone and scale (the other playbook
    # that fixes pool exhaustion) is tried; then, out of attempts, it is left to people.
    assert world.cluster.mutations() == [
        ("set_env", CHECKOUT, ("DB_POOL_SIZE", "11")),
        ("set_env", CHECKOUT, ("DB_POOL_SIZE", "3")),
        ("scale", CHECKOUT, 6),
        ("scale", CHECKOUT, 3),
    ]
    assert incident.tried == ["tune_pool", "scale"]
    kinds = world.kinds(incident.id)
    assert EventKind.NOT_RECOVERED in kinds and EventKind.REVERTED in kinds


def _always_sick(world: World):  # type: ignore[no-untyped-def]
    original = World._set_metrics

    def sick() -> None:
        env = world.cluster.workloads[CHECKOUT].env
        saved = env["DB_POOL_SIZE"]
        world.cluster.workloads[CHECKOUT].env["DB_POOL_SIZE"] = "3"  # type: ignore[index]
        original(world)
        world.cluster.workloads[CHECKOUT].env["DB_POOL_SIZE"] = saved  # type: ignore[index]

    return sick


def test_ask_waits_for_an_approval_then_acts() -> None:
    world = World(Policy(default=Outcome.ASK))
    world.poll(40)
    world.sick = True
    world.poll(10)
    [incident] = world.incidents()
    assert incident.status is IncidentStatus.AWAITING_APPROVAL
    assert world.cluster.mutations() == []
    assert len(world.approver.requests) == 1
    [(_, asked, _)] = world.approver.requests
    assert asked.track_record == "tune_pool has no record for pool_exhaustion yet"
    with world.store.unit() as uow:
        uow.add_approval(Approval(incident.id, "alice", True, world.clock.now()))
        uow.commit()
    world.poll(20)
    [incident] = world.incidents()
    assert incident.status is IncidentStatus.RESOLVED
    assert [m[0] for m in world.cluster.mutations()] == ["set_env"]


def test_deny_escalates_without_touching_the_cluster() -> None:
    world = World(Policy(default=Outcome.AUTO, rules=(Rule("no-pools", Outcome.DENY),)))
    world.poll(40)
    world.sick = True
    world.poll(10)
    [incident] = world.incidents()
    assert incident.status is IncidentStatus.ESCALATED
    assert world.cluster.mutations() == []


def test_kill_switch_denies_everything() -> None:
    world = World(Policy(default=Outcome.AUTO, kill_switch=True))
    world.poll(40)
    world.sick = True
    world.poll(10)
    assert world.cluster.mutations() == []
    [incident] = world.incidents()
    assert "kill switch" in " ".join(
        str(e.summary) for e in world.store.tables.events if e.incident_id == incident.id
    )


def test_metrics_outage_holds_and_is_not_read_as_healthy() -> None:
    world = World(AUTO)
    world.poll(40)
    world.sick = True
    world.poll(4)
    [incident] = world.incidents()
    world.metrics.failing = True
    world.poll(30)
    [incident] = world.incidents()
    assert incident.status is not IncidentStatus.RESOLVED, "an outage must not look like recovery"
    assert world.kinds(incident.id).count(EventKind.HELD) == 1, "held once per outage, not per poll"


def test_logs_outage_alone_still_judges_on_metrics() -> None:
    world = World(AUTO)
    world.logs.failing = True
    world.poll(40)
    world.sick = True
    world.poll(30)
    [incident] = world.incidents()
    assert incident.diagnosis is not None and incident.diagnosis.root == CHECKOUT


def test_refused_action_is_recorded_and_escalated() -> None:
    world = World(AUTO)
    world.cluster.refuse = 'admission webhook "policy.example" denied the request'
    world.poll(40)
    world.sick = True
    world.poll(10)
    [incident] = world.incidents()
    assert incident.status is IncidentStatus.ESCALATED
    assert EventKind.ACTION_FAILED in world.kinds(incident.id)
    assert world.store.tables.results, "the refusal is the recorded result of the intent"
    assert not any(r.ok for r in world.store.tables.results.values())


@pytest.mark.parametrize("landed", [True, False])
def test_intent_left_by_a_crash_is_settled_not_repeated(landed: bool) -> None:
    world = World(AUTO)
    with world.store.unit() as uow:
        uow.record_intent(
            key="inc-1:1:0",
            incident_id="inc-1",
            action="scale",
            target=CHECKOUT,
            args={"replicas": 5},
            before={"replicas": 3},
            at=START,
        )
        uow.commit()
    if landed:
        world.cluster.scale(CHECKOUT, 5)
        world.cluster.calls.clear()
    world.poll()
    scaled = [m for m in world.cluster.mutations() if m[0] == "scale"]
    assert scaled == ([] if landed else [("scale", CHECKOUT, 5)])
    assert world.cluster.workloads[CHECKOUT].replicas == 5
    assert "inc-1:1:0" in world.store.tables.results
    world.poll()
    assert len([m for m in world.cluster.mutations() if m[0] == "scale"]) == len(scaled)


def test_a_replica_that_is_not_the_leader_never_acts() -> None:
    world = World(AUTO)
    world.healer.may_act = lambda: False
    world.poll(40)
    world.sick = True
    world.poll(10)
    [incident] = world.incidents()
    assert world.cluster.mutations() == []
    assert EventKind.HELD in world.kinds(incident.id)
    assert incident.attempts == 0


class Crash(BaseException):
    """The process dying mid-step: nothing in the healer may catch it."""


def test_a_crash_mid_step_keeps_the_plan_and_the_timeline_whole() -> None:
    world = World(AUTO)
    world.poll(40)
    world.sick = True
    real_set_env = world.cluster.set_env

    def dies_after_sending(service: ServiceRef, name: str, value: str, *, dry_run: bool = False):  # type: ignore[no-untyped-def]
        real_set_env(service, name, value, dry_run=dry_run)
        if not dry_run:
            raise Crash

    world.cluster.set_env = dies_after_sending  # type: ignore[method-assign]
    with pytest.raises(Crash):
        world.poll(10)
    [incident] = world.incidents()
    assert incident.plan is not None and incident.decision is not None, "saved before the step"
    world.cluster.set_env = real_set_env  # type: ignore[method-assign]
    world.sick = False  # the step had landed: the pool is bigger
    world.poll(12)
    [incident] = world.incidents()
    kinds = world.kinds(incident.id)
    assert incident.status is IncidentStatus.RESOLVED, kinds
    assert [m[0] for m in world.cluster.mutations()] == ["set_env"], "sent once"
    for kind in (EventKind.PLANNED, EventKind.DECIDED, EventKind.ACTION_SUCCEEDED):
        assert kinds.count(kind) == 1, (kind, kinds)
