"""A real Prometheus, from Debian's package, started on demand on a free loopback port.

`scripts/services` unpacks the `prometheus` package into `.cache/prometheus-root` (the
binaries on PATH serve too). The integration tests and `healer bench scale --prometheus`
start servers through `PrometheusFactory`; `backfill` writes OpenMetrics history into a
data directory with `promtool`.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]  # the checkout
CACHED = REPO / ".cache" / "prometheus-root" / "usr" / "bin"
READY_WITHIN = 30.0  # seconds; a fresh server is ready in well under one


@dataclass(frozen=True)
class Binaries:
    prometheus: Path
    promtool: Path


def find_binaries() -> Binaries | None:
    cached = Binaries(CACHED / "prometheus", CACHED / "promtool")
    if os.access(cached.prometheus, os.X_OK) and os.access(cached.promtool, os.X_OK):
        return cached
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    if prometheus and promtool:
        return Binaries(Path(prometheus), Path(promtool))
    return None


@dataclass
class PrometheusServer:
    """One running server; `url` is its HTTP API base."""

    port: int
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def query(self, promql: str, at: float | None = None) -> list[dict[str, Any]]:
        """A raw instant query, for tests that check what the server itself holds."""
        params = {"query": promql} | ({"time": str(at)} if at is not None else {})
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode(params)}"
        with urllib.request.urlopen(url, timeout=10) as answer:
            body: dict[str, Any] = json.load(answer)
        result: list[dict[str, Any]] = body["data"]["result"]
        return result


@dataclass
class PrometheusFactory:
    binaries: Binaries
    workdir: Path
    servers: list[PrometheusServer] = field(default_factory=list)

    def start(
        self,
        *,
        data_dir: Path | None = None,
        scrape_configs: Sequence[Mapping[str, Any]] = (),
        scrape_interval: str = "1s",
        args: Sequence[str] = (),
    ) -> PrometheusServer:
        """A new server; `scrape_configs` as in prometheus.yml (e.g. static targets)."""
        index = len(self.servers)
        data_dir = data_dir or self.workdir / f"data-{index}"
        config = self.workdir / f"prometheus-{index}.yml"
        # JSON is YAML, so the config needs no YAML writer
        global_ = {"scrape_interval": scrape_interval, "evaluation_interval": scrape_interval}
        config.write_text(json.dumps({"global": global_, "scrape_configs": list(scrape_configs)}))
        for _ in range(3):  # why: another process may take the free port before we bind it
            server = self._launch(config, data_dir, self.workdir / f"prometheus-{index}.log", args)
            if server is not None:
                self.servers.append(server)
                return server
        raise RuntimeError("prometheus could not bind a loopback port three times running")

    def backfill(self, openmetrics: str, data_dir: Path) -> None:
        """Write history into `data_dir` as blocks (samples must be older than ~2 hours)."""
        data_dir.mkdir(parents=True, exist_ok=True)
        source = data_dir.parent / f"{data_dir.name}.om"
        source.write_text(openmetrics)
        command = [str(self.binaries.promtool), "tsdb", "create-blocks-from", "openmetrics"]
        done = subprocess.run(
            [*command, str(source), str(data_dir)], capture_output=True, text=True, check=False
        )
        if done.returncode != 0:
            raise RuntimeError(f"promtool backfill failed: {done.stderr or done.stdout}")

    def stop_all(self) -> None:
        for server in self.servers:
            server.stop()

    def _launch(
        self, config: Path, data_dir: Path, log: Path, args: Sequence[str]
    ) -> PrometheusServer | None:
        port = free_port()
        command = [
            str(self.binaries.prometheus),
            f"--config.file={config}",
            f"--storage.tsdb.path={data_dir}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
            *args,
        ]
        with log.open("wb") as out:
            process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT)
        server = PrometheusServer(port, data_dir, process, log)
        if wait_ready(server):
            return server
        server.stop()
        text = log.read_text(errors="replace")
        if "address already in use" in text:
            return None
        raise RuntimeError(f"prometheus did not become ready:\n{text[-2000:]}")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def wait_ready(server: PrometheusServer) -> bool:
    deadline = time.monotonic() + READY_WITHIN
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            return False
        try:
            with urllib.request.urlopen(f"{server.url}/-/ready", timeout=1) as answer:
                if answer.status == 200:
                    return True
        except (urllib.error.URLError, OSError):
            pass  # why: not listening yet, or still loading its blocks (503)
        time.sleep(0.05)
    return False
