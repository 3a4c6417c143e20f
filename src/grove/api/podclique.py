"""PodClique: a set of identical pods (the clique template spec, and the PodClique custom resource)."""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import Field

from grove.api.constants import GROVE_API_VERSION
from grove.api.meta import Condition, GroveModel, LastError, TopLevelObject, crd

__all__ = [
    "AutoScalingConfig",
    "PodClique",
    "PodCliqueSpec",
    "PodCliqueStatus",
    "PodCliqueUpdateProgress",
    "PodsSelectedToUpdate",
]


class AutoScalingConfig(GroveModel):
    """Horizontal pod autoscaler configuration of a clique or scaling group."""

    min_replicas: int | None = Field(default=None, json_schema_extra=crd(format="int32"))
    """Lower limit of replicas; defaults to the replicas of the target."""
    max_replicas: int = Field(json_schema_extra=crd(format="int32"))
    """Upper limit of replicas; at least minReplicas and replicas."""
    metrics: list[dict[str, Any]] = Field(
        default_factory=list, json_schema_extra=crd(k8s="V2MetricSpec", listType="atomic")
    )
    """autoscaling/v2 MetricSpecs; if unset the HPA targets 80% average CPU utilisation."""


class PodCliqueSpec(GroveModel):
    """Specification of a clique's pods; used in the PodCliqueSet template and in the PodClique resource."""

    role_name: str = ""
    """Role this clique assumes; unique within the PodCliqueSet. Defaults to the clique name."""
    pod_spec: dict[str, Any] = Field(json_schema_extra=crd(k8s="V1PodSpec"))
    """The core/v1 PodSpec of every pod of the clique."""
    replicas: int = Field(default=0, json_schema_extra=crd(format="int32", minimum=0))
    """Number of pods; 0 (or unset) in a template defaults to 1."""
    min_available: int | None = Field(default=None, json_schema_extra=crd(format="int32"))
    """Pods gang-scheduled together and required to stay available; defaults to replicas."""
    starts_after: list[str] = Field(default_factory=list)
    """Cliques this clique starts after (cliqueStartupType CliqueStartupTypeExplicit); full PodClique names in
    the PodClique resource."""
    auto_scaling_config: AutoScalingConfig | None = None
    """Autoscaler settings; only for cliques outside scaling groups."""


class PodsSelectedToUpdate(GroveModel):
    """Ready pods picked for replacement by a rolling update."""

    current: str
    """Pod being replaced now."""
    completed: list[str] = Field(default_factory=list)
    """Pods already replaced."""


class PodCliqueUpdateProgress(GroveModel):
    """Progress of a PodClique update."""

    update_started_at: str | None = Field(default=None, json_schema_extra=crd(format="date-time"))
    """When the update started."""
    update_ended_at: str | None = Field(default=None, json_schema_extra=crd(format="date-time"))
    """When Grove had no more work for the update."""
    pod_clique_set_generation_hash: str
    """PodCliqueSet generation hash the clique converges to."""
    pod_template_hash: str
    """Pod template hash the pods converge to."""
    ready_pods_selected_to_update: PodsSelectedToUpdate | None = None
    """Ready pods selected for replacement (rolling updates only)."""


class PodCliqueStatus(GroveModel):
    """Observed state of a PodClique."""

    observed_generation: int | None = Field(default=None, json_schema_extra=crd(format="int64"))
    """Most recent generation observed by the controller."""
    last_errors: list[LastError] = Field(default_factory=list)
    """Last errors seen while reconciling."""
    replicas: int = Field(default=0, json_schema_extra=crd(format="int32"))
    """Non-terminating pods."""
    ready_replicas: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """Ready pods."""
    updated_replicas: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """Pods at the current pod template hash."""
    schedule_gated_replicas: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """Pods still held by a scheduling gate."""
    scheduled_replicas: int = Field(default=0, json_schema_extra=crd(format="int32", default=0))
    """Pods bound to a node."""
    hpa_pod_selector: str | None = None
    """Label selector of the clique's pods (standalone cliques only), for the scale subresource."""
    conditions: list[Condition] = Field(default_factory=list)
    """MinAvailableBreached, PodCliqueScheduled."""
    current_pod_clique_set_generation_hash: str | None = None
    """PodCliqueSet generation hash fully realised in this clique."""
    current_pod_template_hash: str | None = None
    """Pod template hash fully realised in this clique."""
    update_progress: PodCliqueUpdateProgress | None = None
    """Progress of an ongoing update."""


class PodClique(TopLevelObject):
    """A set of pods with the same spec, created by the operator from a PodCliqueSet."""

    API_VERSION: ClassVar[str] = GROVE_API_VERSION
    KIND: ClassVar[str] = "PodClique"

    spec: PodCliqueSpec
    """Desired state of the clique."""
    status: PodCliqueStatus = Field(default_factory=PodCliqueStatus)
    """Observed state of the clique."""
