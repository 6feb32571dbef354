"""The simulated cluster's Kubernetes API, driven by the official `kubernetes` client
against a running `SimServer`: reads, writes that really change the simulation, dry runs,
conflicts, RBAC refusals, invalid requests, events and leases."""

from __future__ import annotations

import dataclasses
import json
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client import ApiException

from healer.domain.model import ServiceRef
from healer.sim.kubeapi import KubeApi, register
from healer.sim.scenario import Scenario
from healer.sim.serve import SimServer, scenario_named

NS = "boutique"
CART = ServiceRef(NS, "cartservice")
CHECKOUT = ServiceRef(NS, "checkoutservice")
RESTARTED_AT = "kubectl.kubernetes.io/restartedAt"
REVISION = "deployment.kubernetes.io/revision"


def quick(name: str = "steady-state-rt", fault_at: float | None = None) -> Scenario:
    """A real-time scenario; its faults, if any, start `fault_at` sim seconds in."""
    scenario = scenario_named(name)
    if fault_at is not None:
        at = timedelta(seconds=fault_at)
        faults = tuple(dataclasses.replace(f, at=at) for f in scenario.faults)
        scenario = dataclasses.replace(scenario, faults=faults)
    return scenario


class Cluster:
    """A running SimServer with its Kubernetes API and an official client pointed at it."""

    def __init__(self, api_client: client.ApiClient) -> None:
        # why: the client's first API objects take a second or more to build; build them
        # before the clock starts, so that a test's sim seconds are not spent on them
        self.apps = client.AppsV1Api(api_client)
        self.core = client.CoreV1Api(api_client)
        self.events = client.EventsV1Api(api_client)
        self.leases = client.CoordinationV1Api(api_client)
        self.client = api_client

    def serve(self, server: SimServer, api: KubeApi) -> Cluster:
        self.server = server
        self.api = api
        server.start()
        self.client.configuration.host = server.url
        return self

    def state(self) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.server.url}/-/state", timeout=5) as answer:
            found: dict[str, Any] = json.loads(answer.read())
        return found

    def service(self, name: str) -> dict[str, Any]:
        found: dict[str, Any] = self.state()["services"][name]
        return found

    def ticks(self, n: int, within: float = 10.0) -> None:
        """Wait for n more ticks of the simulation."""
        cluster = self.server.simulation.cluster
        target = cluster.ticks + n
        wait_for(lambda: cluster.ticks >= target, within)

    def errors(self, ref: ServiceRef, last: int) -> float:
        """Mean true 5xx ratio of a service over the last ticks."""
        with self.server.lock:
            truth = self.server.simulation.cluster.truth[-last:]
            return sum(t.error_ratio[ref] for t in truth) / len(truth)


