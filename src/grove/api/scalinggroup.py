"""PodCliqueScalingGroup: cliques that scale together as one multi-node unit."""

from __future__ import annotations

from typing import ClassVar

from pydantic import Field

from grove.api.constants import GROVE_API_VERSION
from grove.api.meta import Condition, GroveModel, LastError, TopLevelObject, crd

__all__ = [
    "PodCliqueScalingGroup",
    "PodCliqueScalingGroupSpec",
    "PodCliqueScalingGroupStatus",
    "PodCliqueScalingGroupUpdateProgress",
    "ReplicaIndicesSelectedToUpdate",
]


class PodCliqueScalingGroupSpec(GroveModel):
    """Desired state of a scaling group; the clique templates stay in the owning PodCliqueSet."""

    replicas: int = Field(default=1, json_schema_extra=crd(format="int32", default=1, minimum=0))
    """Number of replicas of the group (each a full set of its cliques)."""
    min_available: int = Field(default=1, json_schema_extra=crd(format="int32", default=1))
    """Replicas gang-scheduled in the base PodGang and required to stay available."""
    clique_names: list[str]
    """Template names of the cliques in the group, in template order."""


class ReplicaIndicesSelectedToUpdate(GroveModel):
    """Ready group replicas picked for replacement by a rolling update."""

    current: int = Field(json_schema_extra=crd(format="int32"))
    """Replica index being replaced now."""
    completed: list[int] = Field(default_factory=list)
    """Replica indices already replaced."""


class PodCliqueScalingGroupUpdateProgress(GroveModel):
    """Progress of a scaling group update."""

    update_started_at: str = Field(json_schema_extra=crd(format="date-time"))
    """When the update started."""
    update_ended_at: str | None = Field(default=None, json_schema_extra=crd(format="date-time"))
    """When Grove had no more work for the update."""
    pod_clique_set_generation_hash: str
    """PodCliqueSet generation hash the group converges to."""
    updated_pod_cliques_count: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """Member cliques already at the new generation."""
    total_pod_cliques_count: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """Member cliques expected at the current spec."""
    ready_replica_indices_selected_to_update: ReplicaIndicesSelectedToUpdate | None = None
    """Ready replicas selected for replacement (rolling updates only)."""


class PodCliqueScalingGroupStatus(GroveModel):
    """Observed state of a scaling group."""

    replicas: int = Field(default=0, json_schema_extra=crd(format="int32"))
    """Observed number of replicas (spec.replicas)."""
    scheduled_replicas: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """Replicas whose member cliques are all scheduled."""
    available_replicas: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """Replicas whose member cliques all have minAvailable ready pods."""
    updated_replicas: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """Replicas at the current PodCliqueSet generation."""
    selector: str | None = None
    """Label selector of the group's pods, for the scale subresource."""
    observed_generation: int | None = Field(default=None, json_schema_extra=crd(format="int64"))
    """Most recent generation observed by the controller."""
    last_errors: list[LastError] = Field(default_factory=list)
    """Last errors seen while reconciling."""
    conditions: list[Condition] = Field(default_factory=list)
    """MinAvailableBreached, GangTerminationInProgress."""
    current_pod_clique_set_generation_hash: str | None = None
    """PodCliqueSet generation hash fully realised in this group."""
    update_progress: PodCliqueScalingGroupUpdateProgress | None = None
    """Progress of an ongoing update."""


class PodCliqueScalingGroup(TopLevelObject):
    """A group of cliques that scale together, created by the operator from a PodCliqueSet."""

    API_VERSION: ClassVar[str] = GROVE_API_VERSION
    KIND: ClassVar[str] = "PodCliqueScalingGroup"

    spec: PodCliqueScalingGroupSpec
    """Desired state of the group."""
    status: PodCliqueScalingGroupStatus = Field(default_factory=PodCliqueScalingGroupStatus)
    """Observed state of the group."""
