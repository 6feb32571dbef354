"""`healer sim serve`: the HTTP server, its real-time clock and log shipping; the
real-time scenarios; and the simulator's realism with 1 s ticks."""

from __future__ import annotations

import dataclasses
import json
import random
import socket
import statistics
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from healer.domain.model import LogRecord, Signal
from healer.sim import Simulation, scenario_by_name
from healer.sim.chaos import Chaos
from healer.sim.exposition import HTTP
from healer.sim.logs import LogContext, count_lines
from healer.sim.physics import ServiceTick
from healer.sim.scenario import Realism, Scenario, Traffic
from healer.sim.serve import (
    Request,
    Response,
    Router,
    SimServer,
    realtime_scenarios,
    scenario_named,
    serve_forever,
)
from healer.sim.topology import ServiceSpec
from healer.sim.traffic import EntryTraffic
from healer.sim.workloads import Deployment

from .helpers import uncured


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    try:
        with urllib.request.urlopen(url, timeout=5) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, dict(exc.headers), exc.read()


def state(server: SimServer) -> dict[str, Any]:
    status, _, body = get(f"{server.url}/-/state")
    assert status == 200
    found: dict[str, Any] = json.loads(body)
    return found


def wait_for(check: Callable[[], bool], within: float = 5.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def quick(name: str = "steady-state-rt", **changes: Any) -> Scenario:
    return dataclasses.replace(scenario_named(name), **changes)


@pytest.fixture
def running() -> Iterator[Callable[..., SimServer]]:
    started: list[SimServer] = []

    def start(scenario: Scenario | None = None, **kwargs: Any) -> SimServer:
        server = SimServer(scenario or quick(), **kwargs)
        server.start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


class Collecting:
    def __init__(self, fail: bool = False) -> None:
        self.batches: list[Sequence[LogRecord]] = []
        self.fail = fail

    def ship(self, records: Sequence[LogRecord]) -> int:
        if self.fail:
            raise ConnectionError("elasticsearch: connection refused")
        self.batches.append(records)
        return len(records)


# --- the server ---


def test_serves_metrics_and_moves_in_real_time(running: Callable[..., SimServer]) -> None:
    server = running(speed=40.0)  # 1 s ticks, one every 25 ms
    status, headers, body = get(f"{server.url}/metrics")
    assert status == 200
    assert headers["Content-Type"].startswith("text/plain; version=0.0.4")
    assert b"# TYPE container_cpu_usage_seconds_total counter" in body
    first = state(server)
    time.sleep(0.5)
    second = state(server)
    moved = datetime.fromisoformat(second["now"]) - datetime.fromisoformat(first["now"])
    assert 8 <= second["ticks"] - first["ticks"] <= 40
    assert moved == timedelta(seconds=second["ticks"] - first["ticks"])
    _, _, later = get(f"{server.url}/metrics")
    assert f"{HTTP}_count".encode() in later  # traffic has flowed meanwhile
    assert get(f"{server.url}/healthz")[:1] == (200,)


def test_sim_time_is_the_wall_clock_at_speed_one(running: Callable[..., SimServer]) -> None:
    server = running(quick(tick=timedelta(milliseconds=200)), speed=1.0)
    start = server.simulation.start.timestamp()
    # floored to the tick (to float precision: a 2026 timestamp over 0.2 s is ~9e9)
    assert abs(start / 0.2 - round(start / 0.2)) < 1e-4
    assert 0 <= time.time() - start < 0.25
    time.sleep(0.7)
    now = datetime.fromisoformat(state(server)["now"]).timestamp()
    assert 0 <= time.time() - now < 0.2 + 0.3  # one tick behind at most, plus scheduling


def test_stop_is_clean(running: Callable[..., SimServer]) -> None:
    server = running(speed=40.0)
    url, threads = server.url, list(server._threads)
    server.stop()
    assert not any(thread.is_alive() for thread in threads)
    ticks = server.simulation.cluster.ticks
    time.sleep(0.1)
    assert server.simulation.cluster.ticks == ticks
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(f"{url}/healthz", timeout=2)
    server.stop()  # twice is harmless
    with pytest.raises(RuntimeError):
        server.start()


def test_routes_answer_404_and_405(running: Callable[..., SimServer]) -> None:
    server = running()
    assert get(f"{server.url}/nope")[0] == 404
    request = urllib.request.Request(f"{server.url}/metrics", data=b"{}", method="POST")
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=5)
    with refused.value as answer:
        assert answer.code == 405
        assert answer.headers["Allow"] == "GET"


def test_router_passes_named_groups_and_survives_a_broken_handler(
    running: Callable[..., SimServer],
) -> None:
    router = Router()
    router.add(
        "GET",
        r"/apis/apps/v1/namespaces/(?P<ns>[^/]+)/deployments",
        lambda r: Response.json(r.params),
    )
    answer = router.dispatch(Request("GET", "/apis/apps/v1/namespaces/boutique/deployments"))
    assert json.loads(answer.body) == {"ns": "boutique"}
    server = running()

    def broken(_: Request) -> Response:
        raise RuntimeError("bug")

    server.router.add("GET", "/broken", broken)
    assert get(f"{server.url}/broken")[0] == 500
    assert get(f"{server.url}/healthz")[0] == 200


