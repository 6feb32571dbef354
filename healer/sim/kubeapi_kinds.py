"""What stored ConfigMaps, Events and Leases must look like, and the events.k8s.io/v1
view of Events (`regarding` and `note` for v1's `involvedObject` and `message`)."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime

from healer.sim.kubeapi_base import (
    CONFIGMAPS,
    EVENTS,
    EVENTS_V1,
    LEASES,
    Cause,
    Obj,
    string_map,
    value_error,
)
from healer.sim.kubeapi_book import timestamp, uid
from healer.sim.kubeapi_render import configmap_name
from healer.sim.kubeapi_store import Shelf, Stored, Times, require, sections
from healer.sim.workloads import Deployment

_KEY = re.compile(r"[-._a-zA-Z0-9]+")
EVENT_TYPES = ("Normal", "Warning")

# why: the two Event APIs are views of one object; these fields only change their names
V1_NAMES = {
    "involvedObject": "regarding",
    "message": "note",
    "reportingComponent": "reportingController",
    "source": "deprecatedSource",
    "firstTimestamp": "deprecatedFirstTimestamp",
    "lastTimestamp": "deprecatedLastTimestamp",
    "count": "deprecatedCount",
}
CORE_NAMES = {v: k for k, v in V1_NAMES.items()}


def check_configmap(body: Obj, current: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    for field in ("data", "binaryData"):
        value = body.get(field) or {}
        require(string_map(value), field, value_error(value, "values must be strings"), causes)
        for key in value if isinstance(value, dict) else ():
            why = "a valid config key must consist of alphanumeric characters, '-', '_' or '.'"
            require(bool(_KEY.fullmatch(key)), f"{field}[{key}]", value_error(key, why), causes)
    if current is not None and current.get("immutable"):
        same = all(body.get(f) == current.get(f) for f in ("data", "binaryData", "immutable"))
        require(same, "data", "Forbidden: field is immutable when `immutable` is set", causes)
    return causes


def check_event(body: Obj, current: Obj | None) -> list[Cause]:
    """core/v1: an involved object in the event's namespace; a known type if any."""
    causes: list[Cause] = []
    (involved,) = sections(body, "involvedObject")
    require(bool(involved), "involvedObject", "Required value", causes)
    namespace = (body.get("metadata") or {}).get("namespace")
    if involved.get("namespace") and namespace and involved["namespace"] != namespace:
        why = "does not match event.namespace"
        causes.append(Cause("involvedObject.namespace", value_error(involved["namespace"], why)))
    kind = body.get("type")
    if kind is not None:
        require(
            kind in EVENT_TYPES,
            "type",
            value_error(kind, "supported values: Normal, Warning"),
            causes,
        )
    return causes


def check_event_v1(body: Obj, current: Obj | None) -> list[Cause]:
    """events.k8s.io/v1 asks more of a new event: who reports it, when, and what it did."""
    causes: list[Cause] = []
    sections(body, "regarding", "series")
    for field in ("eventTime", "reportingController", "reportingInstance", "action", "reason"):
        require(bool(body.get(field)), field, "Required value", causes)
    kind = body.get("type")
    require(
        kind in EVENT_TYPES, "type", value_error(kind, "supported values: Normal, Warning"), causes
    )
    return causes


def check_lease(body: Obj, current: Obj | None) -> list[Cause]:
    causes: list[Cause] = []
    (spec,) = sections(body, "spec")
    duration = spec.get("leaseDurationSeconds")
    if duration is not None:
        ok = isinstance(duration, int) and not isinstance(duration, bool) and duration > 0
        why = "must be greater than 0"
        require(ok, "spec.leaseDurationSeconds", value_error(duration, why), causes)
    transitions = spec.get("leaseTransitions")
    if transitions is not None:
        ok = isinstance(transitions, int) and transitions >= 0
        why = "must be greater than or equal to 0"
        require(ok, "spec.leaseTransitions", value_error(transitions, why), causes)
    holder = spec.get("holderIdentity")
    require(
        holder is None or isinstance(holder, str),
        "spec.holderIdentity",
        value_error(holder, "must be a string"),
        causes,
    )
    return causes


def micro_time(text: str) -> str:
    """An RFC 3339 time as a MicroTime: `2026-01-05T06:00:00.000000Z`."""
    at = datetime.fromisoformat(text).astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _renamed(obj: Obj, names: Mapping[str, str], api_version: str) -> Obj:
    out = {names.get(k, k): v for k, v in obj.items()}
    out["apiVersion"] = api_version
    return out


class EventsV1(Stored):
    """events.k8s.io/v1 Events: the same objects as v1 Events, under their newer names."""

    def outward(self, stored: Obj) -> Obj:
        view = _renamed(super().outward(stored), V1_NAMES, EVENTS_V1.api_version)
        if not view.get("eventTime"):
            # why: an event posted to v1 without eventTime reads back here with a null one,
            # which the official client refuses to deserialise; its first sighting will do
            first = view.get("deprecatedFirstTimestamp") or view["metadata"]["creationTimestamp"]
            view["eventTime"] = micro_time(first)
        return view

    def inward(self, view: Obj) -> Obj:
        return _renamed(super().inward(view), CORE_NAMES, EVENTS.api_version)


def seed_configmaps(shelf: Shelf, deployments: Iterable[Deployment], at: datetime) -> None:
    """The ConfigMap each Deployment reads, holding settings the simulation does not model."""
    for dep in deployments:
        name, ns = configmap_name(dep), dep.spec.namespace
        seeded = CONFIGMAPS.envelope(
            metadata={
                "name": name,
                "namespace": ns,
                "uid": uid(f"configmaps/{ns}/{name}"),
                "resourceVersion": shelf.versions.next(),
                "creationTimestamp": timestamp(at),
                "labels": {"app": dep.spec.name},
            },
            data={"LOG_FORMAT": "json"},
        )
        shelf.put(CONFIGMAPS.resource, (ns, name), seeded)


EVENT_TIMES = Times(("firstTimestamp", "lastTimestamp"), ("eventTime", "series.lastObservedTime"))
EVENT_V1_TIMES = Times(
    ("deprecatedFirstTimestamp", "deprecatedLastTimestamp"),
    ("eventTime", "series.lastObservedTime"),
)
LEASE_TIMES = Times(micro=("spec.acquireTime", "spec.renewTime"))


def stored_kinds(shelf: Shelf) -> list[Stored]:
    return [
        Stored(CONFIGMAPS, shelf, check_configmap),
        Stored(EVENTS, shelf, check_event, EVENT_TIMES),
        EventsV1(EVENTS_V1, shelf, check_event_v1, EVENT_V1_TIMES),
        Stored(LEASES, shelf, check_lease, LEASE_TIMES),
    ]
