"""Exactly once, across processes: two replicas sharing a Lease and a PostgreSQL store,
and a replica killed in the middle of a change.

Both tests run `healer run` processes against `healer sim serve` with the real adapters
(Prometheus, the Elasticsearch emulator, the simulated cluster's Kubernetes API) and
judge by the cluster's own record of the changes made to it (`/-/state`).
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client, config
from sqlalchemy import create_engine, text

from healer.adapters.store import SqlStore
from healer.config import LEASE_JITTER
from tests.emulators.elasticsearch import ElasticsearchEmulator
from tests.integration.conftest import PrometheusFactory
from tests.integration.processes import (
    Replica,
    Sim,
    postgres_database,
    settings_for,
    wait_for,
)

pytestmark = pytest.mark.slow

TARGETS = ("cartservice", "productcatalogservice", "currencyservice", "shippingservice")
REPETITIONS = 20
FIRST_S, SPACING_S = 90, 30
LEASE = {"lease_duration": 4, "renew_deadline": 3.0, "retry_period": 0.5}
# why: Prometheus starts with the test, so there is no history to seed baselines from;
# learn them over a minute of one-second polls before the first fault
COLD_START = {"detection": {"warmup_polls": 60}}
POLICY = """\
environment: test
default: auto
bounds: {min_replicas: 1, max_replicas: 20, max_scale_factor: 3, max_pool_size: 50}
rate_limit: {max_actions: 100, window: 1h, cooldown: 10s}
rules:
  - name: auto
    outcome: auto
