"""What a playbook's own rules do in the loop: preconditions, relative limits, cooldown,
and its revert steps (or none) when it did not help."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import cast

from healer.domain.codechange import CodeLocation, FileVersion, PullRequest
from healer.domain.model import (
    ActionResult,
    Anomaly,
    AnomalyKind,
    Cause,
    Diagnosis,
    EventKind,
    Hypothesis,
    Incident,
    IncidentStatus,
    MetricsSnapshot,
    Plan,
    Risk,
    Signal,
    TimelineEvent,
    Workload,
)
from healer.domain.playbook import ActionKind, Preconditions, RevertMode, Step
from healer.pipeline.acting import in_place
from healer.pipeline.context import Poll
from healer.pipeline.planning import still_short, took_effect
from healer.pipeline.pull_requests import CodeChanges
from healer.pipeline.verification import helped
from tests.pipeline.test_loop import AUTO, CHECKOUT, FRONT, World, _always_sick


def only(world: World, name: str, **changes: object) -> None:
    """The world's healer knows one playbook, changed as given."""
    playbook = dataclasses.replace(world.healer.playbooks[name], **changes)  # type: ignore[arg-type]
    world.healer.playbooks = {name: playbook}


def sick_forever(world: World, attempts: int | None = None) -> None:
    if attempts is not None:  # why: one attempt leaves no room for a further step
        world.healer.timing = dataclasses.replace(world.healer.timing, max_attempts=attempts)
    world.poll(40)
    world.sick = True
    world._set_metrics = _always_sick(world)  # type: ignore[method-assign]


def escalation(world: World) -> str:
    [incident] = world.incidents()
    with world.store.unit() as uow:
        [found] = [e.summary for e in uow.events(incident.id) if e.kind is EventKind.ESCALATED]
    return found


def test_an_unmet_precondition_rules_the_playbook_out_and_says_why() -> None:
    world = World(AUTO)
    only(world, "tune_pool", preconditions=Preconditions(rolled_out_within=timedelta(hours=1)))
    sick_forever(world)
    world.poll(10)
    assert world.cluster.mutations() == []
    assert "tune_pool: no rollout of shop/checkout in the last 1:00:00" in escalation(world)


def test_a_relative_limit_stops_a_plan_that_grows_too_much() -> None:
    world = World(AUTO)
    spec = dataclasses.replace(
        world.healer.playbooks["tune_pool"].param("pool_size"),  # type: ignore[type-var]
        max_factor=1.5,
        current="env:{env}",
    )
    only(world, "tune_pool", params=(spec, world.healer.playbooks["tune_pool"].param("env")))
    sick_forever(world)
    world.poll(10)
    assert world.cluster.mutations() == []
    assert "more than 1.5× the current 3" in escalation(world)


def test_a_cooldown_keeps_the_playbook_from_running_again_on_the_same_target() -> None:
    world = World(AUTO)
    only(world, "scale", cooldown=timedelta(hours=1))
    with world.store.unit() as uow:
        uow.record_intent(
            key="earlier:1:0",
            incident_id="earlier",
            action="scale",
            target=CHECKOUT,
            args={"replicas": 4},
            before={"replicas": 3},
            at=world.clock.now(),
        )
        done = ActionResult("earlier:1:0", "scale", CHECKOUT, True, "scaled", {}, {})
        uow.record_result(done, world.clock.now())
        uow.commit()
    world.clock.advance(timedelta(minutes=5))
    sick_forever(world)
    world.poll(10)
    scaled = [m for m in world.cluster.mutations() if m[0] == "scale"]
    assert scaled == []
    assert "within its cooldown of 1:00:00" in escalation(world)


def test_revert_none_leaves_the_change_and_revert_steps_run_instead_of_the_inverse() -> None:
    left = World(AUTO)
    only(left, "tune_pool", revert_mode=RevertMode.NONE)
    sick_forever(left, attempts=1)
    left.poll(30)
    assert [m[0] for m in left.cluster.mutations()] == ["set_env"], "nothing undone"
    own = World(AUTO)
    undo = (Step(ActionKind.SET_ENV, {"name": "{env}", "value": "5"}),)
    only(own, "tune_pool", revert_mode=RevertMode.STEPS, revert=undo)
    sick_forever(own, attempts=1)
    own.poll(30)
    assert own.cluster.mutations() == [
        ("set_env", CHECKOUT, ("DB_POOL_SIZE", "11")),
        ("set_env", CHECKOUT, ("DB_POOL_SIZE", "5")),
    ]
    [incident] = own.incidents()
    assert incident.status is IncidentStatus.ESCALATED


