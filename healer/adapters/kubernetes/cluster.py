"""`KubeCluster`: the `Cluster` port over the Kubernetes API, plus the actions playbooks
may need beyond it (rollout restart, a ConfigMap key then a restart, deleting one pod)
and a closer look at a workload (pods, events, container resources).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from kubernetes.client import V1DeleteOptions, V1Deployment, V1ObjectReference, V1Preconditions

from healer.adapters.kubernetes import changes, reading
from healer.adapters.kubernetes.api import Change, KubeApi, Prepare, ref, version
from healer.adapters.kubernetes.connect import api_client
from healer.adapters.kubernetes.errors import Call, calling
from healer.adapters.kubernetes.reading import ClusterEvent, Container, PodState
from healer.config import KubernetesSettings
from healer.domain.model import ServiceRef, Workload
from healer.errors import ActionFailed
from healer.ports import Clock

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Inspection:
    """A workload up close: what `kubectl describe deployment` and `get pods` would show."""

    workload: Workload
    containers: tuple[Container, ...]
    pods: tuple[PodState, ...]
    events: tuple[ClusterEvent, ...]  # oldest first


class KubeCluster(KubeApi):
    """`Cluster` over the Kubernetes API, limited to `settings.namespaces` if any.

    Wrap the changes made for an incident in `acting_for(incident_id, reason)` so the
    objects and Events name it.
    """

    @classmethod
    def from_settings(
        cls, settings: KubernetesSettings, *, clock: Clock, instance: str = ""
    ) -> KubeCluster:
        """A cluster reached as `settings` say; nothing is requested until first used.

        `instance` names this replica on the Events it posts."""
        return cls(api_client(settings), settings, clock=clock, instance=instance)

    # --- reads ---

    def workload(self, service: ServiceRef) -> Workload:
        deployment = self.deployment(service)
        ns = service.namespace
        return reading.workload_of(deployment, self.reads.replicasets(ns), self.reads.pods(ns))

    def deployment(self, service: ServiceRef) -> V1Deployment:
        """The Deployment as listed this poll (one list request serves the namespace)."""
        self._allowed(service)
        for found in self.reads.deployments(service.namespace):
            if found.metadata and found.metadata.name == service.name:
                return found
        raise ActionFailed(
            f'kubernetes: deployments "{service.name}" not found in namespace "{service.namespace}"'
        )

    def inspect(self, service: ServiceRef, *, since: datetime | None = None) -> Inspection:
        """The workload with its containers, pods and the events of the last hour."""
        deployment = self.deployment(service)
        mine = reading.owned(deployment, self.reads.replicasets(service.namespace))
        pods = reading.pods_of(mine, self.reads.pods(service.namespace))
        names = {
            "Deployment": {service.name},
            "ReplicaSet": {rs.metadata.name for rs in mine if rs.metadata and rs.metadata.name},
            "Pod": {p.metadata.name for p in pods if p.metadata and p.metadata.name},
        }
        since = since or self.clock.now() - timedelta(hours=1)
        events = reading.events_about(names, self.reads.events(service.namespace), since)
        return Inspection(
            workload=reading.workload_of(deployment, mine),
            containers=tuple(reading.containers(deployment)),
            pods=tuple(reading.pod_state(p) for p in pods),
            events=tuple(events),
        )

    # --- the port's changes ---

    def scale(self, service: ServiceRef, replicas: int, *, dry_run: bool = False) -> None:
        def prepare(deployment: V1Deployment) -> Change:
            now = deployment.spec.replicas if deployment.spec else None
            patch = changes.scale(version(deployment), replicas)
            call = Call("patch", "deployments/scale", service.namespace, service.name)
            send = self._patcher(call, patch, self.apps.patch_namespaced_deployment_scale)
            what = f"scaled from {now} to {replicas} replicas"
            return Change(send, what, "HealerScaled", ref(deployment), annotate_after=True)

        self._change(service, prepare, dry_run=dry_run)

    def set_env(self, service: ServiceRef, name: str, value: str, *, dry_run: bool = False) -> None:
        what = f"set {name}={value}"

        def prepare(deployment: V1Deployment) -> Change:
            _not_paused(deployment, "set env on")
            patch = changes.set_env(deployment, name, value, self._annotations(what))
            send = self._deployment_patcher(service, patch)
            return Change(send, what, "HealerSetEnv", ref(deployment))

        self._change(service, prepare, dry_run=dry_run)

    def rollback(
        self, service: ServiceRef, to_revision: int | None = None, *, dry_run: bool = False
    ) -> None:
        def prepare(deployment: V1Deployment) -> Change | None:
            _not_paused(deployment, "roll back")
            mine = reading.owned(deployment, self.reads.replicasets(service.namespace))
            current = reading.current_revision(deployment, mine)
            target = changes.undo_target(deployment, mine, current, to_revision)
            what = f"rolled back from revision {current} to the template of revision "
            what += str(reading.revision_of(target.metadata))
            patch = changes.undo(deployment, target, self._annotations(what))
            if patch is None:
                log.info("%s: template already as wanted; nothing to roll back", service)
                return None
            send = self._deployment_patcher(service, patch)
            return Change(send, what, "HealerRolledBack", ref(deployment))

        self._change(service, prepare, dry_run=dry_run)

    # --- further changes, for playbooks beyond the port ---

    def restart(self, service: ServiceRef, *, at: str | None = None, dry_run: bool = False) -> None:
        """`kubectl rollout restart`: every pod replaced, as the rollout strategy allows.

        `at` is the restartedAt stamp (default now); a restart already stamped `at` is
        not sent again."""
        self._change(service, self._restarting(service, at), dry_run=dry_run)

    def set_config(
        self,
        service: ServiceRef,
        configmap: str,
        key: str,
        value: str,
        *,
        dry_run: bool = False,
    ) -> None:
        """Set one key of a ConfigMap the Deployment reads, then restart it to pick it up.

        Both are rehearsed with a dry run before either is sent, so a restart that would
        be refused does not leave a changed ConfigMap behind.
        """
        edit = self._config_edit(service, configmap, key, value)
        for rehearsal in (True,) if dry_run else (True, False):
            self._change(service, edit, dry_run=rehearsal)
            self._change(service, self._restarting(service, None), dry_run=rehearsal)

    def delete_pod(
        self, service: ServiceRef, pod: str | None = None, *, dry_run: bool = False
    ) -> str:
        """Delete `pod` (else the least healthy) so its ReplicaSet starts a fresh one;
        returns its name. Never the last ready pod."""

        def prepare(deployment: V1Deployment) -> Change:
            mine = reading.owned(deployment, self.reads.replicasets(service.namespace))
            pods = reading.pods_of(mine, self.reads.pods(service.namespace))
            states = [reading.pod_state(p) for p in pods]
            chosen = changes.choose_pod(states, pod, service.name)
            uid = next(
                p.metadata.uid for p in pods if p.metadata and p.metadata.name == chosen.name
            )
            what = f"deleted pod {chosen.name} ({_health(chosen)})"
            send = self._pod_deleter(service.namespace, chosen.name, uid)
            return Change(
                send,
                what,
                "HealerDeletedPod",
                ref(deployment),
                annotate_after=True,
                subject=chosen.name,
            )

        change = self._change(service, prepare, dry_run=dry_run)
        return change.subject if change else ""

    def _restarting(self, service: ServiceRef, at: str | None) -> Prepare:
        what = "restarted every pod (rollout restart)"
        stamp = at or changes.stamp(self.clock.now())

        def prepare(deployment: V1Deployment) -> Change | None:
            _not_paused(deployment, "restart")
            if reading.restarted_at(deployment) == stamp:
                log.info("%s: already restarted at %s; not again", service, stamp)
                return None
            patch = changes.restart(deployment, stamp, self._annotations(what))
            send = self._deployment_patcher(service, patch)
            return Change(send, what, "HealerRestarted", ref(deployment))

        return prepare

    def _config_edit(self, service: ServiceRef, name: str, key: str, value: str) -> Prepare:
        what = f"set {key} in configmap {name}"

        def prepare(deployment: V1Deployment) -> Change:
            if not changes.uses_configmap(deployment, name):
                raise ActionFailed(
                    f"deployment {service.name} does not read configmap {name}; "
                    "the healer changes only configuration its workload uses"
                )
            with calling(Call("get", "configmaps", service.namespace, name)):
                configmap = self.core.read_namespaced_config_map(
                    name, service.namespace, _request_timeout=self.settings.timeout
                )
            patch = changes.config_value(configmap, key, value, self._annotations())
            call = Call("patch", "configmaps", service.namespace, name)
            send = self._patcher(call, patch, self.core.patch_namespaced_config_map)
            meta = configmap.metadata
            about = V1ObjectReference(
                api_version="v1",
                kind="ConfigMap",
                name=name,
                namespace=service.namespace,
                uid=meta.uid if meta else None,
            )
            return Change(send, what, "HealerChangedConfig", about)

        return prepare

    def _pod_deleter(self, namespace: str, name: str, uid: str | None) -> Callable[[bool], None]:
        # why a uid precondition rather than resourceVersion: a pod's status (and so its
        # resourceVersion) changes all the time; what matters is that it is the same pod
        options = V1DeleteOptions(preconditions=V1Preconditions(uid=uid))

        def send(dry_run: bool) -> None:
            with calling(Call("delete", "pods", namespace, name)):
                self.core.delete_namespaced_pod(
                    name,
                    namespace,
                    body=options,
                    dry_run="All" if dry_run else None,
                    _request_timeout=self.settings.timeout,
                )

        return send


def _health(pod: PodState) -> str:
    parts = ["ready" if pod.ready else "not ready", f"{pod.restarts} restarts"]
    if pod.oom_killed:
        parts.append("OOMKilled")
    if pod.waiting:
        parts.append(pod.waiting)
    return ", ".join(parts)


def _not_paused(deployment: V1Deployment, verb: str) -> None:
    """A paused Deployment does not roll out: the change would sit there, doing nothing."""
    if deployment.spec and deployment.spec.paused:
        name = deployment.metadata.name if deployment.metadata else ""
        raise ActionFailed(
            f"deployment {name} is paused: the healer will not {verb} it; "
            f"resume it first (kubectl rollout resume deployment/{name})"
        )
