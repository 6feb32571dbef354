"""Verification's streak and deadline, and counting approvals."""

from __future__ import annotations

from datetime import UTC, datetime

from healer.domain.model import (
    Anomaly,
    AnomalyKind,
    Approval,
    Incident,
    IncidentStatus,
    ServiceRef,
    Verification,
)
from healer.domain.playbook import VerifySpec
from healer.pipeline.approval import tally
from healer.pipeline.verification import Progress, healthy, judged_on, verify

NOW = datetime(2026, 1, 5, tzinfo=UTC)
A, B = ServiceRef("shop", "a"), ServiceRef("shop", "b")
SPEC = VerifySpec(within_polls=6, healthy_polls=3)


def mitigating() -> Incident:
    return Incident(
        "inc-1",
        "t",
        NOW,
        NOW,
        IncidentStatus.MITIGATING,
        {A, B},
        [],
        verification=Verification(NOW),
    )


def test_recovered_needs_a_streak_of_healthy_polls() -> None:
    incident = mitigating()
    polls = [{A: True, B: True}, {A: True, B: False}, {A: True, B: True}, {A: True, B: True}]
    results = [verify(incident, spec=SPEC, health=h) for h in polls]
    assert results[-1] is Progress.WAITING, "the unhealthy poll reset the streak"
    assert verify(incident, spec=SPEC, health={A: True, B: True}) is Progress.RECOVERED


def test_no_data_neither_counts_nor_stops_the_deadline() -> None:
    incident = mitigating()
    results = [verify(incident, spec=SPEC, health={A: True}) for _ in range(6)]
    assert results[:-1] == [Progress.WAITING] * 5
    assert results[-1] is Progress.FAILED, "B never reported: recovery was never shown"


def test_a_fixed_target_with_others_still_sick_is_kept_not_reverted() -> None:
    incident = mitigating()
    results = [verify(incident, spec=SPEC, health={A: True, B: False}, target=A) for _ in range(6)]
    assert results[:-1] == [Progress.WAITING] * 5, "others may still recover in time"
    assert results[-1] is Progress.TARGET_RECOVERED
    sick = mitigating()
    flapping = [{A: True, B: False}, {A: False, B: False}] * 3
    assert [verify(sick, spec=SPEC, health=h, target=A) for h in flapping][-1] is Progress.FAILED


def test_a_target_that_just_turned_healthy_at_the_deadline_earns_one_more_window() -> None:
    incident = mitigating()
    sick, well = {A: False, B: False}, {A: True, B: False}
    results = [verify(incident, spec=SPEC, health=h, target=A) for h in [sick] * 5 + [well]]
    assert results[-1] is Progress.EXTENDED
    assert incident.verification is not None and incident.verification.extended
    more = [verify(incident, spec=SPEC, health=well, target=A) for _ in range(6)]
    assert more[:-1] == [Progress.WAITING] * 5 and more[-1] is Progress.TARGET_RECOVERED
    again = mitigating()
    relapsing = [sick] * 5 + [well] + [sick] * 6
    verdicts = [verify(again, spec=SPEC, health=h, target=A) for h in relapsing]
    assert verdicts[5] is Progress.EXTENDED and verdicts[-1] is Progress.FAILED, "only once"


def test_a_playbook_may_judge_recovery_on_some_signals_only() -> None:
    slow = Anomaly(A, AnomalyKind.LATENCY, NOW, NOW, 0.9, 0.1, 0.3, 8.0)
    observed = {A: False, B: None}
    assert judged_on(observed, [slow], frozenset()) == observed
    assert judged_on(observed, [slow], frozenset({AnomalyKind.ERRORS})) == {A: True, B: None}
    assert judged_on(observed, [slow], frozenset({AnomalyKind.LATENCY})) == {A: False, B: None}


def test_healthy_is_three_valued() -> None:
    assert healthy([A, B], {A: True, B: True}) is True
    assert healthy([A, B], {A: True, B: False}) is False
    assert healthy([A, B], {A: True, B: None}) is None
    assert healthy([A, B], {A: True}) is None


def test_tally_counts_distinct_people_and_any_rejection_wins() -> None:
    yes = Approval("inc-1", "alice", True, NOW)
    assert tally([yes], 1) is True
    assert tally([yes, yes], 2) is None, "the same person twice is one approval"
    assert tally([yes, Approval("inc-1", "bob", True, NOW)], 2) is True
    assert tally([yes, Approval("inc-1", "bob", False, NOW)], 1) is False
