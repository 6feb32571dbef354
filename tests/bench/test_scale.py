"""The scale benchmark computes its numbers, and queries do not grow with services."""

from __future__ import annotations

from pathlib import Path

from healer.bench.scale import measure


def test_queries_per_poll_do_not_grow_with_services(tmp_path: Path) -> None:
    small = measure(5, f"sqlite:///{tmp_path}/a.db")
    large = measure(60, f"sqlite:///{tmp_path}/b.db")
    assert small.queries_per_poll["prometheus"] > 0
    for source in ("prometheus", "elasticsearch"):  # Kubernetes reads follow incidents
        assert small.queries_per_poll[source] == large.queries_per_poll[source]
    assert large.cpu_s_per_poll > 0 and large.wall_s_per_poll > 0 and large.peak_rss_mb > 0
