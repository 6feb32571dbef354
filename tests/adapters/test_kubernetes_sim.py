"""`KubeCluster` against the simulated cluster's Kubernetes API (`healer sim serve`'s
routes), through the official client over HTTP: every change dry-run first and then
sent, conflicts retried, refusals reported, changes annotated and explained in Events,
and the simulation really changed."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from kubernetes import client

from healer.adapters.kubernetes import KubeCluster
from healer.adapters.kubernetes.changes import CHANGE_CAUSE, RESTARTED_AT
from healer.config import KubernetesSettings
from healer.domain.clock import ManualClock, SystemClock
from healer.domain.model import Incident, IncidentStatus, ServiceRef
from healer.domain.playbook import ActionKind
from healer.errors import ActionConflict, ActionFailed, ClusterUnavailable
from healer.pipeline.execution import Step, revert, run_step
from healer.ports import Cluster
from healer.sim.kubeapi import register
from healer.sim.scenario import Scenario
from healer.sim.serve import Request, Response, Router, SimServer
from tests.fakes import MemoryStore
from tests.sim.test_kubeapi import quick

NS = "boutique"
CART = ServiceRef(NS, "cartservice")
CHECKOUT = ServiceRef(NS, "checkoutservice")
FRONTEND = ServiceRef(NS, "frontend")
INCIDENT = "healer.io/incident"


@dataclass
class Recorder:
    """Wraps the server's router: notes each request and can run a hook before it."""

    router: Router
    seen: list[str] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    before: Callable[[Request], None] | None = None

    def dispatch(self, request: Request) -> Response:
        if not request.path.startswith(("/api/", "/apis/")):
            return self.router.dispatch(request)
        dry = "?dryRun=All" if request.query.get("dryRun") else ""
        self.seen.append(f"{request.method} {request.path}{dry}")
        if self.before is not None:
            self.before(request)
        response = self.router.dispatch(request)
        self.statuses.append(response.status)
        return response

    def writes(self) -> list[str]:
        return [s for s in self.seen if not s.startswith("GET")]


@dataclass
class Setup:
    server: SimServer
    kube: KubeCluster
    api: client.ApiClient
    requests: Recorder

    def sim(self, service: ServiceRef) -> Any:
        with self.server.lock:
            return self.server.simulation.cluster.deployment(service)

    def mutations(self) -> list[tuple[str, dict[str, object]]]:
        with self.server.lock:
            return [(m.action, m.args) for m in self.server.simulation.kube.mutations]

    def raw(self, service: ServiceRef) -> client.V1Deployment:
        apps = client.AppsV1Api(self.api)
        return apps.read_namespaced_deployment(service.name, service.namespace)

    def events(self, name: str) -> list[client.CoreV1Event]:
        """The healer's Events on `name` (the controllers post their own beside them)."""
        core = client.CoreV1Api(self.api)
        found = core.list_namespaced_event(NS, field_selector=f"involvedObject.name={name}")
        return [e for e in found.items if e.source and e.source.component == "healer"]

    def ticks(self, n: int, within: float = 10.0) -> None:
        cluster = self.server.simulation.cluster
        target = cluster.ticks + n
        deadline = time.monotonic() + within
        while cluster.ticks < target:
            assert time.monotonic() < deadline, "timed out"
            time.sleep(0.02)


@pytest.fixture
def running() -> Iterator[Callable[..., Setup]]:
    started: list[Setup] = []

    def start(
        scenario: Scenario | None = None, *, deny: Any = (), speed: float = 20.0, **settings: Any
    ) -> Setup:
        server = SimServer(scenario or quick(), speed=speed)
        register(server, deny=deny)
        recorder = Recorder(server.router)
        server.router = recorder  # type: ignore[assignment]  # why: same dispatch, noted
        server.start()
        api = client.ApiClient(client.Configuration(host=server.url))
        options = {"timeout": 5.0} | settings
        kube = KubeCluster(api, KubernetesSettings(**options), clock=SystemClock())
        setup = Setup(server, kube, api, recorder)
        started.append(setup)
        return setup

    yield start
    for setup in started:
        setup.api.close()
        setup.server.stop()


# --- reads ---


