"""Leader election over a coordination.k8s.io/v1 Lease, so one replica of many acts.

`LeaderElector` takes, renews and releases the Lease in a thread of its own, with a
compare-and-swap on `resourceVersion`; `is_leader()` turns false once a renewal is
`renew_deadline` overdue, before any rival may take over. `AlwaysLeader` stands in when
election is off. The kubernetes client's own election loop is not used: it cannot be
stopped, never releases the Lease, and builds its client from the global default.
"""

from __future__ import annotations

import logging
import os
import random
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum

from kubernetes.client import ApiClient, CoordinationV1Api, V1Lease, V1LeaseSpec, V1ObjectMeta
from kubernetes.client.exceptions import ApiException

from healer.adapters.kubernetes.errors import Call, calling
from healer.config import LEASE_JITTER, DaemonSettings
from healer.domain.clock import SystemClock
from healer.errors import ClusterError
from healer.ports import Clock

log = logging.getLogger(__name__)

Callback = Callable[[], None]


def _nothing() -> None:
    return None


def default_identity() -> str:
    """Hostname and process id: in a pod the hostname is the pod's name."""
    return f"{socket.gethostname()}_{os.getpid()}"


class Outcome(Enum):
    HELD = "held"  # this replica wrote the Lease as its holder
    TAKEN = "taken"  # another replica holds a Lease that has not expired
    FAILED = "failed"  # no answer, a refusal, or a rival wrote first


@dataclass(frozen=True)
class Observed:
    """A rival's Lease as last read, and when (monotonic) this replica first saw it."""

    record: dict[str, object]
    since: float


