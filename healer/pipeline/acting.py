"""Acting on an incident: run the approved plan, then verify it helped or undo it.

`execute` runs the playbook (each step recorded as intent then result); `check` is the
verification poll, which says when recovery did not come in time; `undo` then reverts
what the incident changed, unless the caller goes a step further instead.
"""

from __future__ import annotations

from enum import StrEnum

from healer.domain.model import (
    ActionResult,
    EventKind,
    Incident,
    IncidentStatus,
    TimelineEvent,
    Verification,
)
from healer.domain.playbook import ActionKind, VerifySpec
from healer.errors import PermanentError, TemporaryError
from healer.pipeline import execution, verification
from healer.pipeline.context import Healer, Poll, event

Events = list[TimelineEvent]


class Checked(StrEnum):
    WAITING = "waiting"
    RECOVERED = "recovered"
    FAILED = "failed"  # did not help: go further or undo (unless configured to leave it)


def resolve(incident: Incident, poll: Poll, why: str) -> Events:
    incident.status = IncidentStatus.RESOLVED
    incident.resolved_at = poll.now
    return [event(incident, EventKind.RESOLVED, f"Resolved: {why}", poll.now)]


def escalate(incident: Incident, poll: Poll, why: str) -> Events:
    incident.status = IncidentStatus.ESCALATED
    incident.healthy_streak = 0
    return [event(incident, EventKind.ESCALATED, f"Escalated to on-call: {why}", poll.now)]


def execute(incident: Incident, healer: Healer, poll: Poll) -> Events:
    plan, decision = incident.plan, incident.decision
    assert plan is not None and decision is not None
    playbook = healer.playbooks[plan.playbook]
    if not healer.may_act():
        why = "this replica is not the leader (any more); the leader will act"
        return [event(incident, EventKind.HELD, f"Not acting: {why}", poll.now)]
    # why: the plan and the decision must outlive a crash during the steps, so that the
    # restarted healer knows what it was doing when it finds a step half-done
    with healer.store.unit() as uow:
        uow.save_incident(incident)
        uow.commit()
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
            code=healer.code,
        )
    except TemporaryError as exc:  # why: the intent is recorded; reconcile finishes it later
        held = event(incident, EventKind.HELD, f"Cluster unavailable, will retry: {exc}", poll.now)
        return [started, held]
    incident.attempts += 1
    incident.tried.append(plan.playbook)
    incident.actions.extend(results)
    events = [started, *(_result_event(incident, r, poll) for r in results)]
    if not all(r.ok for r in results):
        return events + escalate(incident, poll, "the action failed")
    if decision.dry_run:
        return events + escalate(incident, poll, "dry run: nothing was changed")
    if all(step.action is ActionKind.OPEN_PR for step in playbook.steps):
        # why: a pull request changes nothing until people review and merge it
        proposed = "; ".join(r.detail for r in results)
        return events + escalate(incident, poll, f"the fix is proposed in git: {proposed}")
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


def check(incident: Incident, healer: Healer, poll: Poll) -> tuple[Events, Checked]:
    """One verification poll of the attempt under way."""
    assert incident.plan is not None
    playbook = healer.playbooks.get(incident.plan.playbook)
    spec = (playbook.verify if playbook else None) or healer.timing.verify
    observed = poll.observation
    health = verification.judged_on(observed.health, observed.anomalies, spec.signals)
    progress = verification.verify(incident, spec=spec, health=health, target=incident.plan.target)
    if progress is verification.Progress.RECOVERED:
        recovered = event(
            incident,
            EventKind.RECOVERED,
            f"Recovered: healthy for {spec.healthy_polls} polls in a row after "
            f"{incident.plan.playbook}",
            poll.now,
            **_judged(incident),
        )
        worked = resolve(incident, poll, f"{incident.plan.playbook} worked")
        return [recovered, *worked], Checked.RECOVERED
    if progress is verification.Progress.WAITING:
        return [], Checked.WAITING
    if progress is verification.Progress.EXTENDED:
        return [_extended(incident, poll, spec)], Checked.WAITING
    if progress is verification.Progress.TARGET_RECOVERED:
        return _target_recovered(incident, poll, spec), Checked.RECOVERED
    return _not_recovered(incident, healer, poll, spec)