def test_workloads_read_as_the_in_process_port_reads_them(running: Callable[..., Setup]) -> None:
    k = running()
    with k.server.lock:
        cluster = k.server.simulation.cluster
        refs = [d.ref for d in cluster.deployments.values()]
        expected = {ref: k.server.simulation.kube.workload(ref) for ref in refs}
    k.requests.seen.clear()
    for ref in refs:
        found = k.kube.workload(ref)
        want = expected[ref]
        assert (found.replicas, found.revision, found.image) == (
            want.replicas,
            want.revision,
            want.image,
        )
        assert found.env == want.env
        assert [(r.revision, r.image) for r in found.history] == [
            (r.revision, r.image) for r in want.history
        ]
        assert [p.name for p in found.pods] == [p.name for p in want.pods]
        assert found.restarted_at == want.restarted_at
    # one list each of deployments, replica sets and pods served every service
    assert k.requests.seen == [
        f"GET /apis/apps/v1/namespaces/{NS}/deployments",
        f"GET /apis/apps/v1/namespaces/{NS}/replicasets",
        f"GET /api/v1/namespaces/{NS}/pods",
    ]


def test_inspect_shows_pods_restarts_oom_kills_and_events(running: Callable[..., Setup]) -> None:
    k = running()
    with k.server.lock:
        k.server.simulation.cluster.restart_pod(CART, 0)
    with k.kube.acting_for("INC-1", "pods crash-looping"):
        k.kube.scale(CART, k.kube.workload(CART).replicas + 1)
    seen = k.kube.inspect(CART)
    replicas = k.kube.workload(CART).replicas
    assert replicas - 1 <= len(seen.pods) <= replicas  # the new pod starts at the next tick
    (restarted,) = [p for p in seen.pods if p.restarts]
    assert restarted.oom_killed and restarted.ready
    assert [c.name for c in seen.containers] == ["server"]
    assert seen.containers[0].limits  # CPU and memory limits are read
    ours = [(e.kind, e.reason) for e in seen.events if e.reason.startswith("Healer")]
    assert ours == [("Deployment", "HealerScaled")]


def test_an_unknown_deployment_is_not_found(running: Callable[..., Setup]) -> None:
    k = running()
    with pytest.raises(ActionFailed, match='deployments "nope" not found in namespace "boutique"'):
        k.kube.workload(ServiceRef(NS, "nope"))
    with pytest.raises(ActionFailed, match="not found"):
        k.kube.scale(ServiceRef(NS, "nope"), 2)


def test_a_namespace_outside_the_allow_list_is_never_asked(running: Callable[..., Setup]) -> None:
    k = running(namespaces=["payments"])
    with pytest.raises(ActionFailed, match="not one the healer may read or change"):
        k.kube.workload(CART)
    with pytest.raises(ActionFailed, match="not one the healer may read or change"):
        k.kube.scale(CART, 5)
    assert k.requests.seen == []


# --- the port's changes ---


def test_scale_dry_runs_then_scales_annotates_and_explains(running: Callable[..., Setup]) -> None:
    k = running()
    before = k.kube.workload(CART).replicas
    k.requests.seen.clear()
    with k.kube.acting_for("INC-7", "p99 latency 4x baseline, CPU saturated"):
        k.kube.scale(CART, before + 2)
    base = f"/apis/apps/v1/namespaces/{NS}/deployments/cartservice"
    assert k.requests.seen == [
        f"GET {base}",
        f"PATCH {base}/scale?dryRun=All",
        f"PATCH {base}/scale",
        f"PATCH {base}?dryRun=All",  # the incident annotation
        f"PATCH {base}",
        f"POST /api/v1/namespaces/{NS}/events",
    ]
    assert k.sim(CART).desired == before + 2
    assert k.mutations() == [("scale", {"replicas": before + 2})]
    assert k.kube.workload(CART).replicas == before + 2  # the cache was dropped
    assert k.raw(CART).metadata.annotations[INCIDENT] == "INC-7"
    (event,) = k.events("cartservice")
    assert (event.reason, event.type, event.involved_object.kind) == (
        "HealerScaled",
        "Normal",
        "Deployment",
    )
    assert event.message == (
        f"healer: scaled from {before} to {before + 2} replicas for incident INC-7: "
        "p99 latency 4x baseline, CPU saturated"
    )
    assert event.source.component == "healer"
    k.ticks(2)
    assert k.server.state()["services"]["cartservice"]["ready"] == before + 2


