"""Namespace-wide reads, each one list request, kept for the rest of the poll.

A poll asks for the workloads of several services, often in one namespace; listing the
namespace once serves them all, where a read per service would cost a request each.
Entries expire after `max_age` of the healer's clock (shorter than any poll interval)
and whenever the healer changes something in the namespace.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol, TypeVar

from kubernetes.client import (
    AppsV1Api,
    CoreV1Api,
    CoreV1Event,
    V1Deployment,
    V1Pod,
    V1ReplicaSet,
)

from healer.adapters.kubernetes.errors import Call, calling
from healer.ports import Clock

PAGE = 500  # items per list request; a larger namespace is read in pages
T = TypeVar("T")


class _Listing(Protocol):
    """What every `V1...List` has: its items, and a continue token in its metadata."""

    @property
    def items(self) -> Sequence[Any]: ...

    @property
    def metadata(self) -> Any: ...


class NamespaceReads:
    """Lists deployments, replica sets, pods and events per namespace, cached briefly."""

    def __init__(
        self,
        apps: AppsV1Api,
        core: CoreV1Api,
        *,
        clock: Clock,
        timeout: float,
        max_age: timedelta = timedelta(seconds=2),
    ) -> None:
        self.apps = apps
        self.core = core
        self.clock = clock
        self.timeout = timeout
        self.max_age = max_age
        self.requests = 0  # list requests sent, for tests and the scale benchmark
        self._cache: dict[tuple[str, str], tuple[datetime, list[Any]]] = {}

    def deployments(self, namespace: str) -> list[V1Deployment]:
        return self._cached(namespace, "deployments", self.apps.list_namespaced_deployment)

    def replicasets(self, namespace: str) -> list[V1ReplicaSet]:
        return self._cached(namespace, "replicasets", self.apps.list_namespaced_replica_set)

    def pods(self, namespace: str) -> list[V1Pod]:
        return self._cached(namespace, "pods", self.core.list_namespaced_pod)

    def events(self, namespace: str) -> list[CoreV1Event]:
        return self._cached(namespace, "events", self.core.list_namespaced_event)

    def forget(self, namespace: str | None = None) -> None:
        """Drop what was read of `namespace` (or of all): the healer just changed it."""
        for key in [k for k in self._cache if namespace is None or k[0] == namespace]:
            del self._cache[key]

    def _cached(self, namespace: str, resource: str, method: Callable[..., _Listing]) -> list[Any]:
        now = self.clock.now()
        found = self._cache.get((namespace, resource))
        if found is not None and timedelta(0) <= now - found[0] < self.max_age:
            return found[1]
        items = self._list(namespace, resource, method)
        self._cache[(namespace, resource)] = (now, items)
        return items

    def _list(self, namespace: str, resource: str, method: Callable[..., _Listing]) -> list[Any]:
        items: list[Any] = []
        token: str | None = None
        while True:
            self.requests += 1
            with calling(Call("list", resource, namespace)):
                page = method(namespace, limit=PAGE, _continue=token, _request_timeout=self.timeout)
            items += page.items
            token = page.metadata.var_continue if page.metadata else None
            if not token:
                return items
