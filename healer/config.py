"""The healer's settings: one YAML file plus `HEALER_*` environment variables, read once.

Environment variables override the file (`HEALER_POLL__INTERVAL=5` sets `poll.interval`);
this is the only module that reads the environment. `load_settings` refuses a bad file
or variable with a `ConfigError` naming where the bad value came from.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)

from healer.config_codehost import CodeHostSettings
from healer.errors import ConfigError
from healer.yamlfile import YamlDoc, config_error, field_name, load_yaml

ENV_PREFIX = "HEALER_"
ENV_NESTING = "__"
CONFIG_ENV = "HEALER_CONFIG"  # the settings file, when no path is given
_REPO = Path(__file__).resolve().parent.parent


class _Group(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)


class StoreSettings(_Group):
    """Where incidents, timelines and action intents are kept."""

    url: str | None = None
    """SQLAlchemy URL; none means SQLite in the user data directory."""


class PrometheusSettings(_Group):
    """A Prometheus (or compatible) HTTP API and how its metric names map to signals."""

    url: str = "http://127.0.0.1:9090"
    """Base URL of the Prometheus HTTP API."""
    profiles: list[str] = [
        "otel-http",
        "prometheus-client",
        "istio",
        "otel-db-pool",
        "hikaricp",
        "postgres-exporter",
        "cadvisor",
    ]
    """Built-in signal profiles to use (or names of `custom_profiles`), first match wins."""
    custom_profiles: dict[str, dict[str, Any]] = {}
    """Own profiles by name: `service_label`, `namespace_label`, `signals` (signal name →
    PromQL using $selector, $window and $by) and `databases`; list a name in `profiles`."""
    service_label: str = "service"
    """The label that names the service on every series."""
    namespace_label: str = "namespace"
    """The label that names the namespace; series without it get `default_namespace`."""
    default_namespace: str = "default"
    """Namespace for series that carry no namespace label."""
    selector: str = ""
    """Extra label matchers added to every query, e.g. `cluster="prod"`."""
    topology: Literal["service-graph", "istio", "config"] = "service-graph"
    """Where caller→callee edges come from."""
    edges: list[str] = []
    """Declared edges `caller->callee` (namespace/name or name), used with topology: config."""
    databases: dict[str, str] = {}
    """Which database each service pools against (`service: datname`)."""
    timeout: float = Field(10.0, gt=0)
    """Seconds before a query counts as failed."""
    token_env: str | None = None
    """Name of an environment variable holding a bearer token (never the token itself)."""
    verify_tls: bool = True
    """Verify the server's TLS certificate."""
    seed_history: float = Field(3600.0, ge=0)
    """Seconds of history read at start-up to seed the baselines; 0 disables."""


class MetricsSourceSettings(_Group):
    kind: Literal["sim", "prometheus"] = "sim"
    """Where metrics come from: `sim` (the simulated cluster) or `prometheus`."""
    prometheus: PrometheusSettings = PrometheusSettings()
    """Used when kind is `prometheus`."""


class EcsFields(_Group):
    """Field names in the log documents; Elastic Common Schema by default."""

    timestamp: str = "@timestamp"
    """The event time."""
    service: str = "service.name"
    """The service that logged the line."""
    namespace: str = "kubernetes.namespace"
    """The namespace of the pod that logged it."""
    level: str = "log.level"
    """The log level."""
    status_code: str = "http.response.status_code"
    """The HTTP status the request ended with."""
    message: str = "message"
    """The log line itself."""
    error_type: str = "error.type"
    """The exception class or error kind."""
    error_message: str = "error.message"
    """The error's own message."""
    trace_id: str = "trace.id"
    """The distributed trace id."""


class ElasticsearchSettings(_Group):
    """An Elasticsearch 8 or 9 cluster holding the services' logs."""

    hosts: list[str] = ["http://127.0.0.1:9200"]
    """Node URLs."""
    index: str = "logs-*"
    """Index pattern (or data stream) to search."""
    fields: EcsFields = EcsFields()
    """Field names in the documents."""
    error_levels: list[str] = ["error", "fatal", "critical"]
    """Levels that count as errors (as well as any 5xx status)."""
    sample_size: int = Field(500, ge=1, le=10000)
    """Most log lines read per poll; counts per service come from aggregations."""
    default_namespace: str = "default"
    """Namespace for documents that carry none."""
    timeout: float = Field(10.0, gt=0)
    """Seconds before a search counts as failed."""
    api_key_env: str | None = None
    """Name of an environment variable holding an API key (never the key itself)."""
    username: str | None = None
    """Basic-auth user, with `password_env`."""
    password_env: str | None = None
    """Name of an environment variable holding the basic-auth password."""
    verify_tls: bool = True
    """Verify the server's TLS certificate."""


