"""What the Kubernetes adapter reads out of the client's objects: workloads, rollout
history, pods and events. Also the object builders the other adapter tests use."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from kubernetes.client import CoreV1Event, V1Deployment, V1Pod, V1ReplicaSet

from healer.adapters.kubernetes import reading
from healer.domain.model import Rollout, ServiceRef

T0 = datetime(2026, 1, 5, 6, 0, tzinfo=UTC)
NS = "shop"


# --- builders: objects as the API server would send them ---


def template(
    name: str = "checkout",
    *,
    image: str = "registry/checkout:1.3.0",
    env: dict[str, str] | None = None,
    sidecar: bool = False,
    annotations: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    main = {
        "name": name,
        "image": image,
        "env": [{"name": k, "value": v} for k, v in (env or {"POOL_SIZE": "10"}).items()],
        "resources": {"requests": {"cpu": "250m"}, "limits": {"cpu": "1", "memory": "512Mi"}},
    }
    containers = [{"name": "envoy", "image": "envoy:1.30"}, main] if sidecar else [main]
    meta: dict[str, Any] = {"labels": {"app": name}}
    if annotations:
        meta["annotations"] = annotations
    return {"metadata": meta, "spec": {"containers": containers, **(extra or {})}}


def deployment(
    name: str = "checkout",
    *,
    replicas: int = 3,
    revision: int = 3,
    paused: bool = False,
    resource_version: str = "100",
    annotations: dict[str, str] | None = None,
    **tpl: Any,
) -> V1Deployment:
    return V1Deployment.from_dict(
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {
                "name": name,
                "namespace": NS,
                "uid": f"uid-{name}",
                "resourceVersion": resource_version,
                "annotations": {reading.REVISION: str(revision), **(annotations or {})},
            },
            "spec": {
                "replicas": replicas,
                "paused": paused,
                "selector": {"matchLabels": {"app": name}},
                "template": template(name, **tpl),
            },
        }
    )


def replicaset(
    owner: V1Deployment,
    revision: int,
    *,
    controller: bool = True,
    annotations: dict[str, str] | None = None,
    **tpl: Any,
) -> V1ReplicaSet:
    name = owner.metadata.name
    body = template(name, **tpl)
    body["metadata"]["labels"][reading.HASH_LABEL] = f"h{revision}"
    return V1ReplicaSet.from_dict(
        {
            "metadata": {
                "name": f"{name}-h{revision}",
                "namespace": NS,
                "uid": f"uid-{name}-{revision}",
                "creationTimestamp": (T0 + timedelta(days=revision)).isoformat(),
                "annotations": {reading.REVISION: str(revision), **(annotations or {})},
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "Deployment",
                        "name": name,
                        "uid": owner.metadata.uid,
                        "controller": controller,
                    }
                ],
            },
            "spec": {"selector": {"matchLabels": {"app": name}}, "template": body},
        }
    )


def pod(
    owner: V1ReplicaSet,
    suffix: str,
    *,
    ready: bool = True,
    restarts: int = 0,
    last_reason: str | None = None,
    waiting: str | None = None,
    started: datetime = T0,
) -> V1Pod:
    state = {"waiting": {"reason": waiting}} if waiting else {"running": {}}
    last = {"terminated": {"reason": last_reason, "exitCode": 137}} if last_reason else {}
    return V1Pod.from_dict(
        {
            "metadata": {
                "name": f"{owner.metadata.name}-{suffix}",
                "namespace": NS,
                "uid": f"uid-pod-{suffix}",
                "ownerReferences": [
                    {
                        "apiVersion": "apps/v1",
                        "kind": "ReplicaSet",
                        "name": owner.metadata.name,
                        "uid": owner.metadata.uid,
                        "controller": True,
                    }
                ],
            },
            "spec": {"containers": [{"name": "checkout", "image": "x"}]},
            "status": {
                "phase": "Running",
                "startTime": started.isoformat(),
                "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
                "containerStatuses": [
                    {
                        "name": "checkout",
                        "image": "x",
                        "imageID": "x",
                        "ready": ready,
                        "restartCount": restarts,
                        "state": state,
                        "lastState": last,
                    }
                ],
            },
        }
    )


def event(
    kind: str, name: str, reason: str, at: datetime, kind_type: str = "Warning"
) -> CoreV1Event:
    return CoreV1Event.from_dict(
        {
            "metadata": {"name": f"{name}.{reason}", "namespace": NS},
            "involvedObject": {"kind": kind, "name": name, "namespace": NS},
            "reason": reason,
            "message": f"{reason} on {name}",
            "type": kind_type,
            "lastTimestamp": at.isoformat(),
            "count": 2,
        }
    )


def history(d: V1Deployment) -> list[V1ReplicaSet]:
    """Revisions 1..3 of `d`, the last one being its current template."""
    return [
        replicaset(d, 1, image="registry/checkout:1.1.0"),
        replicaset(d, 2, image="registry/checkout:1.2.0"),
        replicaset(d, 3),
    ]


# --- workloads ---


def test_a_workload_is_read_from_the_deployment_and_its_replicasets() -> None:
    d = deployment()
    stranger = replicaset(deployment("payments"), 7)
    found = reading.workload_of(d, [*reversed(history(d)), stranger])
    assert found.service == ServiceRef(NS, "checkout")
    assert found.replicas == 3
    assert found.revision == 3
    assert found.image == "registry/checkout:1.3.0"
    assert found.env == {"POOL_SIZE": "10"}
    assert found.history == (
        Rollout(1, "registry/checkout:1.1.0", T0 + timedelta(days=1)),
        Rollout(2, "registry/checkout:1.2.0", T0 + timedelta(days=2)),
        Rollout(3, "registry/checkout:1.3.0", T0 + timedelta(days=3)),
    )


def test_only_replicasets_the_deployment_controls_are_its_history() -> None:
    d = deployment()
    adopted_elsewhere = replicaset(d, 9, controller=False)
    assert [reading.revision_of(rs.metadata) for rs in reading.owned(d, [adopted_elsewhere])] == []


def test_the_container_named_after_the_deployment_is_the_one_read() -> None:
    d = deployment(sidecar=True)
    found = reading.workload_of(d, history(d))
    assert found.image == "registry/checkout:1.3.0"
    assert [c.name for c in reading.containers(d)] == ["envoy", "checkout"]


def test_env_from_references_is_not_read_as_a_value() -> None:
    d = deployment()
    d.spec.template.spec.containers[0].env.append(
        type(d.spec.template.spec.containers[0].env[0]).from_dict(
            {"name": "DB_PASSWORD", "valueFrom": {"secretKeyRef": {"name": "db", "key": "pw"}}}
        )
    )
    assert reading.workload_of(d, history(d)).env == {"POOL_SIZE": "10"}


def test_container_resources_are_read() -> None:
    (found,) = reading.containers(deployment())
    assert found.requests == {"cpu": "250m"}
    assert found.limits == {"cpu": "1", "memory": "512Mi"}


def test_a_change_the_controller_has_not_recorded_yet_is_the_next_revision() -> None:
    d = deployment(env={"POOL_SIZE": "40"})  # the template was just patched
    assert reading.current_revision(d, history(d)) == 4


def test_a_rollback_not_yet_recorded_is_the_next_revision_too() -> None:
    d = deployment(image="registry/checkout:1.1.0")  # revision 1's template, copied back
    assert reading.current_revision(d, history(d)) == 4


def test_the_revision_annotation_must_be_a_number() -> None:
    d = deployment(annotations={reading.REVISION: "three"})
    assert reading.revision_of(d.metadata) == 0
    assert reading.current_revision(d, []) == 0


# --- pods and events ---


def test_pods_belong_to_a_deployment_through_its_replicasets() -> None:
    d = deployment()
    mine = history(d)
    other = replicaset(deployment("payments"), 1)
    pods = [pod(mine[2], "a"), pod(mine[1], "b"), pod(other, "c")]
    assert [p.metadata.name for p in reading.pods_of(mine, pods)] == [
        "checkout-h3-a",
        "checkout-h2-b",
    ]


def test_a_pod_state_sums_restarts_and_spots_an_oom_kill() -> None:
    d = deployment()
    rs = history(d)[2]
    state = reading.pod_state(
        pod(rs, "a", ready=False, restarts=4, last_reason="OOMKilled", waiting="CrashLoopBackOff")
    )
    assert state == reading.PodState(
        name="checkout-h3-a",
        phase="Running",
        ready=False,
        restarts=4,
        oom_killed=True,
        waiting="CrashLoopBackOff",
        started=T0,
    )
    healthy = reading.pod_state(pod(rs, "b", restarts=1, last_reason="Error"))
    assert healthy.ready and not healthy.oom_killed and healthy.waiting == ""


def test_events_about_the_workload_since_a_time_oldest_first() -> None:
    names = {"Deployment": {"checkout"}, "Pod": {"checkout-h3-a"}}
    events = [
        event("Pod", "checkout-h3-a", "BackOff", T0 + timedelta(minutes=5)),
        event("Pod", "payments-h1-a", "BackOff", T0 + timedelta(minutes=5)),
        event("Deployment", "checkout", "ScalingReplicaSet", T0 + timedelta(minutes=2), "Normal"),
        event("Pod", "checkout-h3-a", "Pulled", T0 - timedelta(hours=2), "Normal"),
        event("ReplicaSet", "checkout", "SuccessfulCreate", T0, "Normal"),  # kind must match
    ]
    found = reading.events_about(names, events, since=T0)
    assert [(e.kind, e.reason, e.type, e.count) for e in found] == [
        ("Deployment", "ScalingReplicaSet", "Normal", 2),
        ("Pod", "BackOff", "Warning", 2),
    ]