def _extended(incident: Incident, poll: Poll, spec: VerifySpec) -> TimelineEvent:
    assert incident.plan is not None and incident.verification is not None
    return event(
        incident,
        EventKind.HELD,
        f"Not recovered within {spec.within_polls} polls of {incident.plan.playbook}, but "
        f"{incident.plan.target.name} has looked healthy for "
        f"{incident.verification.target_streak} poll(s): waiting {spec.within_polls} more",
        poll.now,
        **_judged(incident),
    )


def _target_recovered(incident: Incident, poll: Poll, spec: VerifySpec) -> Events:
    """The changed service is well, others are not: keep the fix, let the rest be judged
    afresh (detection opens a new incident for what is still wrong)."""
    assert incident.plan is not None
    target = incident.plan.target
    still = sorted(s for s in incident.services if poll.observation.health.get(s) is False)
    recovered = event(
        incident,
        EventKind.RECOVERED,
        f"Recovered: {target.name} healthy for {spec.healthy_polls} polls in a row after "
        f"{incident.plan.playbook}; still unhealthy, and not explained by it: "
        f"{', '.join(s.name for s in still) or 'none'}",
        poll.now,
        still_unhealthy=[str(s) for s in still],
        **_judged(incident),
    )
    why = f"{incident.plan.playbook} fixed {target.name}; what remains is a separate problem"
    return [recovered, *resolve(incident, poll, why)]


def _not_recovered(
    incident: Incident, healer: Healer, poll: Poll, spec: VerifySpec
) -> tuple[Events, Checked]:
    """Undo the attempt; the caller decides between another playbook and people."""
    assert incident.plan is not None
    events = [
        event(
            incident,
            EventKind.NOT_RECOVERED,
            f"Not recovered within {spec.within_polls} polls of {incident.plan.playbook}",
            poll.now,
            **_judged(incident),
        )
    ]
    if not healer.timing.revert_on_failure:
        why = (
            f"{incident.plan.playbook} did not help; left in place for people to judge "
            "(revert_on_failure: false)"
        )
        return events + escalate(incident, poll, why), Checked.WAITING
    return events, Checked.FAILED


def undo(incident: Incident, healer: Healer, poll: Poll) -> tuple[Events, str | None]:
    """Revert every change of this incident still in place, newest first (a step taken
    further reverts with the one before it); returns the events and why it failed, if so."""
    assert incident.plan is not None
    try:
        undone = execution.revert(
            incident,
            done=in_place(incident),
            cluster=healer.cluster,
            store=healer.store,
            clock=healer.clock,
            dry_run=False,
            playbook=healer.playbooks.get(incident.plan.playbook),
            params=incident.plan.params,
        )
    except (TemporaryError, PermanentError) as exc:  # why: revert failing is itself news
        return [], f"revert failed: {exc}"
    events = []
    for result in undone:
        incident.actions.append(result)
        events.append(event(incident, EventKind.REVERTED, result.detail, poll.now, key=result.key))
    return events, None


def in_place(incident: Incident) -> list[ActionResult]:
    """The incident's successful changes that no revert has undone yet, oldest first."""
    undone = [
        r.key.split(execution.REVERT)[0] for r in incident.actions if execution.REVERT in r.key
    ]
    return [
        r
        for r in incident.actions
        if r.ok
        and execution.REVERT not in r.key
        and not any(r.key == k or r.key.startswith(f"{k}:") for k in undone)
    ]


def _judged(incident: Incident) -> dict[str, str]:
    """What a verdict is about: the playbook and the cause it was run for (the store
    keeps each playbook's track record from these)."""
    assert incident.plan is not None
    cause = incident.diagnosis.cause if incident.diagnosis else "unknown"
    return {"playbook": incident.plan.playbook, "cause": str(cause)}
