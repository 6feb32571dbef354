"""The simulated workloads as Kubernetes objects: Deployments, ReplicaSets and Scales.

Objects are rendered afresh from the simulation on every request. `Versions` gives each a
`resourceVersion` that moves exactly when its content does (one counter for the whole API,
as etcd's revision is), and a `generation` that moves when its spec does. `Book` keeps
what the simulation has no place for: labels and annotations set through the API.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from healer.sim.kubeapi_base import DEPLOYMENTS, REPLICASETS, SCALE
from healer.sim.topology import BOUTIQUE
from healer.sim.workloads import HISTORY_LIMIT, Deployment, Pod, Revision

Obj = dict[str, Any]

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the characters Kubernetes uses in generated names


def timestamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def uid(key: str) -> str:
    """A stable uid per object, so a restarted server names the same object the same."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, f"healer-sim/{key}"))


def fingerprint(value: object) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True).encode()).hexdigest()


class Versions:
    """resourceVersion and generation of every object, from one counter."""

    def __init__(self) -> None:
        self.counter = 0
        self._seen: dict[str, tuple[str, str]] = {}  # key: content fingerprint, version
        self._specs: dict[str, tuple[str, int]] = {}  # key: spec fingerprint, generation

    def next(self) -> str:
        self.counter += 1
        return str(self.counter)

    def generation(self, key: str, spec: Obj) -> int:
        """1 for the spec first seen, one more for every change of it seen since."""
        now = fingerprint(spec)
        known, generation = self._specs.get(key, (now, 1))
        generation += known != now
        self._specs[key] = (now, generation)
        return generation

    def stamp(self, key: str, obj: Obj) -> Obj:
        """Set `metadata.resourceVersion`: the last one, unless the content has changed."""
        meta = obj["metadata"]
        meta.pop("resourceVersion", None)
        content = fingerprint(obj)
        seen = self._seen.get(key)
        version = seen[1] if seen is not None and seen[0] == content else self.next()
        self._seen[key] = (content, version)
        meta["resourceVersion"] = version
        return obj


class Book:
    """Per Deployment: the metadata set through the API and each revision's annotations."""

    def __init__(self) -> None:
        self.versions = Versions()
        self.labels: dict[str, dict[str, str]] = {}
        self.annotations: dict[str, dict[str, str]] = {}
        self._notes: dict[str, dict[int, dict[str, str]]] = {}
        self._restarts: dict[str, tuple[int, datetime]] = {}
        self._created: dict[str, datetime] = {}

    def created(self, key: str, at: datetime) -> str:
        """creationTimestamp: when first seen, so trimming the history does not move it."""
        return timestamp(self._created.setdefault(key, at))

    def notes(self, dep: Deployment, number: int) -> dict[str, str]:
        """The pod template's annotations of one revision.

        A revision the simulation made by itself (a release, a config change) keeps the
        annotations of the one before it, as `kubectl set image` keeps `restartedAt`.
        """
        known = self._notes.setdefault(dep.spec.name, {})
        previous: dict[str, str] = {}
        for rev in dep.history:
            previous = known.setdefault(rev.number, dict(previous))
        for stale in set(known) - {r.number for r in dep.history} - {dep.running.number}:
            del known[stale]
        return dict(known.get(number, {}))

    def set_notes(self, dep: Deployment, number: int, notes: dict[str, str]) -> None:
        self._notes.setdefault(dep.spec.name, {})[number] = dict(notes)

    def last_restart(self, pod: Pod, now: datetime) -> datetime:
        """When a pod's container last started: its start, or when a restart was first seen."""
        count, at = self._restarts.get(pod.name, (0, pod.started))
        if pod.restarts != count:
            count, at = pod.restarts, (now if pod.restarts else pod.started)
            self._restarts[pod.name] = (count, at)
        return at

    def forget_pods(self, alive: set[str]) -> None:
        for name in set(self._restarts) - alive:
            del self._restarts[name]


# --- pod templates ---


def container_name(dep: Deployment) -> str:
    return "server" if dep.spec.namespace == BOUTIQUE else dep.spec.name