class LogSourceSettings(_Group):
    kind: Literal["sim", "elasticsearch"] = "sim"
    """Where error logs come from: `sim` (the simulated cluster) or `elasticsearch`."""
    elasticsearch: ElasticsearchSettings = ElasticsearchSettings()
    """Used when kind is `elasticsearch`."""


_QUALIFIED_NAME = (
    r"^([a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*/)?"
    r"[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$"
)


class KubernetesSettings(_Group):
    """A Kubernetes API server: how to reach it, where the healer may act, how it signs."""

    in_cluster: bool = True
    """Use the pod's service account; off: a kubeconfig file (`kubeconfig`, `context`)."""
    kubeconfig: Path | None = None
    """Kubeconfig file when not in cluster; none: `$KUBECONFIG` or `~/.kube/config`."""
    context: str | None = None
    """Kubeconfig context to use; none: the file's current context."""
    namespaces: list[str] = []
    """Namespaces the healer may read and change; empty allows every namespace."""
    field_manager: str = Field("healer", min_length=1, max_length=128)
    """Field manager recorded on every change, and the source of the Events it posts."""
    timeout: float = Field(10.0, gt=0)
    """Seconds before an API request counts as failed."""
    incident_annotation: str = Field("healer.io/incident", pattern=_QUALIFIED_NAME)
    """Annotation written on every object the healer changes, holding the incident id."""

    @field_validator("context", "kubeconfig")
    @classmethod
    def _only_with_kubeconfig(cls, value: object, info: ValidationInfo) -> object:
        if value is not None and info.data.get("in_cluster", True):
            raise ValueError(f"{info.field_name} needs in_cluster: false")
        return value


class ClusterSettings(_Group):
    kind: Literal["sim", "kubernetes"] = "sim"
    """Which cluster the healer reads and changes: `sim` (simulated) or `kubernetes`."""
    kubernetes: KubernetesSettings = KubernetesSettings()
    """Used when kind is `kubernetes`."""


class SimSettings(_Group):
    """The simulated cluster, for sources of kind `sim`."""

    scenario: str = "steady-state"
    """A built-in scenario name, or the path of a scenario YAML file."""
    speed: float = Field(1.0, ge=0)
    """Simulated seconds per wall-clock second; 0 runs as fast as possible."""


class SourcesSettings(_Group):
    metrics: MetricsSourceSettings = MetricsSourceSettings()
    """The metrics source (latency, errors, saturation, pools)."""
    logs: LogSourceSettings = LogSourceSettings()
    """The log source (error-level lines)."""
    cluster: ClusterSettings = ClusterSettings()
    """The cluster API the playbooks act through."""
    sim: SimSettings = SimSettings()
    """The simulated cluster behind any `sim` source."""


class PollSettings(_Group):
    interval: float = Field(15.0, gt=0)
    """Seconds between polls."""
    window: float = Field(60.0, gt=0)
    """Seconds of metrics each poll reduces over (the PromQL range)."""
    startup_delay: float = Field(0.0, ge=0)
    """Seconds to wait after start before the first poll."""


