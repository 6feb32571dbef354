"""The cost of one poll as the cluster grows: queries per source, CPU, wall time, memory.

Each size runs in a fresh process (so peak RSS is that size's own) on a `fanout-N`
simulated cluster: warm the detector up, then time the healer's own work per poll —
the simulator's step is outside the measurement.
"""

from __future__ import annotations

import multiprocessing
import resource
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from rich.table import Table

from healer.bench.promserver import PrometheusFactory, find_binaries
from healer.bootstrap import build, build_simulated
from healer.config import Settings
from healer.errors import HealerError
from healer.pipeline.tick import tick
from healer.ports import MetricsSource
from healer.sim.scenario import Expect, Scenario
from healer.sim.serve import SimServer
from healer.sim.topology import builtin_topology

WARMUP_POLLS = 25  # enough for the detector's baselines to be ready
MEASURED_POLLS = 10
LIVE_POLLS = 5  # against a real Prometheus, in real time


@dataclass(frozen=True)
class ScaleRun:
    services: int
    queries_per_poll: dict[str, float]
    cpu_s_per_poll: float
    wall_s_per_poll: float
    peak_rss_mb: float

    def as_json(self) -> dict[str, Any]:
        return {
            "services": self.services,
            "queries_per_poll": self.queries_per_poll,
            "cpu_s_per_poll": round(self.cpu_s_per_poll, 4),
            "wall_s_per_poll": round(self.wall_s_per_poll, 4),
            "peak_rss_mb": round(self.peak_rss_mb, 1),
        }


def run_scale(sizes: Sequence[int], store_dir: str, *, prometheus: bool = False) -> list[ScaleRun]:
    """Each size in a fresh process; with `prometheus`, metrics come from a real one."""
    context = multiprocessing.get_context("spawn")
    runs = []
    with context.Pool(1, maxtasksperchild=1) as pool:
        for size in sizes:
            url = f"sqlite:///{store_dir}/scale-{size}.db"
            if prometheus:
                runs.append(pool.apply(measure_prometheus, (size, url, f"{store_dir}/prom-{size}")))
            else:
                runs.append(pool.apply(measure, (size, url)))
    return runs


def _fanout(services: int, *, tick: timedelta) -> Scenario:
    return Scenario(
        name=f"scale-{services}",
        seed=1,
        duration=timedelta(hours=1),
        tick=tick,
        topology=builtin_topology(f"fanout-{services - 1}"),
        expect=Expect(incident=False),
    )


def measure(services: int, store_url: str) -> ScaleRun:
    """One size, in this process: the healer over a fanout cluster of `services` services."""
    scenario = _fanout(services, tick=timedelta(seconds=15))
    runtime = build_simulated(Settings(), scenario, store_url=store_url)
    simulation = runtime.simulation
    assert simulation is not None
    for _ in range(WARMUP_POLLS):
        simulation.advance()
        tick(runtime.healer)
    before = _counts(runtime)
    cpu = wall = 0.0
    for _ in range(MEASURED_POLLS):
        simulation.advance()
        cpu_start, wall_start = time.process_time(), time.perf_counter()
        tick(runtime.healer)
        cpu += time.process_time() - cpu_start
        wall += time.perf_counter() - wall_start
    after = _counts(runtime)
    per_poll = {k: (after[k] - before[k]) / MEASURED_POLLS for k in after}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux reports KiB
    return ScaleRun(services, per_poll, cpu / MEASURED_POLLS, wall / MEASURED_POLLS, peak)


def measure_prometheus(services: int, store_url: str, workdir: str) -> ScaleRun:
    """One size against a real Prometheus scraping `healer sim serve`'s exposition.

    Logs and the cluster stay in process. CPU is this thread's only, so the simulator's
    own threads (stepping, rendering the exposition) are not counted as the healer's.
    """
    binaries = find_binaries()
    if binaries is None:
        raise HealerError("no prometheus binaries: run scripts/services first")
    scenario = _fanout(services, tick=timedelta(seconds=5))
    server = SimServer(scenario)
    server.start()
    Path(workdir).mkdir(parents=True, exist_ok=True)
    factory = PrometheusFactory(binaries, Path(workdir))
    try:
        host, port = server.address
        target = {"targets": [f"{host}:{port}"]}
        prom = factory.start(
            scrape_configs=[{"job_name": "sim", "honor_labels": True, "static_configs": [target]}],
            scrape_interval="5s",
        )
        return _measure_live(server, prom.url, services, store_url)
    finally:
        factory.stop_all()
        server.stop()


def _measure_live(server: SimServer, url: str, services: int, store_url: str) -> ScaleRun:
    settings = Settings.model_validate(
        {
            "sources": {"metrics": {"kind": "prometheus", "prometheus": {"url": url}}},
            "poll": {"interval": 5, "window": 30},
        }
    )
    runtime = build(settings, simulation=server.simulation)
    runtime.healer.logs = _Locked(server.lock, server.simulation.logs)
    runtime.healer.cluster = _Locked(server.lock, server.simulation.kube)
    metrics = runtime.healer.metrics
    _wait_for_series(metrics, services)
    before = metrics.queries  # type: ignore[attr-defined]
    cpu = wall = 0.0
    for _ in range(LIVE_POLLS):
        cpu_start, wall_start = time.thread_time(), time.perf_counter()
        tick(runtime.healer)
        cpu += time.thread_time() - cpu_start
        wall += time.perf_counter() - wall_start
        time.sleep(1.0)
    queries = (metrics.queries - before) / LIVE_POLLS  # type: ignore[attr-defined]
    counts = {"prometheus": queries, "elasticsearch": 1.0, "kubernetes": 0.0}
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return ScaleRun(services, counts, cpu / LIVE_POLLS, wall / LIVE_POLLS, peak)


def _wait_for_series(metrics: MetricsSource, services: int, within: float = 180.0) -> None:
    """Until Prometheus holds enough scrapes for rates over every service."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            found = metrics.snapshot(datetime.now(UTC))
            if len(found.services) >= services:
                return
        except HealerError:
            pass  # why: Prometheus may still be starting; this is a wait, not a verdict
        time.sleep(2.0)
    raise HealerError(f"Prometheus did not return all {services} services within {within:.0f}s")


class _Locked:
    """Calls into the simulator under its server's lock (its clock ticks in a thread)."""

    def __init__(self, lock: Any, target: Any) -> None:
        self._lock, self._target = lock, target

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._target, name)
        if not callable(attribute):
            return attribute

        def locked(*args: Any, **kwargs: Any) -> Any:
            with self._lock:
                return attribute(*args, **kwargs)

        return locked


def _counts(runtime: Any) -> dict[str, float]:
    simulation = runtime.simulation
    return {
        "prometheus": float(simulation.metrics.queries),
        "elasticsearch": float(simulation.logs.queries),
        "kubernetes": float(simulation.kube.calls),
    }


def table(runs: Sequence[ScaleRun]) -> Table:
    out = Table(title="Cost of one poll", title_justify="left")
    for column in (
        "services",
        "prometheus q",
        "elasticsearch q",
        "kubernetes calls",
        "cpu s/poll",
        "wall s/poll",
        "peak RSS MB",
    ):
        out.add_column(column, justify="right")
    for r in runs:
        q = r.queries_per_poll
        out.add_row(
            str(r.services),
            f"{q['prometheus']:g}",
            f"{q['elasticsearch']:g}",
            f"{q['kubernetes']:g}",
            f"{r.cpu_s_per_poll:.4f}",
            f"{r.wall_s_per_poll:.4f}",
            f"{r.peak_rss_mb:.0f}",
        )
    return out
