"""One poll: read the sources, detect, group into incidents, advance each incident.

`tick` is the whole healing loop once. The daemon calls it on a schedule in real time;
the demo, tests and benchmarks call it in simulated time. It never raises for a source
that is down: it holds, says so on the open incidents' timelines, and tries next poll.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, field
from datetime import datetime

from healer.detect.detector import Observation
from healer.domain.model import (
    EventKind,
    Incident,
    IncidentStatus,
    LogBatch,
    MetricsSnapshot,
    TimelineEvent,
    Topology,
    Verification,
)
from healer.errors import SourceError
from healer.pipeline import execution
from healer.pipeline.context import Healer, Poll, event
from healer.pipeline.correlation import group
from healer.pipeline.deciding import decided_event, planned_event
from healer.pipeline.lifecycle import advance
from healer.ports import UnitOfWork

log = logging.getLogger(__name__)


@dataclass
class TickReport:
    at: datetime
    held: str | None = None  # why the poll held instead of judging
    logs_unavailable: str | None = None  # why this poll judged on metrics alone
    snapshot: MetricsSnapshot | None = None
    observation: Observation | None = None
    opened: list[Incident] = field(default_factory=list)
    events: list[TimelineEvent] = field(default_factory=list)


def tick(healer: Healer) -> TickReport:
    now = healer.clock.now()
    report = TickReport(now)
    report.events += _reconcile(healer)
    read = _read_sources(healer, now)
    if isinstance(read, str):
        report.held = read
        report.events += _hold(healer, now, read)
        return report
    snapshot, topology, logs, report.logs_unavailable = read
    healer.holding = None
    report.snapshot = snapshot
    observation = healer.detector.observe(snapshot, logs)
    report.observation = observation
    poll = Poll(now, snapshot, topology, observation, healer.cluster)
    report.events += _group(healer, poll, report)
    report.events += _advance_all(healer, poll)
    healer.last_poll = now
    _notify(healer, report.events)
    _after_poll(healer, now)
    return report


def _read_sources(
    healer: Healer, now: datetime
) -> tuple[MetricsSnapshot, Topology, LogBatch | None, str | None] | str:
    """This poll's data, or why there is none worth judging."""
    try:
        snapshot = healer.metrics.snapshot(now)
        topology = healer.metrics.topology(now)
    except SourceError as exc:  # why: no data is not good data; hold and say so
        return f"metrics unavailable: {exc}"
    if not snapshot.services:
        return "metrics source returned no series at all"
    since = healer.last_poll or now - healer.timing.poll_interval
    try:
        return snapshot, topology, healer.logs.read(since, now), None
    except SourceError as exc:  # why: judge on metrics alone, but never read logs as quiet
        log.warning("logs unavailable, judging on metrics alone: %s", exc)
        return snapshot, topology, None, f"logs unavailable: {exc}"


def _hold(healer: Healer, now: datetime, why: str) -> list[TimelineEvent]:
    """Tell each open incident once per outage that the healer is holding."""
    if healer.holding == why:
        return []
    healer.holding = why
    log.warning("holding: %s", why)
    events = []
    with healer.store.unit() as uow:
        for incident in uow.open_incidents():
            item = event(incident, EventKind.HELD, f"Holding all actions: {why}", now)
            uow.append_event(item)
            events.append(item)
        uow.commit()
    return events


def _group(healer: Healer, poll: Poll, report: TickReport) -> list[TimelineEvent]:
    events: list[TimelineEvent] = []
    with healer.store.unit() as uow:
        open_now = uow.open_incidents()
        grouping = group(
            poll.observation.anomalies,
            incidents=open_now,
            topology=poll.topology,
            now=poll.now,
            new_id=_new_id,
        )
        for incident in grouping.opened:
            uow.add_incident(incident)
            events.append(_detected(incident, poll.now))
        for incident in open_now:
            fresh = grouping.joined.get(incident.id, [])
            for anomaly in fresh:
                incident.anomalies.append(anomaly)
                incident.services.add(anomaly.service)
                events.append(
                    event(
                        incident,
                        EventKind.SYMPTOM,
                        f"{anomaly.service.name}: {anomaly.detail}",
                        poll.now,
                        service=str(anomaly.service),
                        signal=str(anomaly.kind),
                    )
                )
            if fresh:
                incident.updated_at = poll.now
                uow.save_incident(incident)
        for item in events:
            uow.append_event(item)
        uow.commit()
    report.opened = grouping.opened
    return events


