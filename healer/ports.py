"""The seams between the healer and the world, as `typing.Protocol`s.

The pipeline depends only on these; `healer.adapters` and `healer.sim` implement them,
and `healer.bootstrap` chooses which implementation each deployment gets.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta
from typing import Protocol

from healer.domain.codechange import FileVersion, PullRequest
from healer.domain.model import (
    ActionResult,
    Approval,
    Decision,
    Diagnosis,
    Incident,
    LogBatch,
    MetricsSnapshot,
    Plan,
    ServiceRef,
    TimelineEvent,
    Topology,
    Workload,
)
from healer.domain.playbook import ParamValue, Playbook, TrackRecord


class Clock(Protocol):
    """The only source of time: real in the daemon, simulated in the demo and tests."""

    def now(self) -> datetime:
        """The current time, timezone-aware (UTC)."""
        ...


class MetricsSource(Protocol):
    """Reads per-service signals; one query per signal per poll, whatever the service count.

    Raises `healer.errors.SourceUnavailable` when the source cannot answer or answers garbage.
    """

    def snapshot(self, at: datetime) -> MetricsSnapshot: ...

    def topology(self, at: datetime) -> Topology: ...

    def history(self, start: datetime, end: datetime, step: timedelta) -> list[MetricsSnapshot]:
        """Snapshots at every `step` from `start` to `end`, each as `snapshot` would have
        answered then (range queries, still one per signal). Seeds baselines at start-up."""
        ...


class LogSource(Protocol):
    """Reads error-level log lines of a window. Raises `SourceUnavailable` like metrics."""

    def read(self, since: datetime, until: datetime) -> LogBatch: ...


class Cluster(Protocol):
    """Reads and mutates workloads. Every mutation honours `dry_run` (server-side dry run).

    Raises `healer.errors.ActionFailed` (permanent) or `ClusterUnavailable` (temporary).
    """

    def workload(self, service: ServiceRef) -> Workload: ...

    def acting_for(self, incident_id: str, reason: str = "") -> AbstractContextManager[None]:
        """Changes made inside are made for this incident (annotated, explained in Events)."""
        ...

    def scale(self, service: ServiceRef, replicas: int, *, dry_run: bool = False) -> None: ...

    def set_env(
        self, service: ServiceRef, name: str, value: str, *, dry_run: bool = False
    ) -> None: ...

    def rollback(
        self, service: ServiceRef, to_revision: int | None = None, *, dry_run: bool = False
    ) -> None: ...

    def restart(self, service: ServiceRef, *, at: str, dry_run: bool = False) -> None:
        """Replace every pod (`kubectl rollout restart`); `at` is the restartedAt stamp."""
        ...

    def delete_pod(self, service: ServiceRef, pod: str, *, dry_run: bool = False) -> str:
        """Delete one pod so its ReplicaSet starts a fresh one; returns the pod's name."""
        ...


class MinedTemplate(Protocol):
    """A log template: a stable id and its text with variable parts as `<*>`."""

    @property
    def id(self) -> int: ...

    @property
    def text(self) -> str: ...


class TemplateMiner(Protocol):
    """Groups log lines into templates; ids stay stable (also across restarts if persisted)."""

    def add(self, message: str) -> MinedTemplate: ...


class Planner(Protocol):
    """Chooses one of the candidate playbooks (already allowed for the cause) and its params."""

    name: str

    def plan(
        self,
        *,
        incident: Incident,
        diagnosis: Diagnosis,
        candidates: Sequence[Playbook],
        workload: Workload,
        snapshot: MetricsSnapshot,
    ) -> Plan | None: ...


class Approver(Protocol):
    """Asks humans to approve a plan; their answers come back as `Approval` rows."""

    def request(self, incident: Incident, plan: Plan, decision: Decision) -> None: ...


class Notifier(Protocol):
    """Tells people what happened (chat, pager); must never raise into the pipeline."""

    def notify(self, incident: Incident, event: TimelineEvent) -> None: ...


class CodeHost(Protocol):
    """Proposes fixes that belong in git as pull requests; every call may be repeated."""

    def read_file(self, repository: str, path: str, *, ref: str) -> FileVersion: ...

    def default_branch(self, repository: str) -> str: ...

    def propose(
        self,
        *,
        repository: str,
        branch: str,
        title: str,
        body: str,
        message: str,
        changes: Mapping[str, str],
        base: str | None = None,
    ) -> PullRequest:
        """Commit `changes` (path → new text) on `branch`; the open pull request from it."""
        ...


class UnitOfWork(Protocol):
    """One business operation against the store: commit explicitly, roll back by default."""

    def commit(self) -> None: ...

    def rollback(self) -> None: ...

    def add_incident(self, incident: Incident) -> None: ...

    def save_incident(self, incident: Incident) -> None: ...

    def get_incident(self, incident_id: str) -> Incident | None: ...

    def open_incidents(self) -> list[Incident]: ...

    def list_incidents(self, *, limit: int = 50) -> list[Incident]: ...

    def append_event(self, event: TimelineEvent) -> None: ...

    def events(self, incident_id: str) -> list[TimelineEvent]: ...

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
        """Record that a mutation is about to be sent; False if the key already exists."""
        ...

    def record_result(self, result: ActionResult, at: datetime) -> None: ...

    def pending_intents(self) -> list[PendingIntent]:
        """Intents with no result: a crash came between sending and recording."""
        ...

    def add_approval(self, approval: Approval) -> None: ...

    def approvals(self, incident_id: str) -> list[Approval]: ...

    def actions_since(self, since: datetime) -> list[tuple[datetime, ServiceRef, str, str]]:
        """(recorded at, target, action, incident id) of every intent since `since`, for
        rate limits and cooldowns."""
        ...

    def record_outcome(self, playbook: str, cause: str, *, worked: bool, at: datetime) -> None:
        """Count one verified recovery (or failure) of `playbook` on `cause`."""
        ...

    def outcomes(self) -> list[TrackRecord]: ...


class PendingIntent(Protocol):
    """An intent as the store read it back (read-only)."""

    @property
    def key(self) -> str: ...

    @property
    def incident_id(self) -> str: ...

    @property
    def action(self) -> str: ...

    @property
    def target(self) -> ServiceRef: ...

    @property
    def args(self) -> dict[str, ParamValue]: ...

    @property
    def before(self) -> dict[str, object]: ...

    @property
    def at(self) -> datetime: ...


class IncidentStore(Protocol):
    def unit(self) -> AbstractContextManager[UnitOfWork]: ...
