"""Objects the simulation does not model, kept as clients write them: ConfigMaps, Events
(as v1 and as events.k8s.io/v1, two views of one store) and Leases for leader election.

Each is validated the way the API server validates its kind; writes bump the same
`resourceVersion` counter as the rendered workloads; a stale one is a 409 Conflict.
"""

from __future__ import annotations

import copy
import json
import random
import re
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from healer.sim.kubeapi_base import (
    Cause,
    Kind,
    Obj,
    Resource,
    already_exists,
    bad_request,
    check_identity,
    check_preconditions,
    check_version,
    invalid,
    metadata,
    not_found,
)
from healer.sim.kubeapi_book import ALPHABET, Versions, timestamp

Key = tuple[str, str]  # namespace, name
Check = Callable[[Obj, Obj | None], list[Cause]]  # (new object, current one) -> what is wrong

_MICRO = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)")
_TIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)")
MICRO_LAYOUT = "2006-01-02T15:04:05.000000Z07:00"  # as Go spells the formats, in errors
TIME_LAYOUT = "2006-01-02T15:04:05Z07:00"
_NAME = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*")
_NAME_RULE = (
    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, "
    "'-' or '.', and must start and end with an alphanumeric character"
)


class Shelf:
    """Where stored objects live, shared by the views of one kind; touched under the lock."""

    def __init__(self, versions: Versions, clock: Callable[[], datetime]) -> None:
        self.versions = versions
        self.clock = clock
        self.objects: dict[str, dict[Key, Obj]] = {}
        self.written: dict[tuple[str, str, str], datetime] = {}  # resource, ns, name: last write
        self.rng = random.Random(0)  # generateName suffixes; no need to be unpredictable

    def of(self, resource: str) -> dict[Key, Obj]:
        return self.objects.setdefault(resource, {})

    def put(self, resource: str, key: Key, obj: Obj) -> None:
        self.of(resource)[key] = obj
        self.written[(resource, *key)] = self.clock()

    def drop(self, resource: str, key: Key) -> None:
        self.of(resource).pop(key, None)
        self.written.pop((resource, *key), None)


@dataclass(frozen=True)
class Times:
    """A kind's timestamp fields, by dotted path: `Time`s (RFC 3339) and `MicroTime`s.

    The API server decodes them strictly (a MicroTime needs all six fraction digits, and
    either needs a zone) and answers 400 for one it cannot parse; it writes them in UTC.
    """

    plain: tuple[str, ...] = ()
    micro: tuple[str, ...] = ()

    def read(self, kind: Kind, body: Obj) -> Obj:
        out = copy.deepcopy(body)
        for path in self.plain + self.micro:
            micro = path in self.micro
            *parents, key = path.split(".")
            node: Any = out
            for parent in parents:
                node = node.get(parent) if isinstance(node, dict) else None
            if isinstance(node, dict) and node.get(key) is not None:
                node[key] = _time(kind, node[key], micro=micro)
        return out


def _time(kind: Kind, value: object, *, micro: bool) -> str:
    pattern, layout = (_MICRO, MICRO_LAYOUT) if micro else (_TIME, TIME_LAYOUT)
    if not isinstance(value, str) or not pattern.fullmatch(value):
        raise bad_request(
            f'{kind.kind} in version "{kind.version}" cannot be handled as a {kind.kind}: '
            f"parsing time {json.dumps(value)} as {json.dumps(layout)}: cannot parse it"
        )
    at = datetime.fromisoformat(value).astimezone(UTC)
    return at.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if micro else timestamp(at)


