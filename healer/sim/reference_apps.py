"""Two more public demo applications as built-in topologies: Weaveworks' Sock Shop and
FudanSELab's Train Ticket, each with its services, call graph and datastores.

Call rates are per request of the caller and sized, like online-boutique, for about 300
requests/s at the entry with CPU around 40 % of the limits. Where the real graph has a
cycle the simulator cannot run (a few Train Ticket lookups call back up the graph), the
back edge is left out and named in a comment.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from healer.sim.topology import (
    DatabaseSpec,
    EdgeSpec,
    PoolSpec,
    Row,
    TopologySpec,
    specs,
)

SOCK_SHOP = "sock-shop"
TRAIN_TICKET = "train-ticket"


def _edges(calls: Mapping[str, Mapping[str, float]]) -> tuple[EdgeSpec, ...]:
    return tuple(
        EdgeSpec(caller, callee, n) for caller, out in calls.items() for callee, n in out.items()
    )


# Sock Shop: a Node.js front end over Go and Spring Boot services, each with its own
# store (MongoDB for users, carts and orders, MySQL for the catalogue) and RabbitMQ
# between shipping and queue-master. The stores run as services of their own here, so a
# slow or failing store is a fault on a service like any other.
_SOCK_SHOP: tuple[Row, ...] = (
    ("front-end", "nodejs", 2, 1.0, 4.0, 2.0, 200, 2.5, 10.0),
    ("catalogue", "go", 2, 0.5, 1.0, 1.0, 64, 3.0, 3.0),
    ("catalogue-db", "c", 1, 0.5, 0.6, 1.5, 151, 3.0, 2.0),
    ("carts", "java", 2, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("carts-db", "c", 1, 0.5, 0.5, 1.0, 200, 3.0, 2.0),
    ("user", "go", 2, 0.5, 1.5, 1.0, 64, 3.0, 3.0),
    ("user-db", "c", 1, 0.5, 0.5, 1.0, 200, 3.0, 2.0),
    ("orders", "java", 2, 0.5, 6.0, 2.0, 200, 2.5, 10.0),
    ("orders-db", "c", 1, 0.25, 0.8, 1.5, 200, 3.0, 2.0),
    ("payment", "go", 1, 0.2, 1.0, 5.0, 64, 2.5, 3.0),
    ("shipping", "java", 1, 0.3, 4.0, 1.0, 200, 2.5, 5.0),
    ("rabbitmq", "c", 1, 0.3, 0.5, 0.5, 500, 3.0, 2.0),
    ("queue-master", "java", 1, 0.3, 3.0, 2.0, 50, 2.5, 5.0),
)
_SOCK_SHOP_CALLS = {
    "front-end": {"catalogue": 1.3, "carts": 0.5, "user": 0.3, "orders": 0.05},
    "catalogue": {"catalogue-db": 1.0},
    "carts": {"carts-db": 1.5},
    "user": {"user-db": 1.0},
    # placing an order reads the customer, address and card, then the cart, charges the
    # card, books the shipment and saves the order
    "orders": {"user": 3.0, "carts": 1.0, "payment": 1.0, "shipping": 1.0, "orders-db": 2.0},
    "shipping": {"rabbitmq": 1.0},
    "queue-master": {"rabbitmq": 1.0},  # its consumer loop: it reads what shipping publishes
}


def sock_shop() -> TopologySpec:
    """Weaveworks' Sock Shop: 13 services and stores, its real call graph."""
    services = specs(SOCK_SHOP, _SOCK_SHOP, "front-end", {})
    # why: queue-master is not called by anyone; it polls the queue at about the rate
    # shipments are published, a few per second
    services = tuple(
        replace(s, traffic_share=0.02) if s.name == "queue-master" else s for s in services
    )
    return TopologySpec("sock-shop", services, _edges(_SOCK_SHOP_CALLS))


