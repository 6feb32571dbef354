"""apps/v1 over the simulation: Deployments, their `scale` subresource and ReplicaSets.

Reads render the simulation as it is now; writes change it through `SimKube`, the same
way the in-process Cluster port does, so more replicas really add capacity at the next
tick, a new pool size really changes the pool, and an undo really removes a bad version.
"""

from __future__ import annotations

import copy

from healer.sim.adapters import Mutation
from healer.sim.kubeapi_base import (
    DEPLOYMENTS,
    REPLICASETS,
    SCALE,
    Kind,
    Obj,
    Resource,
    check_identity,
    check_version,
    invalid,
    not_found,
)
from healer.sim.kubeapi_book import Book
from healer.sim.kubeapi_render import deployment, replicasets, scale
from healer.sim.kubeapi_rollout import carry_out, plan, preview, replica_causes
from healer.sim.simulation import Simulation
from healer.sim.workloads import Deployment


class Apps:
    """The simulation's Deployments as the API finds them, with the API's own `Book`."""

    def __init__(self, simulation: Simulation, book: Book) -> None:
        self.simulation = simulation
        self.book = book

    def deployments(self, namespace: str | None) -> list[Deployment]:
        found = self.simulation.cluster.deployments.values()
        return [d for d in found if namespace in (None, d.spec.namespace)]

    def record(self, action: str, dep: Deployment, **args: object) -> None:
        """Note a change beside the ones `SimKube` notes itself (restarts, deleted pods)."""
        kube = self.simulation.kube
        kube.mutations.append(Mutation(self.simulation.cluster.now, action, dep.ref, args))

    def find(self, kind: Kind, namespace: str, name: str) -> Deployment:
        dep = self.simulation.cluster.deployments.get(name)
        if dep is None or dep.spec.namespace != namespace:
            raise not_found(kind, name)
        return dep


class Deployments(Resource):
    kind = DEPLOYMENTS

    def __init__(self, apps: Apps) -> None:
        self.apps = apps

    def list(self, namespace: str | None) -> list[Obj]:
        return [deployment(d, self.apps.book) for d in self.apps.deployments(namespace)]

    def get(self, namespace: str, name: str) -> Obj:
        return deployment(self.apps.find(self.kind, namespace, name), self.apps.book)

    def update(self, namespace: str, name: str, body: Obj, *, dry_run: bool) -> Obj:
        dep = self.apps.find(self.kind, namespace, name)
        book = self.apps.book
        current = deployment(dep, book)
        check_identity(self.kind, namespace, name, body)
        check_version(self.kind, name, body, current["metadata"]["resourceVersion"])
        change = plan(dep, book, current, body)
        if dry_run:
            return preview(current, body, change)
        sim = self.apps.simulation
        now = sim.cluster.now
        carry_out(change, dep, book=book, kube=sim.kube, now=now, record=self.apps.record)
        return deployment(dep, book)


class Scales(Resource):
    """`deployments/{name}/scale`: an autoscaling/v1 Scale sharing its Deployment's version."""

    kind = SCALE

    def __init__(self, apps: Apps) -> None:
        self.apps = apps

    def get(self, namespace: str, name: str) -> Obj:
        return scale(deployment(self.apps.find(self.kind, namespace, name), self.apps.book))

    def update(self, namespace: str, name: str, body: Obj, *, dry_run: bool) -> Obj:
        dep = self.apps.find(self.kind, namespace, name)
        current = self.get(namespace, name)
        check_identity(self.kind, namespace, name, body)
        check_version(self.kind, name, body, current["metadata"]["resourceVersion"])
        spec = body.get("spec")
        spec = spec if isinstance(spec, dict) else {}
        replicas = spec.get("replicas", 0)  # why: a Scale's replicas defaults to 0
        causes = replica_causes(dep, replicas, "spec.replicas")
        if causes:
            raise invalid(self.kind, name, causes, group="autoscaling")
        if dry_run:
            out = copy.deepcopy(current)
            out["spec"]["replicas"] = replicas
            return out
        if replicas != dep.desired:
            self.apps.simulation.kube.scale(dep.ref, replicas)
        return self.get(namespace, name)


class ReplicaSets(Resource):
    """Read only: the rollout history, one ReplicaSet per distinct pod template."""

    kind = REPLICASETS

    def __init__(self, apps: Apps) -> None:
        self.apps = apps

    def list(self, namespace: str | None) -> list[Obj]:
        book = self.apps.book
        return [rs for d in self.apps.deployments(namespace) for rs in replicasets(d, book)]

    def get(self, namespace: str, name: str) -> Obj:
        found = [rs for rs in self.list(namespace) if rs["metadata"]["name"] == name]
        if not found:
            raise not_found(self.kind, name)
        return found[0]
