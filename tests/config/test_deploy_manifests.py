"""The shipped Kubernetes manifests: valid against the Kubernetes schemas (offline), and
the settings and policy they carry load as the healer would load them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml

from healer.bootstrap import REPO
from healer.config import Settings
from healer.playbooks import load_playbooks
from healer.policies import load_policy

DEPLOY = REPO / "deploy" / "kubernetes"
KUBERNETES_VERSION = "1.31"


def documents() -> list[tuple[str, dict[str, Any]]]:
    found = []
    for path in sorted(DEPLOY.glob("*.yaml")):
        for doc in yaml.safe_load_all(path.read_text()):
            if doc:
                found.append((f"{path.name}:{doc['kind']}/{doc['metadata']['name']}", doc))
    return found


@pytest.mark.parametrize(("name", "doc"), documents(), ids=[n for n, _ in documents()])
def test_each_manifest_is_valid_kubernetes(name: str, doc: dict[str, Any]) -> None:
    kubernetes_validate.validate(doc, KUBERNETES_VERSION, strict=True)


def test_the_role_grants_what_the_adapter_uses_and_no_more() -> None:
    [role] = [d for _, d in documents() if d["kind"] == "ClusterRole"]
    granted = {
        (group, resource, verb)
        for rule in role["rules"]
        for group in rule["apiGroups"]
        for resource in rule["resources"]
        for verb in rule["verbs"]
    }
    assert ("apps", "deployments/scale", "patch") in granted
    assert ("", "pods", "delete") in granted
    assert not {g for g in granted if "*" in g}, "no wildcards"
    assert not {g for g in granted if g[2] in ("create", "delete") and g[1] == "deployments"}


def test_the_configmap_carries_settings_and_a_policy_that_load(tmp_path: Path) -> None:
    [config] = [d for _, d in documents() if d["kind"] == "ConfigMap"]
    settings = Settings.model_validate(yaml.safe_load(config["data"]["healer.yaml"]))
    assert settings.daemon.leader_election and settings.sources.cluster.kind == "kubernetes"
    policy = tmp_path / "policy.yaml"
    policy.write_text(config["data"]["policy.yaml"])
    load_policy(policy, playbooks=list(load_playbooks(REPO / "playbooks")))
    [deployment] = [d for _, d in documents() if d["kind"] == "Deployment"]
    assert deployment["spec"]["replicas"] == 2