def test_set_env_changes_the_pool_for_real(running: Callable[..., Setup]) -> None:
    k = running()
    assert k.kube.workload(CHECKOUT).env["DB_POOL_SIZE"] != "25"
    with k.kube.acting_for("INC-8", "pool exhausted"):
        k.kube.set_env(CHECKOUT, "DB_POOL_SIZE", "25")
    writes = k.requests.writes()
    assert writes[:2] == [
        f"PATCH /apis/apps/v1/namespaces/{NS}/deployments/checkoutservice?dryRun=All",
        f"PATCH /apis/apps/v1/namespaces/{NS}/deployments/checkoutservice",
    ]
    workload = k.kube.workload(CHECKOUT)
    assert workload.env["DB_POOL_SIZE"] == "25"
    assert workload.revision == workload.history[-1].revision == 4
    assert k.mutations() == [("set_env", {"name": "DB_POOL_SIZE", "value": "25"})]
    annotations = k.raw(CHECKOUT).metadata.annotations
    assert annotations[INCIDENT] == "INC-8"
    assert annotations[CHANGE_CAUSE].startswith("healer: set DB_POOL_SIZE=25 for incident INC-8")
    k.ticks(2)
    assert k.sim(CHECKOUT).pool_size == 25
    assert [e.reason for e in k.events("checkoutservice")] == ["HealerSetEnv"]


def test_rollback_copies_the_previous_template_and_ends_the_bad_deploy(
    running: Callable[..., Setup],
) -> None:
    k = running(quick("bad-deploy-rt", fault_at=1.0))
    deadline = time.monotonic() + 10
    while k.kube.workload(CART).revision != 4:
        assert time.monotonic() < deadline, "the bad deploy never came"
        time.sleep(0.05)
    bad = k.kube.workload(CART)
    with k.kube.acting_for("INC-9", "5xx since revision 4"):
        k.kube.rollback(CART)
    after = k.kube.workload(CART)
    assert after.revision == 5
    assert after.image == bad.history[-2].image  # revision 3's image is back
    assert [r.revision for r in after.history] == [1, 2, 4, 5]  # 3 came back as 5
    assert k.mutations()[-1] == ("rollback", {"to_revision": 3})
    raw = k.raw(CART)
    assert raw.metadata.annotations[INCIDENT] == "INC-9"
    assert "rolled back from revision 4" in raw.metadata.annotations[CHANGE_CAUSE]
    k.ticks(4)
    with k.server.lock:
        assert not k.server.simulation.cluster.active_faults()
    assert [e.reason for e in k.events("cartservice")] == ["HealerRolledBack"]


def test_rollback_to_an_unknown_revision_is_refused_before_sending(
    running: Callable[..., Setup],
) -> None:
    k = running()
    with pytest.raises(ActionFailed, match=r"no revision 9 \(earlier: 1, 2\)"):
        k.kube.rollback(CART, 9)
    assert k.requests.writes() == []


# --- further changes ---


