"""Choosing what to do about a diagnosed incident, and whether it may be done.

The playbooks that fit and are not ruled out (preconditions unmet, or undone lately on
the same problem), the planner's plan with its track record, the playbook's own limits
and cooldown, then policy: run it, ask people, or leave it to them.
"""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta

from healer.domain.model import (
    JSON,
    Cause,
    Decision,
    Diagnosis,
    EventKind,
    Incident,
    IncidentStatus,
    Outcome,
    Plan,
    TimelineEvent,
    Verification,
    Workload,
)
from healer.domain.playbook import TrackRecord
from healer.pipeline import approval, planning
from healer.pipeline.acting import escalate, execute
from healer.pipeline.context import Healer, Poll, event

RECURRENCE = timedelta(hours=1)  # how long a failed playbook stays ruled out for its problem
Events = list[TimelineEvent]


def plan_and_decide(incident: Incident, d: Diagnosis, healer: Healer, poll: Poll) -> Events:
    if incident.attempts >= healer.timing.max_attempts:
        return escalate(incident, poll, f"{incident.attempts} actions did not resolve it")
    if d.cause is Cause.UNKNOWN:
        return escalate(incident, poll, "no cause could be established")
    workload = poll.workload(d.root)
    if workload is None:
        return escalate(incident, poll, f"the cluster has no workload for {d.root}")
    # A playbook that was tried and reverted is not offered again for this incident, nor
    # one whose preconditions do not hold for the target.
    unfit = _unfit(healer, workload, poll) | failed_lately(healer, incident, d, poll)
    tried = [*incident.tried, *unfit]
    try:
        plan = planning.plan(
            incident,
            diagnosis=d,
            planner=healer.planner,
            playbooks=healer.playbooks,
            workload=workload,
            snapshot=poll.snapshot,
            tried=tried,
        )
    except planning.RejectedPlan as exc:
        return escalate(incident, poll, f"plan refused: {exc}")
    if plan is None:
        skipped = "".join(
            f"; {name}: {why}"
            for name, why in unfit.items()
            if d.cause in healer.playbooks[name].fixes
        )
        return escalate(incident, poll, f"no playbook fits {d.cause} on {d.root.name}{skipped}")
    record = track_record(healer, plan.playbook, d.cause)
    plan = dataclasses.replace(plan, track_record=record.text())
    incident.plan = plan
    planned = planned_event(incident, plan, poll.now, record)
    return [planned, *decide(incident, healer, poll)]


def track_record(healer: Healer, playbook: str, cause: Cause) -> TrackRecord:
    with healer.store.unit() as uow:
        found = [r for r in uow.outcomes() if (r.playbook, r.cause) == (playbook, str(cause))]
    return found[0] if found else TrackRecord(playbook, str(cause))


def failed_lately(healer: Healer, incident: Incident, d: Diagnosis, poll: Poll) -> dict[str, str]:
    """Playbooks that did not help this very problem (same root, same cause) in the last
    `RECURRENCE` before, so were undone: doing the same thing again would only repeat the
    failure. A change that fell short but was kept (a surge met tier by tier) is no failure."""
    found: dict[str, str] = {}
    with healer.store.unit() as uow:
        for other in uow.list_incidents(limit=100):
            same = other.diagnosis is not None and (other.diagnosis.root, other.diagnosis.cause)
            if other.id == incident.id or same != (d.root, d.cause):
                continue
            if other.updated_at < poll.now - RECURRENCE:
                continue
            events = uow.events(other.id)
            if not any(e.kind is EventKind.REVERTED for e in events):
                continue  # why: what it kept (taken further, or left as it helped) was no failure
            for item in events:
                playbook = item.data.get("playbook")
                if item.kind is EventKind.NOT_RECOVERED and isinstance(playbook, str):
                    found[playbook] = f"it did not help the same problem in {other.id}"
    return found