def configmap_name(dep: Deployment) -> str:
    return f"{dep.spec.name}-config"


def container(dep: Deployment, rev: Revision) -> Obj:
    port = rev.env.get("PORT", "8080")
    cpu = f"{round(dep.spec.cpu_limit * 1000)}m"
    return {
        "name": container_name(dep),
        "image": rev.image,
        "env": [{"name": k, "value": v} for k, v in rev.env.items()],
        # why: every service reads its ConfigMap too, as many do, so that changing a key and
        # restarting can be tried here; explicit env wins over it, as in Kubernetes
        "envFrom": [{"configMapRef": {"name": configmap_name(dep)}}],
        "ports": [{"containerPort": int(port) if port.isdigit() else 8080, "protocol": "TCP"}],
        "resources": {
            "limits": {"cpu": cpu, "memory": "256Mi"},
            "requests": {"cpu": cpu, "memory": "128Mi"},
        },
        "imagePullPolicy": "IfNotPresent",
        "terminationMessagePath": "/dev/termination-log",
        "terminationMessagePolicy": "File",
    }


def template(dep: Deployment, rev: Revision, book: Book) -> Obj:
    """The pod template of one revision, as the Deployment (not its ReplicaSet) holds it."""
    meta: Obj = {"labels": {"app": dep.spec.name}}
    notes = book.notes(dep, rev.number)
    if notes:
        meta["annotations"] = notes
    return {
        "metadata": meta,
        "spec": {
            "containers": [container(dep, rev)],
            "restartPolicy": "Always",
            "terminationGracePeriodSeconds": 30,
            "dnsPolicy": "ClusterFirst",
            "schedulerName": "default-scheduler",
        },
    }


def template_hash(dep: Deployment, tmpl: Obj) -> str:
    """pod-template-hash: the same template always hashes the same (so undo finds its RS)."""
    digest = hashlib.sha256(f"{dep.spec.name}/{fingerprint(tmpl)}".encode()).digest()
    return "".join(ALPHABET[b % len(ALPHABET)] for b in digest[:10])


def _with_hash(tmpl: Obj, hash_: str) -> Obj:
    out = copy.deepcopy(tmpl)
    out["metadata"]["labels"][HASH_LABEL] = hash_
    return out


# --- deployments ---


def deployment(dep: Deployment, book: Book) -> Obj:
    name, ns = dep.spec.name, dep.spec.namespace
    key = f"deployments/{ns}/{name}"
    rev, ready = dep.current, len(dep.pods)
    updated = ready if dep.running.number == rev.number else 0
    annotations = {**book.annotations.get(name, {}), REVISION: str(rev.number)}
    obj: Obj = DEPLOYMENTS.envelope(
        metadata={
            "name": name,
            "namespace": ns,
            "uid": uid(key),
            "creationTimestamp": book.created(key, dep.history[0].at),
            "labels": dict(book.labels.get(name, {"app": name})),
            "annotations": annotations,
        },
        spec={
            "replicas": dep.desired,
            "selector": {"matchLabels": {"app": name}},
            "template": template(dep, rev, book),
            "strategy": {
                "type": "RollingUpdate",
                "rollingUpdate": {"maxUnavailable": "25%", "maxSurge": "25%"},
            },
            "revisionHistoryLimit": HISTORY_LIMIT,
            "progressDeadlineSeconds": 600,
        },
    )
    obj["metadata"]["generation"] = book.versions.generation(key, obj["spec"])
    obj["status"] = _deployment_status(dep, obj, ready, updated, book)
    return book.versions.stamp(key, obj)


def _deployment_status(dep: Deployment, obj: Obj, ready: int, updated: int, book: Book) -> Obj:
    rs = f"{dep.spec.name}-{template_hash(dep, template(dep, dep.current, book))}"
    since = timestamp(dep.current.at)
    available = ready >= dep.desired - dep.desired // 4  # why: maxUnavailable is 25%
    status: Obj = {
        "observedGeneration": obj["metadata"]["generation"],
        "replicas": ready,
        "updatedReplicas": updated,
        "readyReplicas": ready,
        "availableReplicas": ready,
        "conditions": [
            _condition("Available", available, "MinimumReplicasAvailable", since),
            _condition(
                "Progressing",
                True,
                "NewReplicaSetAvailable" if updated == dep.desired else "ReplicaSetUpdated",
                since,
                f'ReplicaSet "{rs}" has successfully progressed.',
            ),
        ],
    }
    if dep.desired > ready:
        status["unavailableReplicas"] = dep.desired - ready
    return {k: v for k, v in status.items() if v != 0 or k == "replicas"}