class DetectionSettings(_Group):
    """When a signal counts as anomalous; defaults suit 15-second polls."""

    warmup_polls: int = Field(20, ge=1)
    """Polls of history a series needs before it may fire."""
    baseline_polls: int = Field(240, ge=2)
    """Polls of normal history each baseline keeps."""
    persistence_polls: int = Field(5, ge=1)
    """n: the polls a firing decision looks back over."""
    persistence_hits: int = Field(4, ge=1)
    """k: how many of the last n polls must be out of baseline to fire."""
    clear_polls: int = Field(3, ge=1)
    """Consecutive normal polls before a firing series clears."""
    fast_polls: int = Field(3, ge=0)
    """Fire sooner when this many polls in a row are all far out (0: never sooner)."""
    fast_strength: float = Field(3.0, ge=1)
    """...far out meaning at least this multiple of the threshold."""
    vouched_polls: int = Field(2, ge=0)
    """Fire sooner when this many polls in a row are out while the service's own logs
    report the failure (a firing error pattern); 0: logs never vouch."""
    latency_z: float = Field(6.0, gt=0)
    """Robust z-score (median and MAD) above which p99 latency is out of baseline."""
    latency_ratio: float = Field(2.0, ge=1)
    """...and p99 must also be at least this multiple of its baseline."""
    latency_min_increase: float = Field(0.03, ge=0)
    """...and at least this many seconds above it (smaller moves are noise to a user)."""
    error_z: float = Field(6.0, gt=0)
    """Robust z-score above which the 5xx ratio is out of baseline."""
    error_ratio: float = Field(3.0, ge=1)
    """...and the 5xx ratio must also be at least this multiple of its baseline."""
    error_floor: float = Field(0.02, ge=0, le=1)
    """5xx ratios below this are never anomalies."""
    log_z: float = Field(6.0, gt=0)
    """Robust z-score above which a log template's rate is out of baseline."""
    log_ratio: float = Field(5.0, ge=1)
    """...and the template's rate must also be this multiple of its usual rate."""
    log_floor: float = Field(5.0, ge=0)
    """Lines per poll below which a log template never fires."""
    min_request_rate: float = Field(0.2, ge=0)
    """Requests per second below which an error ratio is too noisy to judge."""
    error_count_z: float = Field(3.0, ge=0)
    """Failed requests above what the usual ratio predicts must exceed this many Poisson
    standard deviations (over `poll.window`) before a 5xx ratio fires."""
    min_tail_requests: float = Field(2.0, ge=0)
    """A p99 carried by fewer requests than this must outlast the window to count."""
    log_miner: Literal["variety", "drain3"] = "variety"
    """Log template miner: `variety` (GA 0.978 on Loghub-2k) or `drain3` (drain3-improved)."""

    @field_validator("persistence_hits")
    @classmethod
    def _hits_fit(cls, hits: int, info: ValidationInfo) -> int:
        polls = info.data.get("persistence_polls")
        if polls is not None and hits > polls:
            raise ValueError(f"persistence_hits {hits} cannot exceed persistence_polls {polls}")
        return hits


class VerificationSettings(_Group):
    """How an action is judged, for playbooks that do not say."""

    within_polls: int = Field(12, ge=1)
    """Polls after an action within which the service must recover."""
    healthy_polls: int = Field(4, ge=1)
    """Healthy polls in a row that count as recovered."""
    revert_on_failure: bool = True
    """Undo an action that did not help, before escalating."""
    max_attempts: int = Field(2, ge=1)
    """Actions tried on one incident before it is handed to a human."""

    @field_validator("healthy_polls")
    @classmethod
    def _healthy_fits(cls, healthy: int, info: ValidationInfo) -> int:
        within = info.data.get("within_polls")
        if within is not None and healthy > within:
            raise ValueError(f"healthy_polls {healthy} cannot fit in within_polls {within}")
        return healthy


class PathSettings(_Group):
    """Files the healer reads at start; relative paths in the file are relative to it."""

    playbooks: Path = _REPO / "playbooks"
    """The directory of playbook YAML files."""
    user_playbooks: Path | None = None
    """A directory of the team's own playbooks, loaded beside the shipped ones (a name
    may not be used twice)."""
    policy: Path = _REPO / "examples" / "policy.yaml"
    """The approval policy file."""


LEASE_JITTER = 1.2  # a follower waits up to this multiple of retry_period between tries


class DaemonSettings(_Group):
    """The long-running process, and how replicas elect the one that acts."""

    leader_election: bool = False
    """Elect one active healer among replicas (off: run a single replica)."""
    health_host: str = "0.0.0.0"  # why: probes come from the kubelet, off-host
    """Address the health endpoints listen on."""
    health_port: int | None = Field(8080, ge=0, le=65535)
    """Port for /healthz, /readyz and /status on every replica; 0 any free port; none off."""
    shutdown_grace: float = Field(30.0, ge=0)
    """Seconds a stopping daemon lets the current poll finish."""
    lease_name: str = Field("healer", min_length=1, max_length=253)
    """The coordination.k8s.io Lease the replicas compete for."""
    lease_namespace: str = Field("default", min_length=1, max_length=63)
    """The Lease's namespace (set it to the healer's own, e.g. from the downward API)."""
    identity: str | None = Field(None, min_length=1)
    """This replica's name in the Lease; none: hostname and process id."""
    lease_duration: int = Field(15, ge=1)
    """Whole seconds the others wait, from a renewal they saw, before taking the Lease."""
    renew_deadline: float = Field(10.0, gt=0)
    """Seconds the leader keeps leading without a renewal; below `lease_duration`."""
    retry_period: float = Field(2.0, gt=0)
    """Seconds between tries to take or renew the Lease; times 1.2 below `renew_deadline`."""

    # why: the kubernetes client's own election Config checks these by calling sys.exit;
    # refusing them here names the field instead of ending the process mid-start.
    @field_validator("renew_deadline")
    @classmethod
    def _renew_before_expiry(cls, deadline: float, info: ValidationInfo) -> float:
        duration = info.data.get("lease_duration")
        if duration is not None and deadline >= duration:
            # A leader must give up before the others may take over, or two would act.
            raise ValueError(
                f"renew_deadline {deadline:g} must be shorter than lease_duration {duration}"
            )
        return deadline

    @field_validator("retry_period")
    @classmethod
    def _retry_within_deadline(cls, period: float, info: ValidationInfo) -> float:
        deadline = info.data.get("renew_deadline")
        if deadline is not None and period * LEASE_JITTER >= deadline:
            # Otherwise one slow try could use up the whole deadline and drop leadership.
            raise ValueError(
                f"retry_period {period:g} times {LEASE_JITTER} must be shorter than "
                f"renew_deadline {deadline:g}"
            )
        return period


