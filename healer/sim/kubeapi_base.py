"""What the simulated Kubernetes API serves (`Kind`, `Resource`) and how it says no.

Errors are `ApiError`s that answer as `Status` objects worded the way kube-apiserver words
them, so the official client raises the same exceptions, with the same bodies, as it does
against a real cluster. A `Resource` serves one kind's verbs; what it does not allow is 405.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from healer.sim.serve import Response

Obj = dict[str, Any]

JSON = "application/json"
SERVICE_ACCOUNT = "system:serviceaccount:healer:healer"  # who the simulated RBAC refuses


@dataclass(frozen=True)
class Kind:
    """One resource (or subresource) of one API group version."""

    group: str  # "" for the core group
    resource: str  # plural, as in the URL: "deployments"
    kind: str
    subresource: str = ""
    version: str = "v1"
    namespaced: bool = True

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def prefix(self) -> str:
        """The URL path every route of this group version starts with."""
        return f"/apis/{self.group}/{self.version}" if self.group else "/api/v1"

    @property
    def qualified(self) -> str:
        """`deployments.apps`, `pods`: how error messages name the resource."""
        return f"{self.resource}.{self.group}" if self.group else self.resource

    @property
    def rbac(self) -> str:
        """The resource as RBAC rules (and the deny list) name it: `deployments/scale`."""
        return f"{self.resource}/{self.subresource}" if self.subresource else self.resource

    def envelope(self, **fields: object) -> dict[str, object]:
        return {"kind": self.kind, "apiVersion": self.api_version, **fields}


DEPLOYMENTS = Kind("apps", "deployments", "Deployment")
SCALE = Kind("apps", "deployments", "Scale", subresource="scale")
REPLICASETS = Kind("apps", "replicasets", "ReplicaSet")
PODS = Kind("", "pods", "Pod")
CONFIGMAPS = Kind("", "configmaps", "ConfigMap")
EVENTS = Kind("", "events", "Event")
EVENTS_V1 = Kind("events.k8s.io", "events", "Event")
LEASES = Kind("coordination.k8s.io", "leases", "Lease")
KINDS = (DEPLOYMENTS, SCALE, REPLICASETS, PODS, CONFIGMAPS, EVENTS, EVENTS_V1, LEASES)


@dataclass(frozen=True)
class Cause:
    """One field a request got wrong, as `details.causes` lists it."""

    field: str
    message: str
    reason: str = "FieldValueInvalid"


class ApiError(Exception):
    """A request the API server refuses; `response()` is its `Status` object."""

    def __init__(
        self,
        code: int,
        reason: str,
        message: str,
        details: Mapping[str, object] | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.reason = reason
        self.message = message
        self.details = dict(details or {})

    def status(self) -> dict[str, object]:
        body: dict[str, object] = {
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        }
        if self.details:
            body["details"] = self.details
        return body

    def response(self) -> Response:
        return Response(self.code, json.dumps(self.status()).encode(), JSON)


def _details(kind: Kind, name: str) -> dict[str, object]:
    details: dict[str, object] = {"name": name, "kind": kind.resource}
    if kind.group:
        details["group"] = kind.group
    return details


def not_found(kind: Kind, name: str) -> ApiError:
    return ApiError(404, "NotFound", f'{kind.qualified} "{name}" not found', _details(kind, name))


def already_exists(kind: Kind, name: str) -> ApiError:
    message = f'{kind.qualified} "{name}" already exists'
    return ApiError(409, "AlreadyExists", message, _details(kind, name))


def conflict(kind: Kind, name: str) -> ApiError:
    message = (
        f'Operation cannot be fulfilled on {kind.qualified} "{name}": the object has been '
        "modified; please apply your changes to the latest version and try again"
    )
    return ApiError(409, "Conflict", message, _details(kind, name))


def forbidden(kind: Kind, verb: str, name: str, namespace: str | None) -> ApiError:
    who = f'{kind.qualified} "{name}"' if name else kind.qualified
    where = f' in the namespace "{namespace}"' if namespace else " at the cluster scope"
    message = (
        f'{who} is forbidden: User "{SERVICE_ACCOUNT}" cannot {verb} resource "{kind.rbac}" '
        f'in API group "{kind.group}"{where}'
    )
    return ApiError(403, "Forbidden", message, _details(kind, name))


def invalid(kind: Kind, name: str, causes: list[Cause], *, group: str | None = None) -> ApiError:
    """422: `Deployment.apps "x" is invalid: spec.replicas: Invalid value: ...`."""
    group = kind.group if group is None else group
    qualified = f"{kind.kind}.{group}" if group else kind.kind
    said = "; ".join(f"{c.field}: {c.message}" for c in causes)
    message = f'{qualified} "{name}" is invalid: {said}'
    details: dict[str, object] = {
        "name": name,
        "kind": kind.kind,
        "causes": [{"reason": c.reason, "message": c.message, "field": c.field} for c in causes],
    }
    if group:
        details["group"] = group
    return ApiError(422, "Invalid", message, details)


def bad_request(message: str) -> ApiError:
    return ApiError(400, "BadRequest", message)


def not_allowed(kind: Kind, verb: str) -> ApiError:
    message = f"the server does not allow this method on the requested resource ({verb})"
    return ApiError(405, "MethodNotAllowed", message, {"kind": kind.resource})


def value_error(value: object, why: str) -> str:
    """The `Invalid value: -1: must be ...` wording of a field error."""
    return f"Invalid value: {json.dumps(value)}: {why}"


# --- what every resource does ---


class Resource:
    """One kind's verbs; each answers a whole object (or list of them) or raises `ApiError`.

    PATCH is not here: the API reads the object, applies the patch and calls `update`, so
    a patch is validated exactly as a PUT of its result would be.
    """

    kind: Kind

    def list(self, namespace: str | None) -> list[Obj]:
        raise not_allowed(self.kind, "list")

    def get(self, namespace: str, name: str) -> Obj:
        raise not_allowed(self.kind, "get")

    def create(self, namespace: str, body: Obj, *, dry_run: bool) -> Obj:
        raise not_allowed(self.kind, "create")

    def update(self, namespace: str, name: str, body: Obj, *, dry_run: bool) -> Obj:
        raise not_allowed(self.kind, "update")

    def delete(self, namespace: str, name: str, options: Obj, *, dry_run: bool) -> Obj:
        raise not_allowed(self.kind, "delete")


def metadata(body: Obj) -> Obj:
    meta = body.get("metadata")
    if meta is None:
        return {}
    if not isinstance(meta, dict):
        raise bad_request("metadata must be an object")
    return meta


def check_identity(kind: Kind, namespace: str, name: str, body: Obj) -> None:
    """A PUT names the object of its URL, in the namespace of its URL."""
    meta = metadata(body)
    if meta.get("name") not in (None, "", name):
        raise bad_request(
            f"the name of the object ({meta['name']}) does not match the name on the URL ({name})"
        )
    if kind.namespaced and meta.get("namespace") not in (None, "", namespace):
        raise bad_request(
            "the namespace of the provided object does not match the namespace sent on the request"
        )


def check_version(kind: Kind, name: str, body: Obj, current: str) -> None:
    """A `resourceVersion` in the body is a precondition: stale means 409 Conflict."""
    wanted = metadata(body).get("resourceVersion")
    if wanted not in (None, "") and str(wanted) != current:
        raise conflict(kind, name)


def check_preconditions(kind: Kind, name: str, options: Obj, current: Obj) -> None:
    """DeleteOptions' `preconditions` (uid, resourceVersion) against the current object."""
    wanted = options.get("preconditions") or {}
    meta = current["metadata"]
    for field in ("uid", "resourceVersion"):
        if wanted.get(field) not in (None, "") and wanted[field] != meta.get(field):
            raise ApiError(
                409,
                "Conflict",
                f'Operation cannot be fulfilled on {kind.qualified} "{name}": Precondition '
                f"failed: {field} in precondition: {wanted[field]}, {field} in object meta: "
                f"{meta.get(field)}",
                _details(kind, name),
            )


def string_map(value: object) -> bool:
    return isinstance(value, dict) and all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    )
