"""The simulated cluster's Kubernetes API: the subset the healer's adapter uses, served
beside `/metrics` by a `SimServer`, faithful enough for the official client.

apps/v1 deployments (+ /scale) and replicasets, v1 pods, configmaps and events,
events.k8s.io/v1 events, coordination.k8s.io/v1 leases; JSON, merge and strategic merge
patches; `?dryRun=All`; `resourceVersion` preconditions; errors as `Status` objects; a
deny list standing in for RBAC. Every request runs under the server's lock, so a request
sees (and changes) the simulation between two ticks, never during one.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection
from typing import TYPE_CHECKING

from healer.errors import ActionFailed, ClusterUnavailable
from healer.sim import kubeapi_discovery as discovery
from healer.sim.kubeapi_base import (
    JSON,
    ApiError,
    Cause,
    Kind,
    Obj,
    Resource,
    bad_request,
    forbidden,
    invalid,
    not_allowed,
)
from healer.sim.kubeapi_book import Book
from healer.sim.kubeapi_events import ClusterEvents
from healer.sim.kubeapi_kinds import seed_configmaps, stored_kinds
from healer.sim.kubeapi_patch import apply_patch, decode, decode_object
from healer.sim.kubeapi_pods import Pods
from healer.sim.kubeapi_select import select
from healer.sim.kubeapi_stall import StallPlan, Stalls
from healer.sim.kubeapi_store import Shelf
from healer.sim.kubeapi_workloads import Apps, Deployments, ReplicaSets, Scales
from healer.sim.serve import Request, Response

if TYPE_CHECKING:
    from healer.sim.serve import SimServer

Rule = tuple[str, str]  # (verb, resource) as RBAC names them: ("patch", "deployments/scale")
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
_NS = r"/namespaces/(?P<namespace>[^/]+)"
_NAME = r"/(?P<name>[^/]+)"


class KubeApi:
    """The routes, their resources and the deny list; `deny` may change while serving."""

    def __init__(self, server: SimServer, deny: Collection[Rule] = ()) -> None:
        self.server = server
        self.deny: set[Rule] = set(deny)
        self.stalls = Stalls()
        self.book = Book()
        cluster = server.simulation.cluster
        self.shelf = Shelf(self.book.versions, lambda: cluster.now)
        self.apps = Apps(server.simulation, self.book)
        self.events = ClusterEvents(self.shelf, self.book)
        seed_configmaps(self.shelf, self.apps.deployments(None), cluster.now)
        self.resources: list[Resource] = [
            Deployments(self.apps),
            Scales(self.apps),
            ReplicaSets(self.apps),
            Pods(self.apps, self.events),
            *stored_kinds(self.shelf),
        ]

    # --- routes ---

    def register(self) -> None:
        router = self.server.router
        for resource in self.resources:
            kind = resource.kind
            item = f"{kind.prefix}{_NS}/{kind.resource}{_NAME}"
            if kind.subresource:
                self._route(f"{item}/{kind.subresource}", resource, collection=False)
                continue
            self._route(f"{kind.prefix}{_NS}/{kind.resource}", resource, collection=True)
            self._route(f"{kind.prefix}/{kind.resource}", resource, collection=True)
            self._route(item, resource, collection=False)
        self._discovery(router.add)
        router.add("GET", "/-/kube/deny", lambda _: self._deny_list())
        router.add("PUT", "/-/kube/deny", self._set_deny)
        router.add("GET", "/-/kube/stall", lambda _: _json(self.stalls.state()))
        router.add("PUT", "/-/kube/stall", self._set_stall)
        for method in METHODS:  # why: last, so that only paths nothing else serves reach it
            router.add(method, r"/apis?(/.*)?", _unknown)

    def _route(self, pattern: str, resource: Resource, *, collection: bool) -> None:
        for method in METHODS:
            verb = _verb(method, collection=collection)
            self.server.router.add(method, f"{pattern}/?", self._handler(resource, verb))

    def _handler(self, resource: Resource, verb: str) -> Callable[[Request], Response]:
        return lambda request: self.handle(resource, verb, request)

    def _discovery(self, add: Callable[[str, str, Callable[[Request], Response]], None]) -> None:
        add("GET", "/version/?", lambda _: _json(discovery.version()))
        add("GET", "/api/?", lambda _: _json(discovery.core_versions(self._address())))
        add("GET", "/apis/?", lambda _: _json(discovery.groups(self.resources)))
        for prefix in sorted({r.kind.prefix for r in self.resources}):
            chosen = [r for r in self.resources if r.kind.prefix == prefix]
            listing = discovery.resource_list(chosen[0].kind.api_version, chosen)
            add("GET", f"{prefix}/?", _constant(listing))

    def _address(self) -> str:
        host, port = self.server.address
        return f"{host}:{port}"

    # --- requests ---

    def handle(self, resource: Resource, verb: str, request: Request) -> Response:
        namespace = request.params.get("namespace")
        name = request.params.get("name", "")
        dry = bool(request.query.get("dryRun"))
        stall = self.stalls.take(resource.kind.rbac, verb, dry_run=dry)
        if stall is not None and not stall.apply:
            self.stalls.hold(stall.seconds)
            return ApiError(504, "Timeout", "the request timed out before it was served").response()
        try:
            with self.server.lock:
                self._observe()
                self._authorize(resource.kind, verb, name, namespace)
                status, body = self._serve(resource, verb, request, namespace, name)
                self._observe()
        except ApiError as exc:
            return exc.response()
        except ClusterUnavailable as exc:  # why: SimKube.fail_next stands for an API outage
            return ApiError(503, "ServiceUnavailable", str(exc)).response()
        except ActionFailed as exc:  # why: the simulation refused what validation let through
            return ApiError(422, "Invalid", str(exc)).response()
        if stall is not None:
            self.stalls.hold(stall.seconds)  # why: made, but the answer is late (see Stalls)
        return _json(body, status)

    def _observe(self) -> None:
        """Post the Events of what changed since the last request (see `ClusterEvents`)."""
        self.events.observe(self.apps.deployments(None), self.server.simulation.cluster.now)

    def _authorize(self, kind: Kind, verb: str, name: str, namespace: str | None) -> None:
        if verb == "unsupported":
            return
        for rule in ((verb, kind.rbac), ("*", kind.rbac), (verb, "*"), ("*", "*")):
            if rule in self.deny:
                raise forbidden(kind, verb, name, namespace)

    def _serve(
        self, resource: Resource, verb: str, request: Request, namespace: str | None, name: str
    ) -> tuple[int, Obj]:
        ns = namespace or ""
        if verb == "list":
            return 200, self._list(resource, namespace, request)
        if verb == "get":
            return 200, resource.get(ns, name)
        dry_run = _dry_run(request)
        if verb == "create":
            return 201, resource.create(ns, decode_object(request.body), dry_run=dry_run)
        if verb == "update":
            return 200, resource.update(ns, name, decode_object(request.body), dry_run=dry_run)
        if verb == "patch":
            current = resource.get(ns, name)
            patched = apply_patch(request.headers.get("content-type", ""), current, request.body)
            return 200, resource.update(ns, name, patched, dry_run=dry_run)
        if verb == "delete":
            options = decode_object(request.body) if request.body.strip() else {}
            dry_run = dry_run or options.get("dryRun") == ["All"]
            return 200, resource.delete(ns, name, options, dry_run=dry_run)
        raise not_allowed(resource.kind, request.method)

    def _list(self, resource: Resource, namespace: str | None, request: Request) -> Obj:
        if request.query.get("watch", ["false"])[0] in ("true", "1"):
            raise not_allowed(resource.kind, "watch")
        items, token = select(resource.list(namespace), request.query)
        meta: Obj = {"resourceVersion": str(self.book.versions.counter)}
        if token is not None:
            meta["continue"] = token
        kind = resource.kind
        return {
            "kind": f"{kind.kind}List",
            "apiVersion": kind.api_version,
            "metadata": meta,
            "items": items,
        }

    # --- the deny list, for tests that change it while the healer runs ---

    def _deny_list(self) -> Response:
        with self.server.lock:
            return _json(sorted([list(rule) for rule in self.deny]))

    def _set_deny(self, request: Request) -> Response:
        rules = decode(request.body)
        if not isinstance(rules, list) or not all(_is_rule(r) for r in rules):
            return bad_request('expected a list of ["verb", "resource"] pairs').response()
        with self.server.lock:
            self.deny = {(r[0], r[1]) for r in rules}
        return self._deny_list()

    def _set_stall(self, request: Request) -> Response:
        body = decode(request.body)
        keys = {"writes", "seconds", "apply"}
        if not isinstance(body, dict) or not set(body) <= keys:
            return bad_request(f"expected an object with keys {sorted(keys)}").response()
        writes, seconds = body.get("writes", 1), body.get("seconds", 30.0)
        if not isinstance(writes, int) or not isinstance(seconds, int | float):
            return bad_request("writes must be an integer and seconds a number").response()
        self.stalls.set(StallPlan(writes, float(seconds), bool(body.get("apply", True))))
        return _json(self.stalls.state())


def _verb(method: str, *, collection: bool) -> str:
    if collection:
        return {"GET": "list", "POST": "create"}.get(method, "unsupported")
    return {"GET": "get", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}.get(
        method, "unsupported"
    )


def _dry_run(request: Request) -> bool:
    values = request.query.get("dryRun", [])
    if any(v != "All" for v in values):
        why = f'Unsupported value: "{values[0]}": supported values: "All"'
        raise invalid(Kind("meta.k8s.io", "options", "Options"), "", [Cause("dryRun", why)])
    return bool(values)


def _is_rule(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)


def _unknown(request: Request) -> Response:
    message = "the server could not find the requested resource"
    return ApiError(
        404,
        "NotFound",
        message,
        {"causes": [{"reason": "UnexpectedServerResponse", "message": "404 page not found"}]},
    ).response()


def _constant(body: Obj) -> Callable[[Request], Response]:
    return lambda _: _json(body)


def _json(body: object, status: int = 200) -> Response:
    return Response(status, json.dumps(body).encode(), JSON)


def register(server: SimServer, *, deny: Collection[Rule] = ()) -> KubeApi:
    """Serve the Kubernetes API on `server`'s router; `deny` lists (verb, resource) pairs
    that answer 403 Forbidden, e.g. `("patch", "deployments")`, `("*", "leases")`."""
    api = KubeApi(server, deny)
    api.register()
    return api