def test_state_reports_faults_and_replicas(running: Callable[..., SimServer]) -> None:
    scenario = scenario_named("pool-exhaustion-rt")
    early = dataclasses.replace(scenario.faults[0], at=timedelta(seconds=3))
    server = running(dataclasses.replace(scenario, faults=(early,)), speed=50.0)
    wait_for(lambda: bool(state(server)["faults"]))
    found = state(server)
    assert found["scenario"] == "pool-exhaustion-rt"
    assert found["faults"][0]["kind"] == "pool_exhaustion"
    assert found["faults"][0]["service"] == "checkoutservice"
    assert found["services"]["frontend"] == found["services"]["frontend"] | {
        "namespace": "boutique",
        "replicas": 3,
        "ready": 3,
    }


def test_each_ticks_log_lines_are_shipped(running: Callable[..., SimServer]) -> None:
    shipper = Collecting()
    server = running(speed=50.0, shipper=shipper)
    wait_for(lambda: len(shipper.batches) >= 5)
    server.stop()
    ticks = {lt.until: lt for lt in server.simulation.cluster.log_ticks}
    for batch in shipper.batches:
        assert batch
        owner = [lt for lt in ticks.values() if lt.since < batch[0].at <= lt.until]
        assert len(owner) == 1 and tuple(batch) == owner[0].records
    assert server.shipped == sum(len(b) for b in shipper.batches)


def test_a_failing_shipper_does_not_stop_the_clock(running: Callable[..., SimServer]) -> None:
    server = running(speed=50.0, shipper=Collecting(fail=True))
    wait_for(lambda: state(server)["logs"]["failures"] >= 3)
    assert state(server)["ticks"] >= 3


def test_serve_forever_runs_until_told_to_stop() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    stop = threading.Event()
    thread = threading.Thread(
        target=serve_forever,
        args=("127.0.0.1", port, "steady-state-rt", 20.0, None),
        kwargs={"stop": stop},
    )
    thread.start()
    try:
        wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"))
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()


def _answers(url: str) -> bool:
    try:
        return get(url)[0] == 200
    except urllib.error.URLError:
        return False


def test_truth_is_trimmed_on_a_long_run() -> None:
    server = SimServer(quick(), speed=1.0)
    cluster = server.simulation.cluster
    cluster.scrapes.retention_s = 30.0  # why: two hours of 1 s ticks would take a minute
    keep = 31
    for _ in range(2 * keep + 2):
        server._tick()
    assert keep <= len(cluster.truth) <= 2 * keep


# --- the real-time scenarios ---


BUILTIN = {name: name.removesuffix("-rt") for name in realtime_scenarios()}


def test_realtime_scenarios_mirror_the_builtins() -> None:
    assert set(BUILTIN.values()) == {
        "steady-state", "pool-exhaustion", "cpu-saturation", "bad-deploy", "slow-dependency",
    }  # fmt: skip
    for name, base in BUILTIN.items():
        rt, builtin = scenario_named(name), scenario_by_name(base)
        assert rt.tick == timedelta(seconds=1)
        assert timedelta(minutes=8) <= rt.duration <= timedelta(minutes=12)
        assert rt.expect == builtin.expect and rt.topology == builtin.topology
        for mine, theirs in zip(rt.faults, builtin.faults, strict=True):
            assert timedelta(minutes=2) <= mine.at <= timedelta(minutes=3)
            assert (mine.kind, mine.target, mine.params) == (
                theirs.kind,
                theirs.target,
                theirs.params,
            )


def _after_onset(sim: Simulation, a: float, b: float) -> tuple[float, float]:
    """The fault target's median p99 and mean 5xx ratio over minutes [a, b)."""
    ref = sim.scenario.ref(sim.scenario.faults[0].target)
    window = [x for x in sim.cluster.truth if a <= (x.at - sim.start).total_seconds() / 60 < b]
    return (
        statistics.median(x.p99[ref] for x in window),
        statistics.mean(x.error_ratio[ref] for x in window),
    )


@pytest.mark.parametrize("name", [n for n in BUILTIN if n != "steady-state-rt"])
def test_realtime_faults_hit_as_hard_as_the_builtins(name: str) -> None:
    sunday_night = datetime(2026, 1, 11, 3, 0, tzinfo=UTC)  # why: no daily cycle to lean on
    rt = Simulation(scenario_named(name), start=sunday_night)
    rt.run_until(rt.end)
    p99, errors = _after_onset(rt, 6.0, 10.0)
    builtin_p99, builtin_errors = _after_onset(uncured(BUILTIN[name]), 101.0, 105.0)
    assert p99 == pytest.approx(builtin_p99, rel=0.2)
    assert errors == pytest.approx(builtin_errors, abs=0.05)