class Stored(Resource):
    """Create, read, replace and delete of one kind on a `Shelf`.

    `outward` and `inward` convert between the stored form and this view's (the identity,
    except for events.k8s.io/v1); `check` validates in this view's terms.
    """

    def __init__(self, kind: Kind, shelf: Shelf, check: Check, times: Times = Times()) -> None:
        self.kind = kind
        self.shelf = shelf
        self.check = check
        self.times = times
        self.objects = shelf.of(kind.resource)

    def outward(self, stored: Obj) -> Obj:
        return copy.deepcopy(stored)

    def inward(self, view: Obj) -> Obj:
        return copy.deepcopy(view)

    def list(self, namespace: str | None) -> list[Obj]:
        chosen = sorted(k for k in self.objects if namespace in (None, k[0]))
        return [self.outward(self.objects[k]) for k in chosen]

    def get(self, namespace: str, name: str) -> Obj:
        found = self.objects.get((namespace, name))
        if found is None:
            raise not_found(self.kind, name)
        return self.outward(found)

    def create(self, namespace: str, body: Obj, *, dry_run: bool) -> Obj:
        body = self.times.read(self.kind, body)
        meta = metadata(body)
        name = meta.get("name") or self._generated(meta.get("generateName"))
        check_identity(self.kind, namespace, name, body)
        if (namespace, name) in self.objects:
            raise already_exists(self.kind, name)
        self._validate(name, body, None)
        now = timestamp(self.shelf.clock())
        fields = {"uid": str(uuid.uuid4()), "creationTimestamp": now}
        return self._save(namespace, name, body, fields, dry_run=dry_run)

    def update(self, namespace: str, name: str, body: Obj, *, dry_run: bool) -> Obj:
        current = self.get(namespace, name)
        body = self.times.read(self.kind, body)
        check_identity(self.kind, namespace, name, body)
        check_version(self.kind, name, body, current["metadata"]["resourceVersion"])
        self._validate(name, body, current)
        kept = {k: current["metadata"][k] for k in ("uid", "creationTimestamp")}
        return self._save(namespace, name, body, kept, dry_run=dry_run)

    def delete(self, namespace: str, name: str, options: Obj, *, dry_run: bool) -> Obj:
        current = self.get(namespace, name)
        check_preconditions(self.kind, name, options, current)
        if not dry_run:
            self.shelf.drop(self.kind.resource, (namespace, name))
        details = {"name": name, "kind": self.kind.resource, "uid": current["metadata"]["uid"]}
        if self.kind.group:
            details["group"] = self.kind.group
        return {"kind": "Status", "apiVersion": "v1", "status": "Success", "details": details}

    def _generated(self, prefix: object) -> str:
        if not isinstance(prefix, str) or not prefix:
            cause = Cause("metadata.name", "Required value: name or generateName is required")
            raise invalid(self.kind, "", [cause])
        return prefix + "".join(self.shelf.rng.choice(ALPHABET) for _ in range(5))

    def _validate(self, name: str, body: Obj, current: Obj | None) -> None:
        causes = [] if _NAME.fullmatch(name) else [Cause("metadata.name", _NAME_RULE)]
        causes += self.check(body, current)
        if causes:
            raise invalid(self.kind, name, causes)

    def _save(self, namespace: str, name: str, body: Obj, fields: Obj, *, dry_run: bool) -> Obj:
        view = copy.deepcopy(body)
        view.update(self.kind.envelope())
        meta = view.setdefault("metadata", {})
        meta.update(fields, name=name, namespace=namespace)
        stored = self.inward(view)
        stored["metadata"]["resourceVersion"] = "" if dry_run else self.shelf.versions.next()
        if not dry_run:
            self.shelf.put(self.kind.resource, (namespace, name), stored)
        return self.outward(stored)


def require(condition: bool, field: str, message: str, causes: list[Cause]) -> None:
    if not condition:
        causes.append(Cause(field, message))


def sections(body: Obj, *names: str) -> list[Obj]:
    """The named top-level fields, each an object or absent; else 400 as a decode error."""
    found = []
    for name in names:
        value = body.get(name)
        if value is not None and not isinstance(value, dict):
            raise bad_request(f"{name} must be an object")
        found.append(value or {})
    return found
