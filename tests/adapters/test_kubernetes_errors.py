"""Kubernetes API errors become the healer's errors: permanent or temporary, each message
naming what was refused and why; and the adapter's settings and client construction."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import urllib3.exceptions
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from healer.adapters.kubernetes.connect import api_client
from healer.adapters.kubernetes.errors import Call, calling, translate
from healer.config import KubernetesSettings, load_settings
from healer.errors import (
    ActionConflict,
    ActionFailed,
    ClusterUnavailable,
    ConfigError,
    PermanentError,
    TemporaryError,
)

SCALE = Call("patch", "deployments/scale", "shop", "checkout")


def api_error(
    status: int, reason: str = "", message: str = "", headers: dict[str, str] | None = None
) -> ApiException:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": status}
    body |= {"reason": reason, "message": message}
    exc = ApiException(status=status, reason=reason, body=json.dumps(body))
    exc.headers = headers
    return exc


def test_forbidden_names_the_verb_the_resource_and_the_namespace() -> None:
    message = (
        'deployments.apps "checkout" is forbidden: User "system:serviceaccount:ops:healer" '
        'cannot patch resource "deployments/scale" in API group "apps" in the namespace "shop"'
    )
    error = translate(api_error(403, "Forbidden", message), SCALE)
    assert isinstance(error, ActionFailed) and isinstance(error, PermanentError)
    text = str(error)
    assert 'may not patch deployments/scale in namespace "shop"' in text
    assert "Role" in text and "system:serviceaccount:ops:healer" in text


def test_a_stale_resource_version_is_a_conflict_to_read_again() -> None:
    message = "the object has been modified; please apply your changes to the latest version"
    error = translate(api_error(409, "Conflict", message), SCALE)
    assert isinstance(error, ActionConflict) and isinstance(error, TemporaryError)
    assert "changed meanwhile" in str(error) and message in str(error)


def test_an_existing_name_is_not_a_conflict_to_retry() -> None:
    error = translate(
        api_error(409, "AlreadyExists", "events exists"), Call("create", "events", "shop")
    )
    assert isinstance(error, ActionFailed)


@pytest.mark.parametrize("status", [400, 422])
def test_an_invalid_change_is_refused_with_the_servers_reason(status: int) -> None:
    message = 'Deployment.apps "checkout" is invalid: spec.replicas: Invalid value: -1'
    error = translate(api_error(status, "Invalid", message), SCALE)
    assert isinstance(error, ActionFailed)
    assert "refused as invalid" in str(error) and "spec.replicas" in str(error)


def test_not_found_names_the_object() -> None:
    error = translate(api_error(404, "NotFound"), Call("get", "deployments", "shop", "cart"))
    assert isinstance(error, ActionFailed)
    assert str(error) == 'kubernetes: deployments "cart" not found in namespace "shop"'


def test_throttling_waits_as_long_as_the_server_asks() -> None:
    error = translate(api_error(429, "TooManyRequests", headers={"Retry-After": "7"}), SCALE)
    assert isinstance(error, ClusterUnavailable) and error.delay == 7.0


@pytest.mark.parametrize("status", [500, 503, 504])
def test_a_server_error_is_temporary(status: int) -> None:
    error = translate(api_error(status, "InternalError", "etcdserver: request timed out"), SCALE)
    assert isinstance(error, ClusterUnavailable)
    assert "etcdserver" in str(error) and error.delay == 15.0


def test_bad_credentials_are_permanent() -> None:
    assert isinstance(translate(api_error(401, "Unauthorized"), SCALE), ActionFailed)


def test_an_error_page_from_a_proxy_is_read_as_text() -> None:
    exc = ApiException(status=502, reason="Bad Gateway", body="<html>bad gateway</html>\n<p/>")
    error = translate(exc, SCALE)
    assert isinstance(error, ClusterUnavailable) and "<html>bad gateway</html>" in str(error)


def test_calling_translates_at_the_edge_and_keeps_the_cause() -> None:
    cause = api_error(403, "Forbidden")
    with pytest.raises(ActionFailed) as caught, calling(SCALE):
        raise cause
    assert caught.value.__cause__ is cause


def test_no_answer_is_temporary() -> None:
    refused = urllib3.exceptions.NewConnectionError(None, "Connection refused")  # type: ignore[arg-type]
    exc = urllib3.exceptions.MaxRetryError(None, "/apis", refused)  # type: ignore[arg-type]
    with (
        pytest.raises(ClusterUnavailable, match=r"no answer: .*Connection refused"),
        calling(SCALE),
    ):
        raise exc


# --- settings and the client ---


def test_settings_default_to_the_in_cluster_service_account() -> None:
    settings = KubernetesSettings()
    assert settings.in_cluster and settings.namespaces == []
    assert settings.field_manager == "healer"
    assert settings.incident_annotation == "healer.io/incident"


def test_a_kubeconfig_context_needs_in_cluster_off() -> None:
    with pytest.raises(ValidationError, match="context needs in_cluster: false"):
        KubernetesSettings(context="prod")


def test_the_incident_annotation_must_be_a_valid_key() -> None:
    with pytest.raises(ValidationError):
        KubernetesSettings(incident_annotation="not a key/")


def test_the_cluster_kind_kubernetes_loads_from_a_file(tmp_path: Path) -> None:
    path = tmp_path / "healer.yaml"
    path.write_text(
        "sources:\n"
        "  cluster:\n"
        "    kind: kubernetes\n"
        "    kubernetes:\n"
        "      in_cluster: false\n"
        "      context: staging\n"
        "      namespaces: [shop, payments]\n"
    )
    cluster = load_settings(str(path)).sources.cluster
    assert cluster.kind == "kubernetes"
    assert cluster.kubernetes.namespaces == ["shop", "payments"]


def test_in_cluster_outside_a_cluster_refuses_to_start(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    with pytest.raises(ConfigError, match=r"sources\.cluster\.kubernetes: in_cluster"):
        api_client(KubernetesSettings())


def test_a_kubeconfig_context_chooses_the_server(tmp_path: Path) -> None:
    kubeconfig = tmp_path / "config"
    kubeconfig.write_text(
        json.dumps(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "dev",
                "clusters": [
                    {"name": "dev", "cluster": {"server": "https://dev.example:6443"}},
                    {"name": "staging", "cluster": {"server": "https://staging.example:6443"}},
                ],
                "users": [{"name": "me", "user": {"token": "t0ken"}}],
                "contexts": [
                    {"name": "dev", "context": {"cluster": "dev", "user": "me"}},
                    {"name": "staging", "context": {"cluster": "staging", "user": "me"}},
                ],
            }
        )
    )
    settings = KubernetesSettings(in_cluster=False, kubeconfig=kubeconfig, context="staging")
    with api_client(settings) as client:
        assert client.configuration.host == "https://staging.example:6443"


def test_a_missing_kubeconfig_refuses_to_start(tmp_path: Path) -> None:
    settings = KubernetesSettings(in_cluster=False, kubeconfig=tmp_path / "nope")
    with pytest.raises(ConfigError, match="kubeconfig"):
        api_client(settings)
