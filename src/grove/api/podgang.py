"""PodGang (scheduler.grove.io): pods the scheduler must place together, the scheduler-facing gang."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from grove.api.constants import SCHEDULER_API_VERSION, PodGangPhase
from grove.api.meta import Condition, GroveModel, TopLevelObject, crd

__all__ = [
    "NamespacedName",
    "PodGang",
    "PodGangSpec",
    "PodGangStatus",
    "PodGangTopologyConstraint",
    "PodGroup",
    "TopologyConstraintGroupConfig",
    "TopologyPackConstraintKeys",
]


class NamespacedName(GroveModel):
    """Namespace and name of an object."""

    namespace: str
    """Namespace of the object."""
    name: str
    """Name of the object."""


class TopologyPackConstraintKeys(GroveModel):
    """Packing constraint in node label keys (translated from domain names)."""

    required: str | None = None
    """Node label key every pod of the group must share a value of."""
    preferred: str | None = None
    """Node label key the scheduler tries to pack by, best effort."""


class PodGangTopologyConstraint(GroveModel):
    """Topology packing of a gang, a group of pod groups, or a pod group."""

    pack_constraint: TopologyPackConstraintKeys | None = None
    """Required and preferred packing keys."""


class PodGroup(GroveModel):
    """Pods of one PodClique within a gang."""

    name: str
    """Name of the pod group: the PodClique's name."""
    pod_references: list[NamespacedName] = Field(default_factory=list, json_schema_extra=crd(required=True))
    """Pods of the group, sorted by name."""
    min_replicas: int = Field(json_schema_extra=crd(format="int32"))
    """Pods that must be scheduled together for the gang to start."""
    topology_constraint: PodGangTopologyConstraint | None = None
    """Packing of the pods of this group."""


class TopologyConstraintGroupConfig(GroveModel):
    """Topology packing of a subset of the gang's pod groups (a scaling group replica)."""

    name: str
    """Name of the subset."""
    pod_group_names: list[str]
    """Pod groups in the subset."""
    topology_constraint: PodGangTopologyConstraint | None = None
    """Packing of the subset."""


class PodGangSpec(GroveModel):
    """Desired state of a PodGang."""

    podgroups: list[PodGroup]
    """Pod groups of the gang."""
    topology_constraint: PodGangTopologyConstraint | None = None
    """Packing of the whole gang."""
    topology_constraint_group_configs: list[TopologyConstraintGroupConfig] = Field(default_factory=list)
    """Packing of subsets of pod groups."""
    priority_class_name: str | None = None
    """PriorityClass of the gang."""
    reuse_reservation_ref: NamespacedName | None = None
    """A previous PodGang whose reservation the scheduler may reuse."""


class PodGangStatus(GroveModel):
    """Observed state of a PodGang."""

    phase: PodGangPhase = Field(default="Pending", json_schema_extra=crd(required=True))
    """Pending, Starting or Running."""
    conditions: list[Condition] = Field(default_factory=list)
    """Scheduled, Ready, Initialized, Unhealthy, DisruptionTarget."""
    placement_score: float | None = Field(default=None, json_schema_extra=crd(format="double"))
    """Network optimality of the placement (1.0 is best)."""


class PodGang(TopLevelObject):
    """A group of pods that the scheduler places all together or not at all."""

    API_VERSION: ClassVar[str] = SCHEDULER_API_VERSION
    KIND: ClassVar[str] = "PodGang"

    spec: PodGangSpec
    """Desired state."""
    status: PodGangStatus = Field(default_factory=PodGangStatus)
    """Observed state."""
