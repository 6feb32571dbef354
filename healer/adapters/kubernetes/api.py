"""The clients, the reads, and the one way a change is sent to the Kubernetes API.

Every change is read fresh, built with the `resourceVersion` it was read at, sent with
`dryRun=All`, then sent for real; a 409 starts again from the read. A change that
landed is annotated with the incident id and explained in an Event on the object, so
`kubectl describe` says what the healer did and why.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from datetime import timedelta

from kubernetes.client import (
    ApiClient,
    AppsV1Api,
    CoreV1Api,
    CoreV1Event,
    V1Deployment,
    V1EventSource,
    V1ObjectMeta,
    V1ObjectReference,
)

from healer.adapters.kubernetes import changes
from healer.adapters.kubernetes.errors import Call, calling
from healer.adapters.kubernetes.reads import NamespaceReads
from healer.config import KubernetesSettings
from healer.domain.model import ServiceRef
from healer.errors import ActionConflict, ActionFailed, ClusterError
from healer.ports import Clock

log = logging.getLogger(__name__)

MAX_MESSAGE = 1024  # characters of an Event message (the events.k8s.io limit)


@dataclass(frozen=True)
class Acting:
    """On whose behalf the healer is changing things: written on what it changes."""

    incident_id: str
    reason: str = ""


_ACTING: ContextVar[Acting | None] = ContextVar("healer_kubernetes_acting", default=None)


@dataclass(frozen=True)
class Change:
    """One change, built from a fresh read: how to send it, and how to describe it."""

    send: Callable[[bool], None]  # dry_run -> None; raises a ClusterError
    what: str  # "scaled from 3 to 5 replicas", for the Event and the logs
    reason: str  # the Event's reason, e.g. HealerScaled
    about: V1ObjectReference  # the object the Event is posted on
    annotate_after: bool = False  # the request could not carry the annotation itself
    subject: str = ""  # what was changed when it is not the Deployment (a pod's name)


Prepare = Callable[[V1Deployment], Change | None]  # None: already as wanted


class KubeApi:
    """What every change shares: clients, settings, cached reads, and `_change`."""

    def __init__(
        self,
        api: ApiClient,
        settings: KubernetesSettings,
        *,
        clock: Clock,
        max_age: timedelta = timedelta(seconds=2),
        conflict_retries: int = 3,
        instance: str = "",
    ) -> None:
        self.apps = AppsV1Api(api)
        self.core = CoreV1Api(api)
        self.settings = settings
        self.clock = clock
        self.conflict_retries = conflict_retries
        self.instance = instance  # this replica, named on its Events (reportingInstance)
        self.reads = NamespaceReads(
            self.apps, self.core, clock=clock, timeout=settings.timeout, max_age=max_age
        )

    @contextmanager
    def acting_for(self, incident_id: str, reason: str = "") -> Iterator[None]:
        """Changes made inside carry `incident_id` (annotation, Event) and `reason`."""
        token = _ACTING.set(Acting(incident_id, reason))
        try:
            yield
        finally:
            _ACTING.reset(token)

    # --- the machinery every change goes through ---

    def _change(self, service: ServiceRef, prepare: Prepare, *, dry_run: bool) -> Change | None:
        """Read, build, dry-run, send; from the read again when someone changed it first."""
        self._allowed(service)
        for attempt in range(1, self.conflict_retries + 2):
            self.reads.forget(service.namespace)  # why: build on what is there now
            change = prepare(self._read(service))
            if change is None:
                return None
            try:
                change.send(True)
                if not dry_run:
                    change.send(False)
            except ActionConflict:
                if attempt > self.conflict_retries:
                    raise
                log.info("%s changed while the healer changed it; reading it again", service)
                continue
            if not dry_run:
                self.reads.forget(service.namespace)
                self._tell(service, change)
            return change
        raise AssertionError("unreachable: the last attempt returns or raises")

    def _read(self, service: ServiceRef) -> V1Deployment:
        with calling(Call("get", "deployments", service.namespace, service.name)):
            return self.apps.read_namespaced_deployment(
                service.name, service.namespace, _request_timeout=self.settings.timeout
            )

    def _deployment_patcher(
        self, service: ServiceRef, patch: changes.Patch
    ) -> Callable[[bool], None]:
        call = Call("patch", "deployments", service.namespace, service.name)
        return self._patcher(call, patch, self.apps.patch_namespaced_deployment)

    def _patcher(
        self, call: Call, patch: changes.Patch, method: Callable[..., object]
    ) -> Callable[[bool], None]:
        def send(dry_run: bool) -> None:
            with calling(call):
                method(
                    call.name,
                    call.namespace,
                    patch.body,
                    dry_run="All" if dry_run else None,
                    field_manager=self.settings.field_manager,
                    _content_type=patch.content_type,
                    _request_timeout=self.settings.timeout,
                )

        return send

    def _annotations(self, what: str | None = None) -> dict[str, str]:
        """The incident annotation, and a change-cause for `kubectl rollout history`."""
        acting = _ACTING.get()
        found = {self.settings.incident_annotation: acting.incident_id} if acting else {}
        if what is not None:
            found[changes.CHANGE_CAUSE] = _message(what)
        return found

    def _tell(self, service: ServiceRef, change: Change) -> None:
        """Annotate the Deployment (if the change could not) and post the Event."""
        log.info("%s: %s", service, _message(change.what))
        if change.annotate_after and _ACTING.get() is not None:
            patch = changes.annotate(self._annotations())
            annotate = self._deployment_patcher(service, patch)

            def annotate_it() -> None:
                annotate(True)  # why: a dry run first, as for every write of a workload
                annotate(False)

            _best_effort(service, change, "annotate it", annotate_it)
        _best_effort(service, change, "post its Event", lambda: self._post_event(change))

    def _post_event(self, change: Change) -> None:
        about = change.about
        namespace = about.namespace or ""
        acting = _ACTING.get()
        now = self.clock.now()
        event = CoreV1Event(
            metadata=V1ObjectMeta(
                name=f"{about.name}.{uuid.uuid4().hex[:16]}",
                namespace=namespace,
                annotations=self._annotations() if acting else None,
            ),
            involved_object=about,
            reason=change.reason,
            message=_message(change.what),
            type="Normal",
            source=V1EventSource(component=self.settings.field_manager, host=self.instance or None),
            reporting_component=self.settings.field_manager,
            reporting_instance=self.instance or None,
            first_timestamp=now,
            last_timestamp=now,
            count=1,
        )
        with calling(Call("create", "events", namespace)):
            self.core.create_namespaced_event(
                namespace, event, _request_timeout=self.settings.timeout
            )

    def _allowed(self, service: ServiceRef) -> None:
        allowed = self.settings.namespaces
        if allowed and service.namespace not in allowed:
            raise ActionFailed(
                f'kubernetes: namespace "{service.namespace}" is not one the healer may '
                "read or change (sources.cluster.kubernetes.namespaces)"
            )


def _best_effort(service: ServiceRef, change: Change, what: str, step: Callable[[], None]) -> None:
    try:
        step()
    except ClusterError as exc:  # why: the change has landed; failing now would say it had not
        log.warning("%s: %s, but could not %s: %s", service, change.what, what, exc)


def _message(what: str) -> str:
    """'healer: <what> for incident <id>: <reason>', within an Event's limit."""
    acting = _ACTING.get()
    text = f"healer: {what}"
    if acting is not None:
        text += f" for incident {acting.incident_id}"
        text += f": {acting.reason}" if acting.reason else ""
    return text[:MAX_MESSAGE]


def ref(deployment: V1Deployment) -> V1ObjectReference:
    meta = deployment.metadata or V1ObjectMeta()
    return V1ObjectReference(
        api_version="apps/v1",
        kind="Deployment",
        name=meta.name,
        namespace=meta.namespace,
        uid=meta.uid,
        resource_version=meta.resource_version,
    )


def version(deployment: V1Deployment) -> str | None:
    return deployment.metadata.resource_version if deployment.metadata else None