def wait_for(check: Callable[[], bool], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


@pytest.fixture
def running() -> Iterator[Callable[..., Cluster]]:
    started: list[tuple[SimServer, client.ApiClient]] = []

    def start(scenario: Scenario | None = None, *, speed: float = 20.0, deny: Any = ()) -> Cluster:
        api_client = client.ApiClient(client.Configuration())
        cluster = Cluster(api_client)
        server = SimServer(scenario or quick(), speed=speed)
        started.append((server, api_client))
        return cluster.serve(server, register(server, deny=deny))

    yield start
    for server, api_client in started:
        api_client.close()
        server.stop()


def status(exc: ApiException) -> dict[str, Any]:
    """The `Status` object an API error carries."""
    body: dict[str, Any] = json.loads(exc.body)
    assert body["kind"] == "Status"
    assert body["apiVersion"] == "v1"
    assert body["status"] == "Failure"
    assert body["code"] == exc.status
    return body


def env_patch(name: str, value: object, container: str = "server") -> dict[str, Any]:
    """A strategic merge patch setting one env var, as `kubectl set env` sends it."""
    env = [{"name": name, "value": value}]
    return {"spec": {"template": {"spec": {"containers": [{"name": container, "env": env}]}}}}


def env_of(deployment: Any) -> dict[str, str]:
    return {e.name: e.value for e in deployment.spec.template.spec.containers[0].env}


def history(k: Cluster, name: str) -> list[Any]:
    """The deployment's ReplicaSets, oldest revision first (what `rollout history` reads)."""
    found = k.apps.list_namespaced_replica_set(NS, label_selector=f"app={name}").items
    return sorted(found, key=lambda rs: int(rs.metadata.annotations[REVISION]))


def undo_patch(rs: Any, k: Cluster) -> list[dict[str, Any]]:
    """`kubectl rollout undo`: a JSON patch putting back the ReplicaSet's pod template."""
    template = k.client.sanitize_for_serialization(rs.spec.template)
    del template["metadata"]["labels"]["pod-template-hash"]
    return [{"op": "replace", "path": "/spec/template", "value": template}]


# --- reads ---


def test_lists_and_reads_deployments_as_the_client_expects(
    running: Callable[..., Cluster],
) -> None:
    k = running()
    listed = k.apps.list_namespaced_deployment(NS)
    assert listed.kind == "DeploymentList" and listed.api_version == "apps/v1"
    assert int(listed.metadata.resource_version) > 0
    names = {d.metadata.name for d in listed.items}
    assert names == set(k.state()["services"])
    cart = k.apps.read_namespaced_deployment("cartservice", NS)
    meta = cart.metadata
    assert (meta.name, meta.namespace, meta.generation) == ("cartservice", NS, 1)
    assert meta.uid and meta.resource_version and isinstance(meta.creation_timestamp, datetime)
    assert meta.annotations[REVISION] == str(k.service("cartservice")["revision"])
    assert cart.spec.replicas == k.service("cartservice")["replicas"]
    assert cart.spec.selector.match_labels == {"app": "cartservice"}
    assert cart.spec.template.spec.containers[0].image == k.service("cartservice")["image"]
    assert cart.status.ready_replicas == cart.spec.replicas
    everywhere = k.apps.list_deployment_for_all_namespaces()
    assert {d.metadata.name for d in everywhere.items} == names


def test_replicasets_carry_the_rollout_history(running: Callable[..., Cluster]) -> None:
    k = running()
    deployment = k.apps.read_namespaced_deployment("cartservice", NS)
    sets = history(k, "cartservice")
    assert [int(rs.metadata.annotations[REVISION]) for rs in sets] == [1, 2, 3]
    for rs in sets:
        (owner,) = rs.metadata.owner_references
        assert (owner.kind, owner.name, owner.uid) == (
            "Deployment",
            "cartservice",
            deployment.metadata.uid,
        )
        assert owner.controller is True
        hash_ = rs.metadata.labels["pod-template-hash"]
        assert rs.metadata.name == f"cartservice-{hash_}"
        assert rs.spec.template.metadata.labels == {
            "app": "cartservice",
            "pod-template-hash": hash_,
        }
    current = sets[-1]
    assert current.spec.replicas == deployment.spec.replicas == current.status.replicas
    assert sets[0].spec.replicas == 0
    assert (
        current.spec.template.spec.containers[0].image
        == deployment.spec.template.spec.containers[0].image
    )
    assert (
        k.apps.read_namespaced_replica_set(current.metadata.name, NS).metadata.uid
        == current.metadata.uid
    )


def test_pods_show_restarts_readiness_and_oom_kills(running: Callable[..., Cluster]) -> None:
    k = running()
    with k.server.lock:
        k.server.simulation.cluster.restart_pod(CART, 0)
    pods = k.core.list_namespaced_pod(NS, label_selector="app=cartservice").items
    assert len(pods) == k.service("cartservice")["ready"]
    sets = {rs.metadata.name for rs in history(k, "cartservice")}
    restarted = [p for p in pods if p.status.container_statuses[0].restart_count > 0]
    assert len(restarted) == 1
    last = restarted[0].status.container_statuses[0].last_state.terminated
    assert (last.reason, last.exit_code) == ("OOMKilled", 137)
    for pod in pods:
        assert pod.status.phase == "Running"
        assert pod.status.container_statuses[0].ready is True
        assert any(c.type == "Ready" and c.status == "True" for c in pod.status.conditions)
        assert pod.metadata.owner_references[0].name in sets
    one = k.core.read_namespaced_pod(pods[0].metadata.name, NS)
    assert one.metadata.uid == pods[0].metadata.uid
    everywhere = k.core.list_pod_for_all_namespaces(label_selector="app in (cartservice, frontend)")
    assert {p.metadata.labels["app"] for p in everywhere.items} == {"cartservice", "frontend"}


def test_lists_page_with_limit_and_continue(running: Callable[..., Cluster]) -> None:
    k = running()
    first = k.apps.list_namespaced_deployment(NS, limit=4)
    assert len(first.items) == 4 and first.metadata._continue
    rest = k.apps.list_namespaced_deployment(NS, limit=100, _continue=first.metadata._continue)
    assert rest.metadata._continue is None
    names = [d.metadata.name for d in first.items + rest.items]
    assert sorted(names) == sorted(k.state()["services"])


def test_resource_version_moves_only_when_the_object_does(running: Callable[..., Cluster]) -> None:
    k = running()
    before = k.apps.read_namespaced_deployment("frontend", NS).metadata.resource_version
    k.ticks(3)
    assert k.apps.read_namespaced_deployment("frontend", NS).metadata.resource_version == before
    k.apps.patch_namespaced_deployment_scale("frontend", NS, {"spec": {"replicas": 4}})
    after = k.apps.read_namespaced_deployment("frontend", NS)
    assert int(after.metadata.resource_version) > int(before)
    assert after.metadata.generation == 2


# --- writes that drive the simulation ---


def test_scaling_adds_capacity(running: Callable[..., Cluster]) -> None:
    k = running()
    before = k.service("recommendationservice")["replicas"]
    scale = k.apps.patch_namespaced_deployment_scale(
        "recommendationservice", NS, {"spec": {"replicas": before + 3}}
    )
    assert scale.kind == "Scale" and scale.spec.replicas == before + 3
    assert k.service("recommendationservice")["replicas"] == before + 3
    k.ticks(2)
    assert k.service("recommendationservice")["ready"] == before + 3
    with k.server.lock:
        capacity = k.server.simulation.cluster.last["recommendationservice"].cpu_limit
    assert capacity == pytest.approx((before + 3) * 0.5, rel=0.5)
    pods = k.core.list_namespaced_pod(NS, label_selector="app=recommendationservice").items
    assert len(pods) == before + 3
    read = k.apps.read_namespaced_deployment_scale("recommendationservice", NS)
    read.spec.replicas = 1
    k.apps.replace_namespaced_deployment_scale("recommendationservice", NS, read)
    k.ticks(2)
    assert k.service("recommendationservice")["ready"] == 1
    assert [m.action for m in k.server.simulation.kube.mutations] == ["scale", "scale"]
    k.server.simulation.kube.fail_next(1)  # the API server is briefly unavailable
    with pytest.raises(ApiException) as down:
        k.apps.patch_namespaced_deployment_scale(
            "recommendationservice", NS, {"spec": {"replicas": 2}}
        )
    assert (status(down.value)["code"], status(down.value)["reason"]) == (503, "ServiceUnavailable")
    assert k.service("recommendationservice")["replicas"] == 1


def test_a_new_pool_size_changes_the_pool(running: Callable[..., Cluster]) -> None:
    k = running(quick("pool-exhaustion-rt", fault_at=1.0))
    wait_for(
        lambda: (
            env_of(k.apps.read_namespaced_deployment("checkoutservice", NS))["DB_POOL_SIZE"] == "3"
        )
    )
    k.ticks(8)
    assert k.errors(CHECKOUT, 5) > 0.05  # the pool of 3 is exhausted
    patched = k.apps.patch_namespaced_deployment(
        "checkoutservice", NS, env_patch("DB_POOL_SIZE", "20")
    )
    assert env_of(patched)["DB_POOL_SIZE"] == "20"
    assert patched.metadata.annotations[REVISION] == "5"
    k.ticks(8)
    with k.server.lock:
        assert k.server.simulation.cluster.deployment(CHECKOUT).pool_size == 20
        assert not k.server.simulation.cluster.active_faults()
    assert k.errors(CHECKOUT, 4) < 0.01
    assert k.server.simulation.kube.mutations[-1].args == {"name": "DB_POOL_SIZE", "value": "20"}


def test_merge_patch_sets_env_and_annotations(running: Callable[..., Cluster]) -> None:
    k = running()
    deployment = k.apps.read_namespaced_deployment("cartservice", NS)
    # a merge patch replaces lists whole: the whole container goes, with one more variable
    container = k.client.sanitize_for_serialization(deployment.spec.template.spec.containers[0])
    container["env"].append({"name": "FEATURE_X", "value": "on"})
    body = {
        "metadata": {"annotations": {"healer.io/incident": "42"}},
        "spec": {"template": {"spec": {"containers": [container]}}},
    }
    patched = k.apps.patch_namespaced_deployment(
        "cartservice", NS, body, _content_type="application/merge-patch+json"
    )
    assert env_of(patched)["FEATURE_X"] == "on"
    assert patched.metadata.annotations["healer.io/incident"] == "42"
    annotated = k.apps.patch_namespaced_deployment(
        "cartservice",
        NS,
        {"metadata": {"annotations": {"healer.io/incident": None}}},
        _content_type="application/merge-patch+json",
    )
    assert "healer.io/incident" not in annotated.metadata.annotations
    assert annotated.metadata.annotations[REVISION] == patched.metadata.annotations[REVISION]


def test_rollout_undo_removes_the_bad_version(running: Callable[..., Cluster]) -> None:
    k = running(quick("bad-deploy-rt", fault_at=1.0))
    wait_for(lambda: k.service("cartservice")["revision"] == 4)
    k.ticks(6)
    assert k.errors(CART, 4) > 0.15  # a quarter of requests fail on the bad version
    bad, previous = history(k, "cartservice")[-1], history(k, "cartservice")[-2]
    undone = k.apps.patch_namespaced_deployment("cartservice", NS, undo_patch(previous, k))
    assert undone.metadata.annotations[REVISION] == "5"
    assert env_of(undone) == {
        e.name: e.value for e in previous.spec.template.spec.containers[0].env
    }
    assert (
        undone.spec.template.spec.containers[0].image
        == previous.spec.template.spec.containers[0].image
    )
    k.ticks(6)
    assert k.errors(CART, 3) < 0.02
    with k.server.lock:
        assert not k.server.simulation.cluster.active_faults()
    after = history(k, "cartservice")
    # as in Kubernetes, the old ReplicaSet comes back as the newest revision
    assert after[-1].metadata.name == previous.metadata.name
    assert after[-2].metadata.name == bad.metadata.name
    assert k.server.simulation.kube.mutations[-1].action == "rollback"


def test_restart_annotation_restarts_the_pods(running: Callable[..., Cluster]) -> None:
    k = running()
    with k.server.lock:
        k.server.simulation.cluster.restart_pod(CART, 0)
    before = k.core.list_namespaced_pod(NS, label_selector="app=cartservice").items
    assert sum(p.status.container_statuses[0].restart_count for p in before) == 1
    now = datetime.now(UTC).isoformat()
    patch = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: now}}}}}
    restarted = k.apps.patch_namespaced_deployment("cartservice", NS, patch)
    assert restarted.spec.template.metadata.annotations == {RESTARTED_AT: now}
    k.ticks(2)
    after = k.core.list_namespaced_pod(NS, label_selector="app=cartservice").items
    assert len(after) == len(before)
    assert not {p.metadata.name for p in after} & {p.metadata.name for p in before}
    assert all(p.status.container_statuses[0].restart_count == 0 for p in after)
    with k.server.lock:
        pods = k.server.simulation.cluster.deployment(CART).pods
        assert all(sum(p.counters) < sum(q.counters) + 1e9 for p in pods for q in pods)
        assert all(p.started > before[0].metadata.creation_timestamp for p in pods)
    newest = history(k, "cartservice")[-1]
    assert newest.spec.template.metadata.annotations == {RESTARTED_AT: now}
    assert (
        newest.spec.template.spec.containers[0].image
        == restarted.spec.template.spec.containers[0].image
    )