def _unfit(healer: Healer, workload: Workload, poll: Poll) -> dict[str, str]:
    """Playbooks whose preconditions fail for this target now, with why."""
    found = {}
    for name, playbook in healer.playbooks.items():
        unmet = playbook.preconditions.unmet(workload, poll.now)
        if unmet:
            found[name] = "; ".join(unmet)
    return found


def _held_back(incident: Incident, plan: Plan, healer: Healer, poll: Poll) -> str | None:
    """Why the playbook itself forbids this plan now: a relative limit, or its cooldown."""
    playbook = healer.playbooks.get(plan.playbook)
    workload = poll.workload(plan.target)
    if playbook is None or workload is None:
        return None
    problems = playbook.bound_problems(plan.params, workload)
    if problems:
        return "; ".join(problems)
    if playbook.cooldown is None:
        return None
    kinds = {str(step.action) for step in playbook.steps}
    with healer.store.unit() as uow:
        recent = uow.actions_since(poll.now - playbook.cooldown)
    # why not its own: a step further on the same incident is no repeat of a fix elsewhere
    last = [
        at
        for at, target, action, owner in recent
        if target == plan.target and action in kinds and owner != incident.id
    ]
    if last:
        return (
            f"{plan.playbook} changed {plan.target.name} at {max(last).isoformat()}, within "
            f"its cooldown of {playbook.cooldown}"
        )
    return None


def planned_event(
    incident: Incident, plan: Plan, now: datetime, record: TrackRecord | None = None
) -> TimelineEvent:
    summary = (
        f"Plan ({plan.planner}): {plan.playbook} on {plan.target.name} "
        f"{dict(plan.params)} — {plan.rationale}"
    )
    history: dict[str, JSON] = {}
    if record is not None:
        summary += f". Track record: {record.text()}"
        history = {"worked": record.worked, "failed": record.failed}
    return event(
        incident,
        EventKind.PLANNED,
        summary,
        now,
        playbook=plan.playbook,
        params=dict(plan.params),
        target=str(plan.target),
        **history,
    )


def decided_event(incident: Incident, decision: Decision, now: datetime) -> TimelineEvent:
    return event(
        incident,
        EventKind.DECIDED,
        f"Policy: {decision.outcome} — {decision.reason}",
        now,
        outcome=str(decision.outcome),
        rule=decision.rule,
    )


def decide(incident: Incident, healer: Healer, poll: Poll) -> Events:
    plan = incident.plan
    workload = poll.workload(plan.target) if plan else None
    if plan is None or workload is None:
        return escalate(incident, poll, "the plan's target is gone")
    held = _held_back(incident, plan, healer, poll)
    if held is not None:
        return escalate(incident, poll, f"the playbook forbids it: {held}")
    with healer.store.unit() as uow:
        recent = uow.actions_since(poll.now - approval.RATE_LIMIT_MEMORY)
    context = approval.context_for(
        plan,
        workload=workload,
        snapshot=poll.snapshot,
        topology=poll.topology,
        recent=[(at, service) for at, service, _, _ in recent],
        own=[(at, service) for at, service, _, owner in recent if owner == incident.id],
    )
    decision = approval.decide(plan, policy=healer.policy, context=context, now=poll.now)
    incident.decision = decision
    decided = decided_event(incident, decision, poll.now)
    if decision.outcome is Outcome.DENY:
        return [decided, *escalate(incident, poll, f"policy denied it ({decision.reason})")]
    if decision.outcome is Outcome.ASK:
        return [decided, *_ask(incident, healer, poll)]
    return [decided, *execute(incident, healer, poll)]


def _ask(incident: Incident, healer: Healer, poll: Poll) -> Events:
    assert incident.plan is not None and incident.decision is not None
    healer.approver.request(incident, incident.plan, incident.decision)
    incident.status = IncidentStatus.AWAITING_APPROVAL
    incident.verification = Verification(started_at=poll.now)  # when the wait began
    needed = incident.decision.approvers_required
    return [
        event(
            incident,
            EventKind.APPROVAL_REQUESTED,
            f"Approval requested from {needed} approver{'s' if needed > 1 else ''}",
            poll.now,
        )
    ]