# --- realism with 1 s ticks ---


def _per_minute(tick_s: float, minutes: int = 30) -> tuple[list[float], float]:
    scenario = dataclasses.replace(
        scenario_named("steady-state-rt"),
        tick=timedelta(seconds=tick_s),
        duration=timedelta(minutes=minutes),
    )
    sim = Simulation(scenario)
    frontend, p99s = scenario.ref("frontend"), []
    for minute in range(2, minutes + 1):
        sim.run_until(sim.start + timedelta(minutes=minute))
        value = sim.metrics.snapshot(sim.clock.now()).value(frontend, Signal.LATENCY_P99)
        if value is not None:
            p99s.append(value)
    lines = sum(sum(lt.totals.values()) for lt in sim.cluster.log_ticks)
    return p99s, lines / minutes


def test_a_minute_is_as_noisy_with_one_second_ticks() -> None:
    coarse, coarse_lines = _per_minute(15.0)
    fine, fine_lines = _per_minute(1.0)
    spread = statistics.pstdev(fine) / statistics.median(fine)
    assert spread == pytest.approx(statistics.pstdev(coarse) / statistics.median(coarse), rel=0.5)
    assert fine_lines == pytest.approx(coarse_lines, rel=0.2)  # log noise per minute, not per tick


def _java() -> Deployment:
    spec = ServiceSpec("adservice", language="java")
    return Deployment(spec, datetime(2026, 1, 5, tzinfo=UTC), random.Random(1))


def test_a_spell_of_noise_lasts_fifteen_seconds_whatever_the_tick() -> None:
    chaos = Chaos(Realism(), 1.0, random.Random(2), random.Random(3))
    dep = _java()
    jitters = [chaos.noise(dep).jitter for _ in range(60)]
    assert [len(set(jitters[i : i + 15])) for i in range(0, 60, 15)] == [1, 1, 1, 1]
    assert len(set(jitters)) == 4


def test_gc_pauses_per_hour_do_not_depend_on_the_tick() -> None:
    def pauses(tick_s: float) -> int:
        realism = dataclasses.replace(Realism(), gc_pauses_per_hour=20.0)
        chaos = Chaos(realism, tick_s, random.Random(4), random.Random(5))
        dep = _java()
        tails = [chaos.noise(dep).tail for _ in range(int(20 * 3600 / tick_s))]
        return sum(1 for i, x in enumerate(tails) if x > 2.2 and (i == 0 or tails[i - 1] != x))

    # 20 pauses an hour, twice as likely on a JVM, over 20 hours
    assert pauses(15.0) == pytest.approx(800, rel=0.2)
    assert pauses(1.0) == pytest.approx(800, rel=0.2)


def test_warm_up_after_a_restart_lasts_about_thirty_seconds() -> None:
    chaos = Chaos(Realism(), 1.0, random.Random(6), random.Random(7))
    dep = _java()
    chaos.noise(dep)
    dep.cold = 2  # what a rollout leaves behind
    colds = [chaos.noise(dep).cold for _ in range(60)]
    assert 15 <= sum(1 for c in colds if c > 1.0) <= 31
    assert colds[-1] == 1.0


def test_traffic_bursts_last_fifteen_to_fortyfive_seconds() -> None:
    traffic = Traffic(
        base_rps=100, diurnal_amplitude=0, weekly_amplitude=0, noise=0, bursts_per_hour=30
    )
    entry = EntryTraffic(traffic, random.Random(8), 1.0)
    at = datetime(2026, 1, 5, 12, tzinfo=UTC)
    rates = [entry.rate(at) for _ in range(4 * 3600)]
    runs, length = [], 0
    for rate in rates:
        if rate > 110:
            length += 1
        elif length:
            runs.append(length)
            length = 0
    assert len(runs) > 50
    assert all(run % 15 == 0 and 15 <= run <= 90 for run in runs)  # back-to-back bursts add


def test_log_noise_and_refused_connections_scale_with_the_tick() -> None:
    def lines(tick_s: float, kind: str) -> int:
        rng = random.Random(9)
        since = datetime(2026, 1, 5, tzinfo=UTC)
        until = since + timedelta(seconds=tick_s)
        tick = ServiceTick(100.0, 0.01, 0.05, 3.0)
        tick.pool = dataclasses.replace(tick.pool, starved_pods=1)
        ctx = LogContext(ServiceSpec("svc").ref, ServiceSpec("svc"), tick, 0, since, until)
        return sum(count_lines(ctx, rng).get(kind, 0) for _ in range(int(7200 / tick_s)))

    for kind in ("noise", "too_many_clients"):
        assert lines(1.0, kind) == pytest.approx(lines(15.0, kind), rel=0.2), kind
