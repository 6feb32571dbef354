"""Separate processes for end-to-end tests: `healer sim serve` and `healer run`.

A `Sim` is a simulated cluster served by its own process (metrics, the Kubernetes API,
logs shipped to Elasticsearch); a `Replica` is a `healer run` process configured with
the real adapters only, through a settings file and a kubeconfig, as a user would.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import create_engine, text

from healer.bench.promserver import free_port

HEALER = [sys.executable, "-m", "healer"]
POSTGRES = os.environ.get(
    "HEALER_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)


def wait_for(check: Callable[[], bool], within: float, what: str, step: float = 0.2) -> None:
    deadline = time.monotonic() + within
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {within:g}s waiting for {what}")
        time.sleep(step)


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=5) as answer:
        return json.loads(answer.read())


def send_json(url: str, body: object, method: str = "PUT") -> Any:
    request = urllib.request.Request(url, json.dumps(body).encode(), method=method)
    with urllib.request.urlopen(request, timeout=5) as answer:
        return json.loads(answer.read())


@dataclass
class Sim:
    """`healer sim serve` in its own process."""

    scenario: str  # a name or a file
    workdir: Path
    elasticsearch: str
    index: str
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Sim:
        args = ["sim", "serve", "--scenario", self.scenario, "--port", str(self.port)]
        args += ["--elasticsearch", self.elasticsearch, "--index", self.index]
        with (self.workdir / f"sim-{self.port}.log").open("ab") as log:
            self.process = subprocess.Popen([*HEALER, *args], stdout=log, stderr=subprocess.STDOUT)
        wait_for(self._up, 60, f"sim serve on {self.url}")
        return self

    def _up(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"sim serve exited with {self.process.returncode}")
        try:
            get_json(f"{self.url}/-/state")
        except OSError:
            return False
        return True

    def state(self) -> dict[str, Any]:
        found: dict[str, Any] = get_json(f"{self.url}/-/state")
        return found

    def stall(self, **plan: object) -> dict[str, Any]:
        found: dict[str, Any] = send_json(f"{self.url}/-/kube/stall", plan)
        return found

    def stalls(self) -> dict[str, Any]:
        found: dict[str, Any] = get_json(f"{self.url}/-/kube/stall")
        return found

    def kubeconfig(self) -> Path:
        """A kubeconfig for this cluster, as `kubectl config` would write it."""
        path = self.workdir / f"kubeconfig-{self.port}"
        config = {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": "sim", "cluster": {"server": self.url}}],
            "users": [{"name": "healer", "user": {"token": "sim-token"}}],
            "contexts": [{"name": "sim", "context": {"cluster": "sim", "user": "healer"}}],
            "current-context": "sim",
        }
        path.write_text(yaml.safe_dump(config))
        return path

    def stop(self) -> None:
        stop_process(self.process, signal.SIGTERM)

    def scrape_config(self, cluster: str) -> dict[str, Any]:
        return {
            "job_name": f"sim-{cluster}",
            "honor_labels": True,
            "static_configs": [
                {"targets": [f"127.0.0.1:{self.port}"], "labels": {"cluster": cluster}}
            ],
        }


@dataclass
class Replica:
    """`healer run -c settings.yaml` in its own process."""

    name: str
    settings: Mapping[str, Any]
    workdir: Path
    process: subprocess.Popen[bytes] | None = None
    runs: int = 0

    @property
    def log(self) -> Path:
        return self.workdir / f"healer-{self.name}.log"

    def start(self) -> Replica:
        config = self.workdir / f"healer-{self.name}.yaml"
        config.write_text(yaml.safe_dump(json.loads(json.dumps(self.settings))))
        self.runs += 1
        with self.log.open("ab") as log:
            log.write(f"--- start {self.runs} ---\n".encode())
        with self.log.open("ab") as out:  # why: the child keeps its own descriptor
            self.process = subprocess.Popen(
                [*HEALER, "run", "--config", str(config)], stdout=out, stderr=subprocess.STDOUT
            )
        return self

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, how: signal.Signals = signal.SIGTERM) -> None:
        stop_process(self.process, how)

    def text(self) -> str:
        return self.log.read_text(errors="replace")


def stop_process(process: subprocess.Popen[bytes] | None, how: signal.Signals) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(how)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


def settings_for(
    sim: Sim,
    *,
    prometheus: str,
    store: str,
    cluster: str,
    poll: float,
    window: float,
    daemon: Mapping[str, Any] | None = None,
    policy: Path,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Settings for `healer run` reading `sim` through the real adapters only."""
    settings: dict[str, Any] = {
        "store": {"url": store},
        "sources": {
            "metrics": {
                "kind": "prometheus",
                "prometheus": {
                    "url": prometheus,
                    "selector": f'cluster="{cluster}"',
                    "databases": {
                        "boutique/checkoutservice": "orders",
                        "boutique/recommendationservice": "recommendations",
                    },
                },
            },
            "logs": {
                "kind": "elasticsearch",
                "elasticsearch": {"hosts": [sim.elasticsearch], "index": sim.index},
            },
            "cluster": {
                "kind": "kubernetes",
                "kubernetes": {"in_cluster": False, "kubeconfig": str(sim.kubeconfig())},
            },
        },
        "poll": {"interval": poll, "window": window},
        "paths": {"policy": str(policy)},
    }
    # why: several replicas share this machine; each takes a free port for its probes
    settings["daemon"] = {"health_port": 0, **(daemon or {})}
    for key, value in (extra or {}).items():
        settings[key] = {**settings.get(key, {}), **value}
    return settings


@contextmanager
def postgres_database() -> Iterator[str]:
    """A fresh PostgreSQL database for replicas to share, dropped afterwards."""
    admin = create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
    name = f"healer_e2e_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield str(admin.url.set(database=name).render_as_string(hide_password=False))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