class LeaderElector:
    """Competes for the Lease `settings` names; `start()` it, ask `is_leader()`, `stop()`."""

    def __init__(
        self,
        api: ApiClient,
        settings: DaemonSettings,
        *,
        on_gained: Callback = _nothing,
        on_lost: Callback = _nothing,
        clock: Clock | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.identity = settings.identity or default_identity()
        self._leases = CoordinationV1Api(api)
        self._settings = settings
        self._on_gained, self._on_lost = on_gained, on_lost
        self._clock = clock or SystemClock()
        self._monotonic = monotonic
        # why: a request may use half the deadline, leaving time for one more try
        self._timeout = settings.renew_deadline / 2
        self._guard = threading.Lock()
        self._renewed: float | None = None  # when the last successful write was sent
        self._lease: V1Lease | None = None  # the Lease as this replica last wrote it
        self._observed: Observed | None = None
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None

    # --- what the daemon uses ---

    def start(self) -> None:
        """Start competing in the background; returns at once."""
        if self._thread is not None:
            return
        self._stopping.clear()
        self._thread = threading.Thread(
            target=self._loop, name=f"leader-election-{self.identity}", daemon=True
        )
        self._thread.start()

    def stop(self) -> None:
        """Stop competing; release the Lease if held so a rival takes over at once."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout=self._settings.renew_deadline)
            self._thread = None
        held = self._lease
        self._lose("stopped")  # why: stop acting before a rival can take the released Lease
        if held is not None:
            self._release(held)

    def is_leader(self) -> bool:
        """True while the last renewal is younger than `renew_deadline`."""
        with self._guard:
            renewed = self._renewed
        # why: decided by the clock, not by the thread, so a renewal stuck in a hung
        # request still ends leadership before the rivals' view of the Lease expires
        return renewed is not None and self._monotonic() - renewed < self._settings.renew_deadline

    # --- the election loop ---

    def _loop(self) -> None:
        delay = 0.0
        while not self._stopping.wait(delay):
            self._round()
            delay = self._settings.retry_period
            if self._renewed is None:
                # why: replicas started together should not hit the Lease in lockstep
                delay *= random.uniform(1.0, LEASE_JITTER)

    def _round(self) -> None:
        started = self._monotonic()
        try:
            outcome = self._attempt()
        except ClusterError as exc:  # why: one failed try is ordinary; the deadline decides
            log.warning("lease %s: %s", self._settings.lease_name, exc)
            outcome = Outcome.FAILED
        if outcome is Outcome.HELD:
            self._gain(started)
        elif outcome is Outcome.TAKEN:
            self._lose("another replica holds the lease")
        elif not self.is_leader():
            self._lose(f"no renewal within {self._settings.renew_deadline:g}s")

    def _attempt(self) -> Outcome:
        lease = self._read()
        # why: a rival's Lease is timed from when its answer arrived, not from `started`,
        # which a slow read would leave too early and so expire the Lease too soon
        seen, now = self._monotonic(), self._now()
        if lease is None:
            self._lease = self._create(now)
            return Outcome.HELD
        spec = lease.spec or V1LeaseSpec()
        if self._held_by_rival(spec, seen):
            return Outcome.TAKEN
        claimed = V1Lease(metadata=lease.metadata, spec=self._claim(spec, now))
        self._lease = self._replace(claimed)
        return Outcome.HELD

    def _held_by_rival(self, spec: V1LeaseSpec, seen: float) -> bool:
        """A rival's Lease counts as expired a full duration after this replica saw it
        change, by its own clock: the rival's clock and `renewTime` are never trusted."""
        record: dict[str, object] = spec.to_dict()
        if self._observed is None or self._observed.record != record:
            self._observed = Observed(record, seen)
        holder = spec.holder_identity
        if not holder or holder == self.identity:
            return False
        duration = spec.lease_duration_seconds or self._settings.lease_duration
        return seen - self._observed.since < duration

    def _claim(self, spec: V1LeaseSpec, now: datetime) -> V1LeaseSpec:
        """The spec that makes this replica the holder, as Kubernetes documents its fields."""
        ours = spec.holder_identity == self.identity
        transitions = spec.lease_transitions or 0
        return V1LeaseSpec(
            holder_identity=self.identity,
            lease_duration_seconds=self._settings.lease_duration,
            acquire_time=spec.acquire_time if ours and spec.acquire_time else now,
            renew_time=now,
            lease_transitions=transitions if ours else transitions + 1,
        )

    # --- state changes, and the callbacks they fire ---

    def _gain(self, started: float) -> None:
        if self._stopping.is_set():
            return  # why: a write that finished after stop() must not start leading again
        with self._guard:
            gained = self._renewed is None
            self._renewed = started
        if gained:
            log.info("%s now leads (lease %s)", self.identity, self._settings.lease_name)
            self._tell(self._on_gained)

    def _lose(self, why: str) -> None:
        with self._guard:
            lost = self._renewed is not None
            self._renewed = None
        self._lease = None
        if lost:
            log.warning("%s no longer leads: %s", self.identity, why)
            self._tell(self._on_lost)

    def _tell(self, callback: Callback) -> None:
        try:
            callback()
        except Exception:  # why: a faulty callback must not end the election thread
            log.exception("leader election callback %r failed", callback)

    # --- requests ---

    def _read(self) -> V1Lease | None:
        with calling(self._call("get")):
            try:
                found: V1Lease = self._leases.read_namespaced_lease(
                    self._settings.lease_name,
                    self._settings.lease_namespace,
                    _request_timeout=self._timeout,
                )
            except ApiException as exc:
                if exc.status == 404:  # why: no Lease yet; whoever creates it first leads
                    return None
                raise
        return found

    def _create(self, now: datetime) -> V1Lease:
        spec = self._claim(V1LeaseSpec(), now)
        spec.lease_transitions = 0  # why: the first holder is not a change of holder
        lease = V1Lease(metadata=V1ObjectMeta(name=self._settings.lease_name), spec=spec)
        with calling(self._call("create")):
            created: V1Lease = self._leases.create_namespaced_lease(
                self._settings.lease_namespace, lease, _request_timeout=self._timeout
            )
        return created

    def _replace(self, lease: V1Lease) -> V1Lease:
        # why: the body carries the resourceVersion it was read at, so a rival's write in
        # between answers 409 instead of being overwritten
        with calling(self._call("update")):
            written: V1Lease = self._leases.replace_namespaced_lease(
                self._settings.lease_name,
                self._settings.lease_namespace,
                lease,
                _request_timeout=self._timeout,
            )
        return written

    def _release(self, lease: V1Lease) -> None:
        spec = lease.spec or V1LeaseSpec()
        now = self._now()
        spec.holder_identity = ""  # why: an empty holder lets a rival take it at once
        spec.lease_duration_seconds = 1
        spec.acquire_time = spec.renew_time = now
        try:
            self._replace(V1Lease(metadata=lease.metadata, spec=spec))
        except ClusterError as exc:  # why: the Lease still expires by itself
            log.warning("could not release lease %s: %s", self._settings.lease_name, exc)
            return
        log.info("%s released lease %s", self.identity, self._settings.lease_name)

    def _call(self, verb: str) -> Call:
        return Call(verb, "leases", self._settings.lease_namespace, self._settings.lease_name)

    def _now(self) -> datetime:
        now = self._clock.now()
        # why: the client writes isoformat(), which drops a zero fraction, and the API
        # server parses a MicroTime only with all six digits
        return now + timedelta(microseconds=1) if now.microsecond == 0 else now


class AlwaysLeader:
    """Election off: the one replica always leads."""

    def __init__(self, *, on_gained: Callback = _nothing, on_lost: Callback = _nothing) -> None:
        self._on_gained, self._on_lost = on_gained, on_lost

    def start(self) -> None:
        self._on_gained()

    def stop(self) -> None:
        self._on_lost()

    def is_leader(self) -> bool:
        return True


def leadership(
    settings: DaemonSettings,
    api: Callable[[], ApiClient],
    *,
    on_gained: Callback = _nothing,
    on_lost: Callback = _nothing,
) -> LeaderElector | AlwaysLeader:
    """An elector when `settings.leader_election` is on (calling `api` only then)."""
    if not settings.leader_election:
        return AlwaysLeader(on_gained=on_gained, on_lost=on_lost)
    return LeaderElector(api(), settings, on_gained=on_gained, on_lost=on_lost)
