"""A real Prometheus for integration tests, from Debian's package.

`scripts/services` unpacks the `prometheus` package into `.cache/prometheus-root` (the
binaries on PATH serve too). The session-scoped `prometheus` fixture is a factory: it
starts a server with a given scrape config and data directory on a free loopback port,
waits for `/-/ready`, and stops every server it started when the session ends;
`backfill` writes OpenMetrics history into a data directory with `promtool`.
Missing binaries fail these tests unless HEALER_SKIP_PROMETHEUS=1.
"""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from healer.bench.promserver import (
    CACHED,
    Binaries,
    PrometheusFactory,
    PrometheusServer,
    find_binaries,
    free_port,
    wait_ready,
)

__all__ = ["Binaries", "PrometheusFactory", "PrometheusServer", "free_port", "wait_ready"]


@pytest.fixture(scope="session")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrometheusFactory]:
    """Starts real Prometheus servers on demand; all are stopped after the session."""
    if os.environ.get("HEALER_SKIP_PROMETHEUS") == "1":
        pytest.skip("HEALER_SKIP_PROMETHEUS=1")
    binaries = find_binaries()
    if binaries is None:
        pytest.fail(
            f"no prometheus/promtool binaries in {CACHED} or on PATH: run scripts/services "
            "(it unpacks Debian's prometheus package there), or set HEALER_SKIP_PROMETHEUS=1",
            pytrace=False,
        )
    factory = PrometheusFactory(binaries, tmp_path_factory.mktemp("prometheus"))
    yield factory
    factory.stop_all()
