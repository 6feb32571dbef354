"""Grouping, diagnosis and planning, each on hand-made facts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path

from healer.detect.detector import Observation, TemplateCount
from healer.detect.logclass import LogClass
from healer.domain.model import (
    Anomaly,
    AnomalyKind,
    Cause,
    Edge,
    Incident,
    IncidentStatus,
    MetricsSnapshot,
    Rollout,
    ServiceRef,
    Signal,
    Topology,
    Workload,
)
from healer.pipeline.correlation import group
from healer.pipeline.diagnosis import Facts, diagnose
from healer.pipeline.planning import RulePlanner, candidates, plan
from healer.playbooks import load_playbooks

NOW = datetime(2026, 1, 5, 12, tzinfo=UTC)
FRONT, CHECKOUT, CATALOG, ADS = (
    ServiceRef("shop", n) for n in ("frontend", "checkout", "catalog", "ads")
)
TOPOLOGY = Topology(
    frozenset({FRONT, CHECKOUT, CATALOG, ADS}),
    frozenset({Edge(FRONT, CHECKOUT), Edge(FRONT, CATALOG), Edge(CHECKOUT, CATALOG)}),
)
PLAYBOOKS = load_playbooks(Path(__file__).parents[2] / "playbooks")


def anomaly(service: ServiceRef, kind: AnomalyKind = AnomalyKind.LATENCY, ago: int = 60) -> Anomaly:
    since = NOW - timedelta(seconds=ago)
    return Anomaly(service, kind, since, NOW, 1.0, 0.1, 0.16, 20.0, detail=f"{kind} up")


def ids():  # type: ignore[no-untyped-def]
    numbers = count(1)
    return lambda: f"inc-{next(numbers)}"


def incident_of(*anomalies: Anomaly) -> Incident:
    return Incident(
        "inc-1", "t", NOW, NOW, IncidentStatus.OPEN, {a.service for a in anomalies}, list(anomalies)
    )


def test_connected_symptoms_form_one_incident() -> None:
    found = [anomaly(FRONT), anomaly(CATALOG), anomaly(CHECKOUT, AnomalyKind.ERRORS)]
    result = group(found, incidents=[], topology=TOPOLOGY, now=NOW, new_id=ids())
    assert len(result.opened) == 1
    assert result.opened[0].services == {FRONT, CATALOG, CHECKOUT}


def test_unrelated_services_open_separate_incidents() -> None:
    result = group(
        [anomaly(CATALOG), anomaly(ADS)], incidents=[], topology=TOPOLOGY, now=NOW, new_id=ids()
    )
    assert sorted(len(i.services) for i in result.opened) == [1, 1]


def test_a_caller_joins_the_open_incident_of_its_callee() -> None:
    existing = incident_of(anomaly(CATALOG))
    result = group(
        [anomaly(CATALOG), anomaly(FRONT)],
        incidents=[existing],
        topology=TOPOLOGY,
        now=NOW,
        new_id=ids(),
    )
    assert result.opened == []
    assert [a.service for a in result.joined["inc-1"]] == [FRONT], "known symptoms are not re-added"


def test_an_escalated_incident_takes_symptoms_but_not_new_problems() -> None:
    existing = incident_of(anomaly(CATALOG), anomaly(FRONT))
    existing.status = IncidentStatus.ESCALATED
    again = group(
        [anomaly(FRONT, AnomalyKind.ERRORS)], incidents=[existing], topology=TOPOLOGY,
        now=NOW, new_id=ids(),
    )  # fmt: skip
    assert again.opened == [] and [a.service for a in again.joined["inc-1"]] == [FRONT]
    spread = group(
        [anomaly(FRONT), anomaly(CHECKOUT, AnomalyKind.ERRORS)], incidents=[existing],
        topology=TOPOLOGY, now=NOW, new_id=lambda: "inc-2",
    )  # fmt: skip
    assert spread.joined == {}, "the escalated incident knows FRONT's latency already"
    [new] = spread.opened
    assert new.services == {CHECKOUT}, "the new problem is judged on its own"
    later = group(
        [anomaly(FRONT, AnomalyKind.ERRORS), anomaly(CHECKOUT), anomaly(CATALOG)],
        incidents=[existing, new], topology=TOPOLOGY, now=NOW, new_id=ids(),
    )  # fmt: skip
    assert later.opened == [], "one incident for the new problem, not one per poll"
    assert [a.service for a in later.joined["inc-1"]] == [FRONT]
    assert [a.kind for a in later.joined[new.id]] == [AnomalyKind.LATENCY]


def facts(  # type: ignore[no-untyped-def]
    snapshot: dict, observation: list[Anomaly], templates=None, workloads=None, load=None
) -> Facts:
    obs = Observation(NOW, tuple(observation), {}, templates or {}, load or {})
    return Facts(MetricsSnapshot(NOW, snapshot), obs, TOPOLOGY, workloads or {})


def test_the_slow_callee_is_the_root_not_its_callers() -> None:
    found = [anomaly(FRONT), anomaly(CHECKOUT), anomaly(CATALOG, ago=90)]
    calm = {Signal.CPU_UTILISATION: 0.3}
    f = facts({FRONT: calm, CHECKOUT: calm, CATALOG: calm}, found)
    d = diagnose(incident_of(*found), facts=f, now=NOW)
    assert d.root == CATALOG
    assert d.cause is Cause.SLOW_DEPENDENCY
    assert {h.service for h in d.ranked} >= {FRONT, CHECKOUT}, "runners-up are kept"


def test_hot_cpu_is_saturation() -> None:
    found = [anomaly(FRONT), anomaly(CATALOG)]
    f = facts(
        {
            FRONT: {Signal.CPU_UTILISATION: 0.4},
            CATALOG: {Signal.CPU_UTILISATION: 1.3, Signal.CPU_THROTTLING: 0.6},
        },
        found,
    )
    d = diagnose(incident_of(*found), facts=f, now=NOW)
    assert (d.root, d.cause) == (CATALOG, Cause.CPU_SATURATION)
    assert any("CPU at 130%" in e.summary for e in d.evidence)


def test_rollout_before_new_exceptions_is_a_bad_deploy() -> None:
    found = [anomaly(FRONT, AnomalyKind.ERRORS), anomaly(CATALOG, AnomalyKind.ERRORS)]
    deployed = NOW - timedelta(minutes=3)
    workloads = {
        CATALOG: Workload(
            CATALOG,
            2,
            8,
            "catalog:1.8",
            {},
            (
                Rollout(7, "catalog:1.7", NOW - timedelta(days=2)),
                Rollout(8, "catalog:1.8", deployed),
            ),
        )
    }
    trace = TemplateCount(
        3,
        "java.lang.NullPointerException: <*>",
        LogClass.EXCEPTION,
        40.0,
        deployed + timedelta(seconds=30),
        True,
    )
    f = facts({FRONT: {}, CATALOG: {}}, found, {CATALOG: (trace,)}, workloads)
    d = diagnose(incident_of(*found), facts=f, now=NOW)
    assert (d.root, d.cause) == (CATALOG, Cause.BAD_DEPLOY)
    assert any("NullPointerException" in e.summary for e in d.evidence)


def test_candidates_are_only_playbooks_that_fix_the_cause() -> None:
    found = [anomaly(CATALOG)]
    d = diagnose(
        incident_of(*found), facts=facts({CATALOG: {Signal.CPU_UTILISATION: 1.2}}, found), now=NOW
    )
    assert [p.name for p in candidates(d, PLAYBOOKS)] == ["scale", "open_pr"], "preferred first"


def test_scale_is_sized_from_cpu_and_bounded_by_the_playbook() -> None:
    found = [anomaly(CATALOG)]
    snapshot = {CATALOG: {Signal.CPU_UTILISATION: 1.2}}
    d = diagnose(incident_of(*found), facts=facts(snapshot, found), now=NOW)
    workload = Workload(CATALOG, 4, 1, "catalog:1", {})
    chosen = plan(
        incident_of(*found),
        diagnosis=d,
        planner=RulePlanner(),
        playbooks=PLAYBOOKS,
        workload=workload,
        snapshot=MetricsSnapshot(NOW, snapshot),
    )
    assert chosen is not None and chosen.params == {"replicas": 8}  # 4 × 1.2 / 0.6
    huge = Workload(CATALOG, 40, 1, "catalog:1", {})
    chosen = plan(
        incident_of(*found),
        diagnosis=d,
        planner=RulePlanner(),
        playbooks=PLAYBOOKS,
        workload=huge,
        snapshot=MetricsSnapshot(NOW, snapshot),
    )
    assert chosen is not None and chosen.params == {"replicas": 50}, (
        "capped at the playbook's maximum"
    )
