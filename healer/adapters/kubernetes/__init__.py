"""The Kubernetes cluster adapter: reads Deployments, their ReplicaSets, pods and events,
and changes them through the official client, each change dry-run first and recorded
on the object (annotation and Event).

`KubeCluster` implements the `Cluster` port; `KubeCluster.from_settings` builds one.
"""

from healer.adapters.kubernetes.api import Acting
from healer.adapters.kubernetes.cluster import Inspection, KubeCluster
from healer.adapters.kubernetes.reading import ClusterEvent, Container, PodState

__all__ = ["Acting", "ClusterEvent", "Container", "Inspection", "KubeCluster", "PodState"]
