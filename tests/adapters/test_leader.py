"""Leader election against the simulated cluster's Lease API, through the real client:
one replica leads, a stopped leader hands over, a leader that cannot renew gives up
before its Lease expires for the others, and bad timings are refused at load."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client

from healer.adapters.leader import AlwaysLeader, LeaderElector, default_identity, leadership
from healer.config import DaemonSettings, load_settings
from healer.daemon import run
from healer.errors import ConfigError
from healer.sim.kubeapi import register
from healer.sim.kubeapi_base import LEASES, conflict
from healer.sim.serve import Request, Response, Router, SimServer, scenario_named

NS = "healer"
NAME = "healer-leader"
# Short timings, still inside what the settings accept: 2 > 1.2 > 0.2 × 1.2.
TIMINGS: dict[str, Any] = {"lease_duration": 2, "renew_deadline": 1.2, "retry_period": 0.2}


@dataclass
class Storm:
    """Wraps the server's router: while `on`, every write to a Lease answers 409."""

    router: Router
    on: bool = False
    writes: list[str] = field(default_factory=list)

    def dispatch(self, request: Request) -> Response:
        if "/leases" in request.path and request.method != "GET":
            self.writes.append(request.method)
            if self.on:
                return conflict(LEASES, NAME).response()
        return self.router.dispatch(request)


@dataclass
class Replica:
    elector: LeaderElector
    events: list[str]


@dataclass
class Cluster:
    server: SimServer
    api: client.ApiClient
    storm: Storm
    replicas: list[Replica] = field(default_factory=list)

    def replica(self, identity: str) -> Replica:
        events: list[str] = []
        settings = DaemonSettings(
            leader_election=True,
            lease_name=NAME,
            lease_namespace=NS,
            identity=identity,
            **TIMINGS,
        )
        elector = LeaderElector(
            self.api,
            settings,
            on_gained=lambda: events.append("gained"),
            on_lost=lambda: events.append("lost"),
        )
        replica = Replica(elector, events)
        self.replicas.append(replica)
        elector.start()
        return replica

    def lease(self) -> client.V1Lease:
        return client.CoordinationV1Api(self.api).read_namespaced_lease(NAME, NS)

    def leaders(self) -> list[str]:
        return [r.elector.identity for r in self.replicas if r.elector.is_leader()]


@pytest.fixture
def cluster() -> Iterator[Cluster]:
    server = SimServer(scenario_named("steady-state-rt"), speed=20.0)
    register(server)
    storm = Storm(server.router)
    server.router = storm  # type: ignore[assignment]  # why: same dispatch, with a switch
    server.start()
    api = client.ApiClient(client.Configuration(host=server.url))
    found = Cluster(server, api, storm)
    yield found
    for replica in found.replicas:
        replica.elector.stop()
    api.close()
    server.stop()


def wait_for(condition: Callable[[], bool], within: float = 5.0) -> float:
    """Seconds until `condition` held; fails the test after `within`."""
    began = time.monotonic()
    while not condition():
        assert time.monotonic() - began < within, "timed out"
        time.sleep(0.01)
    return time.monotonic() - began


def never_two(cluster: Cluster, seconds: float) -> set[str]:
    """Watch for `seconds`: never two leaders at once; returns who led meanwhile."""
    seen: set[str] = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        leaders = cluster.leaders()
        assert len(leaders) <= 1, f"two leaders at once: {leaders}"
        seen.update(leaders)
        time.sleep(0.01)
    return seen


# --- election ---


def test_exactly_one_of_two_replicas_leads(cluster: Cluster) -> None:
    a, b = cluster.replica("healer-a"), cluster.replica("healer-b")
    wait_for(lambda: len(cluster.leaders()) == 1)
    first = cluster.lease().spec
    assert never_two(cluster, 1.5) == {first.holder_identity}
    (leader,) = [r for r in (a, b) if r.elector.identity == first.holder_identity]
    (follower,) = [r for r in (a, b) if r is not leader]
    assert (leader.events, follower.events) == (["gained"], [])
    later = cluster.lease().spec
    assert later.lease_duration_seconds == 2
    assert later.lease_transitions == 0
    assert later.acquire_time == first.acquire_time  # renewals keep the acquire time
    assert later.renew_time > first.renew_time


def test_stopping_the_leader_hands_over_within_the_lease_duration(cluster: Cluster) -> None:
    cluster.replica("healer-a")
    wait_for(lambda: cluster.leaders() == ["healer-a"])
    cluster.replica("healer-b")
    assert never_two(cluster, 0.5) == {"healer-a"}
    a, b = cluster.replicas
    a.elector.stop()
    assert not a.elector.is_leader() and a.events == ["gained", "lost"]
    assert cluster.lease().spec.holder_identity in ("", "healer-b")  # released
    took = wait_for(b.elector.is_leader)
    assert took < TIMINGS["lease_duration"]
    spec = cluster.lease().spec
    assert (spec.holder_identity, spec.lease_transitions) == ("healer-b", 1)
    assert spec.acquire_time == spec.renew_time or spec.acquire_time < spec.renew_time


def test_a_leader_that_cannot_reach_the_server_stops_leading(cluster: Cluster) -> None:
    a = cluster.replica("healer-a")
    wait_for(a.elector.is_leader)
    cluster.server.stop()
    gone = wait_for(lambda: not a.elector.is_leader())
    # it stops within the renew deadline, so before the others could take over
    assert gone <= TIMINGS["renew_deadline"] + 0.25 < TIMINGS["lease_duration"]
    wait_for(lambda: a.events == ["gained", "lost"], within=2.0)


