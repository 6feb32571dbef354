"""Grouping: one incident per underlying problem.

Anomalous services that touch on the call graph, or draw on the same database, are one
problem seen from several places (a slow callee makes its callers slow; a database at
its limit fails every service pooled on it), so they form one incident; an anomaly next
to an open incident joins it instead of opening another. An escalated incident is in
people's hands: it takes new symptoms on its own services, but trouble that reaches
services it does not have is an incident of its own, made of those services only, which
the healer may act on (and which the escalated problem is not blamed for again).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from healer.domain.model import Anomaly, AnomalyKind, Incident, IncidentStatus, ServiceRef, Topology


@dataclass
class Grouping:
    opened: list[Incident] = field(default_factory=list)
    joined: dict[str, list[Anomaly]] = field(default_factory=dict)  # incident id → new symptoms


def group(
    anomalies: Sequence[Anomaly],
    *,
    incidents: Sequence[Incident],
    topology: Topology,
    now: datetime,
    new_id: Callable[[], str],
) -> Grouping:
    """Attach each connected cluster of anomalous services to an incident, or open one."""
    result = Grouping()
    by_service: dict[ServiceRef, list[Anomaly]] = {}
    for anomaly in anomalies:
        by_service.setdefault(anomaly.service, []).append(anomaly)
    for component in _components(by_service, topology):
        bordering = _bordering(component, incidents, topology)
        people = [i for i in bordering if i.status is IncidentStatus.ESCALATED]
        for service in sorted(component):
            holder = next((i for i in people if service in i.services), None)
            if holder is not None:
                _join(result, holder, by_service[service])
        rest = component.difference(*(i.services for i in people))
        if not rest:
            continue
        found = [a for s in sorted(rest) for a in by_service[s]]
        owner = next((i for i in bordering if i.status is not IncidentStatus.ESCALATED), None)
        if owner is not None:
            _join(result, owner, found)
        # Error lines alone are evidence, not an incident: noisy services log bursts
        # of harmless errors, and a real problem shows in latency or 5xx too.
        elif any(a.kind is not AnomalyKind.LOG_PATTERN for a in found):
            result.opened.append(_open(found, rest, now, new_id()))
    return result


def _join(result: Grouping, incident: Incident, found: Iterable[Anomaly]) -> None:
    fresh = [a for a in found if not _known(incident, a)]
    if fresh:
        result.joined.setdefault(incident.id, []).extend(fresh)


def _components(
    by_service: dict[ServiceRef, list[Anomaly]], topology: Topology
) -> list[set[ServiceRef]]:
    unseen, components = set(by_service), []
    while unseen:
        start = min(unseen)
        stack, component = [start], {start}
        unseen.discard(start)
        while stack:
            for neighbour in _related(stack.pop(), topology):
                if neighbour in unseen:
                    unseen.discard(neighbour)
                    component.add(neighbour)
                    stack.append(neighbour)
        components.append(component)
    return components


def _bordering(
    component: set[ServiceRef], incidents: Iterable[Incident], topology: Topology
) -> list[Incident]:
    """The open incidents that share or border a service with the component, oldest first."""
    found = []
    for incident in sorted(incidents, key=lambda i: i.opened_at):
        if incident.status.is_closed:
            continue
        reach = set(incident.services)
        for service in incident.services:
            reach |= _related(service, topology)
        if component & reach:
            found.append(incident)
    return found


def _related(service: ServiceRef, topology: Topology) -> frozenset[ServiceRef]:
    """Its callers and callees, and the services pooled on the same database."""
    database = topology.databases.get(service)
    if database is None:
        return topology.neighbours(service)
    sharing = (s for s, name in topology.databases.items() if name == database and s != service)
    return topology.neighbours(service) | frozenset(sharing)


def _known(incident: Incident, anomaly: Anomaly) -> bool:
    return any(
        a.service == anomaly.service and a.kind == anomaly.kind and a.template == anomaly.template
        for a in incident.anomalies
    )


def _open(found: list[Anomaly], component: set[ServiceRef], now: datetime, id_: str) -> Incident:
    metric = [a for a in found if a.kind is not AnomalyKind.LOG_PATTERN] or found
    first = min(metric, key=lambda a: (a.since, -a.score))
    others = len(component) - 1
    title = f"{first.kind} on {first.service.name}" + (
        f" and {others} related service{'s' if others > 1 else ''}" if others else ""
    )
    return Incident(
        id=id_,
        title=title,
        opened_at=now,
        updated_at=now,
        status=IncidentStatus.OPEN,
        services=set(component),
        anomalies=list(found),
    )
