"""Deployments as Kubernetes keeps them: desired replicas, pods, and a rollout history.

Changes are accepted at once (the spec changes, a new revision is recorded) and carried
out at the next tick (pods start or restart), the way a controller lags the API.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from healer.domain.model import Pod as PodView
from healer.domain.model import Rollout, ServiceRef, Workload
from healer.errors import ActionFailed
from healer.sim.topology import BOUTIQUE, ServiceSpec

# why: a runtime's resting footprint, as a share of the limit: a JVM reserves its heap
# up front, a Go or C process holds little more than it uses
RESTING_MEMORY = {"java": 0.55, "csharp": 0.4, "nodejs": 0.3, "python": 0.3, "go": 0.15, "c": 0.05}
HISTORY_LIMIT = 10  # revisionHistoryLimit
MAX_REPLICAS = 1000
MAX_POOL = 10_000
COLD_TICKS = 2  # noise periods of cold caches and JIT warm-up after pods start
_ALPHABET = "bcdfghjklmnpqrstvwxz2456789"  # the characters Kubernetes uses in pod names


@dataclass(frozen=True)
class Revision:
    """One pod template: its image, env and whatever is wrong with it."""

    number: int
    image: str
    env: Mapping[str, str]
    at: datetime
    defect: float = 0.0  # share of requests this version fails by itself
    fault: int | None = None  # the scenario fault that shipped it, for ground truth
    cause: str = ""  # kubernetes.io/change-cause
    restarted_at: str | None = None  # the template's restartedAt (`kubectl rollout restart`)


@dataclass
class Pod:
    name: str
    started: datetime
    counters: list[float] = field(default_factory=list)
    restarts: int = 0  # container restarts: same pod, counters back to zero
    memory_mb: float = 0.0  # the container's working set


BOUTIQUE_REGISTRY = "us-central1-docker.pkg.dev/google-samples/microservices-demo"


def baseline_mb(spec: ServiceSpec) -> float:
    """The working set of a healthy container of this service."""
    return spec.memory_limit_mb * RESTING_MEMORY.get(spec.language, 0.3)


def _image(spec: ServiceSpec, build: int) -> str:
    if spec.namespace == BOUTIQUE:
        return f"{BOUTIQUE_REGISTRY}/{spec.name}:v0.10.{build}"
    if spec.namespace == "sock-shop":
        return f"weaveworksdemos/{spec.name}:0.4.{build}"
    if spec.namespace == "train-ticket":
        return f"codewisdom/{spec.name}:1.0.{build}"
    return f"registry.internal/{spec.namespace}/{spec.name}:1.{build}.0"


def _env(spec: ServiceSpec) -> dict[str, str]:
    env = {"PORT": "8080", "LOG_LEVEL": "info"}
    if spec.pool is not None:
        env[spec.pool.env] = str(spec.pool.size)
        if spec.pool.overflow:
            env[spec.pool.overflow_env] = str(spec.pool.overflow)
    return env


class Deployment:
    """One service's Deployment: spec, pods, history; mutated only through its methods."""

    def __init__(self, spec: ServiceSpec, start: datetime, rng: random.Random) -> None:
        self.spec = spec
        self.ref: ServiceRef = spec.ref
        self.desired = spec.replicas
        self._rng = rng
        self._build = rng.randint(1, 6)
        ages = sorted((rng.uniform(1.0, 30.0) for _ in range(3)), reverse=True)
        self.history: list[Revision] = []
        for number, age in enumerate(ages, start=1):
            self._build += 1
            when = start - timedelta(days=age)
            self.history.append(Revision(number, _image(spec, self._build), _env(spec), when))
        self.running = self.history[-1]
        self.pods = [self._pod(start - timedelta(days=ages[-1])) for _ in range(self.desired)]
        self.cold = 0
        self._restart = False

    @property
    def current(self) -> Revision:
        return self.history[-1]

    @property
    def pool_size(self) -> int:
        """Connections per pod that the running pods were started with."""
        pool = self.spec.pool
        return int(self.running.env.get(pool.env, pool.size)) if pool else 0

    @property
    def pool_overflow(self) -> int:
        """Connections per pod beyond `pool_size` that the running pods may open."""
        pool = self.spec.pool
        return int(self.running.env.get(pool.overflow_env, pool.overflow)) if pool else 0

    def workload(self) -> Workload:
        rev = self.current
        return Workload(
            service=self.ref,
            replicas=self.desired,
            revision=rev.number,
            image=rev.image,
            env=dict(rev.env),
            history=tuple(Rollout(r.number, r.image, r.at) for r in self.history),
            restarted_at=rev.restarted_at,
            # why: a restarted container here was OOM-killed (see `restart_container`)
            pods=tuple(PodView(p.name, True, p.restarts, p.restarts > 0) for p in self.pods),
        )

    # --- changes, accepted now and carried out at the next tick ---

    def check_scale(self, replicas: int) -> None:
        if isinstance(replicas, bool) or not isinstance(replicas, int):
            raise ActionFailed(f"replicas must be an integer, got {replicas!r}")
        if not 0 <= replicas <= MAX_REPLICAS:
            raise ActionFailed(f"replicas must be between 0 and {MAX_REPLICAS}, got {replicas}")

    def scale(self, replicas: int) -> None:
        self.check_scale(replicas)
        self.desired = replicas

    def check_env(self, name: str, value: str) -> None:
        if not name or not name.replace("_", "a").isalnum() or name[0].isdigit():
            raise ActionFailed(f"{name!r} is not a valid environment variable name")
        pool = self.spec.pool
        if pool is not None and name == pool.env:
            try:
                size = int(value)
            except (TypeError, ValueError):  # why: the app would crash-loop on it; refuse
                raise ActionFailed(f"{name} must be an integer pool size, got {value!r}") from None
            if not 1 <= size <= MAX_POOL:
                raise ActionFailed(f"{name} must be between 1 and {MAX_POOL}, got {size}")

    def set_env(self, name: str, value: str, at: datetime) -> Revision:
        self.check_env(name, value)
        rev = self.current
        env = {**rev.env, name: value}
        pool = self.spec.pool
        fault = None if pool is not None and name == pool.env else rev.fault
        return self._record(replace(rev, env=env, at=at, fault=fault, cause=f"set env {name}"))

    def rollback_target(self, to_revision: int | None) -> Revision:
        earlier = [r for r in self.history if r.number < self.current.number]
        if to_revision is None:
            if not earlier:
                raise ActionFailed(f"{self.ref} has no previous revision to roll back to")
            return earlier[-1]
        if isinstance(to_revision, bool) or not isinstance(to_revision, int):
            raise ActionFailed(f"to_revision must be an integer, got {to_revision!r}")
        found = next((r for r in earlier if r.number == to_revision), None)
        if found is None:
            known = ", ".join(str(r.number) for r in earlier) or "none"
            raise ActionFailed(f"{self.ref} has no revision {to_revision} (earlier: {known})")
        return found

    def rollback(self, to_revision: int | None, at: datetime) -> Revision:
        target = self.rollback_target(to_revision)
        # why: like Kubernetes, the old template comes back as a new revision and the
        # old number leaves the history
        self.history.remove(target)
        return self._record(replace(target, at=at, cause=f"rollback to {target.number}"))

    def deploy(
        self, at: datetime, *, defect: float = 0.0, fault: int | None = None, image: str = ""
    ) -> Revision:
        """Roll out a new image (a release), keeping the env."""
        self._build += 1
        image = image or _image(self.spec, self._build)
        rev = replace(self.current, image=image, at=at, defect=defect, fault=fault, cause="")
        return self._record(rev)

    def restart(self, at: datetime, stamp: str | None) -> Revision:
        """`kubectl rollout restart`: the same version on fresh pods, bugs and all."""
        return self._record(replace(self.current, at=at, restarted_at=stamp, cause="restart"))

    def delete_pod(self, name: str) -> Pod:
        """Delete one pod; the controller starts a fresh one at the next tick."""
        pod = next((p for p in self.pods if p.name == name), None)
        if pod is None:
            raise ActionFailed(f'pods "{name}" not found for {self.ref}')
        self.pods.remove(pod)
        return pod

    def reconfigure(self, env: Mapping[str, str], at: datetime, fault: int | None) -> Revision:
        """Roll out an env change made outside the healer (a config change shipped)."""
        rev = replace(self.current, env={**self.current.env, **env}, at=at, fault=fault)
        return self._record(replace(rev, cause="config change"))

    def _record(self, rev: Revision) -> Revision:
        rev = replace(rev, number=self.current.number + 1)
        self.history.append(rev)
        del self.history[:-HISTORY_LIMIT]
        self._restart = True
        return rev

    # --- the controller's side ---

    def reconcile(self, now: datetime) -> bool:
        """Start, stop and restart pods to match the spec; True when pods restarted."""
        restarted = self._restart
        if restarted:
            self.running = self.current
            self.pods = [self._pod(now) for _ in range(self.desired)]
            self._restart = False
            self.cold = COLD_TICKS
        elif len(self.pods) < self.desired:
            self.pods += [self._pod(now) for _ in range(self.desired - len(self.pods))]
        elif len(self.pods) > self.desired:
            del self.pods[self.desired :]
        return restarted

    def restart_container(self, index: int) -> Pod:
        """A container restart (OOM kill, failed liveness probe): the pod keeps its name,
        its process starts over, so its counters start again from zero."""
        pod = self.pods[index % len(self.pods)]
        pod.counters = []
        pod.restarts += 1
        pod.memory_mb = baseline_mb(self.spec)
        self.cold = max(self.cold, 1)
        return pod

    def _pod(self, started: datetime) -> Pod:
        template = zlib.crc32(f"{self.spec.name}/{self.current.number}".encode())
        hash_ = "".join(_ALPHABET[(template >> (3 * i)) % len(_ALPHABET)] for i in range(10))
        suffix = "".join(self._rng.choice(_ALPHABET) for _ in range(5))
        return Pod(f"{self.spec.name}-{hash_}-{suffix}", started, memory_mb=baseline_mb(self.spec))
