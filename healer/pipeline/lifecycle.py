"""The life of an incident, one poll at a time.

open → diagnosed → (awaiting approval) → mitigating → resolved, or escalated to people
when policy denies, nothing fits, an action fails or does not help. Each transition
returns the timeline events that explain it.
"""

from __future__ import annotations

import logging

from healer.domain.model import (
    ActionResult,
    Cause,
    Diagnosis,
    EventKind,
    Incident,
    IncidentStatus,
    Outcome,
    TimelineEvent,
    Verification,
)
from healer.domain.playbook import VerifySpec
from healer.errors import PermanentError, TemporaryError
from healer.pipeline import approval, execution, planning, verification
from healer.pipeline.context import Healer, Poll, event
from healer.pipeline.diagnosis import Facts, candidates, diagnose

log = logging.getLogger(__name__)
Events = list[TimelineEvent]


def advance(incident: Incident, *, healer: Healer, poll: Poll) -> Events:
    status = incident.status
    if status in (IncidentStatus.OPEN, IncidentStatus.DIAGNOSED):
        return _before_action(incident, healer, poll)
    if status is IncidentStatus.AWAITING_APPROVAL:
        return _awaiting(incident, healer, poll)
    if status is IncidentStatus.MITIGATING:
        return _mitigating(incident, healer, poll)
    if status is IncidentStatus.ESCALATED:
        return _recovered_by_itself(incident, healer, poll, "after escalation")
    return []


def _recovered_by_itself(incident: Incident, healer: Healer, poll: Poll, how: str) -> Events:
    verdict = verification.healthy(incident.services, poll.observation.health)
    incident.healthy_streak = incident.healthy_streak + 1 if verdict else 0
    if incident.healthy_streak < healer.timing.recovered_polls:
        return []
    return _resolve(
        incident,
        poll,
        f"every affected service healthy for {incident.healthy_streak} polls ({how})",
    )


def _resolve(incident: Incident, poll: Poll, why: str) -> Events:
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = poll.now
    return [event(incident, EventKind.RESOLVED, f"Resolved: {why}", poll.now)]


def _escalate(incident: Incident, poll: Poll, why: str) -> Events:
    incident.status = IncidentStatus.ESCALATED
    incident.healthy_streak = 0
    return [event(incident, EventKind.ESCALATED, f"Escalated to on-call: {why}", poll.now)]


def _before_action(incident: Incident, healer: Healer, poll: Poll) -> Events:
    events = _recovered_by_itself(incident, healer, poll, "without any action")
    if events:
        return events
    events = _rediagnose(incident, poll)
    age = (poll.now - incident.opened_at) / healer.timing.poll_interval
    if age < healer.timing.settle_polls or incident.diagnosis is None:
        return events
    return events + _plan_and_decide(incident, incident.diagnosis, healer, poll)


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


def _plan_and_decide(incident: Incident, d: Diagnosis, healer: Healer, poll: Poll) -> Events:
    if incident.attempts >= healer.timing.max_attempts:
        return _escalate(incident, poll, f"{incident.attempts} actions did not resolve it")
    if d.cause is Cause.UNKNOWN:
        return _escalate(incident, poll, "no cause could be established")
    workload = poll.workload(d.root)
    if workload is None:
        return _escalate(incident, poll, f"the cluster has no workload for {d.root}")
    # A playbook that was tried and reverted is not offered again for this incident.
    tried = list(incident.tried)
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
        return _escalate(incident, poll, f"plan refused: {exc}")
    if plan is None:
        return _escalate(incident, poll, f"no playbook fits {d.cause} on {d.root.name}")
    incident.plan = plan
    planned = event(
        incident,
        EventKind.PLANNED,
        f"Plan ({plan.planner}): {plan.playbook} on {plan.target.name} "
        f"{dict(plan.params)} — {plan.rationale}",
        poll.now,
        playbook=plan.playbook,
        params=dict(plan.params),
        target=str(plan.target),
    )
    return [planned, *_decide(incident, healer, poll)]


def _decide(incident: Incident, healer: Healer, poll: Poll) -> Events:
    plan = incident.plan
    workload = poll.workload(plan.target) if plan else None
    if plan is None or workload is None:
        return _escalate(incident, poll, "the plan's target is gone")
    with healer.store.unit() as uow:
        recent = uow.actions_since(poll.now - approval.RATE_LIMIT_MEMORY)
    context = approval.context_for(
        plan,
        workload=workload,
        snapshot=poll.snapshot,
        topology=poll.topology,
        recent=[(at, service) for at, service, _ in recent],
    )
    decision = approval.decide(plan, policy=healer.policy, context=context, now=poll.now)
    incident.decision = decision
    decided = event(
        incident,
        EventKind.DECIDED,
        f"Policy: {decision.outcome} — {decision.reason}",
        poll.now,
        outcome=str(decision.outcome),
        rule=decision.rule,
    )
    if decision.outcome is Outcome.DENY:
        return [decided, *_escalate(incident, poll, f"policy denied it ({decision.reason})")]
    if decision.outcome is Outcome.ASK:
        return [decided, *_ask(incident, healer, poll)]
    return [decided, *_execute(incident, healer, poll)]


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