def test_a_leader_in_a_409_storm_stops_before_its_lease_expires(cluster: Cluster) -> None:
    a = cluster.replica("healer-a")
    wait_for(a.elector.is_leader)
    b = cluster.replica("healer-b")
    never_two(cluster, 0.3)
    cluster.storm.on = True
    began = time.monotonic()
    gone = wait_for(lambda: not a.elector.is_leader())
    assert gone <= TIMINGS["renew_deadline"] + 0.25 < TIMINGS["lease_duration"]
    assert not b.elector.is_leader()  # b still sees a's last renewal as current
    assert never_two(cluster, 0.5) == set()
    wait_for(lambda: a.events == ["gained", "lost"], within=2.0)
    cluster.storm.on = False
    wait_for(lambda: len(cluster.leaders()) == 1)
    assert time.monotonic() - began >= TIMINGS["renew_deadline"]
    assert len(never_two(cluster, 0.5)) == 1


def test_a_rival_taking_the_lease_ends_leadership_at_once(cluster: Cluster) -> None:
    a = cluster.replica("healer-a")
    wait_for(a.elector.is_leader)
    leases = client.CoordinationV1Api(cluster.api)
    leases.patch_namespaced_lease(
        NAME,
        NS,
        {"spec": {"holderIdentity": "intruder"}},
        _content_type="application/merge-patch+json",
    )
    lost = wait_for(lambda: not a.elector.is_leader())
    assert lost < TIMINGS["renew_deadline"]  # the next read, not the deadline, ended it
    assert never_two(cluster, 0.5) == set()  # the intruder's lease is honoured


def test_a_failing_callback_does_not_end_the_election(cluster: Cluster) -> None:
    settings = DaemonSettings(lease_name=NAME, lease_namespace=NS, identity="x", **TIMINGS)

    def explode() -> None:
        raise RuntimeError("callback bug")

    elector = LeaderElector(cluster.api, settings, on_gained=explode)
    elector.start()
    try:
        wait_for(elector.is_leader)
        renewed = cluster.lease().spec.renew_time
        wait_for(lambda: cluster.lease().spec.renew_time > renewed)
    finally:
        elector.stop()


# --- the daemon, and election switched off ---


def test_the_daemon_polls_only_while_leading() -> None:
    leading = threading.Event()
    calls: list[int] = []
    stop = threading.Event()
    safety = threading.Timer(5.0, stop.set)  # the assertion is on the counts
    safety.start()
    threading.Timer(0.3, leading.set).start()
    began = time.monotonic()
    try:
        done = run(
            lambda: calls.append(1), interval=0.01, max_polls=3, stop=stop, leader=leading.is_set
        )
    finally:
        safety.cancel()
    assert done == len(calls) == 3
    assert time.monotonic() - began >= 0.3, "no poll ran before this replica led"


def test_without_election_the_one_replica_always_leads() -> None:
    events: list[str] = []

    def no_api() -> client.ApiClient:
        raise AssertionError("no client is built when election is off")

    off = leadership(
        DaemonSettings(),
        no_api,
        on_gained=lambda: events.append("gained"),
        on_lost=lambda: events.append("lost"),
    )
    assert isinstance(off, AlwaysLeader) and off.is_leader()
    off.start()
    off.stop()
    assert events == ["gained", "lost"]
    on = leadership(DaemonSettings(leader_election=True), client.ApiClient)
    assert isinstance(on, LeaderElector) and not on.is_leader()
    assert on.identity == default_identity()


# --- timings refused at load ---


@pytest.mark.parametrize(
    ("daemon", "field", "says"),
    [
        ("lease_duration: 10\n  renew_deadline: 10", "daemon.renew_deadline", "shorter than"),
        ("renew_deadline: 2\n  retry_period: 2", "daemon.retry_period", "times 1.2"),
        ("lease_duration: 1.5", "daemon.lease_duration", "integer"),
        ("retry_period: 0", "daemon.retry_period", "greater than 0"),
    ],
)
def test_bad_timings_are_refused_naming_the_field(
    tmp_path: Path, daemon: str, field: str, says: str
) -> None:
    path = tmp_path / "healer.yaml"
    path.write_text(f"daemon:\n  leader_election: true\n  {daemon}\n")
    with pytest.raises(ConfigError) as refused:
        load_settings(str(path))
    assert refused.value.field == field
    assert says in refused.value.reason
    assert refused.value.line is not None


def test_a_bad_timing_from_the_environment_names_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HEALER_DAEMON__RETRY_PERIOD", "9")
    with pytest.raises(ConfigError) as refused:
        load_settings(None)
    assert refused.value.field == "HEALER_DAEMON__RETRY_PERIOD"
    assert "daemon.retry_period" in refused.value.reason


def test_a_stopping_leader_stops_acting_before_it_releases(cluster: Cluster) -> None:
    settings = DaemonSettings(lease_name=NAME, lease_namespace=NS, identity="a", **TIMINGS)
    holders: list[str] = []
    elector = LeaderElector(
        cluster.api,
        settings,
        on_lost=lambda: holders.append(cluster.lease().spec.holder_identity),
    )
    elector.start()
    wait_for(elector.is_leader)
    elector.stop()
    assert holders == ["a"], "on_lost ran while the Lease was still held"
    released = cluster.lease().spec
    assert (released.holder_identity, released.lease_duration_seconds) == ("", 1)
