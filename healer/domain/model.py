"""The healer's vocabulary: signals, anomalies, incidents, diagnoses, plans, decisions.

Pure values with no I/O and no third-party imports; every stage of the pipeline speaks
in these types, and the store persists them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

JSON = Any  # a JSON-serialisable value (str, int, float, bool, None, list, dict)


@dataclass(frozen=True, order=True)
class ServiceRef:
    """A workload the healer watches and may act on: a Deployment in a namespace."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"

    @classmethod
    def parse(cls, text: str, default_namespace: str = "default") -> ServiceRef:
        namespace, _, name = text.rpartition("/")
        return cls(namespace or default_namespace, name)


class Signal(StrEnum):
    """Per-service metric signals, each already reduced over the query window."""

    LATENCY_P99 = "latency_p99"  # seconds
    ERROR_RATIO = "error_ratio"  # 5xx responses / all responses, 0..1
    REQUEST_RATE = "request_rate"  # responses per second
    CPU_UTILISATION = "cpu_utilisation"  # CPU used / CPU limit, may exceed 1
    CPU_THROTTLING = "cpu_throttling"  # throttled CFS periods / all periods, 0..1
    POOL_USED = "pool_used"  # connections checked out, summed over replicas
    POOL_MAX = "pool_max"  # pool capacity, summed over replicas
    POOL_PENDING = "pool_pending"  # requests waiting for a connection
    POOL_TIMEOUTS = "pool_timeouts"  # connection acquisitions timed out, per second
    REPLICAS = "replicas"  # ready replicas
    MEMORY_UTILISATION = "memory_utilisation"  # the fullest container's working set / limit
    RESTARTS = "restarts"  # container restarts over the last RESTARTS_WINDOW, all pods
    OOM_KILLED = "oom_killed"  # containers whose last termination was an OOM kill


# A restart is a rare event: a rate window of a minute or two would miss most of them.
RESTARTS_WINDOW_S = 900


@dataclass(frozen=True)
class DatabaseStats:
    """Server-side view of a database the services share (e.g. postgres_exporter)."""

    name: str
    connections: float
    max_connections: float


@dataclass(frozen=True)
class MetricsSnapshot:
    """Everything the metrics source knew at one poll.

    A service or signal that is absent means "no data", never "healthy".
    """

    at: datetime
    services: Mapping[ServiceRef, Mapping[Signal, float]]
    databases: Mapping[str, DatabaseStats] = field(default_factory=dict)

    def value(self, service: ServiceRef, signal: Signal) -> float | None:
        return self.services.get(service, {}).get(signal)


@dataclass(frozen=True)
class Edge:
    caller: ServiceRef
    callee: ServiceRef


@dataclass(frozen=True)
class Topology:
    """The call graph, plus which database each service holds a pool against."""

    services: frozenset[ServiceRef]
    edges: frozenset[Edge]
    databases: Mapping[ServiceRef, str] = field(default_factory=dict)

    def callees(self, service: ServiceRef) -> frozenset[ServiceRef]:
        return frozenset(e.callee for e in self.edges if e.caller == service)

    def callers(self, service: ServiceRef) -> frozenset[ServiceRef]:
        return frozenset(e.caller for e in self.edges if e.callee == service)

    def neighbours(self, service: ServiceRef) -> frozenset[ServiceRef]:
        return self.callees(service) | self.callers(service)


@dataclass(frozen=True)
class LogRecord:
    """One log line, with Elastic Common Schema meaning for each field."""

    at: datetime
    service: ServiceRef
    level: str
    message: str
    status_code: int | None = None
    error_type: str | None = None
    trace_id: str | None = None


