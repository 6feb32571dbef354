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
from datetime import timedelta
from typing import Any

from rich.table import Table

from healer.bootstrap import build_simulated
from healer.config import Settings
from healer.pipeline.tick import tick
from healer.sim.scenario import Expect, Scenario
from healer.sim.topology import builtin_topology

WARMUP_POLLS = 25  # enough for the detector's baselines to be ready
MEASURED_POLLS = 10


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


def run_scale(sizes: Sequence[int], store_dir: str) -> list[ScaleRun]:
    context = multiprocessing.get_context("spawn")
    with context.Pool(1, maxtasksperchild=1) as pool:
        return [
            pool.apply(measure, (size, f"sqlite:///{store_dir}/scale-{size}.db")) for size in sizes
        ]


def measure(services: int, store_url: str) -> ScaleRun:
    """One size, in this process: the healer over a fanout cluster of `services` services."""
    scenario = Scenario(
        name=f"scale-{services}",
        seed=1,
        duration=timedelta(minutes=15),
        tick=timedelta(seconds=15),
        topology=builtin_topology(f"fanout-{services - 1}"),
        expect=Expect(incident=False),
    )
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
