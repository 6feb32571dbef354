"""The built-in topologies: their graphs, a quiet hour on each, and a fault on the big one."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from functools import cache

import pytest

from healer.sim import Simulation, scenario_by_name
from healer.sim.scenario import SCENARIO_DIR, load_scenario
from healer.sim.topology import builtin_topology

from .helpers import errors

BUILTIN = ["online-boutique", "sock-shop", "train-ticket", "chain-6", "fanout-12"]


@cache
def quiet_hour(topology: str) -> Simulation:
    base = scenario_by_name("steady-state")
    scenario = dataclasses.replace(
        base, topology=builtin_topology(topology), duration=timedelta(hours=1)
    )
    sim = Simulation(scenario)
    while not sim.finished:
        sim.advance()
    return sim


@pytest.mark.parametrize("topology", BUILTIN)
def test_each_topology_runs_a_quiet_hour(topology: str) -> None:
    sim = quiet_hour(topology)
    assert sim.cluster.ticks == 240
    for name, dep in sim.cluster.deployments.items():
        # why: a planner calling a dozen services gathers their odd background errors
        assert errors(sim, dep.ref, 10, 60) < 0.02, name
    snap = sim.metrics.snapshot(sim.clock.now())
    assert len(snap.services) >= 0.95 * len(sim.cluster.deployments)  # a scrape may miss
    for db in snap.databases.values():
        assert db.connections < 0.9 * db.max_connections, db.name


def test_sock_shop_has_its_real_call_graph() -> None:
    topology = builtin_topology("sock-shop")
    edges = {(e.caller, e.callee) for e in topology.edges}
    assert set(topology.names()) == {
        "front-end", "catalogue", "catalogue-db", "carts", "carts-db", "user", "user-db",
        "orders", "orders-db", "payment", "shipping", "rabbitmq", "queue-master",
    }  # fmt: skip
    assert {("front-end", s) for s in ("catalogue", "carts", "user", "orders")} <= edges
    assert {("orders", s) for s in ("user", "carts", "payment", "shipping")} <= edges
    assert {("shipping", "rabbitmq"), ("queue-master", "rabbitmq")} <= edges
    assert {("catalogue", "catalogue-db"), ("carts", "carts-db"), ("user", "user-db")} <= edges
    assert set(topology.entry_shares()) == {"front-end", "queue-master"}


def test_train_ticket_has_about_forty_services_around_its_booking_paths() -> None:
    topology = builtin_topology("train-ticket")
    names = set(topology.names())
    assert 40 <= len(names) <= 50
    core = (
        "ui-dashboard travel order station route price seat basic ticketinfo config "
        "contacts preserve security food consign assurance inside-payment payment cancel "
        "rebook execute notification user auth verification-code travel2 order-other train "
        "route-plan travel-plan admin-basic-info admin-order admin-route admin-travel "
        "admin-user"
    )
    for short in core.split():
        name = "ts-ui-dashboard" if short == "ui-dashboard" else f"ts-{short}-service"
        assert name in names, name
    edges = {(e.caller, e.callee) for e in topology.edges}
    assert ("ts-travel-service", "ts-seat-service") in edges
    assert ("ts-seat-service", "ts-travel-service") not in edges  # the cycle left out
    assert ("ts-preserve-service", "ts-security-service") in edges
    assert ("ts-inside-payment-service", "ts-payment-service") in edges
    (mysql,) = topology.databases
    assert mysql.engine == "mysql"
    pooled = [s for s in topology.services if s.pool is not None]
    assert len(pooled) >= 20 and {s.pool.database for s in pooled if s.pool} == {mysql.name}
    assert all(s.language == "java" for s in topology.services if s.name.startswith("ts-admin"))


def test_train_ticket_scaled_past_mysql_refuses_the_newest_pods() -> None:
    scenario = load_scenario(SCENARIO_DIR / "more" / "train-ticket-db-max-connections.yaml")
    sim = Simulation(scenario)
    sim.run_until(sim.start + timedelta(minutes=115))
    station = scenario.ref("ts-station-service")
    assert errors(sim, station, 100, 115) > 0.1
    assert errors(sim, station, 60, 94) < 0.005
    # why: the long-running pods of the other services keep their connections
    assert errors(sim, scenario.ref("ts-train-service"), 100, 115) < 0.005
    snap = sim.metrics.snapshot(sim.clock.now())
    assert snap.databases["ts-mysql"].connections == 500
    ticks = list(sim.cluster.log_ticks)
    counts = sum(t.totals.get(station, 0) for t in ticks)
    assert counts > 0
    refused = [
        r.message
        for r in sim.logs.read(sim.start + timedelta(minutes=100), sim.clock.now()).records
        if "Too many connections" in r.message
    ]
    assert refused and all("SQLNonTransientConnectionException" in m for m in refused)


def test_the_demo_scenarios_on_other_topologies_load() -> None:
    sock = load_scenario(SCENARIO_DIR / "more" / "sock-shop-slow-catalogue-db.yaml")
    assert sock.topology.name == "sock-shop"
    assert sock.faults[0].target == "catalogue-db"
    train = load_scenario(SCENARIO_DIR / "more" / "train-ticket-db-max-connections.yaml")
    assert train.topology.name == "train-ticket"