def test_each_verdict_joins_the_playbooks_track_record_shown_with_the_next_plan() -> None:
    world = World(AUTO)
    world.poll(40)
    world.sick = True
    world.poll(30)  # tune_pool fixes it
    with world.store.unit() as uow:
        assert [(r.playbook, r.cause, r.worked, r.failed) for r in uow.outcomes()] == [
            ("tune_pool", "pool_exhaustion", 1, 0)
        ]
    world.cluster.workloads[CHECKOUT] = dataclasses.replace(
        world.cluster.workloads[CHECKOUT], env={"DB_POOL_SIZE": "3"}
    )
    world.poll(30)  # the same trouble again: the plan cites the record
    second = max(world.incidents(), key=lambda i: i.opened_at)
    with world.store.unit() as uow:
        [planned] = [e for e in uow.events(second.id) if e.kind is EventKind.PLANNED]
    assert "Track record: tune_pool resolved 1 of 1 pool_exhaustion incidents" in planned.summary
    assert (planned.data["worked"], planned.data["failed"]) == (1, 0)


class GitOpsPlanner:
    """Always proposes the pull request: what a team whose manifests live in git wants."""

    name = "gitops"

    def plan(self, *, incident, diagnosis, candidates, workload, snapshot):  # type: ignore[no-untyped-def]
        return Plan("open_pr", diagnosis.root, {"replicas": 6}, Risk.LOW, "in git", self.name)


class MemoryCodeHost:
    def __init__(self) -> None:
        self.proposed: list[tuple[str, str]] = []

    def default_branch(self, repository: str) -> str:
        return "main"

    def read_file(self, repository: str, path: str, *, ref: str) -> FileVersion:
        return FileVersion("replicaCount: 3\n", "sha1")

    def propose(self, *, repository, branch, title, body, message, changes, base=None):  # type: ignore[no-untyped-def]
        self.proposed.append((branch, changes[next(iter(changes))]))
        return PullRequest(7, "https://git.example/pull/7", branch, len(self.proposed) == 1)


def test_a_pull_request_hands_the_incident_to_people_with_its_link() -> None:
    world = World(AUTO)
    host = MemoryCodeHost()
    where = {CHECKOUT: CodeLocation("acme/checkout", "values.yaml", {"replicas": "replicaCount"})}
    world.healer.code = CodeChanges(host, where, "https://healer.example")
    world.healer.planner = GitOpsPlanner()
    # this world's trouble is an exhausted pool; let the GitOps team's copy cover it
    only(world, "open_pr", fixes=frozenset({Cause.POOL_EXHAUSTION}))
    sick_forever(world)
    world.poll(10)
    assert world.cluster.mutations() == [], "the cluster is not touched"
    assert [text for _, text in host.proposed] == ["replicaCount: 6\n"]
    assert "the fix is proposed in git: pull request #7 opened" in escalation(world)


def test_what_is_still_in_place_leaves_out_every_change_a_revert_undid() -> None:
    def result(key: str, ok: bool = True) -> ActionResult:
        return ActionResult(key, "scale", CHECKOUT, ok, key)

    at = datetime(2026, 1, 5, tzinfo=UTC)
    incident = Incident("inc-1", "t", at, at, IncidentStatus.MITIGATING, {CHECKOUT}, [])
    incident.actions = [
        result("inc-1:0:0"),  # undone by the inverse of its own step
        result("inc-1:0:0:revert:0"),
        result("inc-1:1:0"),  # undone by its playbook's revert steps
        result("inc-1:1:1"),
        result("inc-1:1:revert:0"),
        result("inc-1:2:0", ok=False),  # failed: nothing to undo
        result("inc-1:3:0"),  # still in place, and a further step after it
        result("inc-1:4:0"),
    ]
    assert [r.key for r in in_place(incident)] == ["inc-1:3:0", "inc-1:4:0"]


def test_a_change_counts_as_in_effect_once_the_service_shows_the_size_asked_for() -> None:
    at = datetime(2026, 1, 5, tzinfo=UTC)
    workload = Workload(CHECKOUT, 3, 1, "checkout:1", {"DB_POOL_SIZE": "11"})

    def shown(params: dict[str, int], signals: dict[Signal, float]) -> bool:
        plan = Plan("p", CHECKOUT, params, Risk.LOW, "", "rules")
        return took_effect(plan, MetricsSnapshot(at, {CHECKOUT: signals}), workload)

    assert not shown({"replicas": 6}, {Signal.REPLICAS: 4}), "pods still starting"
    assert shown({"replicas": 6}, {Signal.REPLICAS: 6})
    assert not shown({"pool_size": 11}, {Signal.POOL_MAX: 9.0}), "3 × 3: not rolled yet"
    assert shown({"pool_size": 11}, {Signal.POOL_MAX: 33.0})
    assert shown({"pool_size": 11}, {Signal.POOL_MAX: 44.0, Signal.REPLICAS: 4})
    assert shown({"pool_size": 11}, {}), "nothing measured: no reason to doubt it"


