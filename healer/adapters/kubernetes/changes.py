"""The request bodies of the healer's changes, built as kubectl builds them; pure.

Every patch of an existing object carries the `resourceVersion` it was built from, so
the API server refuses it (409) if someone changed the object in between; the adapter
then reads again and rebuilds. Deployment patches also carry the healer's annotations.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from kubernetes.client import V1ConfigMap, V1Deployment, V1ReplicaSet

from healer.adapters.kubernetes.reading import (
    RESTARTED_AT,
    REVISION,
    PodState,
    primary,
    revision_of,
    template_of,
    wire,
)
from healer.errors import ActionFailed

MERGE = "application/merge-patch+json"
STRATEGIC = "application/strategic-merge-patch+json"
CHANGE_CAUSE = "kubernetes.io/change-cause"
# `kubectl rollout undo` keeps these on the Deployment rather than copying the old
# ReplicaSet's: they describe the Deployment itself, not the template being restored.
KEPT_ON_UNDO = frozenset(
    {
        "kubectl.kubernetes.io/last-applied-configuration",
        REVISION,
        "deployment.kubernetes.io/revision-history",
        "deployment.kubernetes.io/desired-replicas",
        "deployment.kubernetes.io/max-replicas",
        "deprecated.deployment.rollback.to",
    }
)


@dataclass(frozen=True)
class Patch:
    body: dict[str, Any]
    content_type: str


def scale(resource_version: str | None, replicas: int) -> Patch:
    """The `scale` subresource patch, as `kubectl scale --resource-version` sends it."""
    return Patch(_meta(resource_version) | {"spec": {"replicas": replicas}}, MERGE)


def annotate(annotations: Mapping[str, str]) -> Patch:
    """Only the healer's annotations; no resourceVersion, as adding keys cannot conflict."""
    return Patch({"metadata": {"annotations": dict(annotations)}}, MERGE)


def set_env(
    deployment: V1Deployment, name: str, value: str, annotations: Mapping[str, str]
) -> Patch:
    """One env var on the container that already has it, else on the primary container.

    A strategic merge, as `kubectl set env` sends: containers and env entries merge by
    name, so the other containers and variables stay exactly as they are.
    """
    container = _container_with(deployment, name) or primary(deployment).name
    entry: dict[str, Any] = {"name": name, "value": value}
    if _value_from(deployment, container, name):
        entry["valueFrom"] = None  # why: a value and a valueFrom together are invalid
    pod = {"containers": [{"name": container, "env": [entry]}]}
    body = _deployment_meta(deployment, annotations) | {"spec": {"template": {"spec": pod}}}
    return Patch(body, STRATEGIC)


def stamp(at: datetime) -> str:
    """RFC 3339 in UTC, as kubectl writes restartedAt."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def restart(deployment: V1Deployment, stamp: str, annotations: Mapping[str, str]) -> Patch:
    """`kubectl rollout restart`: a new template annotation, so every pod is replaced.

    The same `stamp` sent twice asks for one restart: the template is then unchanged."""
    template = {"metadata": {"annotations": {RESTARTED_AT: stamp}}}
    body = _deployment_meta(deployment, annotations) | {"spec": {"template": template}}
    return Patch(body, STRATEGIC)


def undo_target(
    deployment: V1Deployment, mine: Sequence[V1ReplicaSet], current: int, to_revision: int | None
) -> V1ReplicaSet:
    """The ReplicaSet to roll back to: `to_revision`, or the newest one before `current`."""
    earlier = [rs for rs in mine if 0 < revision_of(rs.metadata) < current]
    name = deployment.metadata.name if deployment.metadata else ""
    if to_revision is None:
        if not earlier:
            raise ActionFailed(f"deployment {name} has no previous revision to roll back to")
        return earlier[-1]
    found = [rs for rs in earlier if revision_of(rs.metadata) == to_revision]
    if not found:
        known = ", ".join(str(revision_of(rs.metadata)) for rs in earlier) or "none"
        raise ActionFailed(f"deployment {name} has no revision {to_revision} (earlier: {known})")
    return found[0]


def undo(
    deployment: V1Deployment, target: V1ReplicaSet, annotations: Mapping[str, str]
) -> Patch | None:
    """`kubectl rollout undo`: the old ReplicaSet's pod template (less its hash label) and
    annotations copied onto the Deployment; None when the template is already that one.

    kubectl replaces both wholesale with a JSON patch; a merge patch that nulls every key
    the old template lacks has the same effect and lets the patch carry resourceVersion.
    """
    meta = deployment.metadata
    spec = deployment.spec
    current = template_of(spec.template if spec else None)
    wanted = template_of(target.spec.template if target.spec else None)
    if current == wanted:
        return None
    old = dict((meta.annotations if meta else None) or {})
    kept = {k: v for k, v in old.items() if k in KEPT_ON_UNDO}
    copied = (target.metadata.annotations if target.metadata else None) or {}
    new = kept | {k: v for k, v in copied.items() if k not in KEPT_ON_UNDO} | dict(annotations)
    body = {
        "metadata": {
            "resourceVersion": meta.resource_version if meta else None,
            "annotations": merge_diff(old, new),
        },
        "spec": {"template": merge_diff(current, wanted)},
    }
    return Patch(body, MERGE)


def merge_diff(current: Any, target: Any) -> Any:
    """The JSON merge patch (RFC 7386) that turns `current` into `target`."""
    if not isinstance(current, dict) or not isinstance(target, dict):
        return target
    patch: dict[str, Any] = {key: None for key in current if key not in target}
    for key, value in target.items():
        if key not in current:
            patch[key] = value
        elif current[key] != value:
            patch[key] = merge_diff(current[key], value)
    return patch


def config_value(
    configmap: V1ConfigMap, key: str, value: str, annotations: Mapping[str, str]
) -> Patch:
    """One key of a ConfigMap's data, as `kubectl patch configmap --type merge` sends it."""
    meta = configmap.metadata
    body = _meta(meta.resource_version if meta else None, annotations) | {"data": {key: value}}
    return Patch(body, MERGE)