def test_restart_stamps_the_template_and_replaces_every_pod(running: Callable[..., Setup]) -> None:
    k = running()
    before = {p.name for p in k.kube.inspect(FRONTEND).pods}
    with k.kube.acting_for("INC-10"):
        k.kube.restart(FRONTEND)
    template = k.raw(FRONTEND).spec.template.metadata.annotations
    stamp = datetime.strptime(template[RESTARTED_AT], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    assert abs(stamp - datetime.now(UTC)) < timedelta(seconds=5)
    k.ticks(2)
    after = {p.name for p in k.kube.inspect(FRONTEND).pods}
    assert after and not after & before
    assert [e.reason for e in k.events("frontend")] == ["HealerRestarted"]


def test_delete_pod_takes_the_least_healthy_and_it_is_replaced(
    running: Callable[..., Setup],
) -> None:
    k = running()
    with k.server.lock:
        k.server.simulation.cluster.restart_pod(FRONTEND, 1)
    worst = next(p.name for p in k.kube.inspect(FRONTEND).pods if p.restarts)
    with k.kube.acting_for("INC-11", "OOMKilled"):
        assert k.kube.delete_pod(FRONTEND) == worst
    writes = k.requests.writes()
    assert writes[:2] == [
        f"DELETE /api/v1/namespaces/{NS}/pods/{worst}?dryRun=All",
        f"DELETE /api/v1/namespaces/{NS}/pods/{worst}",
    ]
    k.ticks(2)
    pods = k.kube.inspect(FRONTEND).pods
    assert worst not in {p.name for p in pods}
    assert len(pods) == k.kube.workload(FRONTEND).replicas
    (event,) = k.events("frontend")
    assert event.reason == "HealerDeletedPod" and worst in event.message
    assert k.raw(FRONTEND).metadata.annotations[INCIDENT] == "INC-11"


def test_a_configmap_the_workload_does_not_read_is_left_alone(
    running: Callable[..., Setup],
) -> None:
    k = running()
    core = client.CoreV1Api(k.api)
    core.create_namespaced_config_map(NS, {"metadata": {"name": "flags"}, "data": {"a": "1"}})
    with pytest.raises(ActionFailed, match="does not read configmap flags"):
        k.kube.set_config(CART, "flags", "a", "2")
    assert core.read_namespaced_config_map("flags", NS).data == {"a": "1"}


# --- dry runs, conflicts and refusals ---


def test_dry_runs_change_nothing(running: Callable[..., Setup]) -> None:
    k = running()
    before = k.raw(CHECKOUT)
    pods = {p.name for p in k.kube.inspect(FRONTEND).pods}
    with k.kube.acting_for("INC-12"):
        k.kube.scale(CHECKOUT, 7, dry_run=True)
        k.kube.set_env(CHECKOUT, "DB_POOL_SIZE", "30", dry_run=True)
        k.kube.rollback(CHECKOUT, dry_run=True)
        k.kube.restart(CHECKOUT, dry_run=True)
        k.kube.delete_pod(FRONTEND, dry_run=True)
    assert all("dryRun=All" in w for w in k.requests.writes())
    assert len(k.requests.writes()) == 5
    after = k.raw(CHECKOUT)
    assert after.metadata.resource_version == before.metadata.resource_version
    assert k.mutations() == []
    assert k.events("checkoutservice") == []
    k.ticks(2)
    assert {p.name for p in k.kube.inspect(FRONTEND).pods} == pods


def test_the_last_ready_pod_is_not_deleted(running: Callable[..., Setup]) -> None:
    k = running()
    assert k.kube.workload(CHECKOUT).replicas == 1
    with pytest.raises(ActionFailed, match="only ready pod"):
        k.kube.delete_pod(CHECKOUT)
    assert k.requests.writes() == []


def test_a_conflict_is_read_again_and_retried(running: Callable[..., Setup]) -> None:
    k = running()
    meddled = threading.Event()

    def someone_else_scales(request: Request) -> None:
        # between the healer's read and its patch, another client changes the Deployment
        if request.method == "PATCH" and not meddled.is_set():
            meddled.set()
            with k.server.lock:
                k.server.simulation.kube.scale(CART, 1)

    k.requests.before = someone_else_scales
    k.kube.set_env(CART, "LOG_LEVEL", "debug")
    assert k.requests.statuses[:3] == [200, 409, 200]  # read, refused, read again
    # why not exactly two reads: a tick may move the status (and resourceVersion) again
    assert len([s for s in k.requests.seen if s.startswith("GET")]) >= 2
    assert k.kube.workload(CART).env["LOG_LEVEL"] == "debug"
    assert k.kube.workload(CART).replicas == 1  # the other change survives


def test_a_conflict_that_keeps_coming_is_temporary(running: Callable[..., Setup]) -> None:
    k = running()
    flip = iter(range(1, 100))

    def always_first(request: Request) -> None:
        if request.method == "PATCH":
            with k.server.lock:
                k.server.simulation.kube.scale(CART, 1 + next(flip) % 2)

    k.requests.before = always_first
    with pytest.raises(ActionConflict, match="changed meanwhile"):
        k.kube.set_env(CART, "LOG_LEVEL", "debug")
    assert len([s for s in k.requests.seen if s.startswith("GET")]) == 4


def test_forbidden_names_the_missing_permission(running: Callable[..., Setup]) -> None:
    k = running(deny={("patch", "deployments/scale")})
    before = k.kube.workload(FRONTEND).replicas
    with pytest.raises(ActionFailed) as refused:
        k.kube.scale(FRONTEND, 9)
    assert 'may not patch deployments/scale in namespace "boutique"' in str(refused.value)
    assert "system:serviceaccount:healer:healer" in str(refused.value)
    assert k.requests.writes() == [
        f"PATCH /apis/apps/v1/namespaces/{NS}/deployments/frontend/scale?dryRun=All"
    ]
    assert k.kube.workload(FRONTEND).replicas == before


def test_an_event_that_cannot_be_posted_does_not_fail_the_change(
    running: Callable[..., Setup],
) -> None:
    k = running(deny={("create", "events")})
    k.kube.scale(FRONTEND, 2)
    assert k.sim(FRONTEND).desired == 2


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda kube: kube.scale(CHECKOUT, -1), "spec.replicas"),
        (lambda kube: kube.set_env(CHECKOUT, "DB_POOL_SIZE", "lots"), "env"),
    ],
)
def test_an_invalid_change_is_refused_at_the_dry_run(
    running: Callable[..., Setup], change: Callable[[KubeCluster], None], field: str
) -> None:
    k = running()
    with pytest.raises(ActionFailed, match=f"refused as invalid.*{field}"):
        change(k.kube)
    assert len(k.requests.writes()) == 1 and "dryRun=All" in k.requests.writes()[0]
    assert k.mutations() == []


