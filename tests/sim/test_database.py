"""Pools against a database with max_connections: growth beyond it is refused."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from healer.domain.model import Signal
from healer.sim import Simulation, load_scenario, scenario_by_name

from .helpers import errors, ref


def test_scaling_past_the_database_limit_starves_new_pods() -> None:
    sim = Simulation(scenario_by_name("steady-state"))
    checkout = ref(sim, "checkoutservice")
    sim.run_until(sim.start + timedelta(minutes=20))
    before = sim.metrics.snapshot(sim.clock.now()).databases["orders"]
    assert before.connections < 0.5 * before.max_connections
    sim.kube.scale(checkout, 12)  # 12 × 10 HikariCP connections > 100 allowed
    sim.run_until(sim.start + timedelta(minutes=30))
    now = sim.clock.now()
    snap = sim.metrics.snapshot(now)
    assert snap.databases["orders"].connections == snap.databases["orders"].max_connections == 100
    assert snap.value(checkout, Signal.POOL_MAX) == 120
    batch = sim.logs.read(now - timedelta(minutes=2), now)
    refused = [r for r in batch.records if "FATAL: sorry, too many clients already" in r.message]
    assert refused and all(r.service == checkout for r in refused)
    assert refused[0].error_type == "org.postgresql.util.PSQLException"
    assert errors(sim, checkout, 22, 30) > 0.05  # the pods with no connection fail


def test_a_pool_bigger_than_the_database_is_capped_by_it() -> None:
    sim = Simulation(scenario_by_name("steady-state"))
    checkout = ref(sim, "checkoutservice")
    sim.run_until(sim.start + timedelta(minutes=10))
    sim.kube.set_env(checkout, "DB_POOL_SIZE", "150")
    sim.run_until(sim.start + timedelta(minutes=15))
    now = sim.clock.now()
    orders = sim.metrics.snapshot(now).databases["orders"]
    assert orders.connections == orders.max_connections
    batch = sim.logs.read(now - timedelta(minutes=2), now)
    assert any("too many clients" in r.message for r in batch.records)
    # why: one pod holding 97 connections still serves its load; only the log complains
    assert errors(sim, checkout, 11, 15) < 0.01


def python_worker(tmp_path: Path, *, replicas: int, pool: str, rest: str) -> Path:
    """A scenario of one caller and a Python worker pooling into a 50-connection database."""
    path = tmp_path / "s.yaml"
    path.write_text(
        f"""\
name: sqlalchemy
seed: 1
duration: 30m
traffic: {{base_rps: 100}}
services:
  - {{name: api, traffic_share: 1, calls: {{worker: 1}}}}
  - name: worker
    language: python
    replicas: {replicas}
    pool: {{database: main, {pool}}}
databases: [{{name: main, max_connections: 50}}]
{rest}
""",
        encoding="utf-8",
    )
    return path


def test_sqlalchemy_pool_timeout_line(tmp_path: Path) -> None:
    path = python_worker(
        tmp_path,
        replicas=1,
        pool="size: 5, overflow: 2, queries: 2, hold_ms: 40, timeout_s: 2",
        rest="faults:\n"
        "  - {at: 10m, kind: pool_exhaustion, target: worker, params: {pool_size: 1}}\n"
        "expect: {root_cause: {service: worker, cause: pool_exhaustion}, remediation: [tune_pool]}",
    )
    sim = Simulation(load_scenario(path))
    sim.run_until(sim.start + timedelta(minutes=20))
    now = sim.clock.now()
    lines = list(sim.logs.read(now - timedelta(minutes=1), now).records)
    timeouts = [r for r in lines if r.error_type == "sqlalchemy.exc.TimeoutError"]
    assert timeouts
    # why: the push that shrank the pool took its overflow too; with 2 more connections
    # to open on demand, one connection a pod would never have run short
    worker = sim.scenario.ref("worker")
    assert sim.kube.workload(worker).env == {
        "PORT": "8080", "LOG_LEVEL": "info", "DB_POOL_SIZE": "1", "DB_MAX_OVERFLOW": "0"
    }  # fmt: skip
    assert timeouts[0].message == (
        "sqlalchemy.exc.TimeoutError: QueuePool limit of size 1 overflow 0 reached, "
        "connection timed out, timeout 2.00 "
        "(Background on this error at: https://sqlalche.me/e/20/3o7r)"
    )
    assert any(r.service.name == "api" and "worker" in r.message for r in lines)


def test_a_lazy_pool_keeps_its_idle_share_and_closes_overflow_connections(
    tmp_path: Path,
) -> None:
    """QueuePool keeps up to pool_size connections between requests and closes an overflow
    one on return, so a smaller pool_size is what lowers what a quiet pod holds."""
    path = python_worker(
        tmp_path,
        replicas=25,
        pool="size: 5, overflow: 10, queries: 2, hold_ms: 10, timeout_s: 2",
        rest="expect: {incident: false}",
    )
    sim = Simulation(load_scenario(path))
    worker = ref(sim, "worker")
    sim.run_until(sim.start + timedelta(minutes=10))
    held = sim.metrics.snapshot(sim.clock.now()).databases["main"].connections
    assert held == 50, "25 quiet pods × 2 kept open (one in use, one spare) > 47 allowed"
    sim.kube.set_env(worker, "DB_POOL_SIZE", "1")
    sim.run_until(sim.start + timedelta(minutes=20))
    snap = sim.metrics.snapshot(sim.clock.now())
    assert snap.databases["main"].connections <= 25 + 3
    assert errors(sim, worker, 16, 20) < 0.01
