"""The operator's alert rules the healer is compared with, and the run's scoring."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from healer.bench.baselines import Point, Series, burn_rate, static_rule
from healer.bench.score import Expected, Outcomes, score
from healer.bench.summary import summarise
from healer.domain.model import (
    Cause,
    Decision,
    Diagnosis,
    EventKind,
    Hypothesis,
    Incident,
    IncidentStatus,
    Outcome,
    Plan,
    Risk,
    ServiceRef,
    TimelineEvent,
)

T0 = datetime(2026, 1, 5, tzinfo=UTC)
STEP = timedelta(seconds=15)
SVC = ServiceRef("shop", "checkout")


def series(points: list[Point]) -> Series:
    s = Series(STEP)
    for i, p in enumerate(points):
        s.add(T0 + i * STEP, {"checkout": p})
    return s


def test_static_rule_waits_for_its_for_clause() -> None:
    healthy = [Point(0.1, 0.001, 100.0)] * 240  # the first hour sets the SLO: 1.5 × 0.1
    spike = [Point(1.0, 0.001, 100.0)] * 10  # 2.5 minutes: shorter than `for: 5m`
    sustained = [Point(1.0, 0.001, 100.0)] * 30
    alerts = static_rule(series(healthy + spike + healthy[:20] + sustained))
    assert len(alerts) == 1
    assert alerts[0].at == T0 + (240 + 10 + 20 + 20) * STEP


def test_burn_rate_fires_on_a_fast_burn_only() -> None:
    quiet = [Point(0.1, 0.0005, 100.0)] * 300
    burning = [Point(0.1, 0.5, 100.0)] * 40
    alerts = burn_rate(series(quiet + burning))
    assert len(alerts) == 1 and alerts[0].at >= T0 + 300 * STEP
    assert burn_rate(series(quiet)) == []


def test_score_reads_detection_diagnosis_action_and_recovery() -> None:
    onset = T0 + timedelta(minutes=95)
    opened = onset + timedelta(seconds=60)
    ranked = (Hypothesis(SVC, Cause.POOL_EXHAUSTION, 4.0, ()),)
    incident = Incident(
        "inc-1",
        "t",
        opened,
        opened,
        IncidentStatus.RESOLVED,
        {SVC},
        [],
        diagnosis=Diagnosis(opened, ranked, frozenset({SVC})),
        plan=Plan("tune_pool", SVC, {"pool_size": 10}, Risk.MEDIUM, "", "rules"),
        decision=Decision(Outcome.AUTO, "ok"),
        attempts=1,
    )

    def ev(kind: EventKind, minutes: float, **data: str) -> TimelineEvent:
        return TimelineEvent("inc-1", onset + timedelta(minutes=minutes), kind, str(kind), data)

    events = [
        ev(EventKind.DECIDED, 2, outcome="auto"),
        ev(EventKind.ACTION_SUCCEEDED, 2),
        ev(EventKind.RECOVERED, 5),
    ]
    early = Incident("inc-0", "t", T0, T0, IncidentStatus.RESOLVED, {SVC}, [])
    expected = [Expected(SVC, Cause.POOL_EXHAUSTION, ("tune_pool",), onset)]
    record = score("x", expected, Outcomes([early, incident], {"inc-1": events}, {}))
    assert record["detected"] and record["ttd_s"] == 60.0
    assert record["root_cause_at1"] and record["playbook"] == "tune_pool"
    assert record["mitigated"] and record["ttm_s"] == 300.0
    assert record["false_incidents"] == 1
    assert record["unsafe_actions"] == 0 and record["actions"] == 1


def test_an_action_without_an_allowing_decision_is_unsafe() -> None:
    events = [
        TimelineEvent("inc-1", T0, EventKind.DECIDED, "ask", {"outcome": "ask"}),
        TimelineEvent("inc-1", T0, EventKind.ACTION_SUCCEEDED, "scaled", {}),
    ]
    incident = Incident("inc-1", "t", T0, T0, IncidentStatus.RESOLVED, {SVC}, [])
    record = score("x", [], Outcomes([incident], {"inc-1": events}, {}))
    assert record["unsafe_actions"] == 1


def test_a_fault_no_playbook_cures_is_scored_on_its_escalation_not_as_unmitigated() -> None:
    onset = T0 + timedelta(minutes=95)
    opened = onset + timedelta(seconds=30)
    ranked = (Hypothesis(SVC, Cause.DEPENDENCY_ERRORS, 2.0, ()),)

    def incident(id_: str) -> Incident:
        diagnosis = Diagnosis(opened, ranked, frozenset({SVC}))
        status = IncidentStatus.ESCALATED
        return Incident(id_, "t", opened, opened, status, {SVC}, [], diagnosis=diagnosis)

    def ev(kind: EventKind) -> TimelineEvent:
        return TimelineEvent("inc-1", opened, kind, str(kind), {"outcome": "auto"})

    expected = [Expected(SVC, Cause.DEPENDENCY_ERRORS, (), onset)]
    handed_over = [ev(EventKind.DIAGNOSED), ev(EventKind.ESCALATED)]
    meddled = [ev(EventKind.DECIDED), ev(EventKind.ACTION_SUCCEEDED), ev(EventKind.ESCALATED)]
    silent = [ev(EventKind.DIAGNOSED)]
    records = [
        score(name, expected, Outcomes([incident("inc-1")], {"inc-1": events}, {}))
        for name, events in (("a", handed_over), ("b", meddled), ("c", silent))
    ]
    assert [r["mitigated"] for r in records] == [None, None, None]
    assert [r["escalated"] for r in records] == [True, False, False]
    cured = Expected(SVC, Cause.BAD_DEPLOY, ("rollback",), onset)
    missed = score("d", [cured], Outcomes([], {}, {}))
    summary = summarise([*records, missed])
    assert summary["escalated_rate"] == round(1 / 3, 3)
    assert summary["mitigated_rate"] == 0.0, "only the curable fault counts, and it was missed"


def test_a_fault_counts_as_detected_only_where_the_incident_noticed_its_service() -> None:
    onset = T0 + timedelta(minutes=95)
    opened = onset + timedelta(seconds=30)
    other = ServiceRef("default", "backend-3")
    ranked = (
        Hypothesis(other, Cause.CPU_SATURATION, 3.0, ()),
        Hypothesis(SVC, Cause.UNKNOWN, 0.0, ()),  # a candidate with no evidence
    )
    diagnosis = Diagnosis(opened, ranked, frozenset({other}))
    incident = Incident(
        "inc-1", "t", opened, opened, IncidentStatus.ESCALATED, {other}, [], diagnosis=diagnosis
    )
    expected = [Expected(SVC, Cause.SLOW_DEPENDENCY, ("scale",), onset)]
    record = score("x", expected, Outcomes([incident], {}, {}))
    assert record["detected"] is False
    suspected = (ranked[0], Hypothesis(SVC, Cause.SLOW_DEPENDENCY, 1.0, ()))
    incident.diagnosis = Diagnosis(opened, suspected, frozenset({other}))
    record = score("x", expected, Outcomes([incident], {}, {}))
    assert record["detected"] is True and record["root_cause_at3"] is True


def test_a_recovery_that_left_the_faulty_service_ill_mitigated_nothing() -> None:
    onset = T0 + timedelta(minutes=95)
    opened = onset + timedelta(seconds=30)
    carts = ServiceRef("shop", "carts")
    diagnosis = Diagnosis(opened, (Hypothesis(SVC, Cause.TRAFFIC_SURGE, 3.0, ()),), frozenset())
    incident = Incident(
        "inc-1", "t", opened, opened, IncidentStatus.RESOLVED, {SVC, carts}, [],
        diagnosis=diagnosis,
    )  # fmt: skip
    expected = [Expected(SVC, Cause.TRAFFIC_SURGE, ("scale",), onset)]

    def recovered(still: list[str]) -> dict[str, object]:
        at = onset + timedelta(minutes=8)
        ev = TimelineEvent("inc-1", at, EventKind.RECOVERED, "r", {"still_unhealthy": still})
        return score("x", expected, Outcomes([incident], {"inc-1": [ev]}, {}))

    assert recovered([str(carts)])["mitigated"] is True
    assert recovered([str(SVC)])["mitigated"] is False


def test_a_fault_cured_in_steps_is_mitigated_when_its_own_service_recovered() -> None:
    onset = T0 + timedelta(minutes=95)
    carts = ServiceRef("shop", "carts")

    def opened(id_: str, minutes: int) -> Incident:
        at = onset + timedelta(minutes=minutes)
        return Incident(id_, "t", at, at, IncidentStatus.RESOLVED, {SVC, carts}, [])

    def recovery(id_: str, minutes: int, still: list[str]) -> TimelineEvent:
        at = onset + timedelta(minutes=minutes)
        return TimelineEvent(id_, at, EventKind.RECOVERED, "r", {"still_unhealthy": still})

    events = {
        "inc-1": [recovery("inc-1", 6, [str(SVC)])],
        "inc-2": [recovery("inc-2", 11, [])],
    }
    expected = [Expected(SVC, Cause.TRAFFIC_SURGE, ("scale",), onset)]
    outcomes = Outcomes([opened("inc-1", 1), opened("inc-2", 7)], events, {})
    record = score("x", expected, outcomes)
    assert record["mitigated"] is True and record["ttm_s"] == 660.0
    assert record["false_incidents"] == 0
