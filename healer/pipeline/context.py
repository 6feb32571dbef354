"""What a poll works with: the wired dependencies (`Healer`) and this poll's facts (`Poll`)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from healer.detect.detector import Detector, Observation
from healer.domain.model import (
    JSON,
    EventKind,
    Incident,
    MetricsSnapshot,
    ServiceRef,
    TimelineEvent,
    Topology,
    Workload,
)
from healer.domain.playbook import Playbook, VerifySpec
from healer.domain.policy import Policy
from healer.errors import HealerError
from healer.pipeline.pull_requests import CodeChanges
from healer.ports import (
    Approver,
    Clock,
    Cluster,
    IncidentStore,
    LogSource,
    MetricsSource,
    Notifier,
    Planner,
)


@dataclass(frozen=True)
class Timing:
    """How patient the healer is, in polls."""

    poll_interval: timedelta = timedelta(seconds=15)
    settle_polls: int = 2  # watch a new incident this long before acting, so symptoms gather
    recovered_polls: int = 4  # healthy polls that close an incident nobody acted on
    approval_timeout: timedelta = timedelta(minutes=30)  # an unanswered request escalates
    max_attempts: int = 2  # playbooks tried per incident before it is left to people
    verify: VerifySpec = VerifySpec()  # for playbooks that do not set their own
    revert_on_failure: bool = True  # undo an action that did not help before escalating


@dataclass
class Healer:
    """Everything a poll needs, built once by `healer.bootstrap`."""

    metrics: MetricsSource
    logs: LogSource
    cluster: Cluster
    store: IncidentStore
    clock: Clock
    planner: Planner
    approver: Approver
    notifier: Notifier
    playbooks: Mapping[str, Playbook]
    policy: Policy
    detector: Detector
    timing: Timing = Timing()
    # Run after every poll with its time, e.g. to save the log miner's state; a failing
    # hook is logged and never stops the loop.
    after_poll: list[Callable[[datetime], object]] = field(default_factory=list)
    # Whether this replica may change anything now (the leader, with election on);
    # checked right before each action, since leadership can end in the middle of a poll.
    may_act: Callable[[], bool] = lambda: True
    code: CodeChanges | None = None  # where fixes that belong in git are proposed
    last_poll: datetime | None = None
    holding: str | None = None  # why the last poll held, while it still holds


@dataclass
class Poll:
    """The facts of one poll, shared by every incident advanced in it."""

    now: datetime
    snapshot: MetricsSnapshot
    topology: Topology
    observation: Observation
    cluster: Cluster
    _workloads: dict[ServiceRef, Workload | None] = field(default_factory=dict)

    def workload(self, service: ServiceRef) -> Workload | None:
        """The service's workload, read once per poll; None if the cluster cannot say."""
        if service not in self._workloads:
            try:
                self._workloads[service] = self.cluster.workload(service)
            except HealerError:  # why: a missing workload weakens a diagnosis, never stops it
                self._workloads[service] = None
        return self._workloads[service]

    def workloads(self, services: set[ServiceRef]) -> dict[ServiceRef, Workload]:
        found = {s: self.workload(s) for s in services}
        return {s: w for s, w in found.items() if w is not None}


def event(
    incident: Incident, kind: EventKind, summary: str, at: datetime, **data: JSON
) -> TimelineEvent:
    return TimelineEvent(incident.id, at, kind, summary, data)
