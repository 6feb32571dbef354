"""The simulated workloads as Kubernetes objects: Deployments, ReplicaSets and Scales.

Objects are rendered afresh from the simulation on every request, stamped with their
`resourceVersion` by the `Book`. A ReplicaSet is named by its pod template's hash, so the
same template is always the same ReplicaSet, as the deployment controller has it.
"""

from __future__ import annotations

import copy
import hashlib

from healer.sim.kubeapi_base import DEPLOYMENTS, REPLICASETS, SCALE, Obj
from healer.sim.kubeapi_book import ALPHABET, Book, fingerprint, timestamp, uid
from healer.sim.topology import BOUTIQUE
from healer.sim.workloads import HISTORY_LIMIT, Deployment, Revision

REVISION = "deployment.kubernetes.io/revision"
HASH_LABEL = "pod-template-hash"
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"


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
