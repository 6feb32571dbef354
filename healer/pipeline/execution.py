"""Execution: run a playbook's steps against the cluster, each one recorded twice.

Before a mutation is sent its intent (with an idempotency key and the state it will
change) is committed; after it, its result. A crash in between leaves an intent with
no result, which `reconcile` settles on the next poll by looking at the cluster: if
the change landed it is recorded, if not it is sent — never twice.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healer.domain.model import JSON, ActionResult, Incident, ServiceRef
from healer.domain.playbook import CONTEXT, ActionKind, ParamValue, Playbook, RevertMode
from healer.errors import PermanentError
from healer.pipeline import actions, pull_requests
from healer.pipeline.pull_requests import CodeChanges
from healer.ports import Clock, Cluster, IncidentStore, PendingIntent

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Step:
    key: str
    action: ActionKind
    target: ServiceRef
    args: Mapping[str, ParamValue]


# why a marker: a revert's key is the undone step's (or attempt's) key, this, and an index
REVERT = ":revert:"


def run_playbook(
    incident: Incident,
    *,
    playbook: Playbook,
    params: Mapping[str, ParamValue],
    target: ServiceRef,
    cluster: Cluster,
    store: IncidentStore,
    clock: Clock,
    dry_run: bool,
    code: CodeChanges | None = None,
) -> list[ActionResult]:
    """Run every step in order; stop at the first that fails. Temporary errors propagate."""
    attempt = incident.attempts + 1
    results: list[ActionResult] = []
    facts = context(incident, target)
    for index, template in enumerate(playbook.steps):
        # A dry run's key says so, so that reconciliation never sends it for real.
        key = f"{incident.id}:{attempt}:{index}" + (":dry" if dry_run else "")
        step = Step(key, template.action, target, template.render({**facts, **params}))
        if step.action is ActionKind.OPEN_PR:
            result = _propose(step, incident, code, store=store, clock=clock, dry_run=dry_run)
        else:
            result = run_step(
                step,
                incident_id=incident.id,
                cluster=cluster,
                store=store,
                clock=clock,
                dry_run=dry_run,
            )
        results.append(result)
        if not result.ok:
            break
    return results


def context(incident: Incident, target: ServiceRef) -> dict[str, ParamValue]:
    """What step arguments may name beside parameters: `{service}`, `{incident}`..."""
    cause = incident.diagnosis.cause if incident.diagnosis else "unknown"
    found: dict[str, ParamValue] = {
        "service": target.name,
        "namespace": target.namespace,
        "incident": incident.id,
        "cause": str(cause),
    }
    assert set(found) == set(CONTEXT)
    return found


def revert(
    incident: Incident,
    *,
    done: list[ActionResult],
    cluster: Cluster,
    store: IncidentStore,
    clock: Clock,
    dry_run: bool,
    playbook: Playbook | None = None,
    params: Mapping[str, ParamValue] | None = None,
) -> list[ActionResult]:
    """Undo the last attempt as its playbook says: its own revert steps, nothing, or
    (the default) each successful action's inverse, newest first."""
    if playbook is not None and playbook.revert_mode is RevertMode.NONE:
        return []
    if playbook is not None and playbook.revert_mode is RevertMode.STEPS and done:
        return _revert_steps(
            incident,
            playbook,
            params or {},
            done[0].target,
            cluster=cluster,
            store=store,
            clock=clock,
            dry_run=dry_run,
        )
    results = []
    for index, result in enumerate(reversed([r for r in done if r.ok])):
        undo = actions.inverse(ActionKind(result.action), result.before)
        if undo is None:
            continue
        step = Step(f"{result.key}{REVERT}{index}", undo[0], result.target, undo[1])
        results.append(
            run_step(
                step,
                incident_id=incident.id,
                cluster=cluster,
                store=store,
                clock=clock,
                dry_run=dry_run,
            )
        )
    return results


def _revert_steps(
    incident: Incident,
    playbook: Playbook,
    params: Mapping[str, ParamValue],
    target: ServiceRef,
    **io: Any,
) -> list[ActionResult]:
    first = f"{incident.id}:{incident.attempts}"
    results = []
    for index, template in enumerate(playbook.revert):
        args = template.render({**context(incident, target), **playbook.complete(params)})
        step = Step(f"{first}{REVERT}{index}", template.action, target, args)
        result = run_step(step, incident_id=incident.id, **io)
        results.append(result)
        if not result.ok:
            break
    return results


def _propose(
    step: Step,
    incident: Incident,
    code: CodeChanges | None,
    *,
    store: IncidentStore,
    clock: Clock,
    dry_run: bool,
) -> ActionResult:
    """The open_pr step: intent, pull request (repeatable by design), result."""
    _intend(step, incident.id, step.args, {}, store=store, clock=clock)
    if dry_run:
        what = actions.describe(step.action, step.target, step.args)
        result = ActionResult(
            step.key, str(step.action), step.target, True, f"{what} (dry run)", {}, {}
        )
    else:
        result = pull_requests.propose(step.key, incident, step.target, step.args, code)
    _record(result, store, clock)
    return result


