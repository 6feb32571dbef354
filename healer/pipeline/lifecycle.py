"""The life of an incident, one poll at a time.

open → diagnosed → (awaiting approval) → mitigating → resolved, or escalated to people
when policy denies, nothing fits, an action fails or does not help. Each transition
returns the timeline events that explain it.
"""

from __future__ import annotations

import dataclasses
import logging

from healer.domain.model import (
    Cause,
    Diagnosis,
    EventKind,
    Incident,
    IncidentStatus,
    TimelineEvent,
)
from healer.pipeline import approval, planning, verification
from healer.pipeline.acting import Checked, check, escalate, execute, resolve, undo
from healer.pipeline.context import Healer, Poll, event
from healer.pipeline.deciding import decide, plan_and_decide, planned_event, track_record
from healer.pipeline.diagnosis import Facts, candidates, diagnose

log = logging.getLogger(__name__)
Events = list[TimelineEvent]
# Causes whose evidence is a resource still used up: while it is, more of the same change
# is the answer. Not a slow or failing dependency: there more capacity only hides it.
EXHAUSTED = frozenset({Cause.CPU_SATURATION, Cause.POOL_EXHAUSTION, Cause.TRAFFIC_SURGE})


def advance(incident: Incident, *, healer: Healer, poll: Poll) -> Events:
    status = incident.status
    if status in (IncidentStatus.OPEN, IncidentStatus.DIAGNOSED):
        return _before_action(incident, healer, poll)
    if status is IncidentStatus.AWAITING_APPROVAL:
        return _awaiting(incident, healer, poll)
    if status is IncidentStatus.MITIGATING and incident.plan is None:
        # why: only a store written before plans were saved ahead of their steps gets
        # here; people must judge what a half-known action did
        return escalate(incident, poll, "an action ran but its plan was not recorded")
    if status is IncidentStatus.MITIGATING:
        events, checked = check(incident, healer, poll)
        if checked is Checked.FAILED:
            events += _further_or_undo(incident, healer, poll)
        return events
    if status is IncidentStatus.ESCALATED:
        return _recovered_by_itself(incident, healer, poll, "after escalation")
    return []


def _recovered_by_itself(incident: Incident, healer: Healer, poll: Poll, how: str) -> Events:
    verdict = verification.healthy(incident.services, poll.observation.health)
    incident.healthy_streak = incident.healthy_streak + 1 if verdict else 0
    if incident.healthy_streak < healer.timing.recovered_polls:
        return []
    return resolve(
        incident,
        poll,
        f"every affected service healthy for {incident.healthy_streak} polls ({how})",
    )


def _before_action(incident: Incident, healer: Healer, poll: Poll) -> Events:
    events = _recovered_by_itself(incident, healer, poll, "without any action")
    if events:
        return events
    events = _rediagnose(incident, poll)
    age = (poll.now - incident.opened_at) / healer.timing.poll_interval
    if age < healer.timing.settle_polls or incident.diagnosis is None:
        return events
    return events + plan_and_decide(incident, incident.diagnosis, healer, poll)


def _rediagnose(incident: Incident, poll: Poll) -> Events:
    services = candidates(incident, poll.topology)
    facts = Facts(poll.snapshot, poll.observation, poll.topology, poll.workloads(services))
    new = diagnose(incident, facts=facts, now=poll.now)
    old = incident.diagnosis
    incident.diagnosis = new
    if old is not None and (old.root, old.cause) == (new.root, new.cause):
        return []
    incident.status = IncidentStatus.DIAGNOSED
    others = len(incident.services - {new.root})
    incident.title = f"{new.cause} on {new.root.name}" + (
        f" ({others} more service{'s' if others > 1 else ''} affected)" if others else ""
    )
    return [_diagnosed_event(incident, new, poll)]


def _diagnosed_event(incident: Incident, d: Diagnosis, poll: Poll) -> TimelineEvent:
    top = d.ranked[0]
    because = "; ".join(e.summary for e in top.evidence if e.weight > 0)
    others = ", ".join(
        f"{h.service.name} ({h.cause}, {h.score:.1f})" for h in d.ranked[1:3] if h.score > 0
    )
    summary = f"Root cause: {d.root.name} — {d.cause}. Because: {because}."
    if others:
        summary += f" Runners-up: {others}."
    ranked = [
        {"service": str(h.service), "cause": str(h.cause), "score": h.score} for h in d.ranked
    ]
    return event(
        incident,
        EventKind.DIAGNOSED,
        summary,
        poll.now,
        root=str(d.root),
        cause=str(d.cause),
        ranked=ranked,
    )


