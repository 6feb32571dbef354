"""Discovery: `/version`, `/api`, `/apis` and each group version's resource list, enough
for the official client's dynamic client and `kubectl api-resources`."""

from __future__ import annotations

from collections.abc import Sequence

from healer.sim.kubeapi_base import Obj, Resource

KUBERNETES_VERSION = ("1", "33")
SHORT_NAMES = {
    "deployments": ["deploy"],
    "replicasets": ["rs"],
    "pods": ["po"],
    "configmaps": ["cm"],
    "events": ["ev"],
}


def version() -> Obj:
    major, minor = KUBERNETES_VERSION
    return {
        "major": major,
        "minor": minor,
        "gitVersion": f"v{major}.{minor}.0-healer-sim",
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2026-01-05T06:00:00Z",
        "goVersion": "go1.24.0",
        "compiler": "gc",
        "platform": "linux/amd64",
    }


def core_versions(address: str) -> Obj:
    return {
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": address}],
    }


def groups(resources: Sequence[Resource]) -> Obj:
    names = sorted({r.kind.group for r in resources if r.kind.group})
    found = []
    for name in names:
        version = {"groupVersion": f"{name}/v1", "version": "v1"}
        found.append({"name": name, "versions": [version], "preferredVersion": version})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": found}


def verbs(resource: Resource) -> list[str]:
    """The verbs a resource serves: the ones its class overrides."""
    found = []
    for method, named in (
        ("create", ["create"]),
        ("delete", ["delete"]),
        ("get", ["get"]),
        ("list", ["list"]),
        ("update", ["patch", "update"]),
    ):
        if getattr(type(resource), method) is not getattr(Resource, method):
            found += named
    return sorted(found)


def resource_list(group_version: str, resources: Sequence[Resource]) -> Obj:
    found = []
    for resource in resources:
        kind = resource.kind
        entry: Obj = {
            "name": kind.rbac,
            "singularName": "" if kind.subresource else kind.kind.lower(),
            "namespaced": kind.namespaced,
            "kind": kind.kind,
            "verbs": verbs(resource),
        }
        if kind.subresource == "scale":
            entry.update(group="autoscaling", version="v1")
        if kind.resource in SHORT_NAMES and not kind.subresource:
            entry["shortNames"] = SHORT_NAMES[kind.resource]
        found.append(entry)
    return {
        "kind": "APIResourceList",
        "apiVersion": "v1",
        "groupVersion": group_version,
        "resources": found,
    }
