"""A leak as the metrics sources see it: memory climbing to the limit, then OOM kills."""

from __future__ import annotations

from datetime import timedelta

from healer.adapters.prometheus import BUILTIN, Scope
from healer.adapters.prometheus.queries import signal_queries
from healer.domain.model import Signal
from healer.sim.exposition import Exposition

from .test_more_faults import faulted, value


def test_sim_metrics_see_a_leak_fill_memory_and_kill_containers() -> None:
    sim = faulted("memory_leak", "cartservice", {"minutes_to_oom": 20}, until_min=125)
    assert value(sim, "cartservice", Signal.MEMORY_UTILISATION, 90) < 0.7, "at rest before"
    assert value(sim, "cartservice", Signal.RESTARTS, 90) == 0
    assert value(sim, "cartservice", Signal.MEMORY_UTILISATION, 112) >= 0.8, "climbing"
    assert value(sim, "cartservice", Signal.RESTARTS, 125) >= 1, "killed at the limit"
    assert value(sim, "cartservice", Signal.OOM_KILLED, 125) >= 1
    assert value(sim, "frontend", Signal.RESTARTS, 125) == 0, "only the leaking service"


def test_the_exposition_names_them_as_cadvisor_and_kube_state_metrics_do() -> None:
    sim = faulted("memory_leak", "cartservice", {"minutes_to_oom": 20}, until_min=125)
    text = Exposition(sim.cluster).render()
    assert 'container_memory_working_set_bytes{namespace="' in text
    assert 'resource="memory",unit="byte"' in text
    assert "kube_pod_container_status_restarts_total{" in text
    oom = [line for line in text.splitlines() if 'reason="OOMKilled"' in line]
    assert oom and all('service="cartservice"' in line for line in oom)


def test_the_prometheus_profile_reads_each_in_one_query() -> None:
    scope = Scope('cluster="a"', timedelta(minutes=1), "service", "namespace")
    queries = {q.signal: q.promql for q in signal_queries([BUILTIN["cadvisor"]], scope)}
    memory = queries[Signal.MEMORY_UTILISATION]
    assert "container_memory_working_set_bytes" in memory and 'resource="memory"' in memory
    assert "max by (container, namespace)" in memory, "the fullest container counts"
    restarts = queries[Signal.RESTARTS]
    assert 'increase(kube_pod_container_status_restarts_total{cluster="a",}[900s])' in restarts
    assert 'reason="OOMKilled",cluster="a",' in queries[Signal.OOM_KILLED]