def test_a_resource_is_still_short_while_used_past_what_the_change_aimed_for() -> None:
    at = datetime(2026, 1, 5, tzinfo=UTC)
    plan = Plan("scale", CHECKOUT, {"replicas": 4}, Risk.LOW, "", "rules")

    def short(cause: Cause, signals: dict[Signal, float]) -> bool:
        return still_short(plan, cause, MetricsSnapshot(at, {CHECKOUT: signals}))

    assert short(Cause.CPU_SATURATION, {Signal.CPU_UTILISATION: 0.7}), "aim is 60 %"
    assert not short(Cause.CPU_SATURATION, {Signal.CPU_UTILISATION: 0.5})
    assert not short(Cause.CPU_SATURATION, {}), "unmeasured is not short"
    assert short(Cause.TRAFFIC_SURGE, {Signal.CPU_UTILISATION: 0.9})
    assert short(Cause.POOL_EXHAUSTION, {Signal.POOL_USED: 20.0, Signal.POOL_MAX: 20.0})
    assert short(Cause.POOL_EXHAUSTION, {Signal.POOL_USED: 5.0, Signal.POOL_PENDING: 3.0})
    assert not short(Cause.POOL_EXHAUSTION, {Signal.POOL_USED: 12.0, Signal.POOL_MAX: 20.0})
    assert not short(Cause.SLOW_DEPENDENCY, {Signal.CPU_UTILISATION: 0.95}), "not a sized cause"


def test_a_change_that_halved_every_symptom_but_did_not_cure_is_left_in_place() -> None:
    world = World(AUTO)
    only(world, "tune_pool")
    sick_forever(world, attempts=1)
    original = world._set_metrics

    def better_once_raised() -> None:
        original()
        if world.cluster.workloads[CHECKOUT].env["DB_POOL_SIZE"] != "3":
            # p99 still 2.5× its usual 0.08 s, errors at their usual level
            world.metrics.values[CHECKOUT][Signal.LATENCY_P99] = 0.2
            world.metrics.values[CHECKOUT][Signal.ERROR_RATIO] = 0.001

    world._set_metrics = better_once_raised  # type: ignore[method-assign]
    world.poll(30)
    assert [m[0] for m in world.cluster.mutations()] == ["set_env"], "nothing undone"
    [incident] = world.incidents()
    assert incident.status is IncidentStatus.ESCALATED
    why = escalation(world)
    assert "tune_pool helped (latency" in why and "left in place" in why, why


def test_a_change_is_judged_helpful_only_if_every_symptom_of_its_target_halved() -> None:
    at = datetime(2026, 1, 5, tzinfo=UTC)

    def seen(kind: AnomalyKind, value: float) -> Anomaly:
        return Anomaly(CHECKOUT, kind, at, at, value, value / 10, value / 5, 9.0)

    incident = Incident("inc-1", "t", at, at, IncidentStatus.MITIGATING, {CHECKOUT}, [])
    incident.anomalies = [seen(AnomalyKind.LATENCY, 2.0), seen(AnomalyKind.ERRORS, 0.4)]

    def moved(p99: float, errors: float) -> list[str]:
        now = {Signal.LATENCY_P99: p99, Signal.ERROR_RATIO: errors}
        return helped(incident, CHECKOUT, MetricsSnapshot(at, {CHECKOUT: now}))

    assert moved(0.06, 0.0) == ["latency 2000 ms → 60 ms", "errors 40.0% → 0.0%"]
    assert moved(0.06, 0.3) == [], "errors barely moved"
    assert moved(1.9, 0.0) == [], "latency barely moved"
    assert helped(incident, FRONT, MetricsSnapshot(at, {})) == [], "nothing recorded there"


def _earlier(world: World, id_: str, *kinds: EventKind) -> Diagnosis:
    """An incident about checkout's surge, an hour old, whose scale-out ended in `kinds`."""
    now = world.clock.now()
    diagnosis = Diagnosis(now, (Hypothesis(FRONT, Cause.TRAFFIC_SURGE, 3.0, ()),), frozenset())
    incident = Incident(id_, "t", now, now, IncidentStatus.RESOLVED, {FRONT}, [], diagnosis)
    with world.store.unit() as uow:
        uow.add_incident(incident)
        for kind in kinds:
            uow.append_event(TimelineEvent(id_, now, kind, str(kind), {"playbook": "scale"}))
        uow.commit()
    return diagnosis


def test_only_a_change_that_was_undone_counts_against_the_same_plan_later() -> None:
    from healer.pipeline.deciding import failed_lately

    world = World(AUTO)
    later = Incident("inc-now", "t", world.clock.now(), world.clock.now(),
                     IncidentStatus.OPEN, {FRONT}, [])  # fmt: skip
    poll = cast(Poll, SimpleNamespace(now=world.clock.now()))
    # a step that fell short and was taken further, tier after tier of a surge: no failure
    kept = _earlier(world, "inc-kept", EventKind.NOT_RECOVERED, EventKind.RECOVERED)
    assert failed_lately(world.healer, later, kept, poll) == {}
    # a scale-out that did not help and was scaled back in: doing it again would not either
    _earlier(world, "inc-undone", EventKind.NOT_RECOVERED, EventKind.REVERTED)
    assert failed_lately(world.healer, later, kept, poll) == {
        "scale": "it did not help the same problem in inc-undone"
    }
