"""PodCliqueSet: the user-facing object describing every component of an inference system."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from grove.api.constants import (
    GROVE_API_VERSION,
    CliqueStartupType,
    PodGangPhase,
    ResourceSharingScope,
    UpdateStrategyType,
)
from grove.api.meta import Condition, GroveModel, LastError, TopLevelObject, crd
from grove.api.podclique import AutoScalingConfig, PodCliqueSpec
from grove.api.topology import TopologyConstraint

__all__ = [
    "HeadlessServiceConfig",
    "PCSGResourceSharingFilter",
    "PCSGResourceSharingSpec",
    "PCSResourceSharingFilter",
    "PCSResourceSharingSpec",
    "PodCliqueScalingGroupConfig",
    "PodCliqueSet",
    "PodCliqueSetReplicaUpdateProgress",
    "PodCliqueSetSpec",
    "PodCliqueSetStatus",
    "PodCliqueSetTemplateSpec",
    "PodCliqueSetUpdateProgress",
    "PodCliqueSetUpdateStrategy",
    "PodCliqueTemplateSpec",
    "PodGangStatus",
    "ResourceClaimTemplateConfig",
    "ResourceSharingSpec",
]


class ResourceSharingSpec(GroveModel):
    """A shared ResourceClaim made from a named template."""

    name: str
    """Template name: first spec.template.resourceClaimTemplates, else a ResourceClaimTemplate object."""
    namespace: str | None = None
    """Namespace of an external ResourceClaimTemplate; defaults to the PodCliqueSet's."""
    scope: ResourceSharingScope
    """AllReplicas: one claim for the owner; PerReplica: one claim per replica."""


class PCSResourceSharingFilter(GroveModel):
    """Which children of the PodCliqueSet receive the claims."""

    child_clique_names: list[str] = Field(default_factory=list)
    """Standalone cliques that receive the claims."""
    child_scaling_group_names: list[str] = Field(default_factory=list)
    """Scaling groups that receive the claims."""


class PCSResourceSharingSpec(ResourceSharingSpec):
    """Resource sharing at PodCliqueSet level."""

    filter: PCSResourceSharingFilter | None = None
    """Restricts which children receive the claims; all if absent."""


class PCSGResourceSharingFilter(GroveModel):
    """Which cliques of a scaling group receive the claims."""

    child_clique_names: list[str] = Field(default_factory=list)
    """Member cliques that receive the claims."""


class PCSGResourceSharingSpec(ResourceSharingSpec):
    """Resource sharing at scaling group level."""

    filter: PCSGResourceSharingFilter | None = None
    """Restricts which member cliques receive the claims; all if absent."""


class ResourceClaimTemplateConfig(GroveModel):
    """A named resource.k8s.io/v1 ResourceClaimTemplateSpec that resourceSharing entries refer to."""

    name: str
    """Unique name within the PodCliqueSet."""
    template_spec: dict[str, Any] = Field(json_schema_extra=crd(k8s="V1ResourceClaimTemplateSpec"))
    """The ResourceClaimTemplateSpec."""


class HeadlessServiceConfig(GroveModel):
    """Options of the headless Service created per PodCliqueSet replica."""

    publish_not_ready_addresses: bool = Field(default=True, json_schema_extra=crd(default=True))
    """Publish DNS records of pods that are not ready yet (default true)."""


class PodCliqueTemplateSpec(GroveModel):
    """Template of one clique."""

    name: str
    """Clique name, unique within the PodCliqueSet; part of every generated name."""
    labels: dict[str, str] = Field(default_factory=dict)
    """Labels added to the PodClique and its pods."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations added to the PodClique and its pods."""
    topology_constraint: TopologyConstraint | None = None
    """Packing of all pods of the clique; equal to or narrower than its parents'."""
    resource_sharing: list[ResourceSharingSpec] = Field(default_factory=list)
    """Claims shared by the clique's pods."""
    spec: PodCliqueSpec
    """Specification of the clique."""


class PodCliqueScalingGroupConfig(GroveModel):
    """Cliques that scale together as one multi-node unit (for example a leader and its workers)."""

    name: str
    """Group name, unique within the PodCliqueSet."""
    clique_names: list[str]
    """Cliques in the group; each clique belongs to at most one group."""
    annotations: dict[str, str] = Field(default_factory=dict)
    """Annotations of the PodCliqueScalingGroup."""
    replicas: int | None = Field(default=None, json_schema_extra=crd(format="int32", default=1))
    """Initial number of replicas of the group (default 1)."""
    min_available: int | None = Field(default=None, json_schema_extra=crd(format="int32", default=1))
    """Replicas in the base gang and required to stay available (default 1, at most replicas)."""
    scale_config: AutoScalingConfig | None = None
    """Autoscaler settings of the group."""
    resource_sharing: list[PCSGResourceSharingSpec] = Field(default_factory=list)
    """Claims shared at group level."""
    topology_constraint: TopologyConstraint | None = None
    """Packing of each group replica; equal to or narrower than the PodCliqueSet's."""


