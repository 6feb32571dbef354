"""What the API keeps beside the simulation: `resourceVersion`s, generations, uids,
creation times, and the labels and annotations set through it.

`Versions` gives each rendered object a `resourceVersion` that moves exactly when its
content does (one counter for the whole API, as etcd's revision is), and a `generation`
that moves when its spec does.
"""

from __future__ import annotations

import hashlib
import json
import uuid
from datetime import UTC, datetime

from healer.sim.kubeapi_base import Obj
from healer.sim.workloads import Deployment, Pod

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

    def forget(self, prefix: str, alive: set[str]) -> None:
        for key in [k for k in self._seen if k.startswith(prefix) and k not in alive]:
            del self._seen[key]

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

    def forget_pods(self, alive: set[tuple[str, str]]) -> None:
        """Drop what was kept of pods that are gone (namespace, name): pods come and go."""
        names = {name for _, name in alive}
        for name in set(self._restarts) - names:
            del self._restarts[name]
        self.versions.forget("pods/", {f"pods/{ns}/{name}" for ns, name in alive})