# Train Ticket (v1.0): Spring Boot services behind an nginx dashboard, each with its own
# schema on a shared MySQL through HikariCP, a Python voucher service on the same MySQL,
# and a Node.js ticket office on MongoDB (a store of its own here). Lookups (stations,
# routes, trains, prices) are the hot leaves every booking path ends in.
_TRAIN_TICKET: tuple[Row, ...] = (
    ("ts-ui-dashboard", "c", 1, 0.5, 0.4, 2.0, 1024, 3.0, 10.0),
    ("ts-admin-basic-info-service", "java", 1, 0.5, 3.0, 2.0, 200, 3.0, 5.0),
    ("ts-admin-order-service", "java", 1, 0.5, 3.0, 2.0, 200, 3.0, 5.0),
    ("ts-admin-route-service", "java", 1, 0.5, 3.0, 2.0, 200, 3.0, 5.0),
    ("ts-admin-travel-service", "java", 1, 0.5, 3.0, 2.0, 200, 3.0, 5.0),
    ("ts-admin-user-service", "java", 1, 0.5, 3.0, 2.0, 200, 3.0, 5.0),
    ("ts-assurance-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-auth-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-avatar-service", "python", 1, 0.5, 3.0, 2.0, 32, 3.0, 5.0),
    ("ts-basic-service", "java", 3, 1.0, 3.0, 2.0, 200, 3.0, 5.0),
    ("ts-cancel-service", "java", 1, 0.5, 6.0, 2.0, 200, 3.0, 10.0),
    ("ts-config-service", "java", 2, 1.0, 1.5, 1.0, 200, 3.0, 5.0),
    ("ts-consign-price-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-consign-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-contacts-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-execute-service", "java", 1, 0.5, 3.0, 2.0, 200, 3.0, 5.0),
    ("ts-food-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-inside-payment-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-news-service", "go", 1, 0.5, 3.0, 2.0, 64, 3.0, 5.0),
    ("ts-notification-service", "java", 1, 0.5, 3.0, 2.0, 200, 3.0, 5.0),
    ("ts-order-other-service", "java", 2, 1.0, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-order-service", "java", 4, 1.0, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-payment-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-preserve-other-service", "java", 1, 0.5, 6.0, 2.0, 200, 3.0, 10.0),
    ("ts-preserve-service", "java", 1, 0.5, 6.0, 2.0, 200, 3.0, 10.0),
    ("ts-price-service", "java", 2, 1.0, 1.5, 1.0, 200, 3.0, 5.0),
    ("ts-rebook-service", "java", 1, 0.5, 6.0, 2.0, 200, 3.0, 10.0),
    ("ts-route-plan-service", "java", 1, 0.5, 6.0, 2.0, 200, 3.0, 10.0),
    ("ts-route-service", "java", 3, 1.0, 1.5, 1.0, 200, 3.0, 5.0),
    ("ts-seat-service", "java", 3, 1.0, 3.0, 2.0, 200, 3.0, 5.0),
    ("ts-security-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-station-food-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-station-service", "java", 5, 1.0, 1.5, 1.0, 200, 3.0, 5.0),
    ("ts-ticket-office-mongo", "c", 1, 0.5, 0.5, 2.0, 1024, 3.0, 5.0),
    ("ts-ticket-office-service", "nodejs", 1, 0.5, 3.0, 2.0, 100, 3.0, 5.0),
    ("ts-ticketinfo-service", "java", 3, 1.0, 3.0, 2.0, 200, 3.0, 5.0),
    ("ts-train-food-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-train-service", "java", 3, 1.0, 1.5, 1.0, 200, 3.0, 5.0),
    ("ts-travel-plan-service", "java", 1, 0.5, 6.0, 2.0, 200, 3.0, 10.0),
    ("ts-travel-service", "java", 2, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-travel2-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-user-service", "java", 1, 0.5, 3.0, 1.0, 200, 3.0, 5.0),
    ("ts-verification-code-service", "java", 1, 0.5, 3.0, 2.0, 200, 3.0, 5.0),
    ("ts-voucher-service", "python", 1, 0.5, 3.0, 1.0, 32, 3.0, 5.0),
)
_TRAIN_TICKET_POOLED = (
    "ts-assurance-service", "ts-auth-service", "ts-config-service", "ts-consign-price-service",
    "ts-consign-service", "ts-contacts-service", "ts-food-service", "ts-inside-payment-service",
    "ts-order-other-service", "ts-order-service", "ts-payment-service", "ts-price-service",
    "ts-route-service", "ts-security-service", "ts-station-food-service", "ts-station-service",
    "ts-train-food-service", "ts-train-service", "ts-travel-service", "ts-travel2-service",
    "ts-user-service",
)  # fmt: skip
TRAIN_TICKET_DB = "ts-mysql"
# The real graph has back edges the simulator cannot run: ts-seat-service asks
# ts-travel-service (and travel2) for a trip's route and train, while both travel
# services ask it for free seats; the seat service's lookups are left out.
_TRAIN_TICKET_CALLS = {
    "ts-ui-dashboard": {
        "ts-travel-service": 0.22,
        "ts-travel2-service": 0.08,
        "ts-travel-plan-service": 0.03,
        "ts-route-plan-service": 0.02,
        "ts-station-service": 0.06,
        "ts-auth-service": 0.04,
        "ts-verification-code-service": 0.04,
        "ts-user-service": 0.03,
        "ts-contacts-service": 0.05,
        "ts-preserve-service": 0.04,
        "ts-preserve-other-service": 0.015,
        "ts-order-service": 0.08,
        "ts-order-other-service": 0.03,
        "ts-inside-payment-service": 0.03,
        "ts-cancel-service": 0.01,
        "ts-rebook-service": 0.01,
        "ts-execute-service": 0.01,
        "ts-consign-service": 0.01,
        "ts-food-service": 0.03,
        "ts-assurance-service": 0.03,
        "ts-admin-basic-info-service": 0.005,
        "ts-admin-order-service": 0.005,
        "ts-admin-route-service": 0.003,
        "ts-admin-travel-service": 0.003,
        "ts-admin-user-service": 0.003,
        "ts-news-service": 0.02,
        "ts-voucher-service": 0.005,
        "ts-ticket-office-service": 0.01,
        "ts-avatar-service": 0.005,
    },
    "ts-auth-service": {"ts-verification-code-service": 1.0},
    "ts-user-service": {"ts-auth-service": 0.3},
    "ts-travel-service": {
        "ts-ticketinfo-service": 2.0,
        "ts-route-service": 1.0,
        "ts-train-service": 1.0,
        "ts-seat-service": 2.0,
    },
    "ts-travel2-service": {
        "ts-ticketinfo-service": 2.0,
        "ts-route-service": 1.0,
        "ts-train-service": 1.0,
        "ts-seat-service": 2.0,
    },
    "ts-ticketinfo-service": {"ts-basic-service": 1.0},
    "ts-basic-service": {
        "ts-station-service": 2.0,
        "ts-train-service": 1.0,
        "ts-route-service": 1.0,
        "ts-price-service": 1.0,
    },
    "ts-seat-service": {
        "ts-order-service": 1.0,
        "ts-order-other-service": 0.3,
        "ts-config-service": 1.0,
    },
    "ts-order-service": {"ts-station-service": 0.5},
    "ts-order-other-service": {"ts-station-service": 0.5},
    "ts-security-service": {"ts-order-service": 1.0, "ts-order-other-service": 1.0},
    "ts-preserve-service": {
        "ts-security-service": 1.0,
        "ts-contacts-service": 1.0,
        "ts-travel-service": 1.0,
        "ts-station-service": 2.0,
        "ts-seat-service": 1.0,
        "ts-order-service": 1.0,
        "ts-assurance-service": 0.5,
        "ts-food-service": 0.5,
        "ts-consign-service": 0.3,
        "ts-user-service": 1.0,
        "ts-notification-service": 1.0,
    },
    "ts-preserve-other-service": {
        "ts-security-service": 1.0,
        "ts-contacts-service": 1.0,
        "ts-travel2-service": 1.0,
        "ts-station-service": 2.0,
        "ts-seat-service": 1.0,
        "ts-order-other-service": 1.0,
        "ts-assurance-service": 0.5,
        "ts-food-service": 0.5,
        "ts-consign-service": 0.3,
        "ts-user-service": 1.0,
        "ts-notification-service": 1.0,
    },
    "ts-cancel-service": {
        "ts-order-service": 1.0,
        "ts-order-other-service": 0.5,
        "ts-inside-payment-service": 1.0,
        "ts-user-service": 1.0,
        "ts-notification-service": 1.0,
    },
    "ts-rebook-service": {
        "ts-order-service": 1.0,
        "ts-order-other-service": 0.5,
        "ts-travel-service": 1.0,
        "ts-travel2-service": 0.5,
        "ts-station-service": 2.0,
        "ts-seat-service": 1.0,
        "ts-inside-payment-service": 1.0,
        "ts-train-service": 1.0,
        "ts-route-service": 1.0,
    },
    "ts-execute-service": {"ts-order-service": 1.0, "ts-order-other-service": 0.5},
    "ts-inside-payment-service": {
        "ts-order-service": 1.0,
        "ts-order-other-service": 0.5,
        "ts-payment-service": 1.0,
    },
    "ts-consign-service": {"ts-consign-price-service": 1.0},
    "ts-food-service": {
        "ts-station-food-service": 1.0,
        "ts-train-food-service": 1.0,
        "ts-travel-service": 1.0,
    },
    "ts-travel-plan-service": {
        "ts-seat-service": 2.0,
        "ts-route-plan-service": 1.0,
        "ts-travel-service": 1.0,
        "ts-travel2-service": 1.0,
        "ts-ticketinfo-service": 2.0,
        "ts-station-service": 2.0,
    },
    "ts-route-plan-service": {
        "ts-route-service": 2.0,
        "ts-travel-service": 1.0,
        "ts-travel2-service": 1.0,
        "ts-station-service": 2.0,
    },
    "ts-admin-basic-info-service": {
        "ts-station-service": 1.0,
        "ts-train-service": 1.0,
        "ts-config-service": 1.0,
        "ts-price-service": 1.0,
        "ts-contacts-service": 1.0,
    },
    "ts-admin-order-service": {"ts-order-service": 1.0, "ts-order-other-service": 1.0},
    "ts-admin-route-service": {"ts-route-service": 1.0},
    "ts-admin-travel-service": {"ts-travel-service": 1.0, "ts-travel2-service": 1.0},
    "ts-admin-user-service": {"ts-user-service": 1.0},
    "ts-ticket-office-service": {"ts-ticket-office-mongo": 1.0},
}


def _train_ticket_pools() -> dict[str, PoolSpec]:
    hikari = PoolSpec(TRAIN_TICKET_DB, size=10, queries=2, hold_ms=3.0, driver="hikaricp")
    pools = dict.fromkeys(_TRAIN_TICKET_POOLED, hikari)
    pools["ts-voucher-service"] = PoolSpec(TRAIN_TICKET_DB, size=5, overflow=5, timeout_s=10.0)
    return pools


def train_ticket() -> TopologySpec:
    """FudanSELab's Train Ticket: 44 services and stores, a plausible version of its graph."""
    services = specs(TRAIN_TICKET, _TRAIN_TICKET, "ts-ui-dashboard", _train_ticket_pools())
    databases = (DatabaseSpec(TRAIN_TICKET_DB, max_connections=500, engine="mysql"),)
    return TopologySpec("train-ticket", services, _edges(_TRAIN_TICKET_CALLS), databases)
