"""Scoring one scenario run: what a perfect healer would have concluded, against what it did.

The record's fields are a contract (benchmarks.md): other tools read them. Times are in
simulated seconds from the fault's onset; `None` where a measure does not apply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from healer.bench.baselines import Alert
from healer.domain.model import Cause, EventKind, Incident, Outcome, ServiceRef, TimelineEvent


@dataclass(frozen=True)
class Expected:
    service: ServiceRef
    cause: Cause
    remediation: tuple[str, ...]
    onset: datetime


@dataclass(frozen=True)
class Outcomes:
    """What happened in a run: the incidents with their timelines, and the baselines' alerts."""

    incidents: Sequence[Incident]
    events: Mapping[str, Sequence[TimelineEvent]]
    baselines: Mapping[str, Sequence[Alert]]


def score(name: str, expected: Sequence[Expected], outcomes: Outcomes) -> dict[str, Any]:
    about = {e: _involving(e, outcomes.incidents) for e in expected}
    faults = [_score_fault(e, about[e], outcomes) for e in expected]
    first = faults[0] if faults else _no_fault()
    matched_ids = {found[0].id for found in about.values() if found}
    record = {
        "name": name,
        **first,
        "false_incidents": _false_incidents(outcomes.incidents, matched_ids, expected),
        "unsafe_actions": sum(_unsafe(outcomes.events.get(i.id, ())) for i in outcomes.incidents),
        "actions": sum(_mutations(outcomes.events.get(i.id, ())) for i in outcomes.incidents),
        "incidents": len(outcomes.incidents),
        "baselines": {
            rule: _baseline(alerts, expected) for rule, alerts in outcomes.baselines.items()
        },
    }
    if len(faults) > 1:
        record["faults"] = faults
    return record


def _involving(expected: Expected, incidents: Sequence[Incident]) -> list[Incident]:
    """The incidents opened after the onset that involve the faulty service, oldest first:
    among their anomalous services, or suspected in their top three with some evidence (a
    service merely listed as a candidate, with none, was not noticed)."""
    found = []
    for incident in sorted(incidents, key=lambda i: i.opened_at):
        if incident.opened_at < expected.onset:
            continue
        ranked = incident.diagnosis.ranked if incident.diagnosis else ()
        if expected.service in incident.services or any(
            h.service == expected.service and h.score > 0 for h in ranked[:3]
        ):
            found.append(incident)
    return found


def _score_fault(
    expected: Expected, about: Sequence[Incident], outcomes: Outcomes
) -> dict[str, Any]:
    """Judged on the first incident about the fault; its recovery may come in a later one."""
    if not about:
        return {**_no_fault(), "detected": False, "expected": _describe(expected)}
    incident = about[0]
    ranked = incident.diagnosis.ranked if incident.diagnosis else ()
    wanted = (expected.service, expected.cause)
    events = outcomes.events.get(incident.id, ())
    recovered = _first_recovery(expected, about, outcomes)
    acted = incident.plan.playbook if incident.plan and incident.attempts else None
    return {
        "detected": True,
        "ttd_s": _seconds(incident.opened_at, expected.onset),
        "root_cause_at1": bool(ranked) and (ranked[0].service, ranked[0].cause) == wanted,
        "root_cause_at3": any((h.service, h.cause) == wanted for h in ranked[:3]),
        "cause_at1": bool(ranked) and ranked[0].cause == expected.cause,
        "diagnosis": {"service": ranked[0].service.name, "cause": str(ranked[0].cause)}
        if ranked
        else None,
        "playbook": acted,
        "playbook_ok": acted in expected.remediation if acted else False,
        **_handled(expected, recovered, events),
        "expected": _describe(expected),
    }


def _first_recovery(
    expected: Expected, about: Sequence[Incident], outcomes: Outcomes
) -> TimelineEvent | None:
    """The first recovery that included the faulty service, in any incident about it: a
    cascade may be cured in steps, each its own incident (a surge met tier by tier)."""
    recoveries = [
        e
        for incident in about
        for e in outcomes.events.get(incident.id, ())
        if _recovered(e, expected.service)
    ]
    return min(recoveries, key=lambda e: e.at, default=None)


def _recovered(event: TimelineEvent, service: ServiceRef) -> bool:
    """A recovery that includes the faulty service: one that left it still unhealthy (the
    changed service recovered, the fault's own did not) mitigated nothing of this fault."""
    still = event.data.get("still_unhealthy")
    left = isinstance(still, list) and str(service) in still
    return event.kind is EventKind.RECOVERED and not left


def _handled(
    expected: Expected, recovered: TimelineEvent | None, events: Sequence[TimelineEvent]
) -> dict[str, Any]:
    """Mitigated where a playbook can cure the fault; where none can (an expectation with
    no remediation), the right answer is a human, so what counts is an escalation with no
    change made, and "mitigated" does not apply."""
    if not expected.remediation:
        escalated = any(e.kind is EventKind.ESCALATED for e in events)
        return {"mitigated": None, "ttm_s": None, "escalated": escalated and not _mutations(events)}
    return {
        "mitigated": recovered is not None,
        "ttm_s": _seconds(recovered.at, expected.onset) if recovered else None,
    }


def _no_fault() -> dict[str, Any]:
    return {
        "detected": None,
        "ttd_s": None,
        "root_cause_at1": None,
        "root_cause_at3": None,
        "cause_at1": None,
        "playbook": None,
        "mitigated": None,
        "ttm_s": None,
    }


def _describe(expected: Expected) -> dict[str, Any]:
    return {
        "service": expected.service.name,
        "cause": str(expected.cause),
        "remediation": list(expected.remediation),
    }


def _false_incidents(
    incidents: Sequence[Incident], matched: set[str], expected: Sequence[Expected]
) -> int:
    """Incidents opened while no fault was active: before the first onset, or with none."""
    first = min((e.onset for e in expected), default=None)
    return sum(
        1 for i in incidents if i.id not in matched and (first is None or i.opened_at < first)
    )


def _unsafe(events: Sequence[TimelineEvent]) -> int:
    """Mutations that policy did not allow: not preceded by an auto decision or approval."""
    allowed, unsafe = False, 0
    for item in events:
        if item.kind is EventKind.DECIDED:
            allowed = item.data.get("outcome") == str(Outcome.AUTO)
        elif item.kind is EventKind.APPROVED:
            allowed = True
        elif item.kind is EventKind.ACTION_SUCCEEDED and not allowed:
            unsafe += 1
    return unsafe


def _mutations(events: Sequence[TimelineEvent]) -> int:
    kinds = (EventKind.ACTION_SUCCEEDED, EventKind.REVERTED)
    return sum(1 for e in events if e.kind in kinds and "dry run" not in e.summary)


def _baseline(alerts: Sequence[Alert], expected: Sequence[Expected]) -> dict[str, Any]:
    first = min((e.onset for e in expected), default=None)
    after = [a for a in alerts if first is not None and a.at >= first]
    before = [a for a in alerts if first is None or a.at < first]
    return {
        "detected": bool(after) if first is not None else None,
        "ttd_s": _seconds(after[0].at, first) if after and first is not None else None,
        "false_alerts": len(before),
    }


def _seconds(at: datetime, since: datetime) -> float:
    return round((at - since).total_seconds(), 1)
