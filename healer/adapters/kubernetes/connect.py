"""An `ApiClient` for the configured cluster: the pod's service account or a kubeconfig.

Built per adapter and never installed as the SDK's global default, so a test or a tool
can talk to two clusters in one process.
"""

from __future__ import annotations

from kubernetes import config
from kubernetes.client import ApiClient, Configuration

from healer.config import KubernetesSettings
from healer.errors import ConfigError

WHERE = "sources.cluster.kubernetes"
# The SDK's config loaders carry no annotations; their calls below are marked for mypy.


def api_client(settings: KubernetesSettings) -> ApiClient:
    """A client for `settings`; a `ConfigError` if neither way in can be set up."""
    try:
        if settings.in_cluster:
            configuration = Configuration()
            config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
            return ApiClient(configuration)
        path = str(settings.kubeconfig) if settings.kubeconfig else None
        client: ApiClient = config.new_client_from_config(  # type: ignore[no-untyped-call]
            config_file=path, context=settings.context, persist_config=False
        )
        return client
    # why: a missing token file or a bad kubeconfig is a deployment mistake; refuse to
    # start, naming the setting, rather than failing every poll
    except (config.ConfigException, OSError) as exc:
        field = "in_cluster" if settings.in_cluster else "kubeconfig"
        raise ConfigError(WHERE, None, field, str(exc)) from exc
