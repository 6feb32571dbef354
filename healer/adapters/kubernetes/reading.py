"""What the healer reads from Kubernetes objects: pure functions over the client's models.

A Deployment's rollout history lives in the ReplicaSets it controls (one per pod
template, numbered by the `deployment.kubernetes.io/revision` annotation), as
`kubectl rollout history` reads it; pods and events belong to a Deployment through
those ReplicaSets.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import (
    CoreV1Event,
    V1Container,
    V1ContainerStatus,
    V1Deployment,
    V1ObjectMeta,
    V1Pod,
    V1PodTemplateSpec,
    V1ReplicaSet,
)

from healer.domain.model import Pod, Rollout, ServiceRef, Workload
from healer.errors import ActionFailed

REVISION = "deployment.kubernetes.io/revision"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"  # what `kubectl rollout restart` sets
HASH_LABEL = "pod-template-hash"  # added by the controller to each ReplicaSet's template
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@dataclass(frozen=True)
class Container:
    """One container of the pod template: what it runs, with what, within what."""

    name: str
    image: str
    env: Mapping[str, str]  # literal values only; `valueFrom` entries are not readable here
    requests: Mapping[str, str]
    limits: Mapping[str, str]


@dataclass(frozen=True)
class PodState:
    """One pod as `kubectl get pods` sums it up, plus whether a container was OOM-killed."""

    name: str
    phase: str
    ready: bool
    restarts: int
    oom_killed: bool
    waiting: str  # e.g. CrashLoopBackOff, ImagePullBackOff; empty when running
    started: datetime | None


@dataclass(frozen=True)
class ClusterEvent:
    """A Kubernetes Event about the Deployment, one of its ReplicaSets or one of its pods."""

    at: datetime
    type: str  # Normal or Warning
    reason: str
    message: str
    kind: str
    name: str
    count: int


def wire(model: Any) -> dict[str, Any]:
    """A client model as the API server's JSON has it (camelCase, no nulls)."""
    found: dict[str, Any] = model.model_dump(by_alias=True, exclude_none=True, mode="json")
    return found


def revision_of(meta: V1ObjectMeta | None) -> int:
    """The revision annotation as a number; 0 when absent or unreadable."""
    value = ((meta.annotations if meta else None) or {}).get(REVISION, "")
    return int(value) if value.isdigit() else 0


def controlled_by(meta: V1ObjectMeta | None, uid: str | None) -> bool:
    """Whether `uid` is the object's controller, as `metav1.IsControlledBy` decides."""
    refs = (meta.owner_references if meta else None) or []
    return uid is not None and any(r.controller and r.uid == uid for r in refs)


def owned(deployment: V1Deployment, replicasets: Iterable[V1ReplicaSet]) -> list[V1ReplicaSet]:
    """The Deployment's ReplicaSets, oldest revision first."""
    uid = deployment.metadata.uid if deployment.metadata else None
    mine = [rs for rs in replicasets if controlled_by(rs.metadata, uid)]
    return sorted(mine, key=lambda rs: revision_of(rs.metadata))


def template_of(template: V1PodTemplateSpec | None) -> dict[str, Any]:
    """A pod template without the controller's hash label, to compare and to copy back."""
    found = wire(template) if template is not None else {}
    labels = found.get("metadata", {}).get("labels", {})
    labels.pop(HASH_LABEL, None)
    return found


def current_revision(deployment: V1Deployment, replicasets: Sequence[V1ReplicaSet]) -> int:
    """The revision the Deployment's template is (or is about to be, when the controller
    has yet to catch up with a change: it will reuse or create a ReplicaSet numbered
    one past the newest)."""
    recorded = revision_of(deployment.metadata)
    if not replicasets:
        return recorded
    newest = max(revision_of(rs.metadata) for rs in replicasets)
    wanted = template_of(deployment.spec.template if deployment.spec else None)
    matching = [rs for rs in replicasets if template_of(_rs_template(rs)) == wanted]
    if matching and revision_of(matching[-1].metadata) == newest:
        return max(newest, recorded)
    return max(newest + 1, recorded)


def primary(deployment: V1Deployment) -> V1Container:
    """The container the healer reads and changes: the one named after the Deployment,
    else the first (sidecars are conventionally listed after the application)."""
    containers = _containers(deployment)
    if not containers:
        raise ActionFailed(f"deployment {_name(deployment)} has no containers")
    name = deployment.metadata.name if deployment.metadata else None
    return next((c for c in containers if c.name == name), containers[0])


def container_of(container: V1Container) -> Container:
    env = {e.name: e.value for e in container.env or [] if e.value_from is None}
    resources = container.resources
    return Container(
        name=container.name,
        image=container.image or "",
        env={k: v or "" for k, v in env.items()},
        requests=dict((resources.requests if resources else None) or {}),
        limits=dict((resources.limits if resources else None) or {}),
    )