"""


@pytest.fixture
def elasticsearch() -> Iterator[ElasticsearchEmulator]:
    with ElasticsearchEmulator() as emulator:
        yield emulator


def scenario(path: Path, faults: list[dict[str, Any]], minutes: int) -> str:
    path.write_text(
        yaml.safe_dump(
            {
                "name": path.stem,
                "seed": 11,
                "duration": f"{minutes}m",
                "tick": "1s",
                "topology": "online-boutique",
                "traffic": {
                    "base_rps": 270,
                    "diurnal_amplitude": 0.0,
                    "weekly_amplitude": 0.0,
                    "noise": 0.05,
                },
                "faults": faults,
                "policy": "auto",
            }
        )
    )
    return str(path)


def bad_deploy(at: int, target: str) -> dict[str, Any]:
    return {"at": f"{at}s", "kind": "bad_deploy", "target": target, "params": {"error_rate": 0.3}}


@dataclass
class LeaseWatch:
    """Who holds the Lease, sampled every 0.1 s: (monotonic time, holder)."""

    sim: Sim
    seen: list[tuple[float, str]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)

    def __post_init__(self) -> None:
        self.api = config.new_client_from_config(config_file=str(self.sim.kubeconfig()))
        self.leases = client.CoordinationV1Api(self.api)
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.1):
            try:
                lease = self.leases.read_namespaced_lease("healer", "default")
                holder = lease.spec.holder_identity or ""
            except client.ApiException:
                holder = ""
            if not self.seen or self.seen[-1][1] != holder:
                self.seen.append((time.monotonic(), holder))

    def holder(self) -> str:
        return self.seen[-1][1] if self.seen else ""

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.api.close()


def test_two_replicas_one_acts_hands_over_and_nothing_runs_twice(
    prometheus: PrometheusFactory, elasticsearch: ElasticsearchEmulator, tmp_path: Path
) -> None:
    faults = [bad_deploy(FIRST_S + SPACING_S * i, TARGETS[i % 4]) for i in range(REPETITIONS)]
    minutes = (FIRST_S + SPACING_S * REPETITIONS) // 60 + 5
    sim = Sim(
        scenario(tmp_path / "repeated.yaml", faults, minutes),
        tmp_path,
        elasticsearch.url,
        "logs-ha",
    )
    policy = tmp_path / "policy.yaml"
    policy.write_text(POLICY)
    replicas: dict[str, Replica] = {}
    handovers: list[float] = []
    with postgres_database() as store_url:
        try:
            sim.start()
            server = prometheus.start(scrape_configs=[sim.scrape_config("ha")])
            for name in ("a", "b"):
                daemon = {"leader_election": True, "identity": name, **LEASE}
                settings = settings_for(
                    sim,
                    prometheus=server.url,
                    store=store_url,
                    cluster="ha",
                    poll=1,
                    window=5,
                    daemon=daemon,
                    policy=policy,
                    extra=COLD_START,
                )
                replicas[name] = Replica(name, settings, tmp_path).start()
            watch = LeaseWatch(sim)
            wait_for(lambda: watch.holder() in replicas, 60, "a leader")
            start = datetime.fromisoformat(sim.state()["start"]).timestamp()
            for i in range(REPETITIONS):
                onset = start + FIRST_S + SPACING_S * i
                _sleep_until(onset + (2 + 5 * (i % 3)))  # at detection, action or verification
                if i % 4 in (1, 3):
                    how = signal.SIGTERM if i % 4 == 1 else signal.SIGKILL
                    handovers.append(_hand_over(watch, replicas, how))
            _sleep_until(start + FIRST_S + SPACING_S * REPETITIONS + 20)
            state = sim.state()
            events = _events_by_instance(sim)
            seen = list(watch.seen)
            watch.close()
        finally:
            for replica in replicas.values():
                replica.stop(signal.SIGTERM)
            sim.stop()
        results = _results(store_url)
    _report(state, handovers, seen)
    # every fault was rolled back, once: the cluster's own record
    rollbacks = [c for c in state["changes"] if c["action"] == "rollback"]
    per_service = {t: sum(c["service"] == t for c in rollbacks) for t in TARGETS}
    assert per_service == {t: REPETITIONS // 4 for t in TARGETS}, per_service
    assert state["faults"] == [], "no bad deploy is left running"
    # nothing ran twice: each change the cluster saw is one recorded, successful step
    real = [r for r in results if r["ok"] and not r["key"].endswith(":dry")]
    assert all(r["ok"] is not None for r in results), "no intent is left unsettled"
    assert len(state["changes"]) == len(real), (state["changes"], real)
    assert len({r["key"] for r in real}) == len(real)
    # exactly one acted at a time: every Event came from the replica holding the Lease
    for instance, at in events:
        assert instance in replicas, instance
        assert _held_by(seen, at, instance), (instance, at, seen)
    # a stopped leader hands over within the lease duration
    assert len(handovers) == REPETITIONS // 2
    # A killed leader's Lease runs out after lease_duration; the follower sees it at its
    # next try (retry_period, with jitter); a second covers this loaded test machine.
    bound = LEASE["lease_duration"] + LEASE["retry_period"] * LEASE_JITTER + 1.0
    assert max(handovers) <= bound, handovers


def _sleep_until(when: float) -> None:
    time.sleep(max(0.0, when - time.time()))


def _hand_over(watch: LeaseWatch, replicas: dict[str, Replica], how: signal.Signals) -> float:
    """Stop the leader; return seconds until the other holds the Lease; restart it."""
    leader = watch.holder()
    other = next(n for n in replicas if n != leader)
    stopped = time.monotonic()
    replicas[leader].stop(how)
    wait_for(lambda: watch.holder() == other, 30, f"{other} to take over from {leader}", 0.05)
    took = time.monotonic() - stopped
    replicas[leader].start()  # back as the follower
    return took


def _results(store_url: str) -> list[dict[str, Any]]:
    """Every step the healer recorded (intent and result) in the shared store."""
    engine = create_engine(store_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(text("SELECT key, action, ok, detail FROM actions"))
            return [dict(row._mapping) for row in rows]
    finally:
        engine.dispose()


def _events_by_instance(sim: Sim) -> list[tuple[str, float]]:
    """(reportingInstance, monotonic time seen) of each Event the healer posted."""
    api = config.new_client_from_config(config_file=str(sim.kubeconfig()))
    try:
        events = client.CoreV1Api(api).list_namespaced_event("boutique").items
    finally:
        api.close()
    offset = time.monotonic() - time.time()
    return [
        (e.reporting_instance or "", e.last_timestamp.timestamp() + offset)
        for e in events
        if e.source and e.source.component == "healer"
    ]


def _held_by(seen: list[tuple[float, str]], at: float, instance: str, slack: float = 1.0) -> bool:
    """Whether `instance` held the Lease at `at` (give or take a sampling interval)."""
    for (since, holder), nxt in zip(seen, [*seen[1:], (float("inf"), "")], strict=True):
        if holder == instance and since - slack <= at <= nxt[0] + slack:
            return True
    return False


def _report(state: dict[str, Any], handovers: list[float], seen: list[tuple[float, str]]) -> None:
    print(f"changes: {len(state['changes'])}; handovers (s): {[round(h, 2) for h in handovers]}")
    print(f"lease holders: {[h for _, h in seen]}")


@pytest.mark.parametrize("apply", [True, False], ids=["landed", "lost"])
def test_a_change_cut_short_by_sigkill_is_settled_at_restart(
    prometheus: PrometheusFactory, elasticsearch: ElasticsearchEmulator, tmp_path: Path, apply: bool
) -> None:
    target = "cartservice"
    path = scenario(tmp_path / "cut-short.yaml", [bad_deploy(75, target)], 8)
    sim = Sim(path, tmp_path, elasticsearch.url, "logs-kill")
    replica: Replica | None = None
    try:
        sim.start()
        server = prometheus.start(scrape_configs=[sim.scrape_config("kill")])
        store_url = f"sqlite:///{tmp_path / 'healer.db'}"
        settings = settings_for(
            sim,
            prometheus=server.url,
            store=store_url,
            cluster="kill",
            poll=1,
            window=5,
            policy=tmp_path / "policy.yaml",
            extra=COLD_START,
        )
        (tmp_path / "policy.yaml").write_text(POLICY)
        sim.stall(writes=1, seconds=120, apply=apply)
        replica = Replica("solo", settings, tmp_path).start()
        wait_for(lambda: sim.stalls()["holding"] == 1, 240, "the rollback to be sent")
        changes_while_held = len(sim.state()["changes"])
        replica.stop(signal.SIGKILL)  # between the intent and its result
        pending = _pending(store_url)
        sim.stall(writes=0, seconds=0)  # lets the held request go (its client is gone)
        replica.start()
        wait_for(lambda: _settled(store_url), 120, "the intent to be settled")
        wait_for(lambda: sim.state()["faults"] == [], 60, "the bad deploy to be gone")
        time.sleep(5)  # a few more polls: nothing may be sent again
        state = sim.state()
    finally:
        if replica is not None:
            replica.stop(signal.SIGTERM)
        sim.stop()
    assert [p["action"] for p in pending] == ["rollback"], pending
    assert changes_while_held == (1 if apply else 0)
    rollbacks = [c for c in state["changes"] if c["action"] == "rollback"]
    assert len(rollbacks) == 1, state["changes"]
    assert rollbacks[0]["args"] == {"to_revision": pending[0]["args"]["to_revision"]}
    [result] = [r for r in _results(store_url) if r["key"] == pending[0]["key"]]
    assert result["ok"]
    assert ("confirmed after a restart" in result["detail"]) == apply, result


def _pending(store_url: str) -> list[dict[str, Any]]:
    store = SqlStore(store_url)
    with store.unit() as uow:
        found = [
            {"key": p.key, "action": p.action, "args": dict(p.args)} for p in uow.pending_intents()
        ]
    store.close()
    return found


def _settled(store_url: str) -> bool:
    return _pending(store_url) == []