def uses_configmap(deployment: V1Deployment, name: str) -> bool:
    """Whether the pod template reads the ConfigMap (volume, envFrom or env valueFrom), so
    a restart picks up a change to it and the healer is not editing a stranger's config."""
    template = template_of(deployment.spec.template if deployment.spec else None)
    return _mentions(template.get("spec", {}), name)


def choose_pod(pods: Sequence[PodState], wanted: str | None, service: str) -> PodState:
    """The pod to delete: `wanted`, else the least healthy (not ready, most restarts,
    oldest). Refuses to take down the last ready pod: that would be an outage."""
    if not pods:
        raise ActionFailed(f"deployment {service} has no pods to restart")
    if wanted is not None:
        found = [p for p in pods if p.name == wanted]
        if not found:
            raise ActionFailed(f"pod {wanted} does not belong to deployment {service}")
        chosen = found[0]
    else:
        oldest = datetime.max.replace(tzinfo=UTC)
        chosen = min(pods, key=lambda p: (p.ready, -p.restarts, p.started or oldest))
    if chosen.ready and sum(p.ready for p in pods) == 1:
        raise ActionFailed(
            f"pod {chosen.name} is the only ready pod of deployment {service}; "
            "deleting it would leave none serving"
        )
    return chosen


def _mentions(node: Any, name: str) -> bool:
    """Any `configMap`, `configMapRef` or `configMapKeyRef` below `node` naming `name`."""
    if isinstance(node, list):
        return any(_mentions(item, name) for item in node)
    if not isinstance(node, dict):
        return False
    refs = (node.get(k) for k in ("configMap", "configMapRef", "configMapKeyRef"))
    if any(isinstance(r, dict) and r.get("name") == name for r in refs):
        return True
    return any(_mentions(value, name) for value in node.values())


def _meta(
    resource_version: str | None, annotations: Mapping[str, str] | None = None
) -> dict[str, Any]:
    meta: dict[str, Any] = {"resourceVersion": resource_version}
    if annotations:
        meta["annotations"] = dict(annotations)
    return {"metadata": meta}


def _deployment_meta(deployment: V1Deployment, annotations: Mapping[str, str]) -> dict[str, Any]:
    meta = deployment.metadata
    return _meta(meta.resource_version if meta else None, annotations)


def _container_with(deployment: V1Deployment, name: str) -> str | None:
    for container in _containers(deployment):
        if any(e.get("name") == name for e in container.get("env", [])):
            return str(container["name"])
    return None


def _value_from(deployment: V1Deployment, container: str, name: str) -> bool:
    for found in _containers(deployment):
        if found.get("name") == container:
            return any("valueFrom" in e for e in found.get("env", []) if e.get("name") == name)
    return False


def _containers(deployment: V1Deployment) -> Iterable[dict[str, Any]]:
    spec = deployment.spec
    if spec is None or spec.template is None:
        return []
    containers: list[dict[str, Any]] = wire(spec.template).get("spec", {}).get("containers", [])
    return containers