class PodCliqueSetTemplateSpec(GroveModel):
    """Template of every PodCliqueSet replica."""

    cliques: list[PodCliqueTemplateSpec] = Field(json_schema_extra=crd(listType="map", listMapKeys=["name"]))
    """The cliques (at least one)."""
    clique_startup_type: CliqueStartupType | None = Field(
        default=None, json_schema_extra=crd(default="CliqueStartupTypeAnyOrder")
    )
    """Start-up order of the cliques: AnyOrder (default), InOrder (template order), Explicit (startsAfter)."""
    priority_class_name: str | None = None
    """PriorityClass of every pod and PodGang."""
    headless_service_config: HeadlessServiceConfig | None = None
    """Options of the headless Service of each replica."""
    topology_constraint: TopologyConstraint | None = None
    """Packing of each PodCliqueSet replica."""
    termination_delay: str | None = None
    """How long a gang may stay below minAvailable before it is terminated (Go duration, default 4h)."""
    resource_claim_templates: list[ResourceClaimTemplateConfig] = Field(default_factory=list)
    """Named ResourceClaimTemplateSpecs for resourceSharing."""
    resource_sharing: list[PCSResourceSharingSpec] = Field(default_factory=list)
    """Claims shared at PodCliqueSet level."""
    pod_clique_scaling_groups: list[PodCliqueScalingGroupConfig] = Field(default_factory=list)
    """Scaling groups."""

    def clique(self, name: str) -> PodCliqueTemplateSpec | None:
        """The clique template called ``name``."""
        return next((c for c in self.cliques if c.name == name), None)

    def scaling_group(self, name: str) -> PodCliqueScalingGroupConfig | None:
        """The scaling group called ``name``."""
        return next((g for g in self.pod_clique_scaling_groups if g.name == name), None)

    def group_of(self, clique_name: str) -> PodCliqueScalingGroupConfig | None:
        """The scaling group the clique belongs to, or None for a standalone clique."""
        return next((g for g in self.pod_clique_scaling_groups if clique_name in g.clique_names), None)

    def standalone_cliques(self) -> list[PodCliqueTemplateSpec]:
        """Cliques that belong to no scaling group, in template order."""
        grouped = {n for g in self.pod_clique_scaling_groups for n in g.clique_names}
        return [c for c in self.cliques if c.name not in grouped]


class PodCliqueSetUpdateStrategy(GroveModel):
    """How replicas are updated when templates change."""

    type: UpdateStrategyType = Field(
        default="RollingRecreate", json_schema_extra=crd(default="RollingRecreate")
    )
    """RollingRecreate (default) or OnDelete."""


class PodCliqueSetSpec(GroveModel):
    """Desired state of a PodCliqueSet."""

    replicas: int = Field(default=0, json_schema_extra=crd(format="int32", default=0, minimum=0))
    """Number of replicas of the whole system."""
    update_strategy: PodCliqueSetUpdateStrategy | None = None
    """Update strategy; RollingRecreate if unset."""
    template: PodCliqueSetTemplateSpec
    """Template of each replica."""


class PodGangStatus(GroveModel):
    """Status of one PodGang of the PodCliqueSet."""

    name: str
    """Name of the PodGang."""
    phase: PodGangPhase
    """Phase of the PodGang."""
    conditions: list[Condition] = Field(default_factory=list)
    """Conditions of the PodGang."""


class PodCliqueSetReplicaUpdateProgress(GroveModel):
    """Update progress of one PodCliqueSet replica."""

    replica_index: int = Field(json_schema_extra=crd(format="int32"))
    """Index of the replica being updated."""
    update_started_at: str | None = Field(default=None, json_schema_extra=crd(format="date-time"))
    """When the update of this replica started."""
    update_ended_at: str | None = Field(default=None, json_schema_extra=crd(format="date-time"))
    """When the update of this replica ended."""


class PodCliqueSetUpdateProgress(GroveModel):
    """Progress of a PodCliqueSet update."""

    update_started_at: str | None = Field(default=None, json_schema_extra=crd(format="date-time"))
    """When the update started."""
    update_ended_at: str | None = Field(default=None, json_schema_extra=crd(format="date-time"))
    """When Grove had no more work for the update."""
    updated_pod_cliques_count: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """PodCliques at the new generation."""
    total_pod_cliques_count: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """PodCliques expected at the current spec."""
    updated_pod_clique_scaling_groups_count: int = Field(
        default=0, json_schema_extra=crd(format="int32", default=0)
    )
    """Scaling groups at the new generation."""
    total_pod_clique_scaling_groups_count: int = Field(
        default=0, json_schema_extra=crd(format="int32", default=0)
    )
    """Scaling groups expected at the current spec."""
    currently_updating: list[PodCliqueSetReplicaUpdateProgress] = Field(default_factory=list)
    """Replicas being updated (rolling updates only)."""


class PodCliqueSetStatus(GroveModel):
    """Observed state of a PodCliqueSet."""

    observed_generation: int | None = Field(default=None, json_schema_extra=crd(format="int64"))
    """Most recent generation observed by the controller."""
    conditions: list[Condition] = Field(default_factory=list)
    """Latest observations (TopologyLevelsUnavailable)."""
    last_errors: list[LastError] = Field(default_factory=list)
    """Last errors seen while reconciling."""
    replicas: int = Field(default=0, json_schema_extra=crd(format="int32"))
    """Observed number of replicas (spec.replicas)."""
    updated_replicas: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """Replicas at the current generation."""
    available_replicas: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """Replicas whose cliques and groups all meet minAvailable."""
    hpa_pod_selector: str | None = None
    """Label selector of all pods of the PodCliqueSet, for the scale subresource."""
    pod_gang_statuses: list[PodGangStatus] = Field(default_factory=list)
    """Status of each PodGang."""
    current_generation_hash: str | None = None
    """Hash of the pod templates currently rolled out."""
    update_progress: PodCliqueSetUpdateProgress | None = None
    """Progress of an ongoing update."""


class PodCliqueSet(TopLevelObject):
    """A complete inference system: cliques and scaling groups, replicated as a whole."""

    API_VERSION: ClassVar[str] = GROVE_API_VERSION
    KIND: ClassVar[str] = "PodCliqueSet"

    spec: PodCliqueSetSpec
    """Desired state."""
    status: PodCliqueSetStatus = Field(default_factory=PodCliqueSetStatus)
    """Observed state."""