def test_deleting_a_pod_lets_its_replicaset_replace_it(running: Callable[..., Cluster]) -> None:
    k = running()
    pods = k.core.list_namespaced_pod(NS, label_selector="app=frontend").items
    victim = pods[0].metadata.name
    kept = k.core.delete_namespaced_pod(victim, NS, dry_run="All")
    assert kept.metadata.name == victim
    assert victim in {p.metadata.name for p in k.core.list_namespaced_pod(NS).items}
    stale = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid="not-this-pod"))
    with pytest.raises(ApiException) as other:
        k.core.delete_namespaced_pod(victim, NS, body=stale)
    assert status(other.value)["reason"] == "Conflict"
    same = client.V1DeleteOptions(preconditions=client.V1Preconditions(uid=pods[0].metadata.uid))
    gone = k.core.delete_namespaced_pod(victim, NS, body=same)
    assert gone.metadata.deletion_timestamp is not None
    with pytest.raises(ApiException) as missing:
        k.core.read_namespaced_pod(victim, NS)
    assert status(missing.value)["reason"] == "NotFound"
    k.ticks(2)
    after = k.core.list_namespaced_pod(NS, label_selector="app=frontend").items
    assert len(after) == len(pods) and victim not in {p.metadata.name for p in after}


# --- what is refused, and how ---