@dataclass(frozen=True)
class LogBatch:
    """The error-level logs of one poll window.

    `totals` counts every matching line per service even when `records` is a sample.
    """

    since: datetime
    until: datetime
    records: tuple[LogRecord, ...]
    totals: Mapping[ServiceRef, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Rollout:
    """One revision of a workload, as `kubectl rollout history` lists it."""

    revision: int
    image: str
    at: datetime


@dataclass(frozen=True)
class Pod:
    """One pod of a workload, as far as choosing which one to restart needs."""

    name: str
    ready: bool
    restarts: int = 0
    oom_killed: bool = False  # its last container termination was an OOM kill


@dataclass(frozen=True)
class Workload:
    """What the cluster says about a service right now."""

    service: ServiceRef
    replicas: int
    revision: int
    image: str
    env: Mapping[str, str]
    history: tuple[Rollout, ...] = ()
    restarted_at: str | None = None  # the pod template's kubectl.kubernetes.io/restartedAt
    pods: tuple[Pod, ...] = ()


class AnomalyKind(StrEnum):
    LATENCY = "latency"
    ERRORS = "errors"
    LOG_PATTERN = "log_pattern"
    MEMORY = "memory"  # a working set climbing toward its limit


@dataclass(frozen=True)
class Anomaly:
    """A signal that left its baseline and stayed out for long enough to matter."""

    service: ServiceRef
    kind: AnomalyKind
    since: datetime
    at: datetime
    value: float
    baseline: float
    threshold: float
    score: float  # how far out, in robust standard deviations (or a rate ratio for logs)
    template: str | None = None  # the log template, for LOG_PATTERN
    detail: str = ""


class Cause(StrEnum):
    CPU_SATURATION = "cpu_saturation"
    POOL_EXHAUSTION = "pool_exhaustion"
    DB_MAX_CONNECTIONS = "db_max_connections"
    BAD_DEPLOY = "bad_deploy"
    SLOW_DEPENDENCY = "slow_dependency"
    DEPENDENCY_ERRORS = "dependency_errors"
    TRAFFIC_SURGE = "traffic_surge"
    MEMORY_LEAK = "memory_leak"
    UNKNOWN = "unknown"


@dataclass(frozen=True)
class Evidence:
    """One observation that supports (weight > 0) or weakens a hypothesis."""

    source: str  # "metrics", "logs" or "cluster"
    summary: str
    weight: float
    value: float | None = None
    baseline: float | None = None


@dataclass(frozen=True)
class Hypothesis:
    service: ServiceRef
    cause: Cause
    score: float
    evidence: tuple[Evidence, ...]


@dataclass(frozen=True)
class Diagnosis:
    """The ranked explanations of an incident; `ranked[0]` is the one acted on."""

    at: datetime
    ranked: tuple[Hypothesis, ...]
    affected: frozenset[ServiceRef]

    @property
    def root(self) -> ServiceRef:
        return self.ranked[0].service

    @property
    def cause(self) -> Cause:
        return self.ranked[0].cause

    @property
    def evidence(self) -> tuple[Evidence, ...]:
        return self.ranked[0].evidence


class Risk(StrEnum):
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"


@dataclass(frozen=True)
class Plan:
    """A playbook chosen for a diagnosis, with its parameters filled in."""

    playbook: str
    target: ServiceRef
    params: Mapping[str, int | float | str]
    risk: Risk
    rationale: str
    planner: str  # "rules" or the model's name
    track_record: str = ""  # how this playbook fared on this cause before, for reviewers


class Outcome(StrEnum):
    AUTO = "auto"
    ASK = "ask"
    DENY = "deny"


@dataclass(frozen=True)
class Decision:
    """What policy allows for a plan, and why."""

    outcome: Outcome
    reason: str
    rule: str | None = None
    approvers_required: int = 0
    dry_run: bool = False


@dataclass(frozen=True)
class Approval:
    """A human's answer to an approval request."""

    incident_id: str
    approver: str
    approved: bool
    at: datetime
    comment: str = ""


@dataclass(frozen=True)
class ActionResult:
    """The outcome of one mutation, recorded after it was sent."""

    key: str  # the idempotency key recorded with the intent
    action: str
    target: ServiceRef
    ok: bool
    detail: str
    before: Mapping[str, JSON] = field(default_factory=dict)
    after: Mapping[str, JSON] = field(default_factory=dict)


class IncidentStatus(StrEnum):
    OPEN = "open"  # detected, not yet diagnosed
    DIAGNOSED = "diagnosed"  # diagnosed, no action yet (none allowed or none found)
    AWAITING_APPROVAL = "awaiting_approval"
    MITIGATING = "mitigating"  # an action ran; verifying that it helped
    RESOLVED = "resolved"
    # Handed to a human (denied, failed or did not help). Still open: it keeps its
    # symptoms grouped under it until they recover, so they do not open a new incident.
    ESCALATED = "escalated"

    @property
    def is_closed(self) -> bool:
        return self is IncidentStatus.RESOLVED


class EventKind(StrEnum):
    DETECTED = "detected"
    SYMPTOM = "symptom"  # a further anomaly grouped under this incident
    DIAGNOSED = "diagnosed"
    PLANNED = "planned"
    DECIDED = "decided"
    APPROVAL_REQUESTED = "approval_requested"
    APPROVED = "approved"
    REJECTED = "rejected"
    ACTION_STARTED = "action_started"
    ACTION_SUCCEEDED = "action_succeeded"
    ACTION_FAILED = "action_failed"
    RECOVERED = "recovered"
    NOT_RECOVERED = "not_recovered"
    REVERTED = "reverted"
    HELD = "held"  # the healer could not see or could not act, and waited
    ESCALATED = "escalated"
    RESOLVED = "resolved"


@dataclass(frozen=True)
class TimelineEvent:
    incident_id: str
    at: datetime
    kind: EventKind
    summary: str
    data: Mapping[str, JSON] = field(default_factory=dict)


@dataclass
class Verification:
    """Progress of checking that an action helped."""

    started_at: datetime
    polls: int = 0
    healthy_streak: int = 0
    target_streak: int = 0  # polls in a row the changed service itself looked healthy
    extended: bool = False  # the window was granted once more: the service had just turned well


@dataclass
class Incident:
    """One underlying problem, with the symptoms grouped under it and its progress.

    Mutable on purpose: the pipeline advances it poll by poll and the store saves it.
    """

    id: str
    title: str
    opened_at: datetime
    updated_at: datetime
    status: IncidentStatus
    services: set[ServiceRef]
    anomalies: list[Anomaly]
    diagnosis: Diagnosis | None = None
    plan: Plan | None = None
    decision: Decision | None = None
    attempts: int = 0  # actions executed so far
    actions: list[ActionResult] = field(default_factory=list)
    verification: Verification | None = None
    resolved_at: datetime | None = None
    healthy_streak: int = 0  # consecutive healthy polls before any action
    tried: list[str] = field(default_factory=list)  # playbooks run (and reverted) so far
