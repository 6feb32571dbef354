"""The Events a cluster posts by itself: the deployment controller scaling ReplicaSets
(on a rollout, whoever made it, and on a change of replicas) and the kubelet killing a
deleted pod's container. Kept an hour, as kube-apiserver's `--event-ttl` keeps them.

Changes are noticed on each API request, before and after it is served: a rollout the
simulation made between two requests is stamped with its own time, a change of replicas
with the time it was noticed.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from healer.sim.kubeapi_base import EVENTS, Obj
from healer.sim.kubeapi_book import Book, timestamp, uid
from healer.sim.kubeapi_render import template, template_hash
from healer.sim.kubeapi_store import Shelf
from healer.sim.workloads import Deployment

EVENT_TTL = timedelta(hours=1)
CONTROLLER = "deployment-controller"


class ClusterEvents:
    """Posts controller and kubelet Events onto the shelf the Event APIs serve."""

    def __init__(self, shelf: Shelf, book: Book) -> None:
        self.shelf = shelf
        self.book = book
        self._seen: dict[str, tuple[int, int, str]] = {}  # deployment: revision, replicas, RS
        self._posted = 0

    def observe(self, deployments: list[Deployment], now: datetime) -> None:
        for dep in deployments:
            rs = f"{dep.spec.name}-{template_hash(dep, template(dep, dep.current, self.book))}"
            seen = self._seen.get(dep.spec.name)
            self._seen[dep.spec.name] = (dep.current.number, dep.desired, rs)
            if seen is None:
                continue  # why: what happened before the API started has no events
            revision, replicas, old = seen
            if revision != dep.current.number and rs != old:
                self._scaled(dep, rs, 0, dep.desired, dep.current.at)
                self._scaled(dep, old, replicas, 0, dep.current.at)
            elif replicas != dep.desired:
                self._scaled(dep, rs, replicas, dep.desired, now)
        self._expire(now)

    def killed(self, pod: Obj, container: str, now: datetime) -> None:
        """A deleted pod's container is stopped by its kubelet."""
        meta = pod["metadata"]
        involved = _involved("v1", "Pod", meta)
        involved["fieldPath"] = f"spec.containers{{{container}}}"
        message = f"Stopping container {container}"
        self._post(involved, "Killing", message, by="kubelet", at=now, host=pod["spec"]["nodeName"])

    def _scaled(self, dep: Deployment, rs: str, was: int, to: int, at: datetime) -> None:
        if was == to:
            return
        ns, name = dep.spec.namespace, dep.spec.name
        meta = {"name": name, "namespace": ns, "uid": uid(f"deployments/{ns}/{name}")}
        message = f"Scaled {'up' if to > was else 'down'} replica set {rs} from {was} to {to}"
        involved = _involved("apps/v1", "Deployment", meta)
        self._post(involved, "ScalingReplicaSet", message, by=CONTROLLER, at=at)

    def _post(
        self, involved: Obj, reason: str, message: str, *, by: str, at: datetime, host: str = ""
    ) -> None:
        self._posted += 1
        namespace = involved["namespace"]
        name = f"{involved['name']}.{self._posted:016x}"
        source = {"component": by, **({"host": host} if host else {})}
        event = EVENTS.envelope(
            metadata={
                "name": name,
                "namespace": namespace,
                "uid": uid(f"events/{namespace}/{name}"),
                "resourceVersion": self.shelf.versions.next(),
                "creationTimestamp": timestamp(at),
            },
            involvedObject=involved,
            reason=reason,
            message=message,
            source=source,
            firstTimestamp=timestamp(at),
            lastTimestamp=timestamp(at),
            count=1,
            type="Normal",
            reportingComponent=by,
            reportingInstance=host,
        )
        self.shelf.put(EVENTS.resource, (namespace, name), event)

    def _expire(self, now: datetime) -> None:
        """Events older than the TTL go, counted from their last write as etcd's lease does."""
        oldest = now - EVENT_TTL
        written = self.shelf.written
        for key in list(self.shelf.of(EVENTS.resource)):
            if written.get((EVENTS.resource, *key), now) < oldest:
                self.shelf.drop(EVENTS.resource, key)


def _involved(api_version: str, kind: str, meta: Obj) -> Obj:
    found = {"apiVersion": api_version, "kind": kind, "namespace": meta["namespace"]}
    return found | {"name": meta["name"], "uid": meta["uid"]}
