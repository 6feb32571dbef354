"""The bodies of the Kubernetes adapter's changes: what kubectl would send, plus the
resourceVersion precondition and the healer's annotations."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from kubernetes.client import V1ConfigMap, V1EnvFromSource, V1EnvVar

from healer.adapters.kubernetes import changes, reading
from healer.adapters.kubernetes.reading import PodState
from healer.errors import ActionFailed
from tests.adapters.test_kubernetes_reading import T0, deployment, history, replicaset

MINE = {"healer.io/incident": "INC-7"}


def apply_merge_patch(target: Any, patch: Any) -> Any:
    """RFC 7386, as the API server applies application/merge-patch+json."""
    if not isinstance(patch, dict):
        return patch
    out = copy.deepcopy(target) if isinstance(target, dict) else {}
    for key, value in patch.items():
        if value is None:
            out.pop(key, None)
        else:
            out[key] = apply_merge_patch(out.get(key), value)
    return out


def test_scale_patches_the_subresource_at_the_version_read() -> None:
    patch = changes.scale("100", 5)
    assert patch.body == {"metadata": {"resourceVersion": "100"}, "spec": {"replicas": 5}}
    assert patch.content_type == changes.MERGE


def test_set_env_merges_one_variable_into_the_primary_container() -> None:
    patch = changes.set_env(deployment(sidecar=True), "LOG_LEVEL", "debug", MINE)
    assert patch.content_type == changes.STRATEGIC
    assert patch.body == {
        "metadata": {"resourceVersion": "100", "annotations": MINE},
        "spec": {
            "template": {
                "spec": {
                    "containers": [
                        {"name": "checkout", "env": [{"name": "LOG_LEVEL", "value": "debug"}]}
                    ]
                }
            }
        },
    }


def test_set_env_changes_the_container_that_already_has_the_variable() -> None:
    d = deployment(sidecar=True)
    d.spec.template.spec.containers[0].env = [V1EnvVar(name="ADMIN_PORT", value="9901")]
    patch = changes.set_env(d, "ADMIN_PORT", "9902", {})
    (container,) = patch.body["spec"]["template"]["spec"]["containers"]
    assert container["name"] == "envoy"
    assert "annotations" not in patch.body["metadata"]


def test_set_env_over_a_reference_drops_the_reference() -> None:
    d = deployment()
    d.spec.template.spec.containers[0].env.append(
        V1EnvVar.from_dict(
            {"name": "MODE", "valueFrom": {"configMapKeyRef": {"name": "c", "key": "mode"}}}
        )
    )
    patch = changes.set_env(d, "MODE", "safe", {})
    (container,) = patch.body["spec"]["template"]["spec"]["containers"]
    assert container["env"] == [{"name": "MODE", "value": "safe", "valueFrom": None}]


def test_restart_stamps_the_template_in_utc_as_kubectl_does() -> None:
    at = datetime(2026, 1, 5, 8, 30, 15, 999, tzinfo=timezone(timedelta(hours=2)))
    patch = changes.restart(deployment(), changes.stamp(at), MINE)
    assert patch.body["spec"] == {
        "template": {"metadata": {"annotations": {changes.RESTARTED_AT: "2026-01-05T06:30:15Z"}}}
    }
    assert patch.body["metadata"] == {"resourceVersion": "100", "annotations": MINE}


# --- rollout undo ---


def test_undo_goes_to_the_newest_earlier_revision_by_default() -> None:
    d = deployment()
    target = changes.undo_target(d, history(d), 3, None)
    assert reading.revision_of(target.metadata) == 2
    target = changes.undo_target(d, history(d), 3, 1)
    assert reading.revision_of(target.metadata) == 1


def test_undo_to_an_unknown_revision_lists_the_known_ones() -> None:
    d = deployment()
    with pytest.raises(ActionFailed, match=r"no revision 3 \(earlier: 1, 2\)"):
        changes.undo_target(d, history(d), 3, 3)
    with pytest.raises(ActionFailed, match="no previous revision"):
        changes.undo_target(d, history(d)[2:], 3, None)


def test_undo_copies_the_old_template_back_without_the_hash_label() -> None:
    d = deployment(
        env={"POOL_SIZE": "10", "LOG_LEVEL": "debug"},
        annotations={"team": "payments", "kubectl.kubernetes.io/last-applied-configuration": "{}"},
        extra={"terminationGracePeriodSeconds": 45},
    )
    d.spec.template.metadata.annotations = {changes.RESTARTED_AT: "2026-01-04T00:00:00Z"}
    old = replicaset(
        d,
        1,
        image="registry/checkout:1.1.0",
        annotations={"kubernetes.io/change-cause": "release 1.1"},
    )
    patch = changes.undo(d, old, MINE)
    assert patch is not None and patch.content_type == changes.MERGE
    current = reading.wire(d)
    after = apply_merge_patch(current, patch.body)
    wanted = reading.template_of(old.spec.template)
    assert after["spec"]["template"] == wanted
    assert reading.HASH_LABEL not in after["spec"]["template"]["metadata"]["labels"]
    assert after["metadata"]["annotations"] == {
        # kept from the Deployment, as kubectl keeps them
        reading.REVISION: "3",
        "kubectl.kubernetes.io/last-applied-configuration": "{}",
        # copied from the ReplicaSet, then the healer's own
        "kubernetes.io/change-cause": "release 1.1",
        **MINE,
    }
    assert patch.body["metadata"]["resourceVersion"] == "100"
    assert set(patch.body["spec"]) == {"template"}  # replicas and strategy are left alone


def test_undo_to_the_template_already_there_changes_nothing() -> None:
    d = deployment()
    assert changes.undo(d, history(d)[2], MINE) is None


@pytest.mark.parametrize(
    ("current", "target", "expected"),
    [
        ({"a": 1, "b": {"c": 2, "d": 3}}, {"a": 1, "b": {"c": 2}}, {"b": {"d": None}}),
        ({"a": [1, {"x": 1}]}, {"a": [{"x": 2}]}, {"a": [{"x": 2}]}),  # lists go whole
        ({"a": {"b": 1}}, {"a": "flat"}, {"a": "flat"}),
        ({"a": "flat"}, {"a": {"b": 1}}, {"a": {"b": 1}}),
        ({"a": {"b": {"c": 1}}}, {"a": {"b": {"c": 1}}, "e": {}}, {"e": {}}),
        ({}, {}, {}),
    ],
)
def test_a_merge_diff_names_only_what_differs(
    current: dict[str, Any], target: dict[str, Any], expected: dict[str, Any]
) -> None:
    patch = changes.merge_diff(current, target)
    assert patch == expected
    assert apply_merge_patch(current, patch) == target


# --- configmaps and pods ---


def test_a_configmap_counts_only_when_the_template_reads_it() -> None:
    volume = {"volumes": [{"name": "cfg", "configMap": {"name": "checkout-config"}}]}
    assert changes.uses_configmap(deployment(extra=volume), "checkout-config")
    assert not changes.uses_configmap(deployment(extra=volume), "payments-config")
    d = deployment()
    d.spec.template.spec.containers[0].env_from = [
        V1EnvFromSource.from_dict({"configMapRef": {"name": "flags"}})
    ]
    assert changes.uses_configmap(d, "flags")


def _pod(name: str, *, ready: bool = True, restarts: int = 0, age: int = 0) -> PodState:
    return PodState(name, "Running", ready, restarts, False, "", T0 - timedelta(hours=age))


def test_the_least_healthy_pod_is_chosen() -> None:
    pods = [_pod("a", age=5), _pod("b", restarts=7), _pod("c", ready=False), _pod("d", age=9)]
    assert changes.choose_pod(pods, None, "checkout").name == "c"
    assert changes.choose_pod(pods[:2], None, "checkout").name == "b"
    assert changes.choose_pod([pods[0], pods[3]], None, "checkout").name == "d"


def test_a_named_pod_must_be_the_deployments() -> None:
    with pytest.raises(ActionFailed, match="does not belong"):
        changes.choose_pod([_pod("a"), _pod("b")], "zz", "checkout")
    assert changes.choose_pod([_pod("a"), _pod("b")], "b", "checkout").name == "b"


def test_the_last_ready_pod_is_never_deleted() -> None:
    with pytest.raises(ActionFailed, match="only ready pod"):
        changes.choose_pod([_pod("a"), _pod("b", ready=False)], "a", "checkout")
    assert changes.choose_pod([_pod("a", ready=False)], None, "checkout").name == "a"


def test_a_configmap_key_is_merged_at_the_version_read() -> None:
    cm = V1ConfigMap.from_dict({"metadata": {"name": "flags", "resourceVersion": "42"}})
    patch = changes.config_value(cm, "POOL_SIZE", "40", MINE)
    assert patch.body == {
        "metadata": {"resourceVersion": "42", "annotations": MINE},
        "data": {"POOL_SIZE": "40"},
    }
    assert patch.content_type == changes.MERGE
