"""The fixture's other path: a Prometheus that scrapes a live target every second.

A tiny exposition endpoint stands in for a service; the adapter reads what Prometheus
scraped from it "now", the way the daemon does against a real cluster.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from healer.adapters.prometheus import PrometheusMetrics
from healer.config import PrometheusSettings
from healer.domain.model import MetricsSnapshot, ServiceRef, Signal

from .conftest import PrometheusFactory

WEB = ServiceRef("live", "web")


class Exposition(BaseHTTPRequestHandler):
    """Prometheus text format: web served 10 requests a second since it started."""

    started = time.monotonic()

    def do_GET(self) -> None:
        served = 10.0 * (time.monotonic() - self.started)
        body = (
            "# TYPE http_requests_total counter\n"
            f'http_requests_total{{service="web",namespace="live",code="200"}} {served}\n'
            "# TYPE kube_deployment_status_replicas_available gauge\n"
            'kube_deployment_status_replicas_available{deployment="web",namespace="live"} 3\n'
        ).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain; version=0.0.4")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # why: Prometheus scrapes every second; keep the test output clean


@pytest.fixture
def target() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Exposition)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.01,), daemon=True)
    thread.start()
    yield f"127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


def test_reads_what_a_live_prometheus_scraped(prometheus: PrometheusFactory, target: str) -> None:
    job = {"job_name": "web", "honor_labels": True, "static_configs": [{"targets": [target]}]}
    server = prometheus.start(scrape_configs=[job], scrape_interval="1s")
    settings = PrometheusSettings(url=server.url, selector='job="web"', topology="config")
    # a 3 s rate window over 1 s scrapes is full after a few seconds
    metrics = PrometheusMetrics.from_settings(settings, token=None, window=timedelta(seconds=3))
    found = _wait_for_rate(metrics, within=20.0)
    metrics.close()
    assert found.services[WEB][Signal.REPLICAS] == 3.0
    assert found.services[WEB][Signal.REQUEST_RATE] == pytest.approx(10.0, rel=0.2)
    assert found.services[WEB][Signal.ERROR_RATIO] == 0.0


def _wait_for_rate(metrics: PrometheusMetrics, within: float) -> MetricsSnapshot:
    """Until the window holds enough scrapes, rate() answers nothing, then too little."""
    deadline = time.monotonic() + within
    while True:
        found = metrics.snapshot(datetime.now(UTC))
        rate = found.services.get(WEB, {}).get(Signal.REQUEST_RATE, 0.0)
        if rate > 8.0 or time.monotonic() > deadline:
            return found
        time.sleep(0.5)