def run_step(
    step: Step,
    *,
    incident_id: str,
    cluster: Cluster,
    store: IncidentStore,
    clock: Clock,
    dry_run: bool,
) -> ActionResult:
    workload = cluster.workload(step.target)
    try:
        args = actions.resolve(step.action, workload, step.args, clock.now())
    except PermanentError as exc:  # why: nothing was sent; record the refusal as the outcome
        return _fail(step, str(exc), {}, store, clock)
    before = actions.capture(step.action, workload, args)
    _intend(step, incident_id, args, before, store=store, clock=clock)
    with cluster.acting_for(incident_id, actions.describe(step.action, step.target, args)):
        return _send(step, args, before, cluster=cluster, store=store, clock=clock, dry_run=dry_run)


def _intend(
    step: Step,
    incident_id: str,
    args: Mapping[str, ParamValue],
    before: Mapping[str, JSON],
    *,
    store: IncidentStore,
    clock: Clock,
) -> None:
    """Commit the intent before anything is sent; a key already recorded is not sent again."""
    with store.unit() as uow:
        fresh = uow.record_intent(
            key=step.key,
            incident_id=incident_id,
            action=str(step.action),
            target=step.target,
            args=dict(args),
            before=dict(before),
            at=clock.now(),
        )
        uow.commit()
    if not fresh:
        # why: an earlier run wrote this intent; reconcile owns it, we must not send again
        raise _Duplicate(step.key)


class _Duplicate(PermanentError):
    def __init__(self, key: str) -> None:
        super().__init__(f"intent {key} already recorded; left to reconciliation")


def _send(
    step: Step,
    args: Mapping[str, ParamValue],
    before: Mapping[str, JSON],
    *,
    cluster: Cluster,
    store: IncidentStore,
    clock: Clock,
    dry_run: bool,
) -> ActionResult:
    what = actions.describe(step.action, step.target, args)
    try:
        # Server-side dry run first: an invalid change is refused before anything moves.
        actions.apply(cluster, step.action, step.target, args, dry_run=True)
        if not dry_run:
            actions.apply(cluster, step.action, step.target, args, dry_run=False)
    except PermanentError as exc:  # why: the cluster refused; this is the step's outcome
        return _fail(step, f"{what}: refused: {exc}", before, store, clock)
    after = actions.capture(step.action, cluster.workload(step.target), args)
    detail = f"{what} (dry run: nothing changed)" if dry_run else what
    result = ActionResult(
        step.key, str(step.action), step.target, True, detail, dict(before), after
    )
    _record(result, store, clock)
    return result


def _fail(
    step: Step, detail: str, before: Mapping[str, JSON], store: IncidentStore, clock: Clock
) -> ActionResult:
    result = ActionResult(step.key, str(step.action), step.target, False, detail, dict(before), {})
    _record(result, store, clock)
    return result


def _record(result: ActionResult, store: IncidentStore, clock: Clock) -> None:
    with store.unit() as uow:
        uow.record_result(result, clock.now())
        uow.commit()


def reconcile(
    pending: list[PendingIntent],
    *,
    cluster: Cluster,
    store: IncidentStore,
    clock: Clock,
    code: CodeChanges | None = None,
) -> list[tuple[str, ActionResult]]:
    """Settle intents left without a result by a crash: (incident id, result) for each."""
    settled = []
    for intent in pending:
        action = ActionKind(intent.action)
        if action is ActionKind.OPEN_PR and not intent.key.endswith(":dry"):
            settled.append((intent.incident_id, _propose_again(intent, code, store, clock)))
            continue
        if intent.key.endswith(":dry"):
            step = Step(intent.key, action, intent.target, intent.args)
            why = "dry run interrupted by a restart; nothing was sent"
            settled.append((intent.incident_id, _fail(step, why, intent.before, store, clock)))
            continue
        workload = cluster.workload(intent.target)
        if actions.landed(action, workload, intent.args, intent.before):
            after = actions.capture(action, workload, intent.args)
            what = actions.describe(action, intent.target, intent.args)
            result = ActionResult(
                intent.key,
                intent.action,
                intent.target,
                True,
                f"{what} (confirmed after a restart: it had landed)",
                dict(intent.before),
                after,
            )
            _record(result, store, clock)
        else:
            log.warning("intent %s had not landed; sending it now", intent.key)
            step = Step(intent.key, action, intent.target, intent.args)
            with cluster.acting_for(intent.incident_id, "completing an interrupted change"):
                result = _send(
                    step,
                    intent.args,
                    intent.before,
                    cluster=cluster,
                    store=store,
                    clock=clock,
                    dry_run=False,
                )
        settled.append((intent.incident_id, result))
    return settled


def _propose_again(
    intent: PendingIntent, code: CodeChanges | None, store: IncidentStore, clock: Clock
) -> ActionResult:
    """A pull request cut short is proposed again: the code host finds it if it was opened."""
    with store.unit() as uow:
        incident = uow.get_incident(intent.incident_id)
    if incident is None:
        why = "its incident is gone; nothing proposed"
        result = ActionResult(intent.key, intent.action, intent.target, False, why, {}, {})
    else:
        result = pull_requests.propose(intent.key, incident, intent.target, intent.args, code)
    _record(result, store, clock)
    return result
