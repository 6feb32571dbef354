"""v1 Pods over the simulation: each pod of a Deployment with its restarts, readiness and
the OOM kill that restarted it; deleting one lets its ReplicaSet start a fresh pod."""

from __future__ import annotations

import copy
import hashlib
from datetime import datetime

from healer.sim.kubeapi_base import PODS, Obj, Resource, check_preconditions, not_found
from healer.sim.kubeapi_book import Book, timestamp, uid
from healer.sim.kubeapi_events import ClusterEvents
from healer.sim.kubeapi_render import HASH_LABEL, container_name, owner, running_hash, template
from healer.sim.kubeapi_workloads import Apps
from healer.sim.workloads import Deployment, Pod

NODES = 3  # pods are spread over this many simulated nodes
CONDITIONS = (
    "PodReadyToStartContainers",
    "Initialized",
    "Ready",
    "ContainersReady",
    "PodScheduled",
)


class Pods(Resource):
    kind = PODS

    def __init__(self, apps: Apps, events: ClusterEvents) -> None:
        self.apps = apps
        self.events = events

    def list(self, namespace: str | None) -> list[Obj]:
        book, now = self.apps.book, self.apps.simulation.cluster.now
        deps = self.apps.deployments(None)
        book.forget_pods({(d.spec.namespace, p.name) for d in deps for p in d.pods})
        return [p for d in self.apps.deployments(namespace) for p in pods(d, book, now)]

    def get(self, namespace: str, name: str) -> Obj:
        dep, _ = self._find(namespace, name)
        found = pods(dep, self.apps.book, self.apps.simulation.cluster.now)
        return next(p for p in found if p["metadata"]["name"] == name)

    def delete(self, namespace: str, name: str, options: Obj, *, dry_run: bool) -> Obj:
        """A graceful delete: the pod goes at once, its ReplicaSet replaces it next tick."""
        dep, pod = self._find(namespace, name)
        current = self.get(namespace, name)
        check_preconditions(self.kind, name, options, current)
        now = self.apps.simulation.cluster.now
        gone = copy.deepcopy(current)
        gone["metadata"]["deletionTimestamp"] = timestamp(now)
        gone["metadata"]["deletionGracePeriodSeconds"] = options.get("gracePeriodSeconds", 30)
        if not dry_run:
            dep.delete_pod(pod.name)
            self.events.killed(current, container_name(dep), now)
            self.apps.record("delete_pod", dep, pod=name)
        return gone

    def _find(self, namespace: str, name: str) -> tuple[Deployment, Pod]:
        for dep in self.apps.deployments(namespace):
            for pod in dep.pods:
                if pod.name == name:
                    return dep, pod
        raise not_found(self.kind, name)


def pods(dep: Deployment, book: Book, now: datetime) -> list[Obj]:
    hash_ = running_hash(dep, book)
    return [_pod(dep, pod, hash_, book, now) for pod in dep.pods]


def _pod(dep: Deployment, pod: Pod, hash_: str, book: Book, now: datetime) -> Obj:
    ns, rs = dep.spec.namespace, f"{dep.spec.name}-{hash_}"
    started = book.last_restart(pod, now)
    seed = int(hashlib.sha256(pod.name.encode()).hexdigest()[:8], 16)
    spec = template(dep, dep.running, book)["spec"]
    spec["nodeName"] = f"sim-node-{seed % NODES + 1}"
    since = timestamp(pod.started)
    obj: Obj = PODS.envelope(
        metadata={
            "name": pod.name,
            "namespace": ns,
            "uid": uid(f"pods/{ns}/{pod.name}"),
            "creationTimestamp": since,
            "labels": {"app": dep.spec.name, HASH_LABEL: hash_},
            "ownerReferences": [owner("apps/v1", "ReplicaSet", rs, f"replicasets/{ns}/{rs}")],
        },
        spec=spec,
        status={
            "phase": "Running",
            "conditions": [
                {"type": t, "status": "True", "lastTransitionTime": since} for t in CONDITIONS
            ],
            "hostIP": f"10.128.0.{seed % NODES + 2}",
            "podIP": f"10.{(seed >> 8) % 4}.{(seed >> 16) % 256}.{seed % 250 + 2}",
            "startTime": since,
            "containerStatuses": [_container_status(dep, pod, started)],
            "qosClass": "Burstable",
        },
    )
    return book.versions.stamp(f"pods/{ns}/{pod.name}", obj)


def _container_status(dep: Deployment, pod: Pod, started: datetime) -> Obj:
    image = dep.running.image
    digest = hashlib.sha256(image.encode()).hexdigest()
    status: Obj = {
        "name": container_name(dep),
        "image": image,
        "imageID": f"{image.split(':')[0]}@sha256:{digest}",
        "containerID": "containerd://"
        + hashlib.sha256(f"{pod.name}/{pod.restarts}".encode()).hexdigest(),
        "ready": True,
        "started": True,
        "restartCount": pod.restarts,
        "state": {"running": {"startedAt": timestamp(started)}},
        "lastState": {},
    }
    if pod.restarts:
        # why: the simulation restarts containers the way an OOM kill does
        status["lastState"] = {
            "terminated": {
                "exitCode": 137,
                "reason": "OOMKilled",
                "startedAt": timestamp(pod.started),
                "finishedAt": timestamp(started),
            }
        }
    return status