def _detected(incident: Incident, now: datetime) -> TimelineEvent:
    symptoms = "; ".join(f"{a.service.name}: {a.detail}" for a in incident.anomalies[:6])
    return event(
        incident,
        EventKind.DETECTED,
        f"Detected: {symptoms}",
        now,
        services=sorted(str(s) for s in incident.services),
        since=min(a.since for a in incident.anomalies).isoformat(),
    )


def _advance_all(healer: Healer, poll: Poll) -> list[TimelineEvent]:
    with healer.store.unit() as uow:
        incidents = uow.open_incidents()
    events: list[TimelineEvent] = []
    for incident in sorted(incidents, key=lambda i: i.opened_at):
        found = advance(incident, healer=healer, poll=poll)
        with healer.store.unit() as uow:
            if found:
                incident.updated_at = poll.now
            uow.save_incident(incident)
            for item in found:
                uow.append_event(item)
                _count_outcome(uow, item)
            uow.commit()
        events += found
    return events


def _count_outcome(uow: UnitOfWork, item: TimelineEvent) -> None:
    """A verdict on a playbook joins its track record, in the same commit as the event."""
    if item.kind not in (EventKind.RECOVERED, EventKind.NOT_RECOVERED):
        return
    playbook, cause = item.data.get("playbook"), item.data.get("cause")
    if isinstance(playbook, str) and isinstance(cause, str):
        worked = item.kind is EventKind.RECOVERED
        uow.record_outcome(playbook, cause, worked=worked, at=item.at)


def _lost_by_the_crash(
    incident: Incident, timeline: list[TimelineEvent], now: datetime
) -> list[TimelineEvent]:
    """The plan and decision events of the poll a crash cut short (its incident was
    saved before the steps ran, its events only after), so the timeline stays whole."""
    kinds = {e.kind for e in timeline}
    found = []
    if incident.plan is not None and EventKind.PLANNED not in kinds:
        found.append(planned_event(incident, incident.plan, now))
    if incident.decision is not None and EventKind.DECIDED not in kinds:
        found.append(decided_event(incident, incident.decision, now))
    return found


def _reconcile(healer: Healer) -> list[TimelineEvent]:
    """Settle actions a crash left half-done before anything else happens."""
    with healer.store.unit() as uow:
        pending = uow.pending_intents()
    if not pending:
        return []
    now = healer.clock.now()
    events = []
    for incident_id, result in execution.reconcile(
        pending, cluster=healer.cluster, store=healer.store, clock=healer.clock, code=healer.code
    ):
        with healer.store.unit() as uow:
            incident = uow.get_incident(incident_id)
            if incident is None:
                continue
            incident.actions.append(result)
            if result.ok and incident.status.value in ("open", "diagnosed", "awaiting_approval"):
                # The crash came between sending and recording: the action did run.
                incident.attempts += 1
                incident.status = IncidentStatus.MITIGATING
                incident.verification = Verification(started_at=now)
            kind = EventKind.ACTION_SUCCEEDED if result.ok else EventKind.ACTION_FAILED
            found = _lost_by_the_crash(incident, uow.events(incident.id), now)
            found.append(event(incident, kind, result.detail, now, key=result.key))
            uow.save_incident(incident)
            for item in found:
                uow.append_event(item)
            uow.commit()
        events += found
    return events


def _notify(healer: Healer, events: list[TimelineEvent]) -> None:
    if not events:
        return
    with healer.store.unit() as uow:
        incidents = {i: uow.get_incident(i) for i in {e.incident_id for e in events}}
    for item in events:
        incident = incidents.get(item.incident_id)
        if incident is None:
            continue
        try:
            healer.notifier.notify(incident, item)
        except Exception:  # why: a broken chat integration must never stop the healing loop
            log.exception("notifier failed for incident %s", item.incident_id)


def _after_poll(healer: Healer, now: datetime) -> None:
    for hook in healer.after_poll:
        try:
            hook(now)
        except Exception:  # why: housekeeping (saving state) must never stop the healing loop
            log.exception("after-poll hook %r failed", hook)


def _new_id() -> str:
    return f"inc-{uuid.uuid4().hex[:8]}"