def _awaiting(incident: Incident, healer: Healer, poll: Poll) -> Events:
    assert incident.decision is not None
    with healer.store.unit() as uow:
        answers = uow.approvals(incident.id)
    verdict = approval.tally(answers, incident.decision.approvers_required)
    if verdict is False:
        who = ", ".join(a.approver for a in answers if not a.approved)
        rejected = event(incident, EventKind.REJECTED, f"Rejected by {who}", poll.now)
        return [rejected, *_escalate(incident, poll, f"{who} rejected the plan")]
    if verdict is True:
        who = ", ".join(sorted({a.approver for a in answers if a.approved}))
        approved = event(incident, EventKind.APPROVED, f"Approved by {who}", poll.now)
        return [approved, *_execute(incident, healer, poll)]
    waited = poll.now - (incident.verification.started_at if incident.verification else poll.now)
    if waited >= healer.timing.approval_timeout:
        return _escalate(incident, poll, f"no answer to the approval request in {waited}")
    return _recovered_by_itself(incident, healer, poll, "while awaiting approval")


def _execute(incident: Incident, healer: Healer, poll: Poll) -> Events:
    plan, decision = incident.plan, incident.decision
    assert plan is not None and decision is not None
    playbook = healer.playbooks[plan.playbook]
    started = event(
        incident,
        EventKind.ACTION_STARTED,
        f"Running {plan.playbook} on "
        f"{plan.target.name}" + (" (dry run)" if decision.dry_run else ""),
        poll.now,
    )
    try:
        results = execution.run_playbook(
            incident,
            playbook=playbook,
            params=plan.params,
            target=plan.target,
            cluster=healer.cluster,
            store=healer.store,
            clock=healer.clock,
            dry_run=decision.dry_run,
        )
    except TemporaryError as exc:  # why: the intent is recorded; reconcile finishes it later
        held = event(incident, EventKind.HELD, f"Cluster unavailable, will retry: {exc}", poll.now)
        return [started, held]
    incident.attempts += 1
    incident.tried.append(plan.playbook)
    incident.actions.extend(results)
    events = [started, *(_result_event(incident, r, poll) for r in results)]
    if not all(r.ok for r in results):
        return events + _escalate(incident, poll, "the action failed")
    if decision.dry_run:
        return events + _escalate(incident, poll, "dry run: nothing was changed")
    incident.status = IncidentStatus.MITIGATING
    incident.verification = Verification(started_at=poll.now)
    return events


def _result_event(incident: Incident, result: ActionResult, poll: Poll) -> TimelineEvent:
    kind = EventKind.ACTION_SUCCEEDED if result.ok else EventKind.ACTION_FAILED
    return event(
        incident,
        kind,
        result.detail,
        poll.now,
        key=result.key,
        action=result.action,
        before=dict(result.before),
        after=dict(result.after),
    )


def _mitigating(incident: Incident, healer: Healer, poll: Poll) -> Events:
    assert incident.plan is not None
    playbook = healer.playbooks.get(incident.plan.playbook)
    spec = (playbook.verify if playbook else None) or healer.timing.verify
    progress = verification.verify(incident, spec=spec, health=poll.observation.health)
    if progress is verification.Progress.RECOVERED:
        recovered = event(
            incident,
            EventKind.RECOVERED,
            f"Recovered: healthy for {spec.healthy_polls} polls in a row after "
            f"{incident.plan.playbook}",
            poll.now,
        )
        return [recovered, *_resolve(incident, poll, f"{incident.plan.playbook} worked")]
    if progress is verification.Progress.WAITING:
        return []
    return _not_recovered(incident, healer, poll, spec)


def _not_recovered(incident: Incident, healer: Healer, poll: Poll, spec: VerifySpec) -> Events:
    assert incident.plan is not None
    events = [
        event(
            incident,
            EventKind.NOT_RECOVERED,
            f"Not recovered within {spec.within_polls} polls of {incident.plan.playbook}",
            poll.now,
        )
    ]
    if not healer.timing.revert_on_failure:
        return events + _escalate(
            incident,
            poll,
            f"{incident.plan.playbook} did not help; "
            "left in place for people to judge (revert_on_failure: false)",
        )
    last = [r for r in incident.actions if r.key.startswith(f"{incident.id}:{incident.attempts}:")]
    try:
        undone = execution.revert(
            incident,
            done=last,
            cluster=healer.cluster,
            store=healer.store,
            clock=healer.clock,
            dry_run=False,
        )
    except (TemporaryError, PermanentError) as exc:  # why: revert failing is itself news
        return events + _escalate(incident, poll, f"revert failed: {exc}")
    for result in undone:
        incident.actions.append(result)
        events.append(event(incident, EventKind.REVERTED, result.detail, poll.now, key=result.key))
    return events + _next_or_escalate(incident, healer, poll)


def _next_or_escalate(incident: Incident, healer: Healer, poll: Poll) -> Events:
    """After a reverted attempt: another fitting playbook if any is left, else people."""
    assert incident.plan is not None and incident.diagnosis is not None
    failed = incident.plan.playbook
    left = planning.candidates(incident.diagnosis, healer.playbooks, incident.tried)
    if incident.attempts >= healer.timing.max_attempts or not left:
        return _escalate(incident, poll, f"{failed} did not help")
    incident.status = IncidentStatus.DIAGNOSED
    incident.verification = None
    return _plan_and_decide(incident, incident.diagnosis, healer, poll)
