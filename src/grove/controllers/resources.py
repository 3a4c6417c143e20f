"""REST descriptors of the kinds the operator reads and writes (Grove's own and the built-ins it manages)."""

from __future__ import annotations

from typing import Final

from grove.api.constants import GROVE_GROUP, SCHEDULER_GROUP, VERSION
from grove.runtime.resources import (
    HORIZONTAL_POD_AUTOSCALERS,
    PODS,
    ROLE_BINDINGS,
    ROLES,
    SECRETS,
    SERVICE_ACCOUNTS,
    SERVICES,
    Resource,
)

__all__ = [
    "CLUSTER_TOPOLOGY_BINDINGS",
    "HORIZONTAL_POD_AUTOSCALERS",
    "PCS_MEMBERS",
    "PODCLIQUES",
    "PODCLIQUESCALINGGROUPS",
    "PODCLIQUESETS",
    "PODGANGS",
    "PODS",
    "ROLES",
    "ROLE_BINDINGS",
    "SECRETS",
    "SERVICES",
    "SERVICE_ACCOUNTS",
]

PODCLIQUESETS: Final = Resource(GROVE_GROUP, VERSION, "podcliquesets", "PodCliqueSet")
PODCLIQUES: Final = Resource(GROVE_GROUP, VERSION, "podcliques", "PodClique")
PODCLIQUESCALINGGROUPS: Final = Resource(
    GROVE_GROUP, VERSION, "podcliquescalinggroups", "PodCliqueScalingGroup"
)
PODGANGS: Final = Resource(SCHEDULER_GROUP, VERSION, "podgangs", "PodGang")
CLUSTER_TOPOLOGY_BINDINGS: Final = Resource(
    GROVE_GROUP, VERSION, "clustertopologybindings", "ClusterTopologyBinding", namespaced=False
)

# Every kind the operator creates for a PodCliqueSet; each object is labelled app.kubernetes.io/part-of=<pcs>.
PCS_MEMBERS: Final[tuple[Resource, ...]] = (
    PODCLIQUES,
    PODCLIQUESCALINGGROUPS,
    PODGANGS,
    PODS,
    SERVICES,
    SERVICE_ACCOUNTS,
    ROLES,
    ROLE_BINDINGS,
    SECRETS,
    HORIZONTAL_POD_AUTOSCALERS,
)