def _awaiting(incident: Incident, healer: Healer, poll: Poll) -> Events:
    assert incident.decision is not None
    with healer.store.unit() as uow:
        answers = uow.approvals(incident.id)
    verdict = approval.tally(answers, incident.decision.approvers_required)
    if verdict is False:
        who = ", ".join(a.approver for a in answers if not a.approved)
        rejected = event(incident, EventKind.REJECTED, f"Rejected by {who}", poll.now)
        return [rejected, *escalate(incident, poll, f"{who} rejected the plan")]
    if verdict is True:
        who = ", ".join(sorted({a.approver for a in answers if a.approved}))
        approved = event(incident, EventKind.APPROVED, f"Approved by {who}", poll.now)
        return [approved, *execute(incident, healer, poll)]
    waited = poll.now - (incident.verification.started_at if incident.verification else poll.now)
    if waited >= healer.timing.approval_timeout:
        return escalate(incident, poll, f"no answer to the approval request in {waited}")
    return _recovered_by_itself(incident, healer, poll, "while awaiting approval")


def _further_or_undo(incident: Incident, healer: Healer, poll: Poll) -> Events:
    """After an attempt that did not cure it: a further step of the same change when it
    went the right way but not far enough, else undo it and try something else."""
    further = _further(incident, healer, poll)
    if further is not None:
        return further
    assert incident.plan is not None
    moved = verification.helped(incident, incident.plan.target, poll.snapshot)
    if moved:
        why = (
            f"{incident.plan.playbook} helped ({'; '.join(moved)}) but not to recovery; "
            "left in place, since undoing it would bring the worst back"
        )
        return escalate(incident, poll, why)
    undone, failed = undo(incident, healer, poll)
    if failed is not None:
        return undone + escalate(incident, poll, failed)
    return undone + _next_or_escalate(incident, healer, poll)


def _further(incident: Incident, healer: Healer, poll: Poll) -> Events | None:
    """The same playbook once more, from where the last step left it, when the problem is
    still the same resource used up on the same service and the playbook sizes a bigger
    change (a pool that grew and is still full, replicas added and still saturated):
    reverting a change that went the right way would only make the next try start from
    worse. Each step is an attempt, bounded by the playbook's relative limits and judged
    by policy again."""
    plan, before = incident.plan, incident.diagnosis
    assert plan is not None and before is not None
    playbook = healer.playbooks.get(plan.playbook)
    if playbook is None or before.cause not in EXHAUSTED:
        return None
    if incident.attempts >= healer.timing.max_attempts:
        return None
    workload = poll.workload(plan.target)
    if workload is None or not planning.took_effect(plan, poll.snapshot, workload):
        return None  # why: a change that never showed says nothing about a bigger one
    services = candidates(incident, poll.topology)
    facts = Facts(poll.snapshot, poll.observation, poll.topology, poll.workloads(services))
    now = diagnose(incident, facts=facts, now=poll.now)
    if now.root != before.root:
        return None
    if now.cause is not before.cause:
        if not planning.still_short(plan, before.cause, poll.snapshot):
            return None
        now = before  # why: relieved saturation reads as slowness; the sizing still applies
    try:
        step = planning.plan(
            incident,
            diagnosis=now,
            planner=healer.planner,
            playbooks={playbook.name: playbook},
            workload=workload,
            snapshot=poll.snapshot,
        )
    except planning.RejectedPlan:
        return None
    if step is None or (step.target, step.params) == (plan.target, plan.params):
        return None  # why: nothing bigger to ask for; the same again is no step
    record = track_record(healer, step.playbook, now.cause)
    rationale = f"still {now.cause} on {now.root.name}, so one step further: {step.rationale}"
    incident.diagnosis = now
    incident.status = IncidentStatus.DIAGNOSED
    incident.verification = None
    incident.plan = dataclasses.replace(step, rationale=rationale, track_record=record.text())
    planned = planned_event(incident, incident.plan, poll.now, record)
    return [planned, *decide(incident, healer, poll)]


def _next_or_escalate(incident: Incident, healer: Healer, poll: Poll) -> Events:
    """After a reverted attempt: another fitting playbook if any is left, else people."""
    assert incident.plan is not None and incident.diagnosis is not None
    failed = incident.plan.playbook
    left = planning.candidates(incident.diagnosis, healer.playbooks, incident.tried)
    if incident.attempts >= healer.timing.max_attempts or not left:
        return escalate(incident, poll, f"{failed} did not help")
    incident.status = IncidentStatus.DIAGNOSED
    incident.verification = None
    return plan_and_decide(incident, incident.diagnosis, healer, poll)
