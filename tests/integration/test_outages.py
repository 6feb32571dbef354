"""Sources failing under a running healer, through the real adapters.

A bad deploy is under way when Prometheus goes away (the real adapter against a closed
port), or Elasticsearch starts answering 503/429 (the real client against the
emulator). The healer must hold and say so, open and close nothing on missing data,
never crash, and carry on when the source returns.
"""

from __future__ import annotations

import logging
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from healer.adapters.elasticsearch import ElasticsearchLogs
from healer.adapters.prometheus import PrometheusMetrics
from healer.bootstrap import Runtime, build_simulated, scenario_from
from healer.config import ElasticsearchSettings, PrometheusSettings, Settings
from healer.domain.model import EventKind, Incident
from healer.pipeline.tick import TickReport, tick
from healer.sim.shipping import LogShipper
from tests.emulators.elasticsearch import ElasticsearchEmulator

pytestmark = pytest.mark.slow
ONSET_TICK = 380  # the built-in bad-deploy scenario's fault starts at 95 minutes


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


@pytest.fixture
def runtime(tmp_path: Path) -> Runtime:
    return build_simulated(
        Settings(), scenario_from("bad-deploy"), store_url=f"sqlite:///{tmp_path}/h.db"
    )


@pytest.fixture
def elasticsearch() -> Iterator[ElasticsearchEmulator]:
    with ElasticsearchEmulator() as emulator:
        yield emulator


def poll(runtime: Runtime, times: int) -> list[TickReport]:
    assert runtime.simulation is not None
    reports = []
    for _ in range(times):
        runtime.simulation.advance()
        reports.append(tick(runtime.healer))
    return reports


def incidents(runtime: Runtime) -> list[Incident]:
    with runtime.store.unit() as uow:
        return uow.list_incidents()


def test_prometheus_down_holds_the_incident_then_it_carries_on(runtime: Runtime) -> None:
    poll(runtime, ONSET_TICK + 6)
    [incident] = incidents(runtime)
    status = incident.status
    in_process = runtime.healer.metrics
    runtime.healer.metrics = PrometheusMetrics.from_settings(
        PrometheusSettings(url=f"http://127.0.0.1:{closed_port()}", timeout=0.5), token=None
    )
    held = poll(runtime, 20)
    assert all(r.held and "metrics unavailable" in r.held for r in held)
    [during] = incidents(runtime)
    assert during.status is status, "nothing advances, resolves or escalates on no data"
    with runtime.store.unit() as uow:
        kinds = [e.kind for e in uow.events(incident.id)]
    assert kinds.count(EventKind.HELD) == 1, "said once on the timeline, not every poll"

    runtime.healer.metrics = in_process
    poll(runtime, 60)
    [after] = incidents(runtime)
    assert after.status.is_closed, "the healer picked up where it left off"
    assert after.diagnosis is not None and after.diagnosis.root.name == "cartservice"


def test_elasticsearch_errors_leave_the_metrics_to_judge(
    runtime: Runtime, elasticsearch: ElasticsearchEmulator, caplog: pytest.LogCaptureFixture
) -> None:
    shipper = LogShipper([elasticsearch.url], "logs-sim")
    assert runtime.simulation is not None
    runtime.healer.logs = ElasticsearchLogs.from_settings(
        ElasticsearchSettings(hosts=[elasticsearch.url], index="logs-*"),
        api_key=None,
        password=None,
    )
    poll(runtime, 40)  # the logs source is healthy and read every poll
    elasticsearch.inject("503", 10)
    elasticsearch.inject("429", 10)
    with caplog.at_level(logging.WARNING, logger="healer.pipeline.tick"):
        reports = poll(runtime, 20)
    assert all(r.held is None for r in reports), "metrics still answer, so no hold"
    assert all(r.logs_unavailable for r in reports), "each poll says it judged without logs"
    assert any("logs unavailable" in m for m in caplog.messages), "and the log says so"
    assert incidents(runtime) == [], "no incident from an unreadable log source"
    shipper.close()
