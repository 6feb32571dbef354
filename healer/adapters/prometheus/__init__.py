"""The Prometheus metrics source: signal profiles, PromQL building and the HTTP client.

`PrometheusMetrics` implements the `MetricsSource` port; build it with
`PrometheusMetrics.from_settings`.
"""

from healer.adapters.prometheus.client import PrometheusClient, Sample, Series
from healer.adapters.prometheus.custom import custom_profile
from healer.adapters.prometheus.profiles import (
    BUILTIN,
    TOPOLOGIES,
    DatabaseQueries,
    EdgeQuery,
    Profile,
    SeriesQuery,
)
from healer.adapters.prometheus.queries import Scope
from healer.adapters.prometheus.source import (
    PrometheusMetrics,
    TopologySource,
    profiles_from_settings,
    topology_from_settings,
)

__all__ = [
    "BUILTIN",
    "TOPOLOGIES",
    "DatabaseQueries",
    "EdgeQuery",
    "Profile",
    "PrometheusClient",
    "PrometheusMetrics",
    "Sample",
    "Scope",
    "Series",
    "SeriesQuery",
    "TopologySource",
    "custom_profile",
    "profiles_from_settings",
    "topology_from_settings",
]