def test_dry_run_changes_nothing(running: Callable[..., Cluster]) -> None:
    k = running()
    before = k.apps.read_namespaced_deployment("checkoutservice", NS)
    pods = {
        p.metadata.name
        for p in k.core.list_namespaced_pod(NS, label_selector="app=checkoutservice").items
    }
    scale = k.apps.patch_namespaced_deployment_scale(
        "checkoutservice", NS, {"spec": {"replicas": 7}}, dry_run="All"
    )
    assert scale.spec.replicas == 7
    tried = k.apps.patch_namespaced_deployment(
        "checkoutservice", NS, env_patch("DB_POOL_SIZE", "30"), dry_run="All"
    )
    assert env_of(tried)["DB_POOL_SIZE"] == "30"
    undo = undo_patch(history(k, "checkoutservice")[0], k)
    k.apps.patch_namespaced_deployment("checkoutservice", NS, undo, dry_run="All")
    restart = {"spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "now"}}}}}
    k.apps.patch_namespaced_deployment("checkoutservice", NS, restart, dry_run="All")
    with pytest.raises(ApiException) as refused:  # validated all the same
        k.apps.patch_namespaced_deployment(
            "checkoutservice", NS, env_patch("DB_POOL_SIZE", "lots"), dry_run="All"
        )
    assert refused.value.status == 422
    k.ticks(2)
    after = k.apps.read_namespaced_deployment("checkoutservice", NS)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert after.spec == before.spec
    assert {
        p.metadata.name
        for p in k.core.list_namespaced_pod(NS, label_selector="app=checkoutservice").items
    } == pods
    assert k.server.simulation.kube.mutations == []
    with pytest.raises(ApiException) as bad_value:
        k.apps.patch_namespaced_deployment_scale(
            "checkoutservice", NS, {"spec": {"replicas": 2}}, dry_run="Some"
        )
    assert bad_value.value.status == 422


def test_a_stale_resource_version_is_a_conflict(running: Callable[..., Cluster]) -> None:
    k = running()
    stale = k.apps.read_namespaced_deployment("adservice", NS)
    k.apps.patch_namespaced_deployment_scale("adservice", NS, {"spec": {"replicas": 3}})
    stale.spec.replicas = 5
    with pytest.raises(ApiException) as conflict:
        k.apps.replace_namespaced_deployment("adservice", NS, stale)
    body = status(conflict.value)
    assert (body["code"], body["reason"]) == (409, "Conflict")
    assert body["details"] == {"name": "adservice", "group": "apps", "kind": "deployments"}
    assert "the object has been modified" in body["message"]
    stale_patch = {
        "metadata": {"resourceVersion": stale.metadata.resource_version},
        "spec": {"replicas": 6},
    }
    with pytest.raises(ApiException) as again:
        k.apps.patch_namespaced_deployment("adservice", NS, stale_patch)
    assert again.value.status == 409
    k.ticks(2)  # why: the pods it adds change its status, and so its resourceVersion
    fresh = k.apps.read_namespaced_deployment("adservice", NS)
    fresh.spec.replicas = 5
    assert k.apps.replace_namespaced_deployment("adservice", NS, fresh).spec.replicas == 5
    assert k.service("adservice")["replicas"] == 5


def test_the_deny_list_answers_forbidden(running: Callable[..., Cluster]) -> None:
    k = running(deny={("patch", "deployments/scale"), ("*", "leases")})
    with pytest.raises(ApiException) as refused:
        k.apps.patch_namespaced_deployment_scale(
            "frontend", NS, {"spec": {"replicas": 9}}, dry_run="All"
        )
    body = status(refused.value)
    assert (body["code"], body["reason"]) == (403, "Forbidden")
    assert body["message"] == (
        'deployments.apps "frontend" is forbidden: User "system:serviceaccount:healer:healer" '
        'cannot patch resource "deployments/scale" in API group "apps" in the namespace "boutique"'
    )
    assert body["details"] == {"name": "frontend", "group": "apps", "kind": "deployments"}
    assert k.apps.read_namespaced_deployment_scale("frontend", NS).spec.replicas != 9
    with pytest.raises(ApiException) as lease:
        k.leases.read_namespaced_lease("healer", "healer")
    assert lease.value.status == 403
    request = urllib.request.Request(
        f"{k.server.url}/-/kube/deny", data=b'[["list", "pods"]]', method="PUT"
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        assert json.loads(answer.read()) == [["list", "pods"]]
    k.apps.patch_namespaced_deployment_scale("frontend", NS, {"spec": {"replicas": 2}})
    with pytest.raises(ApiException) as pods:
        k.core.list_namespaced_pod(NS)
    assert 'cannot list resource "pods" in API group ""' in status(pods.value)["message"]


def test_invalid_changes_are_unprocessable(running: Callable[..., Cluster]) -> None:
    k = running()
    with pytest.raises(ApiException) as negative:
        k.apps.patch_namespaced_deployment_scale("frontend", NS, {"spec": {"replicas": -1}})
    body = status(negative.value)
    assert (body["code"], body["reason"]) == (422, "Invalid")
    assert body["message"] == (
        'Scale.autoscaling "frontend" is invalid: spec.replicas: Invalid value: -1: '
        "must be greater than or equal to 0"
    )
    assert body["details"]["causes"][0]["field"] == "spec.replicas"
    with pytest.raises(ApiException) as on_deployment:
        k.apps.patch_namespaced_deployment("frontend", NS, {"spec": {"replicas": -2}})
    assert status(on_deployment.value)["message"].startswith(
        'Deployment.apps "frontend" is invalid'
    )
    with pytest.raises(ApiException) as not_string:
        k.apps.patch_namespaced_deployment("checkoutservice", NS, env_patch("DB_POOL_SIZE", 20))
    cause = status(not_string.value)["details"]["causes"][0]
    assert cause["field"] == "spec.template.spec.containers[0].env[2].value"
    assert "must be a string" in cause["message"]
    with pytest.raises(ApiException) as not_a_size:
        k.apps.patch_namespaced_deployment("checkoutservice", NS, env_patch("DB_POOL_SIZE", "0"))
    assert status(not_a_size.value)["reason"] == "Invalid"
    with pytest.raises(ApiException) as selector:
        k.apps.patch_namespaced_deployment(
            "frontend", NS, {"spec": {"selector": {"matchLabels": {"app": "x"}}}}
        )
    assert "field is immutable" in status(selector.value)["message"]
    with pytest.raises(ApiException) as bad_op:
        k.apps.patch_namespaced_deployment(
            "frontend", NS, [{"op": "test", "path": "/spec/replicas", "value": 99}]
        )
    assert bad_op.value.status == 422
    assert k.server.simulation.kube.mutations == []


def test_unknown_names_are_not_found(running: Callable[..., Cluster]) -> None:
    k = running()
    calls: list[Callable[[], object]] = [
        lambda: k.apps.read_namespaced_deployment("nosuch", NS),
        lambda: k.apps.read_namespaced_deployment("frontend", "default"),
        lambda: k.apps.patch_namespaced_deployment_scale("nosuch", NS, {"spec": {"replicas": 1}}),
        lambda: k.apps.read_namespaced_replica_set("nosuch", NS),
        lambda: k.core.delete_namespaced_pod("nosuch", NS),
        lambda: k.core.read_namespaced_config_map("nosuch", NS),
        lambda: k.leases.read_namespaced_lease("nosuch", NS),
    ]
    for call in calls:
        with pytest.raises(ApiException) as missing:
            call()
        body = status(missing.value)
        assert (body["code"], body["reason"]) == (404, "NotFound")
        assert body["message"].endswith('"nosuch" not found') or "frontend" in body["message"]
    with pytest.raises(ApiException) as deployment:
        k.apps.read_namespaced_deployment("nosuch", NS)
    assert status(deployment.value)["message"] == 'deployments.apps "nosuch" not found'
    assert status(deployment.value)["details"] == {
        "name": "nosuch",
        "group": "apps",
        "kind": "deployments",
    }


def test_other_patch_types_and_verbs_are_refused(running: Callable[..., Cluster]) -> None:
    k = running()
    with pytest.raises(ApiException) as apply:
        k.apps.patch_namespaced_deployment(
            "frontend", NS, {"spec": {}}, _content_type="application/apply-patch+yaml"
        )
    assert status(apply.value)["code"] == 415
    with pytest.raises(ApiException) as delete:
        k.apps.delete_namespaced_deployment("frontend", NS)
    assert status(delete.value)["reason"] == "MethodNotAllowed"


# --- stored kinds ---


def test_configmaps_are_created_and_patched(running: Callable[..., Cluster]) -> None:
    k = running()
    body = {
        "metadata": {"name": "checkout-flags", "labels": {"app": "checkoutservice", "team": "pay"}},
        "data": {"retries": "3"},
    }
    created = k.core.create_namespaced_config_map(NS, body)
    assert created.metadata.uid and created.metadata.resource_version
    patched = k.core.patch_namespaced_config_map(
        "checkout-flags", NS, {"data": {"retries": "1", "timeout": "2s"}}
    )
    assert patched.data == {"retries": "1", "timeout": "2s"}
    assert int(patched.metadata.resource_version) > int(created.metadata.resource_version)
    with pytest.raises(ApiException) as twice:
        k.core.create_namespaced_config_map(NS, body)
    assert status(twice.value)["reason"] == "AlreadyExists"
    with pytest.raises(ApiException) as not_string:
        k.core.patch_namespaced_config_map("checkout-flags", NS, {"data": {"retries": 2}})
    assert status(not_string.value)["code"] == 422
    listed = k.core.list_namespaced_config_map(NS, label_selector="app=checkoutservice")
    assert [c.metadata.name for c in listed.items] == ["checkout-flags", "checkoutservice-config"]
    listed = k.core.list_namespaced_config_map(NS, label_selector="team=pay,app")
    assert [c.metadata.name for c in listed.items] == ["checkout-flags"]
    assert k.core.delete_namespaced_config_map("checkout-flags", NS)["status"] == "Success"


def test_events_are_posted_then_listed_in_both_apis(running: Callable[..., Cluster]) -> None:
    k = running()
    deployment = k.apps.read_namespaced_deployment("cartservice", NS)
    involved = {
        "kind": "Deployment",
        "namespace": NS,
        "name": "cartservice",
        "uid": deployment.metadata.uid,
    }
    core = {
        "metadata": {"generateName": "cartservice."},
        "involvedObject": involved,
        "reason": "HealerRollback",
        "message": "rolled back to revision 3",
        "type": "Normal",
        "source": {"component": "healer"},
        "count": 1,
    }
    posted = k.core.create_namespaced_event(NS, core)
    assert (
        posted.metadata.name.startswith("cartservice.")
        and posted.involved_object.name == "cartservice"
    )
    newer = {
        "metadata": {"name": "cartservice.healer-2"},
        "eventTime": "2026-01-05T06:00:00.250000Z",  # not .000000: see test_leases
        "reportingController": "healer.io/healer",
        "reportingInstance": "healer-0",
        "action": "Scale",
        "reason": "HealerScale",
        "regarding": involved,
        "note": "scaled to 4 replicas",
        "type": "Normal",
    }
    k.events.create_namespaced_event(NS, newer)
    found = k.core.list_namespaced_event(NS, field_selector="involvedObject.name=cartservice")
    assert {e.reason for e in found.items} == {"HealerRollback", "HealerScale"}
    assert {e.message for e in found.items} == {"rolled back to revision 3", "scaled to 4 replicas"}
    seen = k.events.list_namespaced_event(NS).items
    assert {e.note for e in seen} == {"rolled back to revision 3", "scaled to 4 replicas"}
    assert all(e.regarding.name == "cartservice" for e in seen)
    incomplete = {key: value for key, value in newer.items() if key != "reportingController"}
    incomplete["metadata"] = {"name": "cartservice.healer-3"}
    with pytest.raises(ApiException) as refused:
        k.events.create_namespaced_event(NS, incomplete)
    assert status(refused.value)["details"]["causes"][0]["field"] == "reportingController"


def test_leases_for_leader_election(running: Callable[..., Cluster]) -> None:
    k = running()
    now = datetime.now(UTC).replace(microsecond=123456)  # see the MicroTime check below
    spec = client.V1LeaseSpec(
        holder_identity="healer-0", lease_duration_seconds=15, acquire_time=now, renew_time=now
    )
    lease = client.V1Lease(metadata=client.V1ObjectMeta(name="healer"), spec=spec)
    created = k.leases.create_namespaced_lease("healer", lease)
    assert created.spec.holder_identity == "healer-0" and created.spec.renew_time == now
    with pytest.raises(ApiException) as twice:
        k.leases.create_namespaced_lease("healer", lease)
    assert status(twice.value)["reason"] == "AlreadyExists"
    read = k.leases.read_namespaced_lease("healer", "healer")
    read.spec.renew_time = now + timedelta(seconds=5)
    renewed = k.leases.replace_namespaced_lease("healer", "healer", read)
    assert renewed.spec.renew_time == now + timedelta(seconds=5)
    read.spec.holder_identity = "healer-1"  # a rival holding the old resourceVersion
    with pytest.raises(ApiException) as stale:
        k.leases.replace_namespaced_lease("healer", "healer", read)
    assert status(stale.value)["reason"] == "Conflict"
    taken = k.leases.patch_namespaced_lease(
        "healer",
        "healer",
        {"spec": {"holderIdentity": "healer-1", "leaseTransitions": 1}},
        _content_type="application/merge-patch+json",
    )
    assert (taken.spec.holder_identity, taken.spec.lease_transitions) == ("healer-1", 1)
    with pytest.raises(ApiException) as bad:
        k.leases.patch_namespaced_lease("healer", "healer", {"spec": {"leaseDurationSeconds": 0}})
    assert status(bad.value)["code"] == 422
    # a MicroTime needs its six fraction digits, which isoformat() drops when they are zero
    whole = now.replace(microsecond=0)
    with pytest.raises(ApiException) as undecodable:
        k.leases.patch_namespaced_lease("healer", "healer", {"spec": {"renewTime": whole}})
    body = status(undecodable.value)
    assert (body["code"], body["reason"]) == (400, "BadRequest")
    assert '"2006-01-02T15:04:05.000000Z07:00"' in body["message"]
    raw = k.client.call_api(
        "GET", f"{k.server.url}/apis/coordination.k8s.io/v1/namespaces/healer/leases/healer"
    )
    raw.read()
    assert json.loads(raw.data)["spec"]["renewTime"].endswith("Z")


def test_the_cluster_posts_its_own_events(running: Callable[..., Cluster]) -> None:
    k = running(quick("bad-deploy-rt", fault_at=10.0))
    # the API notices changes from its first request on; the client's first call is slow
    urllib.request.urlopen(f"{k.server.url}/apis/apps/v1/deployments", timeout=5).close()
    wait_for(lambda: k.service("cartservice")["revision"] == 4)
    k.apps.patch_namespaced_deployment_scale("frontend", NS, {"spec": {"replicas": 5}})
    pod = k.core.list_namespaced_pod(NS, label_selector="app=adservice").items[0]
    k.core.delete_namespaced_pod(pod.metadata.name, NS)
    events = k.core.list_namespaced_event(NS).items
    said = {(e.involved_object.kind, e.involved_object.name, e.reason, e.message) for e in events}
    new, old = (rs.metadata.name for rs in history(k, "cartservice")[-1:-3:-1])
    frontend = history(k, "frontend")[-1].metadata.name
    assert said >= {
        (
            "Deployment",
            "cartservice",
            "ScalingReplicaSet",
            f"Scaled up replica set {new} from 0 to 2",
        ),
        (
            "Deployment",
            "cartservice",
            "ScalingReplicaSet",
            f"Scaled down replica set {old} from 2 to 0",
        ),
        (
            "Deployment",
            "frontend",
            "ScalingReplicaSet",
            f"Scaled up replica set {frontend} from 3 to 5",
        ),
        ("Pod", pod.metadata.name, "Killing", "Stopping container server"),
    }
    rollout = next(e for e in events if e.message.startswith(f"Scaled up replica set {new}"))
    with k.server.lock:
        shipped = k.server.simulation.cluster.deployment(CART).current.at
    assert rollout.last_timestamp == shipped.replace(microsecond=0)
    assert [m.action for m in k.server.simulation.kube.mutations] == ["scale", "delete_pod"]


def test_a_configmap_change_and_a_restart(running: Callable[..., Cluster]) -> None:
    """What the healer does for a setting kept in a ConfigMap its Deployment reads."""
    k = running()
    deployment = k.apps.read_namespaced_deployment("emailservice", NS)
    (source,) = deployment.spec.template.spec.containers[0].env_from
    assert source.config_map_ref.name == "emailservice-config"
    config = k.core.read_namespaced_config_map("emailservice-config", NS)
    patch = {
        "metadata": {"resourceVersion": config.metadata.resource_version},
        "data": {"LOG_FORMAT": "text"},
    }
    for dry_run in ("All", None):
        k.core.patch_namespaced_config_map("emailservice-config", NS, patch, dry_run=dry_run)
    assert k.core.read_namespaced_config_map("emailservice-config", NS).data == {
        "LOG_FORMAT": "text"
    }
    restart = {
        "spec": {"template": {"metadata": {"annotations": {RESTARTED_AT: "2026-01-05T06:00:00Z"}}}}
    }
    k.apps.patch_namespaced_deployment("emailservice", NS, restart)
    assert [m.action for m in k.server.simulation.kube.mutations] == ["restart"]
    assert k.service("emailservice")["revision"] == 4


def test_leader_election_with_the_clients_lease_lock(running: Callable[..., Cluster]) -> None:
    from kubernetes.leaderelection.leaderelectionrecord import LeaderElectionRecord
    from kubernetes.leaderelection.resourcelock.leaselock import LeaseLock

    k = running()

    def lock(identity: str) -> LeaseLock:
        found = LeaseLock("healer-leader", "healer", identity)
        found.api_instance = k.leases  # why: the lock builds a client for the default cluster
        return found

    first, second = lock("healer-0"), lock("healer-1")
    ok, missing = first.get("healer-leader", "healer")
    assert not ok and missing.status == 404
    now = str(datetime.now())
    record = LeaderElectionRecord("healer-0", "15", now, now)
    assert first.create("healer-leader", "healer", record)
    assert not second.create("healer-leader", "healer", record)  # 409 AlreadyExists
    ok, seen = second.get("healer-leader", "healer")
    assert ok and seen.holder_identity == "healer-0" and seen.lease_duration == "15"
    later = str(datetime.now() + timedelta(seconds=5))
    assert first.update(
        "healer-leader", "healer", LeaderElectionRecord("healer-0", "15", now, later)
    )
    takeover = LeaderElectionRecord("healer-1", "15", later, later)
    assert not second.update("healer-leader", "healer", takeover)  # read before the renewal
    assert (
        k.leases.read_namespaced_lease("healer-leader", "healer").spec.holder_identity == "healer-0"
    )


def test_discovery_serves_the_dynamic_client(running: Callable[..., Cluster]) -> None:
    from kubernetes.dynamic import DynamicClient

    k = running()
    assert client.VersionApi(k.client).get_code().git_version.startswith("v1.")
    groups = {g.name for g in client.ApisApi(k.client).get_api_versions().groups}
    assert groups == {"apps", "coordination.k8s.io", "events.k8s.io"}
    dynamic = DynamicClient(k.client)
    deployments = dynamic.resources.get(api_version="apps/v1", kind="Deployment")
    assert len(deployments.get(namespace=NS).items) == len(k.state()["services"])
    leases = dynamic.resources.get(api_version="coordination.k8s.io/v1", kind="Lease")
    assert set(leases.verbs) == {"create", "delete", "get", "list", "patch", "update"}


def put_stall(k: Cluster, **plan: object) -> dict[str, Any]:
    request = urllib.request.Request(
        f"{k.server.url}/-/kube/stall", json.dumps(plan).encode(), method="PUT"
    )
    with urllib.request.urlopen(request, timeout=5) as answer:
        found: dict[str, Any] = json.loads(answer.read())
    return found


@pytest.mark.parametrize("apply", [True, False])
def test_a_stalled_write_is_made_or_lost_while_the_client_waits(
    running: Callable[..., Cluster], apply: bool
) -> None:
    k = running()
    before = k.service("cartservice")["replicas"]
    assert put_stall(k, writes=1, seconds=30, apply=apply)["writes"] == 1
    k.apps.patch_namespaced_deployment_scale(  # a dry run is never held
        "cartservice", NS, {"spec": {"replicas": before + 2}}, dry_run="All"
    )
    outcome: list[object] = []

    def scale() -> None:
        try:
            outcome.append(
                k.apps.patch_namespaced_deployment_scale(
                    "cartservice", NS, {"spec": {"replicas": before + 2}}
                )
            )
        except ApiException as exc:
            outcome.append(exc.status)

    worker = threading.Thread(target=scale)
    worker.start()
    wait_for(lambda: k.api.stalls.state()["holding"] == 1)
    changes = k.state()["changes"]
    assert outcome == [], "the answer is held"
    assert len(changes) == (1 if apply else 0)
    k.api.stalls.release()
    worker.join(5)
    assert k.service("cartservice")["replicas"] == (before + 2 if apply else before)
    if apply:
        assert changes[0]["action"] == "scale" and changes[0]["args"] == {"replicas": before + 2}
        assert getattr(outcome[0], "kind", None) == "Scale"
    else:
        assert outcome == [504]
