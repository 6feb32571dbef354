"""Hand-written in-memory fakes of the healer's own ports, for unit tests."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime

from healer.domain.model import (
    ActionResult,
    Approval,
    Decision,
    Incident,
    LogBatch,
    LogRecord,
    MetricsSnapshot,
    Plan,
    Rollout,
    ServiceRef,
    Signal,
    TimelineEvent,
    Topology,
    Workload,
)
from healer.domain.playbook import ParamValue, TrackRecord
from healer.errors import ActionFailed, SourceUnavailable


@dataclass(frozen=True)
class Intent:
    key: str
    incident_id: str
    action: str
    target: ServiceRef
    args: dict[str, ParamValue]
    before: dict[str, object]
    at: datetime


@dataclass
class _Tables:
    incidents: dict[str, Incident] = field(default_factory=dict)
    events: list[TimelineEvent] = field(default_factory=list)
    intents: dict[str, Intent] = field(default_factory=dict)
    results: dict[str, ActionResult] = field(default_factory=dict)
    approvals: list[Approval] = field(default_factory=list)
    outcomes: dict[tuple[str, str], TrackRecord] = field(default_factory=dict)


class MemoryUnit:
    """Works on a copy of the tables; `commit` publishes it, anything else discards it."""

    def __init__(self, store: MemoryStore) -> None:
        self._store = store
        self._t = copy.deepcopy(store.tables)

    def commit(self) -> None:
        self._store.tables = copy.deepcopy(self._t)
        self._store.commits += 1

    def rollback(self) -> None:
        self._t = copy.deepcopy(self._store.tables)

    def add_incident(self, incident: Incident) -> None:
        self._t.incidents[incident.id] = copy.deepcopy(incident)

    def save_incident(self, incident: Incident) -> None:
        self._t.incidents[incident.id] = copy.deepcopy(incident)

    def get_incident(self, incident_id: str) -> Incident | None:
        found = self._t.incidents.get(incident_id)
        return copy.deepcopy(found) if found else None

    def open_incidents(self) -> list[Incident]:
        return [copy.deepcopy(i) for i in self._t.incidents.values() if not i.status.is_closed]

    def list_incidents(self, *, limit: int = 50) -> list[Incident]:
        ordered = sorted(self._t.incidents.values(), key=lambda i: i.opened_at, reverse=True)
        return [copy.deepcopy(i) for i in ordered[:limit]]

    def append_event(self, event: TimelineEvent) -> None:
        self._t.events.append(event)

    def events(self, incident_id: str) -> list[TimelineEvent]:
        return [e for e in self._t.events if e.incident_id == incident_id]

    def record_intent(
        self,
        *,
        key: str,
        incident_id: str,
        action: str,
        target: ServiceRef,
        args: dict[str, ParamValue],
        before: dict[str, object],
        at: datetime,
    ) -> bool:
        if key in self._t.intents:
            return False
        self._t.intents[key] = Intent(key, incident_id, action, target, dict(args), before, at)
        return True

    def record_result(self, result: ActionResult, at: datetime) -> None:
        self._t.results[result.key] = result

    def pending_intents(self) -> list[Intent]:
        return [i for k, i in self._t.intents.items() if k not in self._t.results]

    def add_approval(self, approval: Approval) -> None:
        self._t.approvals.append(approval)

    def approvals(self, incident_id: str) -> list[Approval]:
        return [a for a in self._t.approvals if a.incident_id == incident_id]

    def actions_since(self, since: datetime) -> list[tuple[datetime, ServiceRef, str, str]]:
        return [
            (i.at, i.target, i.action, i.incident_id)
            for i in self._t.intents.values()
            if i.at >= since
        ]

    def record_outcome(self, playbook: str, cause: str, *, worked: bool, at: datetime) -> None:
        old = self._t.outcomes.get((playbook, cause), TrackRecord(playbook, cause))
        self._t.outcomes[(playbook, cause)] = TrackRecord(
            playbook, cause, old.worked + int(worked), old.failed + int(not worked)
        )

    def outcomes(self) -> list[TrackRecord]:
        return sorted(self._t.outcomes.values(), key=lambda r: (r.playbook, r.cause))


class MemoryStore:
    def __init__(self) -> None:
        self.tables = _Tables()
        self.commits = 0

    @contextmanager
    def unit(self) -> Iterator[MemoryUnit]:
        yield MemoryUnit(self)


class ScriptedMetrics:
    """Serves whatever snapshot the test sets; can be told to fail."""

    def __init__(self, topology: Topology) -> None:
        self._topology = topology
        self.values: dict[ServiceRef, dict[Signal, float]] = {}
        self.failing = False
        self.snapshots = 0

    def snapshot(self, at: datetime) -> MetricsSnapshot:
        if self.failing:
            raise SourceUnavailable("connection refused")
        self.snapshots += 1
        return MetricsSnapshot(at, {s: dict(v) for s, v in self.values.items()})

    def topology(self, at: datetime) -> Topology:
        return self._topology


class ScriptedLogs:
    def __init__(self) -> None:
        self.lines: list[tuple[ServiceRef, str]] = []
        self.failing = False

    def read(self, since: datetime, until: datetime) -> LogBatch:
        if self.failing:
            raise SourceUnavailable("elasticsearch timed out")
        records = tuple(LogRecord(until, s, "error", m) for s, m in self.lines)
        return LogBatch(since, until, records)


class FakeCluster:
    """Workloads in a dict; records every call, dry runs included."""

    def __init__(self, workloads: dict[ServiceRef, Workload]) -> None:
        self.workloads = workloads
        self.calls: list[tuple[str, ServiceRef, object, bool]] = []
        self.refuse: str | None = None
        self.acting: list[str] = []  # incident ids changes were made for

    @contextmanager
    def acting_for(self, incident_id: str, reason: str = "") -> Iterator[None]:
        self.acting.append(incident_id)
        yield

    def workload(self, service: ServiceRef) -> Workload:
        if service not in self.workloads:
            raise ActionFailed(f"deployments.apps {service.name!r} not found")
        return self.workloads[service]

    def scale(self, service: ServiceRef, replicas: int, *, dry_run: bool = False) -> None:
        self._check("scale", service, replicas, dry_run)
        if not dry_run:
            self.workloads[service] = replace(self.workloads[service], replicas=replicas)

    def set_env(self, service: ServiceRef, name: str, value: str, *, dry_run: bool = False) -> None:
        self._check("set_env", service, (name, value), dry_run)
        if not dry_run:
            w = self.workloads[service]
            self.workloads[service] = replace(w, env={**w.env, name: value})

    def rollback(
        self, service: ServiceRef, to_revision: int | None = None, *, dry_run: bool = False
    ) -> None:
        self._check("rollback", service, to_revision, dry_run)
        if dry_run:
            return
        w = self.workloads[service]
        target = next(r for r in w.history if r.revision == to_revision)
        new = Rollout(w.revision + 1, target.image, w.history[-1].at)
        self.workloads[service] = replace(
            w, revision=new.revision, image=new.image, history=(*w.history, new)
        )

    def restart(self, service: ServiceRef, *, at: str, dry_run: bool = False) -> None:
        self._check("restart", service, at, dry_run)
        if not dry_run:
            self.workloads[service] = replace(self.workloads[service], restarted_at=at)

    def delete_pod(self, service: ServiceRef, pod: str, *, dry_run: bool = False) -> str:
        self._check("delete_pod", service, pod, dry_run)
        w = self.workloads[service]
        if all(p.name != pod for p in w.pods):
            raise ActionFailed(f"pod {pod} not found")
        if not dry_run:
            self.workloads[service] = replace(w, pods=tuple(p for p in w.pods if p.name != pod))
        return pod

    def _check(self, what: str, service: ServiceRef, arg: object, dry_run: bool) -> None:
        self.workload(service)
        self.calls.append((what, service, arg, dry_run))
        if self.refuse:
            raise ActionFailed(self.refuse)

    def mutations(self) -> list[tuple[str, ServiceRef, object]]:
        return [(w, s, a) for w, s, a, dry in self.calls if not dry]


class RecordingApprover:
    def __init__(self) -> None:
        self.requests: list[tuple[str, Plan, Decision]] = []

    def request(self, incident: Incident, plan: Plan, decision: Decision) -> None:
        self.requests.append((incident.id, plan, decision))


class RecordingNotifier:
    def __init__(self) -> None:
        self.events: list[TimelineEvent] = []

    def notify(self, incident: Incident, event: TimelineEvent) -> None:
        self.events.append(event)