class Settings(BaseSettings):
    """Everything configurable, grouped; built by `load_settings` and passed down."""

    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTING,
        extra="forbid",
        frozen=True,
        use_attribute_docstrings=True,
    )

    store: StoreSettings = StoreSettings()
    """The incident store."""
    sources: SourcesSettings = SourcesSettings()
    """Where signals come from and what the healer acts on."""
    poll: PollSettings = PollSettings()
    """The poll loop."""
    detection: DetectionSettings = DetectionSettings()
    """Anomaly detection thresholds."""
    verification: VerificationSettings = VerificationSettings()
    """Default verification of actions."""
    paths: PathSettings = PathSettings()
    """Playbooks and policy files."""
    daemon: DaemonSettings = DaemonSettings()
    """The long-running process."""
    code_host: CodeHostSettings = CodeHostSettings()
    """Where fixes that belong in git are proposed as pull requests."""

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file arrives as init values; listing the environment first lets it win.
        return (env_settings, init_settings)


def load_settings(path: str | None = None) -> Settings:
    """Settings from `path` (or `$HEALER_CONFIG`, or none) with the environment on top."""
    path = path or os.environ.get(CONFIG_ENV) or None
    doc = load_yaml(path) if path else YamlDoc("<defaults>", {})
    data = {} if doc.data is None else doc.data
    if not isinstance(data, dict):
        raise ConfigError(doc.path, doc.line(), "<document>", "expected a mapping of settings")
    try:
        return Settings(**_relative_to(data, Path(doc.path).parent))
    except ValidationError as exc:
        raise _blame(doc, exc) from exc


def _relative_to(data: dict[str, Any], base: Path) -> dict[str, Any]:
    """Paths in the file read relative to the file, wherever the healer was started."""
    paths = data.get("paths")
    if not isinstance(paths, dict):
        return data
    resolved = {
        key: os.path.normpath(base / value)
        if isinstance(value, str) and not Path(value).is_absolute()
        else value
        for key, value in paths.items()
    }
    return {**data, "paths": resolved}


def _blame(doc: YamlDoc, exc: ValidationError) -> ConfigError:
    """Point at the environment variable when the bad value came from one, else the file."""
    first = exc.errors()[0]
    loc = tuple(p for p in first["loc"] if isinstance(p, str | int))
    environment = {name.upper() for name in os.environ}
    # The value may come from HEALER_POLL__INTERVAL or, as JSON, from HEALER_POLL.
    for end in range(len(loc), 0, -1):
        variable = ENV_PREFIX + ENV_NESTING.join(str(p) for p in loc[:end]).upper()
        if variable in environment:
            reason = first["msg"]
            if first["type"] == "extra_forbidden":
                reason = "unknown setting (check the spelling)"
            return ConfigError("<environment>", None, variable, f"{field_name(loc)}: {reason}")
    return config_error(doc, exc)


def secret(variable: str | None) -> str | None:
    """The value of the environment variable a setting names (`token_env: PROM_TOKEN`).

    Settings name where a secret lives, never the secret; this is where it is read.
    A named variable that is unset is a configuration error, not an anonymous request.
    """
    if not variable:
        return None
    value = os.environ.get(variable)
    if value is None:
        raise ConfigError(
            "<environment>", None, variable, "the variable a setting names is not set"
        )
    return value
