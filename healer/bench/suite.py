"""Run many scenario files, optionally in parallel worker processes, in the order given.

Each scenario is seeded and runs against its own simulated cluster and its own store, so
where it runs changes nothing in its record: the records of `jobs=4` equal those of
`jobs=1`, in the same order, only sooner on a machine with the cores.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from healer.bench.run import run_scenario
from healer.bootstrap import build_simulated, scenario_from
from healer.config import Settings

Started = Callable[[Path], None]


def run_files(
    files: Sequence[Path],
    settings: Settings,
    *,
    jobs: int = 1,
    started: Started | None = None,
    baselines: bool = True,
) -> list[dict[str, Any]]:
    """Each file's scored record, in the order of `files`.

    Without `baselines` the operators' rules are not evaluated (most of a run's time), so
    a change to the healer can be measured in a fraction of the time.
    """
    if jobs <= 1 or len(files) <= 1:
        return [_run_one(file, settings, started, baselines) for file in files]
    with ProcessPoolExecutor(max_workers=min(jobs, len(files))) as pool:
        futures = [pool.submit(_run_one, file, settings, None, baselines) for file in files]
        records = []
        for file, future in zip(files, futures, strict=True):
            records.append(future.result())
            if started is not None:  # why: workers cannot print to the caller's console
                started(file)
        return records


def _run_one(
    file: Path, settings: Settings, started: Started | None, baselines: bool
) -> dict[str, Any]:
    if started is not None:
        started(file)
    scenario = scenario_from(str(file))
    with tempfile.TemporaryDirectory() as scratch:
        runtime = build_simulated(settings, scenario, store_url=f"sqlite:///{scratch}/bench.db")
        return run_scenario(scenario, runtime, baselines=baselines).record