def _condition(kind: str, ok: bool, reason: str, since: str, message: str = "") -> Obj:
    return {
        "type": kind,
        "status": "True" if ok else "False",
        "reason": reason,
        "message": message
        or f"Deployment {'has' if ok else 'does not have'} minimum availability.",
        "lastUpdateTime": since,
        "lastTransitionTime": since,
    }


def scale(dep_obj: Obj) -> Obj:
    """The `scale` subresource of a rendered Deployment (same uid and resourceVersion)."""
    meta = dep_obj["metadata"]
    return {
        "kind": SCALE.kind,
        "apiVersion": "autoscaling/v1",
        "metadata": {
            k: meta[k] for k in ("name", "namespace", "uid", "resourceVersion", "creationTimestamp")
        },
        "spec": {"replicas": dep_obj["spec"]["replicas"]},
        "status": {"replicas": dep_obj["status"]["replicas"], "selector": f"app={meta['name']}"},
    }


# --- replica sets ---


def replicasets(dep: Deployment, book: Book) -> list[Obj]:
    """One ReplicaSet per distinct template in the history, numbered by its latest revision."""
    by_hash: dict[str, tuple[Revision, list[int]]] = {}
    for rev in dep.history:
        hash_ = template_hash(dep, template(dep, rev, book))
        older = by_hash.pop(hash_, None)
        by_hash[hash_] = (rev, ([*older[1], older[0].number] if older else []))
    running = running_hash(dep, book)
    return [
        _replicaset(dep, rev, hash_, older, running=hash_ == running, book=book)
        for hash_, (rev, older) in by_hash.items()
    ]


def running_hash(dep: Deployment, book: Book) -> str:
    return template_hash(dep, template(dep, dep.running, book))


def _replicaset(
    dep: Deployment, rev: Revision, hash_: str, older: list[int], *, running: bool, book: Book
) -> Obj:
    name, ns = f"{dep.spec.name}-{hash_}", dep.spec.namespace
    current = rev.number == dep.current.number
    annotations = {
        REVISION: str(rev.number),
        "deployment.kubernetes.io/desired-replicas": str(dep.desired),
        "deployment.kubernetes.io/max-replicas": str(dep.desired + (dep.desired + 3) // 4),
    }
    if older:
        annotations["deployment.kubernetes.io/revision-history"] = ",".join(map(str, older))
    if rev.cause:
        annotations["kubernetes.io/change-cause"] = rev.cause
    labels = {"app": dep.spec.name, HASH_LABEL: hash_}
    pods = len(dep.pods) if running else 0
    obj: Obj = REPLICASETS.envelope(
        metadata={
            "name": name,
            "namespace": ns,
            "uid": uid(f"replicasets/{ns}/{name}"),
            "creationTimestamp": book.created(f"replicasets/{ns}/{name}", rev.at),
            "labels": labels,
            "annotations": annotations,
            "ownerReferences": [
                owner("apps/v1", "Deployment", dep.spec.name, f"deployments/{ns}/{dep.spec.name}")
            ],
        },
        spec={
            "replicas": dep.desired if current else 0,
            "selector": {"matchLabels": labels},
            "template": _with_hash(template(dep, rev, book), hash_),
        },
        status={
            "replicas": pods,
            "fullyLabeledReplicas": pods,
            "readyReplicas": pods,
            "availableReplicas": pods,
            "observedGeneration": 1,
        },
    )
    return book.versions.stamp(f"replicasets/{ns}/{name}", obj)


def owner(api_version: str, kind: str, name: str, key: str) -> Obj:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "name": name,
        "uid": uid(key),
        "controller": True,
        "blockOwnerDeletion": True,
    }