def test_an_api_outage_is_temporary(running: Callable[..., Setup]) -> None:
    k = running()
    k.kube.workload(CART)
    with k.server.lock:
        k.server.simulation.kube.fail_next(1)
    with pytest.raises(ClusterUnavailable, match="503"):
        k.kube.scale(CART, 4)
    k.server.stop()
    k.kube.reads.forget()
    with pytest.raises(ClusterUnavailable, match="no answer"):
        k.kube.workload(CART)


def test_an_annotation_that_cannot_be_written_does_not_stop_the_event(
    running: Callable[..., Setup],
) -> None:
    k = running(deny={("patch", "deployments")})
    with k.kube.acting_for("INC-13"):
        k.kube.scale(FRONTEND, 2)
    assert k.sim(FRONTEND).desired == 2
    assert INCIDENT not in (k.raw(FRONTEND).metadata.annotations or {})
    assert [e.reason for e in k.events("frontend")] == ["HealerScaled"]


# --- through the port, as the pipeline drives it ---


def test_the_pipeline_runs_and_reverts_steps_through_the_adapter(
    running: Callable[..., Setup],
) -> None:
    k = running()
    port: Cluster = k.kube  # the adapter is a Cluster as far as the pipeline knows
    store, clock = MemoryStore(), ManualClock(datetime.now(UTC))
    before = k.kube.workload(CART)
    steps = [
        Step("INC-14:1:0", ActionKind.SCALE, CART, {"replicas": before.replicas + 1}),
        Step("INC-14:1:1", ActionKind.ROLLBACK, CART, {}),
    ]
    with k.kube.acting_for("INC-14", "checkout errors"):
        done = [
            run_step(s, incident_id="INC-14", cluster=port, store=store, clock=clock, dry_run=False)
            for s in steps
        ]
    assert [r.ok for r in done] == [True, True], [r.detail for r in done]
    assert done[0].after == {"replicas": before.replicas + 1}
    assert done[1].before == {"revision": 3, "image": before.image}
    assert done[1].after["revision"] == 4
    assert [a for a, _ in k.mutations()] == ["scale", "rollback"]
    writes = k.requests.writes()
    for i, write in enumerate(writes):  # every write is sent as a dry run just before
        if "dryRun" not in write and "/events" not in write:
            assert writes[i - 1] == f"{write}?dryRun=All"
    assert (
        writes[0] == f"PATCH /apis/apps/v1/namespaces/{NS}/deployments/cartservice/scale?dryRun=All"
    )
    incident = Incident(
        "INC-14", "t", clock.now(), clock.now(), IncidentStatus.MITIGATING, set(), []
    )
    undone = revert(incident, done=done, cluster=port, store=store, clock=clock, dry_run=False)
    assert [r.ok for r in undone] == [True, True], [r.detail for r in undone]
    after = k.kube.workload(CART)
    assert after.replicas == before.replicas and after.image == before.image


def test_pipeline_restarts_and_deletes_pods_exactly_once_through_the_adapter(
    running: Callable[..., Setup],
) -> None:
    k = running()
    port: Cluster = k.kube
    store, clock = MemoryStore(), ManualClock(datetime(2026, 3, 2, 9, 0, tzinfo=UTC))
    with k.server.lock:
        k.server.simulation.cluster.restart_pod(FRONTEND, 0)
    steps = [
        Step("INC-15:1:0", ActionKind.DELETE_POD, FRONTEND, {}),
        Step("INC-15:1:1", ActionKind.RESTART, FRONTEND, {}),
    ]
    first, restarted = (
        run_step(s, incident_id="INC-15", cluster=port, store=store, clock=clock, dry_run=False)
        for s in steps
    )
    assert first.ok and restarted.ok, (first.detail, restarted.detail)
    assert restarted.after == {"restarted_at": "2026-03-02T09:00:00Z"}
    # the same stamp again (a reconciled intent, say) is already there: nothing is sent
    k.kube.restart(FRONTEND, at="2026-03-02T09:00:00Z")
    assert [a for a, _ in k.mutations()] == ["delete_pod", "restart"]
    assert k.kube.workload(FRONTEND).restarted_at == "2026-03-02T09:00:00Z"
