"""The API resources the extender reads and writes, as :class:`grove.runtime.Resource` descriptors."""

from __future__ import annotations

from grove.api.constants import GROVE_GROUP, SCHEDULER_GROUP, VERSION
from grove.runtime.resources import NODES, PODS, Resource

__all__ = ["CLUSTER_TOPOLOGY_BINDINGS", "NODES", "PODGANGS", "PODS"]

PODGANGS = Resource(SCHEDULER_GROUP, VERSION, "podgangs", "PodGang")
CLUSTER_TOPOLOGY_BINDINGS = Resource(
    GROVE_GROUP, VERSION, "clustertopologybindings", "ClusterTopologyBinding", namespaced=False
)