def containers(deployment: V1Deployment) -> list[Container]:
    return [container_of(c) for c in _containers(deployment)]


def workload_of(
    deployment: V1Deployment, replicasets: Iterable[V1ReplicaSet], pods: Iterable[V1Pod] = ()
) -> Workload:
    """The port's view: desired replicas, revision, primary image and env, history, pods."""
    mine = owned(deployment, replicasets)
    main = container_of(primary(deployment))
    name = _name(deployment)
    history = tuple(
        Rollout(revision_of(rs.metadata), _image(rs, name), _created(rs.metadata)) for rs in mine
    )
    spec = deployment.spec
    return Workload(
        service=service_of(deployment),
        replicas=spec.replicas if spec and spec.replicas is not None else 1,
        revision=current_revision(deployment, mine),
        image=main.image,
        env=main.env,
        history=history,
        restarted_at=restarted_at(deployment),
        pods=tuple(_pod(pod_state(p)) for p in pods_of(mine, pods)),
    )


def restarted_at(deployment: V1Deployment) -> str | None:
    """The template's restartedAt stamp: the last `kubectl rollout restart`, if any."""
    spec = deployment.spec
    meta = spec.template.metadata if spec and spec.template else None
    return ((meta.annotations if meta else None) or {}).get(RESTARTED_AT)


def _pod(state: PodState) -> Pod:
    return Pod(state.name, state.ready, state.restarts, state.oom_killed)


def service_of(deployment: V1Deployment) -> ServiceRef:
    meta = deployment.metadata
    return ServiceRef((meta.namespace if meta else None) or "", _name(deployment))


def pod_state(pod: V1Pod) -> PodState:
    status = pod.status
    statuses = (status.container_statuses if status else None) or []
    conditions = (status.conditions if status else None) or []
    waiting = [s.state.waiting.reason or "" for s in statuses if s.state and s.state.waiting]
    return PodState(
        name=(pod.metadata.name if pod.metadata else None) or "",
        phase=(status.phase if status else None) or "Unknown",
        ready=any(c.type == "Ready" and c.status == "True" for c in conditions),
        restarts=sum(s.restart_count or 0 for s in statuses),
        oom_killed=any(_oom_killed(s) for s in statuses),
        waiting=next((w for w in waiting if w), ""),
        started=status.start_time if status else None,
    )


def pods_of(mine: Iterable[V1ReplicaSet], pods: Iterable[V1Pod]) -> list[V1Pod]:
    """Pods controlled by one of the Deployment's ReplicaSets."""
    uids = {rs.metadata.uid for rs in mine if rs.metadata and rs.metadata.uid}
    return [p for p in pods if any(controlled_by(p.metadata, uid) for uid in uids)]


def events_about(
    names: Mapping[str, set[str]], events: Iterable[CoreV1Event], since: datetime
) -> list[ClusterEvent]:
    """Events on the objects named per kind (`{"Pod": {...}}`) seen since `since`, oldest
    first."""
    found = []
    for event in events:
        ref = event.involved_object
        if ref.name not in names.get(ref.kind or "", set()):
            continue
        at = event.last_timestamp or event.event_time or event.first_timestamp or EPOCH
        if at >= since:
            found.append(
                ClusterEvent(
                    at,
                    event.type or "Normal",
                    event.reason or "",
                    event.message or "",
                    ref.kind or "",
                    ref.name or "",
                    event.count or 1,
                )
            )
    return sorted(found, key=lambda e: e.at)


def _oom_killed(status: V1ContainerStatus) -> bool:
    for state in (status.state, status.last_state):
        terminated = state.terminated if state else None
        if terminated is not None and terminated.reason == "OOMKilled":
            return True
    return False


def _containers(deployment: V1Deployment) -> list[V1Container]:
    spec = deployment.spec
    pod = spec.template.spec if spec and spec.template else None
    return list(pod.containers) if pod else []


def _rs_template(rs: V1ReplicaSet) -> V1PodTemplateSpec | None:
    return rs.spec.template if rs.spec else None


def _image(rs: V1ReplicaSet, deployment: str) -> str:
    """The image of the ReplicaSet's primary container, chosen as `primary` chooses."""
    template = _rs_template(rs)
    pod = template.spec if template else None
    if pod is None or not pod.containers:
        return ""
    found = [c for c in pod.containers if c.name == deployment]
    return (found[0] if found else pod.containers[0]).image or ""


def _created(meta: V1ObjectMeta | None) -> datetime:
    return (meta.creation_timestamp if meta else None) or EPOCH


def _name(deployment: V1Deployment) -> str:
    return (deployment.metadata.name if deployment.metadata else None) or ""
